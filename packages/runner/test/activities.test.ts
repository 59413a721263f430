import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityRuntime, readJsonFile, runLayout, type Progress } from '@rds/artifacts';
import { PoolManifest, type IngestInput } from '@rds/schemas';
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
    throw new Error(`test data missing: ${POOL} (the shared data set is expected at ../shared/data relative to the repo root)`);
  });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-mockenv-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

/** env.run with the activity's own input/output types (its generics do not infer the result). */
const runIn = <I, O>(env: MockActivityEnvironment, fn: (input: I) => Promise<O>, input: I): Promise<O> => env.run(fn, input) as Promise<O>;

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

  it("activityRuntime exposes the previous attempt's heartbeat details (what resumable activities resume from)", async () => {
    const details = { stage: 'embed', done: 1024, total: 5000, unit: 'rows', ratePerSec: 1, etaSec: 1, detail: { rows: 1024 } };
    const env = new MockActivityEnvironment({ heartbeatDetails: details, attempt: 2 });
    const seen = await env.run(async () => activityRuntime().lastHeartbeat);
    expect(seen).toEqual(details);
  });

  it('validateConfig rejects a bad config as a ValidationError (non-retryable) naming the fields', async () => {
    const err = await runIn(new MockActivityEnvironment(), activities.validateConfig, { config: { runDir: dir, selection: { budget: 0 } } as never, runId: 'r' }).catch(
      (e: unknown) => e as Error & { issues: { path: string }[] },
    );
    if (!(err instanceof Error)) throw new Error('expected validateConfig to reject');
    expect(err.name).toBe('ValidationError');
    expect(err.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['pool', 'queries', 'model', 'selection.budget']));
  });
});
