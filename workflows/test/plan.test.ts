import { describe, expect, it } from 'vitest';
import {
  activityOptionsFor,
  addShard,
  embedProgress,
  embedWorkflowId,
  progressFromHeartbeats,
  EMPTY_TOTALS,
  resolveRunOptions,
  runError,
  shardBatch,
  STAGES,
  StatusTracker,
} from '../src/plan.js';
import { RUN_STAGES, RunStatus } from '@rds/schemas';

describe('shardBatch', () => {
  it('splits shards into continue-as-new batches', () => {
    expect(shardBatch(0, 5, 2)).toEqual({ shards: [0, 1], next: 2 });
    expect(shardBatch(2, 5, 2)).toEqual({ shards: [2, 3], next: 4 });
    expect(shardBatch(4, 5, 2)).toEqual({ shards: [4], next: null });
    expect(shardBatch(0, 0, 200)).toEqual({ shards: [], next: null });
    expect(shardBatch(0, 3, 200)).toEqual({ shards: [0, 1, 2], next: null });
  });

  it('covers every shard exactly once across continue-as-new runs', () => {
    const seen: number[] = [];
    let from: number | null = 0;
    let runs = 0;
    while (from !== null) {
      const b = shardBatch(from, 1001, 200);
      seen.push(...b.shards);
      from = b.next;
      runs++;
    }
    expect(runs).toBe(6);
    expect(seen).toEqual(Array.from({ length: 1001 }, (_, i) => i));
  });
});

describe('embedding progress', () => {
  it('accumulates totals, excludes skipped shards from the rate, and estimates the ETA per lane', () => {
    let t = addShard(EMPTY_TOTALS, { skipped: true, rows: 100, tokens: 0, seconds: 0 });
    t = addShard(t, { skipped: false, rows: 200, tokens: 5000, seconds: 10 });
    t = addShard(t, { skipped: false, rows: 200, tokens: 5000, seconds: 10 });
    expect(t).toEqual({
      shardsDone: 3,
      shardsSkipped: 1,
      rows: 500,
      rowsComputed: 400,
      tokens: 10_000,
      seconds: 20,
      rowsFromCache: 0,
    });
    // Rows from the cache count for computed shards; a skipped shard's were counted when it ran.
    expect(addShard(t, { skipped: false, rows: 100, tokens: 900, seconds: 1, cacheHits: 40 }).rowsFromCache).toBe(40);
    expect(addShard(t, { skipped: true, rows: 100, tokens: 0, seconds: 0, cacheHits: 40 }).rowsFromCache).toBe(0);
    const p = embedProgress(t, 7, [3, 4], false, 2);
    // 400 computed rows / 20 s (the skipped shard's rows took no time); 4 shards left at 10 s each over 2 lanes = 20 s.
    expect(p).toEqual({
      shardsDone: 3,
      shardsTotal: 7,
      inFlight: [3, 4],
      paused: false,
      rows: 500,
      rowsFromCache: 0,
      ratePerSec: 20,
      etaSec: 20,
    });
    expect(embedProgress(EMPTY_TOTALS, 4, [], true, 2).etaSec).toBeNull();
  });

  it('turns heartbeats into run progress: finished shards plus in-flight rows at their summed rate', () => {
    const beat = (done: number, ratePerSec: number, cacheHits = 0) => ({
      done,
      total: 200,
      unit: 'rows',
      ratePerSec,
      etaSec: 1,
      detail: { cacheHits },
    });
    const embed = { rowsDone: 500, shardsDone: 3, shardsTotal: 7, poolRows: 1400, ratePerSec: 25, rowsFromCache: 120 };
    expect(progressFromHeartbeats('embed-pool', [beat(100, 30, 60), beat(50, 20)], embed)).toEqual({
      stage: 'embed-pool',
      done: 650,
      total: 1400,
      unit: 'rows',
      ratePerSec: 50,
      etaSec: 15,
      shards: { done: 3, total: 7 },
      cacheHits: 180, // finished shards' 120 plus an in-flight shard's 60
    });
    // No shard heartbeating (between shards): the finished shards' rate.
    expect(progressFromHeartbeats('embed-pool', [], embed)).toMatchObject({ done: 500, ratePerSec: 25, etaSec: 36 });
    expect(progressFromHeartbeats('ingest', [{ done: 5, total: 10, unit: 'bytes', ratePerSec: 1, etaSec: 5 }])).toEqual(
      { stage: 'ingest', done: 5, total: 10, unit: 'bytes', ratePerSec: 1, etaSec: 5 },
    );
    expect(progressFromHeartbeats('score', [])).toBeNull();
    expect(embedWorkflowId('rds-1')).toBe('rds-1/embed');
  });
});

