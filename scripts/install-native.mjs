#!/usr/bin/env node
// Project install step for the native pieces that cannot install themselves offline.
//
// - faiss-node: its own install script downloads a prebuilt binary from GitHub or clones faiss;
//   both fail without internet, so package.json's allowScripts blocks it. We compile its single
//   source file against Debian's libfaiss-dev (faiss 1.7.3) and OpenBLAS instead, after patching
//   it to accept Float32Array without an element-by-element copy (native/faiss-node/*.patch).
// - the fused scoring kernel (packages/vector-index/native): our own C++ addon, built with node-gyp.
// - onnxruntime-node: its install script only downloads CUDA libraries; the CPU/WebGPU build is
//   bundled in the package, so we just check that it loads.
//
// Idempotent: a stamp file records what was built; re-running with the same inputs does nothing.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native', 'faiss-node');
const require = createRequire(path.join(root, 'package.json'));
const log = (msg) => console.log(`[install-native] ${msg}`);

function fail(msg) {
  console.error(`[install-native] ERROR: ${msg}`);
  process.exit(1);
}

function findLib(name) {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib', '/usr/lib64'];
  return dirs.map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
}

function nodeGypCommand() {
  // npm passes its bundled node-gyp to lifecycle scripts; fall back to the copy inside npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) fail('node-gyp not found (it ships with npm). Run this through `npm ci` or set npm_config_node_gyp.');
  return found;
}

function buildFaiss() {
  let pkgDir;
  try {
    pkgDir = path.dirname(require.resolve('faiss-node/package.json'));
  } catch {
    log('faiss-node is not installed; skipping its build');
    return;
  }
  const addon = path.join(pkgDir, 'build', 'Release', 'faiss-node.node');
  const inputs = ['binding.gyp', 'faiss-compat.h', 'typed-arrays.patch'].map((f) =>
    fs.readFileSync(path.join(nativeDir, f)),
  );
  const pkgVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const stamp = buildStamp(pkgDir, [...inputs, Buffer.from(pkgVersion)]);
  if (isBuilt(addon, stamp)) {
    log('faiss-node addon is up to date');
    return;
  }
  if (!findLib('libfaiss.a') && !findLib('libfaiss.so')) {
    fail(
      'libfaiss not found. Install the system packages first:\n' +
        '  apt-get install -y libfaiss-dev libopenblas0-pthread libopenblas-pthread-dev',
    );
  }
  if (!findLib('libopenblas.so.0') && !fs.existsSync('/usr/lib/x86_64-linux-gnu/openblas-pthread')) {
    log(
      'warning: OpenBLAS not found; faiss will use the reference BLAS, about 30x slower. Install libopenblas0-pthread.',
    );
  }

  const srcDir = path.join(pkgDir, 'src');
  const pristine = path.join(srcDir, 'faiss.cc.orig');
  // Patch from the pristine source every time so a re-run never double-applies.
  if (!fs.existsSync(pristine)) fs.copyFileSync(path.join(srcDir, 'faiss.cc'), pristine);
  fs.copyFileSync(pristine, path.join(srcDir, 'faiss.cc'));
  execFileSync('git', ['apply', '-p1', path.join(nativeDir, 'typed-arrays.patch')], { cwd: pkgDir, stdio: 'inherit' });
  fs.copyFileSync(path.join(nativeDir, 'binding.gyp'), path.join(pkgDir, 'binding.gyp'));
  fs.copyFileSync(path.join(nativeDir, 'faiss-compat.h'), path.join(pkgDir, 'faiss-compat.h'));

  log(`building faiss-node ${pkgVersion} against the system libfaiss (a few seconds)...`);
  runNodeGyp(pkgDir, addon, stamp);
}

// The fused scoring kernel (packages/vector-index/native): plain C++ with no library beyond the
// C++ runtime, built in place (build/ is ignored by git).
function buildFusedKernel() {
  const dir = path.join(root, 'packages', 'vector-index', 'native');
  const addon = path.join(dir, 'build', 'Release', 'rds_fused.node');
  const inputs = fs
    .readdirSync(dir)
    .filter((f) => /\.(cc|h|gyp)$/.test(f))
    .sort()
    .map((f) => Buffer.concat([Buffer.from(f), fs.readFileSync(path.join(dir, f))]));
  const stamp = buildStamp(dir, inputs);
  if (isBuilt(addon, stamp)) {
    log('fused scoring kernel is up to date');
    return;
  }
  log('building the fused scoring kernel (a few seconds)...');
  runNodeGyp(dir, addon, stamp);
}

/** What an addon in `dir` is built from (its inputs and this Node), recorded in build/.rds-stamp. */
function buildStamp(dir, inputs) {
  return {
    file: path.join(dir, 'build', '.rds-stamp'),
    value: createHash('sha256')
      .update(Buffer.concat([...inputs, Buffer.from(process.version)]))
      .digest('hex'),
  };
}

function isBuilt(addon, stamp) {
  return fs.existsSync(addon) && fs.existsSync(stamp.file) && fs.readFileSync(stamp.file, 'utf8') === stamp.value;
}

/**
 * node-gyp rebuild in `dir` (release, against the running Node's own headers when it has them:
 * offline), then the stamp.
 */
function runNodeGyp(dir, addon, stamp) {
  const nodedir = path.resolve(path.dirname(process.execPath), '..');
  const args = ['rebuild', '--release', '--loglevel=warn'];
  if (fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
  const t0 = Date.now();
  execFileSync(process.execPath, [nodeGypCommand(), ...args], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, JOBS: '2' },
  });
  fs.writeFileSync(stamp.file, stamp.value);
  log(`built ${path.relative(root, addon)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function smokeTest() {
  const faiss = require('faiss-node');
  const index = new faiss.IndexFlatIP(2);
  index.add(new Float32Array([1, 0, 0, 1]));
  const r = index.search(new Float32Array([0.6, 0.8]), 1);
  if (!(r.labels instanceof Int32Array) || r.labels[0] !== 1)
    fail('faiss-node smoke test failed: typed-array search did not return label 1');
  log('faiss-node loads and accepts Float32Array');

  const fused = require(path.join(root, 'packages', 'vector-index', 'native', 'build', 'Release', 'rds_fused.node'));
  log(`fused scoring kernel loads; code path on this CPU: ${fused.kernel()}`);

  const ort = require('onnxruntime-node');
  const backends = ort.listSupportedBackends?.() ?? [];
  log(
    `onnxruntime-node ${ort.env.versions?.node ?? ''} loads; execution providers: ${backends.map((b) => b.name).join(', ') || 'cpu'}`,
  );
}

buildFaiss();
buildFusedKernel();
try {
  smokeTest();
} catch (err) {
  fail(`native smoke test failed: ${err instanceof Error ? err.message : String(err)}`);
}
