import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { batchLimits, embedSequences, loadModel, renderTulu, tokenizeMessages, type LoadedModel } from '@rds/encoder';
import { installedModel } from '../src/index.js';
import { MODEL, readRows, reference, SHARED, type Row } from './helpers.js';

// Needs the real model (npx rds model fetch smollm2-135m; .ci/run installs it): fails, never skips, without it.
const MAX_TOKENS = 2048;
let model: LoadedModel;
let ggufPath: string;
let conversations: Row['messages'][];
let seqs: number[][];

beforeAll(async () => {
  const installed = await installedModel(MODEL);
  ggufPath = installed.ggufPath;
  model = await loadModel(installed.dir, { log: () => undefined });
  // 63 real pool rows at evenly spaced quantiles of their length (14 to 2,683 characters)...
  const pool = readRows(path.join(SHARED, 'pool.jsonl'));
  const size = (r: Row) => r.messages.reduce((a, m) => a + m.content.length, 0);
  const bySize = [...pool].sort((a, b) => size(a) - size(b) || a.id.localeCompare(b.id));
  conversations = Array.from({ length: 63 }, (_, k) => bySize[Math.round((k * (bySize.length - 1)) / 62)]!.messages);
  // ...and one multi-turn conversation of consecutive real rows, longer than maxTokens (no single row is).
  const long: Row['messages'] = [];
  for (const r of pool) {
    long.push(...r.messages);
    if (tokenizeMessages(model, long, Number.MAX_SAFE_INTEGER).length > MAX_TOKENS + 500) break;
  }
  conversations.push(long);
  seqs = conversations.map((c) => tokenizeMessages(model, c, MAX_TOKENS));
});
afterAll(async () => {
  await model?.session.release();
});

function cosine(a: Float32Array, b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

it('pools the same embeddings as PyTorch float32 last_hidden_state on the GGUF weights (64 real rows, one truncated at 2048)', async () => {
  const lengths = seqs.map((s) => s.length);
  expect(Math.min(...lengths)).toBeLessThan(32);
  expect(lengths.at(-1)).toBe(MAX_TOKENS);
  const H = model.hiddenSize;
  const ours = await embedSequences(model, seqs, { pooling: 'weighted-mean', ...batchLimits('cpu', {}) });
  const texts = conversations.map((c) => renderTulu(c, model.eos));
  const theirs = await reference<{ n: number; embedding: number[] }>(
    [
      'embed',
      '--model-dir',
      model.dir,
      '--gguf-dir',
      path.dirname(ggufPath),
      '--gguf-file',
      path.basename(ggufPath),
      '--max-tokens',
      String(MAX_TOKENS),
    ],
    texts,
  );
  expect(theirs.map((t) => t.n)).toEqual(lengths);
  const cosines = theirs.map((t, i) => cosine(ours.subarray(i * H, (i + 1) * H), t.embedding));
  const worst = Math.min(...cosines);
  console.log(
    `cosine to PyTorch over ${seqs.length} rows (${Math.min(...lengths)}-${Math.max(...lengths)} tokens): min ${worst.toFixed(8)} (1 - min = ${(1 - worst).toExponential(2)})`,
  );
  for (const [i, c] of cosines.entries()) expect(c, `row ${i} (${lengths[i]} tokens)`).toBeGreaterThanOrEqual(0.99999);
}, 900_000);

it('gives every row the same embedding batched and one at a time (1e-5)', async () => {
  const H = model.hiddenSize;
  const batched = await embedSequences(model, seqs, { pooling: 'weighted-mean', batchTokens: 8192, maxBatchSize: 64 });
  const single = await embedSequences(model, seqs, { pooling: 'weighted-mean', batchTokens: 1, maxBatchSize: 1 });
  let maxDiff = 0;
  for (let i = 0; i < seqs.length * H; i++) maxDiff = Math.max(maxDiff, Math.abs(batched[i]! - single[i]!));
  expect(maxDiff).toBeLessThanOrEqual(1e-5);
}, 900_000);

it('still rejects a model directory whose config does not match the graph (wrong hidden size), naming both', async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-bad-model-'));
  try {
    for (const f of ['model.onnx', 'tokenizer.json', 'tokenizer_config.json'])
      fs.symlinkSync(path.join(model.dir, f), path.join(bad, f));
    const config = JSON.parse(fs.readFileSync(path.join(model.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...config, hidden_size: 512 }));
    const wrong = await loadModel(bad, { log: () => undefined });
    try {
      await expect(
        embedSequences(wrong, [seqs[0]!], { pooling: 'weighted-mean', batchTokens: 1024, maxBatchSize: 8 }),
      ).rejects.toThrow('model returned hidden size 576, config.json says 512');
    } finally {
      await wrong.session.release();
    }
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
}, 120_000);
