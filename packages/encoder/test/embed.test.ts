import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchLimits, embedSequences, planBatches, poolRow } from '../src/embed.js';
import { cacheDir, getModel, loadModel, modelChecksum, type LoadedModel } from '../src/model.js';
import { tempDir, testModel } from './helpers.js';

describe('poolRow', () => {
  it('weighted mean uses w_t = t / sum(s) over real tokens, then L2-normalises', () => {
    // T=4 positions, 3 real tokens, dims 2; padding position holds garbage that must be ignored.
    const hidden = Float32Array.from([1, 0, 0, 1, 1, 1, 99, 99]);
    const out = new Float32Array(2);
    poolRow(hidden, 0, 3, 2, 'weighted-mean', out, 0);
    // weights 1/6, 2/6, 3/6 -> (1/6 + 3/6, 2/6 + 3/6) = (4/6, 5/6), normalised
    const n = Math.hypot(4 / 6, 5 / 6);
    expect(out[0]).toBeCloseTo(4 / 6 / n, 6);
    expect(out[1]).toBeCloseTo(5 / 6 / n, 6);
    poolRow(hidden, 0, 3, 2, 'mean', out, 0);
    expect(out[0]).toBeCloseTo(2 / 3 / Math.hypot(2 / 3, 2 / 3), 6);
    poolRow(hidden, 0, 3, 2, 'last', out, 0);
    expect(Array.from(out)).toEqual([Math.SQRT1_2, Math.SQRT1_2].map((x) => Math.fround(x)));
  });
});

describe('planBatches', () => {
  it('groups by length within the token budget and covers every row once', () => {
    const lengths = [5, 100, 7, 6, 98, 3, 50];
    const batches = planBatches(lengths, 200, 3);
    expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(3);
      const maxLen = Math.max(...b.map((i) => lengths[i]!));
      if (b.length > 1) expect(b.length * maxLen).toBeLessThanOrEqual(200);
    }
    expect(batches[0]).toEqual([5, 0, 3]); // the three shortest together
  });

  it('batch limits default by the provider that runs; configured values win', () => {
    expect(batchLimits('cpu', {})).toEqual({ batchTokens: 1024, maxBatchSize: 8 });
    expect(batchLimits('cuda', {})).toEqual({ batchTokens: 16_384, maxBatchSize: 64 });
    expect(batchLimits('webgpu', { maxBatchSize: 4 })).toEqual({ batchTokens: 16_384, maxBatchSize: 4 });
    expect(batchLimits('cpu', { batchTokens: 4096, maxBatchSize: 32 })).toEqual({
      batchTokens: 4096,
      maxBatchSize: 32,
    });
  });
});