describe('options', () => {
  it('defaults queues, parallelism and batch size, and ignores nonsense values', () => {
    expect(resolveRunOptions(undefined, 'wf-1')).toEqual({
      runId: 'wf-1',
      queues: { cpu: 'cpu', gpu: 'gpu' },
      embedParallelism: 2,
      shardsPerRun: 200,
    });
    expect(
      resolveRunOptions({ runId: 'r', queues: { gpu: 'a100' }, embedParallelism: 0, shardsPerRun: 1.5 }, 'x'),
    ).toEqual({
      runId: 'r',
      queues: { cpu: 'cpu', gpu: 'a100' },
      embedParallelism: 2,
      shardsPerRun: 200,
    });
  });

  it('puts embedding on the gpu queue, heartbeats long stages and never retries validation errors', () => {
    const q = { cpu: 'c', gpu: 'g' };
    for (const stage of STAGES) {
      const o = activityOptionsFor(stage, q);
      expect(o.taskQueue).toBe(stage.startsWith('embed') ? 'g' : 'c');
      expect(o.retry?.nonRetryableErrorTypes).toEqual(['ValidationError', 'NonRetryableError']);
      if (stage !== 'validate') expect(o.heartbeatTimeout).toBeDefined();
    }
    expect(STAGES).toEqual([...RUN_STAGES]);
    expect(activityOptionsFor('embed-pool', q, '30s').heartbeatTimeout).toBe('30s');
    expect(activityOptionsFor('validate', q, '30s').heartbeatTimeout).toBeUndefined(); // short stages do not heartbeat
  });
});

describe('StatusTracker', () => {
  it('produces valid statuses through a run and keeps what a resumed run knew', () => {
    let t = 0;
    const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString();
    const changes: unknown[] = [];
    const tracker = new StatusTracker({ runId: 'r', runDir: '/d', backend: 'local', startedAt: now() }, now, (s) =>
      changes.push(s),
    );
    tracker.stageStarted('ingest');
    tracker.progress({ stage: 'ingest', done: 5, total: 10, unit: 'bytes', ratePerSec: 1, etaSec: 5 });
    tracker.setState('paused');
    tracker.setState('paused'); // no change, no write
    tracker.stageDone('ingest', { poolRows: 10 });
    tracker.finish(
      'failed',
      runError(Object.assign(new Error('boom'), { name: 'ValidationError', issues: [{ path: 'a', message: 'b' }] })),
    );
    expect(changes).toHaveLength(5);
    for (const c of changes) RunStatus.parse(c);
    expect(tracker.status).toMatchObject({
      state: 'failed',
      completedStages: ['ingest'],
      counts: { poolRows: 10 },
      error: { type: 'ValidationError', issues: [{ path: 'a' }] },
    });
    const resumed = new StatusTracker(
      { runId: 'r', runDir: '/d', backend: 'local', startedAt: now(), previous: tracker.status },
      now,
    );
    expect(resumed.status).toMatchObject({
      state: 'running',
      completedStages: ['ingest'],
      counts: { poolRows: 10 },
      error: null,
      startedAt: tracker.status.startedAt,
    });
  });

  it('unwraps Temporal activity failures to the original error type', () => {
    const wrapped = {
      name: 'ActivityFailure',
      message: 'Activity task failed',
      cause: { name: 'ApplicationFailure', type: 'ValidationError', message: 'invalid run config' },
    };
    expect(runError(wrapped)).toEqual({ type: 'ValidationError', message: 'invalid run config' });
  });
});
