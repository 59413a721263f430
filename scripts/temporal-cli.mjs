// The official Temporal CLI (`temporal server start-dev` is the single-binary dev server the tests run
// against): where it is cached, and `node scripts/temporal-cli.mjs install`, which builds it once per
// machine with `go install` (the Go module proxy is reachable where GitHub release downloads are not).
// Plain ESM without dependencies, so .ci/run can call it right after `npm ci` and the TypeScript test
// harness (@rds/runner/dev-server) imports the same path.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** v1.5.1 is the newest tag without a `replace` directive (later ones are refused by `go install pkg@version`). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

/** `RDS_TEMPORAL_CLI` (an existing binary), else `${XDG_CACHE_HOME:-~/.cache}/rds-select/temporal-cli/<version>/temporal`. */
export function temporalCliPath(env = process.env) {
  if (env.RDS_TEMPORAL_CLI) return env.RDS_TEMPORAL_CLI;
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'rds-select', 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');
}

/** The binary's `--version` line, or null when it is missing or does not run. */
export function temporalCliVersion(bin = temporalCliPath()) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Build the CLI into the cache unless a working binary is already there (idempotent). */
export function installTemporalCli(env = process.env) {
  const bin = temporalCliPath(env);
  const have = temporalCliVersion(bin);
  if (have) return { bin, version: have, built: false };
  if (env.RDS_TEMPORAL_CLI) throw new Error(`RDS_TEMPORAL_CLI=${bin} does not run (\`${bin} --version\` failed)`);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    throw new Error(`building the Temporal CLI needs Go (>= 1.24) on PATH: ${go.error?.message ?? go.stderr}`);
  // Build into a temporary GOBIN and rename, so an interrupted build never leaves a broken binary in the cache.
  const dir = path.dirname(bin);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    execFileSync('go', ['install', `${MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: tmp },
      stdio: 'inherit',
    });
    fs.mkdirSync(dir, { recursive: true });
    fs.renameSync(path.join(tmp, 'temporal'), bin);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const version = temporalCliVersion(bin);
  if (!version) throw new Error(`built ${bin}, but \`${bin} --version\` fails`);
  return { bin, version, built: true };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd === 'install') {
    const started = Date.now();
    const r = installTemporalCli();
    console.log(
      `temporal CLI ${TEMPORAL_CLI_VERSION}: ${r.bin} (${r.version}; ${r.built ? `built in ${((Date.now() - started) / 1000).toFixed(0)} s` : 'cached'})`,
    );
  } else if (cmd === 'path') {
    console.log(temporalCliPath());
  } else {
    console.error('usage: node scripts/temporal-cli.mjs install|path');
    process.exitCode = 2;
  }
}
