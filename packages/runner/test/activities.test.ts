import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readJsonFile, runLayout, sha256File, type Progress } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import { EmbeddingManifest, ModelConfig, PoolManifest, type IngestInput } from '@rds/schemas';
import { activities } from '../src/activities.js';

/**
 * The real activities under Temporal's activity context (MockActivityEnvironment): heartbeats reach
 * Temporal, cancellation stops them cleanly, and a retry sees the previous attempt's heartbeat.
 */
const POOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/pool.jsonl');
const QUERIES = path.resolve(path.dirname(POOL), 'queries/gsm8k.jsonl');
let dir: string;

beforeAll(async () => {
  await fs.access(POOL).catch(() => {
    throw new Error(
      `test data missing: ${POOL} (the shared data set is expected at ../shared/data relative to the repo root)`,
    );
  });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-mockenv-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

/** env.run with the activity's own input/output types (its generics do not infer the result). */
const runIn = <I, O>(env: MockActivityEnvironment, fn: (input: I) => Promise<O>, input: I): Promise<O> =>
  env.run(fn, input) as Promise<O>;

const ingestInput = (runDir: string): IngestInput => ({
  runDir,
  pool: { inputs: [POOL], format: 'auto', shardSize: 5000, maxRowBytes: 4 << 20 },
  queries: [{ task: 'gsm8k', path: QUERIES, format: 'auto' }],
});

describe('activities under MockActivityEnvironment', () => {
  it('ingestPool heartbeats progress to Temporal and is idempotent on retry', async () => {
    const runDir = path.join(dir, 'ok');
    const env = new MockActivityEnvironment();
    const beats: Progress[] = [];
    env.on('heartbeat', (d: Progress) => beats.push(d));
    const out = await runIn(env, activities.ingestPool, ingestInput(runDir));
    expect(out).toMatchObject({ skipped: false, rows: expect.any(Number), tasks: ['gsm8k'] });
    expect(out.rows).toBeGreaterThan(15_000);
    expect(out.shards).toBe(Math.ceil(out.rows / 5000));
    expect(beats.length).toBeGreaterThan(0);
    const last = beats[beats.length - 1]!;
    expect(last).toMatchObject({ stage: 'ingest', unit: 'bytes' });
    expect(last.done).toBe(last.total);
    const again = await runIn(new MockActivityEnvironment(), activities.ingestPool, ingestInput(runDir));
    expect(again).toMatchObject({ skipped: true, rows: out.rows, shards: out.shards });
  });

  it('ingestPool stops on cancellation without leaving a manifest, and a later attempt completes', async () => {
    const runDir = path.join(dir, 'cancel');
    const env = new MockActivityEnvironment();
    env.once('heartbeat', () => env.cancel('CANCELLED'));
    const err = await runIn(env, activities.ingestPool, ingestInput(runDir)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    await expect(fs.access(runLayout(runDir).pool.manifest)).rejects.toThrow(/ENOENT/);
    const out = await runIn(new MockActivityEnvironment(), activities.ingestPool, ingestInput(runDir));
    expect(out.skipped).toBe(false);
    const manifest = await readJsonFile(runLayout(runDir).pool.manifest, PoolManifest);
    expect(manifest.counts.kept).toBe(out.rows);
  });

  it('validateConfig rejects a bad config as a ValidationError (non-retryable) naming the fields', async () => {
    const err = await runIn(new MockActivityEnvironment(), activities.validateConfig, {
      config: { runDir: dir, selection: { budget: 0 } } as never,
      runId: 'r',
    }).catch((e: unknown) => e as Error & { issues: { path: string }[] });
    if (!(err instanceof Error)) throw new Error('expected validateConfig to reject');
    expect(err.name).toBe('ValidationError');
    expect(err.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['pool', 'queries', 'model', 'selection.budget']),
    );
  });

  it('embedPoolShard cancelled mid-shard resumes from its checkpoint on the next attempt, byte-identical to an uninterrupted run', async () => {
    const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/data');
    const modelDir = path.join(dir, 'model');
    await writeTestModel(modelDir);
    const model = ModelConfig.parse({ dir: modelDir, maxTokens: 128, checkpointRows: 16 });
    const ingest = (runDir: string): IngestInput => ({
      runDir,
      pool: { inputs: [path.join(examples, 'pool.jsonl')], format: 'auto', shardSize: 100, maxRowBytes: 1 << 20 },
      queries: [],
    });
    const straightDir = path.join(dir, 'embed-straight');
    const resumedDir = path.join(dir, 'embed-resumed');
    for (const d of [straightDir, resumedDir])
      await runIn(new MockActivityEnvironment(), activities.ingestPool, ingest(d));

    const straight = await runIn(new MockActivityEnvironment(), activities.embedPoolShard, {
      runDir: straightDir,
      shard: 1,
      model,
    });
    expect(straight).toMatchObject({ skipped: false, shard: 1, rows: 100 });

    // Attempt 1: cancelled at its first heartbeat reporting a durable checkpoint (batches report
    // progress before it; every checkpoint is reported).
    const first = new MockActivityEnvironment();
    const firstBeats: Progress[] = [];
    const checkpointOf = (p: Progress) => Number(p.detail?.rowsCheckpointed ?? 0);
    first.on('heartbeat', (p: Progress) => {
      if (firstBeats.some((b) => checkpointOf(b) > 0)) return; // cancelled already
      firstBeats.push(p);
      if (checkpointOf(p) > 0) first.cancel('CANCELLED');
    });
    await expect(runIn(first, activities.embedPoolShard, { runDir: resumedDir, shard: 1, model })).rejects.toThrow();
    expect(firstBeats[0]).toMatchObject({ unit: 'rows', total: 100 });
    const checkpointed = checkpointOf(firstBeats.at(-1)!);
    expect(firstBeats.at(-1)!.done).toBe(checkpointed);
    expect(checkpointed).toBeGreaterThan(0);
    expect(checkpointed).toBeLessThan(100);
    await expect(fs.access(runLayout(resumedDir).embeddings.poolManifest(1))).rejects.toThrow(/ENOENT/);

    // Attempt 2 (what Temporal's retry runs) resumes from the checkpoint on disk.
    const second = new MockActivityEnvironment({ attempt: 2 });
    const secondBeats: Progress[] = [];
    second.on('heartbeat', (p: Progress) => secondBeats.push(p));
    const resumed = await runIn(second, activities.embedPoolShard, { runDir: resumedDir, shard: 1, model });
    expect(resumed).toMatchObject({ skipped: false, rows: 100 });
    expect(secondBeats[0]!.done).toBeGreaterThan(checkpointed); // never re-embeds the checkpointed rows
    const a = await readJsonFile(runLayout(straightDir).embeddings.poolManifest(1), EmbeddingManifest);
    const b = await readJsonFile(runLayout(resumedDir).embeddings.poolManifest(1), EmbeddingManifest);
    expect(b.ids).toEqual(a.ids);
    expect(b.matrix.sha256).toBe(a.matrix.sha256);
    expect(await sha256File(runLayout(resumedDir).embeddings.poolMatrix(1))).toBe(a.matrix.sha256);
    // Attempt 3 finds the finished shard and skips it.
    expect(
      await runIn(new MockActivityEnvironment(), activities.embedPoolShard, { runDir: resumedDir, shard: 1, model }),
    ).toMatchObject({ skipped: true, rows: 100 });
  });
});
