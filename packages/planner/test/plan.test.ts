import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddings, runLayout, runWithRuntime } from '@rds/artifacts';
import { embedPoolShard, embedQueries, getModel, renderTulu, tokenizeMessages, writeTestModel } from '@rds/encoder';
import { ingestPoolFiles, ingestQuerySet } from '@rds/pool';
import { ComputePlan, RunConfig, type Message } from '@rds/schemas';
import { BottomKSample, forwardFlops, matmulParams, modelShape, planRun } from '../src/index.js';

const shared = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/data');
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const quiet = { heartbeat: () => {}, signal: new AbortController().signal, log: () => {} };

let modelDir: string;
let poolFile: string;
let queryFile: string;
let bigPoolFile: string;

beforeAll(async () => {
  modelDir = await writeTestModel(path.join(os.tmpdir(), 'rds-planner-test-model'));
  const dir = tmp('rds-plan-data-');
  poolFile = path.join(dir, 'pool.jsonl');
  queryFile = path.join(dir, 'gsm8k.jsonl');
  const rows = fs.readFileSync(path.join(shared, 'pool.jsonl'), 'utf8').split('\n').slice(0, 300);
  // Rows ingest drops: two exact duplicates (new ids, same contents), one broken line, one without messages.
  const dup = (line: string, id: string) => JSON.stringify({ ...(JSON.parse(line) as object), id });
  fs.writeFileSync(
    poolFile,
    [
      ...rows,
      dup(rows[3]!, 'again-1'),
      dup(rows[7]!, 'again-2'),
      '{"id": broken',
      '{"id":"x","text":"no messages"}',
    ].join('\n') + '\n',
  );
  bigPoolFile = path.join(dir, 'pool-5000.jsonl');
  fs.writeFileSync(
    bigPoolFile,
    fs.readFileSync(path.join(shared, 'pool.jsonl'), 'utf8').split('\n').slice(0, 5000).join('\n') + '\n',
  );
  fs.writeFileSync(
    queryFile,
    fs.readFileSync(path.join(shared, 'queries/gsm8k.jsonl'), 'utf8').split('\n').slice(0, 20).join('\n') + '\n',
  );
});

function config(runDir: string, maxTokens = 64): RunConfig {
  return RunConfig.parse({
    runDir,
    pool: { inputs: [poolFile], shardSize: 100_000 },
    queries: [{ task: 'gsm8k', path: queryFile }],
    model: { dir: modelDir, maxTokens, threads: 1 },
    selection: { budget: 10 },
  });
}