describe('embedSequences with the generated model', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await getModel(await testModel());
  });

  it('gives the same embedding for a row whatever batch it is in (to 1e-5)', async () => {
    const seqs: number[][] = [];
    let s = 7;
    for (let i = 0; i < 12; i++) {
      const len = 3 + ((i * 37) % 60);
      seqs.push([1, ...Array.from({ length: len }, () => (s = (s * 1103515245 + 12345) % 31000) + 10)]);
    }
    const batched = await embedSequences(model, seqs, {
      pooling: 'weighted-mean',
      batchTokens: 4096,
      maxBatchSize: 64,
    });
    const single = await embedSequences(model, seqs, { pooling: 'weighted-mean', batchTokens: 1, maxBatchSize: 1 });
    const H = model.hiddenSize;
    let maxDiff = 0;
    for (let i = 0; i < batched.length; i++) maxDiff = Math.max(maxDiff, Math.abs(batched[i]! - single[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    for (let r = 0; r < seqs.length; r++) {
      const norm = Math.hypot(...batched.subarray(r * H, (r + 1) * H));
      expect(norm).toBeCloseTo(1, 5);
    }
    // Different inputs give different embeddings (the model is not degenerate).
    const dot = batched.subarray(0, H).reduce((a, x, d) => a + x * batched[H + d]!, 0);
    expect(dot).toBeLessThan(0.9999);
  });
});

describe('loadModel errors and execution providers', () => {
  it('names the missing files of a bad model directory', async () => {
    const dir = tempDir('rds-badmodel-');
    fs.writeFileSync(path.join(dir, 'config.json'), '{"hidden_size": 8}');
    await expect(loadModel(dir)).rejects.toThrow(/missing model\.onnx, tokenizer\.json, tokenizer_config\.json/);
    await expect(loadModel(path.join(dir, 'nope'))).rejects.toThrow(/does not exist/);
  });

  it('caches the model checksum in the cache dir, never inside the model directory', async () => {
    const src = await testModel();
    const dir = tempDir('rds-cachedmodel-');
    for (const f of fs.readdirSync(src)) if (!f.startsWith('.')) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const cache = tempDir('rds-cache-');
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256')
      .update(fs.readFileSync(path.join(dir, 'model.onnx')))
      .digest('hex');
    expect(await modelChecksum(dir, cache)).toBe(expected);
    expect(fs.readdirSync(dir).sort()).toEqual(
      fs
        .readdirSync(src)
        .filter((f) => !f.startsWith('.'))
        .sort(),
    );
    const cached = fs.readdirSync(path.join(cache, 'model-checksums'));
    expect(cached).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(cache, 'model-checksums', cached[0]!), 'utf8')).sha256).toBe(expected);
    expect(await modelChecksum(dir, cache)).toBe(expected); // from the cache
    expect(cacheDir({ RDS_CACHE_DIR: '/var/cache/rds' })).toBe('/var/cache/rds');
    expect(cacheDir({ XDG_CACHE_HOME: '/home/u/.cache' })).toBe('/home/u/.cache/rds-select');
  });

  it('a model.dir that is a file says so', async () => {
    const file = path.join(tempDir('rds-filemodel-'), 'model');
    fs.writeFileSync(file, 'not a directory');
    await expect(loadModel(file)).rejects.toThrow(/model directory .*model is not a directory/);
  });

  it('with roots, the model directory and each file must really lie inside them when loaded', async () => {
    const src = await testModel();
    const root = tempDir('rds-modelroot-');
    const dir = path.join(root, 'model');
    fs.mkdirSync(dir);
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'config.json'])
      fs.copyFileSync(path.join(src, f), path.join(dir, f));
    fs.symlinkSync(path.join(src, 'model.onnx'), path.join(dir, 'model.onnx')); // leads out of the root
    await expect(loadModel(dir, { roots: [root] })).rejects.toThrow(/model\.onnx leads outside the allowed data roots/);
    fs.symlinkSync(src, path.join(root, 'linked'));
    await expect(loadModel(path.join(root, 'linked'), { roots: [root] })).rejects.toThrow(
      /linked leads outside the allowed data roots/,
    );
    // Without roots (the CLI), and with the real file inside, it loads.
    fs.rmSync(path.join(dir, 'model.onnx'));
    fs.copyFileSync(path.join(src, 'model.onnx'), path.join(dir, 'model.onnx'));
    const m = await loadModel(dir, { roots: [root] });
    expect(m.ref.id).toBe('model');
    await m.session.release();
  });

  it('rejects a graph without last_hidden_state', async () => {
    const src = await testModel();
    const dir = tempDir('rds-wrongmodel-');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'config.json'])
      fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const { encodeModel, DataType } = await import('@rds/onnx-graph');
    fs.writeFileSync(
      path.join(dir, 'model.onnx'),
      encodeModel({
        name: 'wrong',
        nodes: [{ op: 'Cast', inputs: ['input_ids'], outputs: ['logits'], attrs: { to: DataType.FLOAT } }],
        initializers: [],
        inputs: [{ name: 'input_ids', type: DataType.INT64, shape: ['b', 's'] }],
        outputs: [{ name: 'logits', type: DataType.FLOAT, shape: ['b', 's'] }],
      }),
    );
    await expect(loadModel(dir)).rejects.toThrow(
      /does not fit: the graph needs an input named attention_mask; an output named last_hidden_state/,
    );
  });

  it('falls back to cpu with a log line when the provider is unavailable', async () => {
    const logs: string[] = [];
    const m = await loadModel(await testModel(), { executionProvider: 'cuda', log: (l) => logs.push(l) });
    expect(m.provider).toBe('cpu');
    expect(logs.join('\n')).toMatch(/execution provider "cuda" is unavailable .*falling back to cpu/);
    await m.session.release();
  });
});