describe('planRun', () => {
  it('counts rows and tokens exactly as ingest and the encoder do, and writes nothing', async () => {
    const runDir = path.join(tmp('rds-plan-run-'), 'run');
    const cfg = config(runDir);
    const plan = ComputePlan.parse(await planRun(cfg, { calibrateTokens: 0 }));
    expect(fs.existsSync(runDir)).toBe(false);
    expect(plan.pool).toMatchObject({ files: 1, read: 304, rows: 300, duplicate: 2, rejected: 2 });
    expect(plan.tokens.sampled).toBe(false);

    // The real stages on the same config: their embedding manifests record the tokens they ran.
    await ingestPoolFiles(runDir, cfg.pool);
    await ingestQuerySet(runDir, cfg.queries[0]!, cfg.pool.maxRowBytes);
    await runWithRuntime(quiet, () => embedPoolShard({ runDir, shard: 0, model: cfg.model }));
    await runWithRuntime(quiet, () => embedQueries({ runDir, tasks: ['gsm8k'], model: cfg.model }));
    const pool = (await openEmbeddings(runLayout(runDir).embeddings.poolManifest(0))).manifest;
    const queries = (await openEmbeddings(runLayout(runDir).embeddings.queryManifest('gsm8k'))).manifest;
    expect(plan.tokens.pool).toBe(pool.tokens);
    expect(plan.queries).toEqual([{ task: 'gsm8k', rows: 20, tokens: queries.tokens }]);
    // maxTokens 64 cuts some of these rows; the count matches the encoder's own truncation.
    const model = await getModel(modelDir, { threads: 1 });
    const rows = fs
      .readFileSync(runLayout(runDir).pool.shard(0), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { messages: Message[] }).messages);
    const lengths = rows.map((m) => model.tokenizer.encode(renderTulu(m, model.eos)).ids.length);
    expect(plan.tokens.truncatedRows).toBe(lengths.filter((n) => n > 64).length);
    expect(plan.tokens.truncatedRows).toBeGreaterThan(0);

    // FLOPs: the formula over the encoder's own sequence lengths.
    const seqs = rows.map((m) => tokenizeMessages(model, m, 64).length);
    const shape = modelShape(model.config, model.hiddenSize);
    expect(plan.flops.pool).toBe(
      forwardFlops(
        shape,
        seqs.reduce((a, b) => a + b, 0),
        seqs.reduce((a, b) => a + b * b, 0),
      ).total,
    );
    // Disk: 300 + 20 rows x 64 dims x float16; one float32 max vector per pool row.
    expect(plan.disk).toEqual({ embeddings: 320 * 64 * 2, scores: 300 * 4, topk: 0 });
    expect(plan.calibration).toBeNull();
    expect(plan.time.thisMachineSeconds).toBeNull();
  });

  it('calibrates on this machine and prices GPU classes from their peaks', async () => {
    const plan = await planRun(config(path.join(tmp('rds-plan-cal-'), 'run')), {
      calibrateTokens: 512,
      cacheDir: tmp('rds-plan-cache-'),
    });
    expect(plan.calibration!.tokens).toBeGreaterThanOrEqual(512);
    expect(plan.calibration!.flopsPerSecond).toBeGreaterThan(0);
    const total = plan.flops.pool + plan.flops.queries;
    expect(plan.time.thisMachineSeconds).toBeCloseTo(total / plan.calibration!.flopsPerSecond, 6);
    const h100 = plan.time.gpus.find((g) => g.name === 'H100 SXM')!;
    expect(h100).toMatchObject({ utilisationSource: 'assumed', utilisation: 0.35 });
    expect(h100.seconds).toBeCloseTo(total / (989e12 * 0.35), 12);
  });

  it('samples a pool larger than sampleRows, says so, and extrapolates close to the exact count', async () => {
    const runDir = path.join(tmp('rds-plan-sample-'), 'run');
    const cfg = RunConfig.parse({ ...config(runDir, 2048), pool: { inputs: [bigPoolFile] } });
    const exact = await planRun(cfg, { calibrateTokens: 0 });
    const sampled = await planRun(cfg, { calibrateTokens: 0, sampleRows: 2000 });
    expect(exact.tokens.sampled).toBe(false);
    expect(sampled.tokens).toMatchObject({ sampled: true, sampledRows: 2000 });
    expect(sampled.pool.rows).toBe(exact.pool.rows);
    expect(sampled.notes[0]).toMatch(/sample of 2000 of \d+ pool rows/);
    // Deterministic (the sample is chosen by content hash), so this bound cannot flicker.
    expect(Math.abs(sampled.tokens.pool / exact.tokens.pool - 1)).toBeLessThan(0.05);
    expect(await planRun(cfg, { calibrateTokens: 0, sampleRows: 2000 })).toEqual(sampled);
  }, 180_000);
});

describe('FLOPs', () => {
  it('match a hand computation for SmolLM2-135M (Llama: 30 layers, hidden 576, 9 heads / 3 kv heads, ffn 1536 gated)', () => {
    const shape = modelShape(
      {
        model_type: 'llama',
        num_hidden_layers: 30,
        intermediate_size: 1536,
        num_attention_heads: 9,
        num_key_value_heads: 3,
      },
      576,
    );
    // Per layer: Q,O 2 x 576^2 = 663,552; K,V 2 x 576 x 192 = 221,184; MLP 3 x 576 x 1536 = 2,654,208.
    expect(matmulParams(shape)).toBe(30 * (663_552 + 221_184 + 2_654_208));
    // Two sequences of 10 and 20 tokens: 2 x 106,168,320 x 30 + 30 x 4 x 576 x (100 + 400).
    expect(forwardFlops(shape, 30, 500)).toEqual({ total: 6_370_099_200 + 34_560_000, attention: 34_560_000 });
  });

  it('use an ungated MLP and full attention heads where config.json says nothing else', () => {
    const shape = modelShape({ model_type: 'gpt2', n_layer: 2, n_head: 4 }, 64);
    expect(shape).toEqual({ hiddenSize: 64, layers: 2, intermediateSize: 256, heads: 4, kvHeads: 4, gated: false });
    expect(matmulParams(shape)).toBe(2 * (2 * 64 * 64 + 2 * 64 * 64 + 2 * 64 * 256));
  });
});

describe('BottomKSample', () => {
  it('keeps the k smallest keys whatever the arrival order', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
    const a = new BottomKSample<number>(10);
    for (const k of keys) a.add(k, k);
    expect(a.values().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.complete).toBe(false);
    const b = new BottomKSample<number>(10);
    for (const k of [...keys].reverse()) b.add(k, k);
    expect(b.values().sort((x, y) => x - y)).toEqual(a.values().sort((x, y) => x - y));
  });
});
