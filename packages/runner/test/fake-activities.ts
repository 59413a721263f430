import fs from 'node:fs/promises';
import path from 'node:path';
import { activityRuntime, ProgressMeter, throwIfCancelled, writeJsonAtomic } from '@rds/artifacts';
import type { RunActivities } from '@rds/workflows/plan';
import { validateConfig } from '../src/validate.js';

/**
 * Stand-ins for the package activities with the same contract behaviour that orchestration relies
 * on (skip finished artifacts, heartbeat, stop on cancellation), recording every call. They let the
 * runner's pause/cancel/resume logic be tested independently of the ONNX/faiss stages; the e2e tests
 * in test/ run the real ones.
 */
export function fakeActivities(opts: {
  shards: number;
  rowsPerShard: number;
  shardMs?: number;
  failShardOnce?: number;
}) {
  const calls: string[] = [];
  const computed: number[] = [];
  let failed = false;
  const marker = async (runDir: string, name: string, body: () => Promise<unknown>) => {
    const file = path.join(runDir, 'fake', `${name}.json`);
    const exists = await fs.stat(file).then(
      () => true,
      () => false,
    );
    calls.push(`${name}${exists ? ':skip' : ''}`);
    if (exists) return true;
    await writeJsonAtomic(file, await body());
    return false;
  };
  const activities: RunActivities = {
    validateConfig,
    async ingestPool({ runDir, queries }) {
      const skipped = await marker(runDir, 'ingest', async () => ({}));
      return {
        skipped,
        shards: opts.shards,
        rows: opts.shards * opts.rowsPerShard,
        rejected: 1,
        duplicate: 2,
        tasks: queries.map((q) => q.task),
      };
    },
    async embedQueries({ runDir }) {
      return { skipped: await marker(runDir, 'queries', async () => ({})), rows: 10 };
    },
    async embedPoolShard({ runDir, shard }) {
      const rt = activityRuntime();
      const skipped = await marker(runDir, `shard-${shard}`, async () => {
        const meter = new ProgressMeter('embed', opts.rowsPerShard, 'rows', (p) => rt.heartbeat(p), 0, 0);
        for (let r = 1; r <= opts.rowsPerShard; r++) {
          throwIfCancelled(rt.signal);
          await new Promise((res) => setTimeout(res, (opts.shardMs ?? 0) / opts.rowsPerShard));
          meter.update(r);
        }
        if (opts.failShardOnce === shard && !failed) {
          failed = true;
          throw new Error(`shard ${shard} failed (injected)`);
        }
        computed.push(shard);
        return { rows: opts.rowsPerShard };
      });
      return {
        skipped,
        shard,
        rows: opts.rowsPerShard,
        tokens: opts.rowsPerShard * 3,
        seconds: skipped ? 0 : (opts.shardMs ?? 1) / 1000,
      };
    },
    async scorePool({ runDir, tasks }) {
      return { skipped: await marker(runDir, 'score', async () => ({})), tasks, seconds: 0.1 };
    },
    async selectPool({ runDir, selection }) {
      return {
        skipped: await marker(runDir, 'select', async () => ({ budget: selection.budget })),
        selected: selection.budget,
        warnings: [],
      };
    },
    async handoffSelection({ runDir, runId }) {
      return {
        skipped: await marker(runDir, 'handoff', async () => ({ runId })),
        location: path.join(runDir, 'handoff'),
        rows: 5,
        triggerStatus: 'skipped',
      };
    },
  };
  return { activities, calls, computed };
}

export function configFor(runDir: string) {
  return {
    runDir,
    pool: { inputs: ['pool.jsonl'] },
    queries: [{ task: 'gsm8k', path: 'q.jsonl' }],
    model: { dir: 'model' },
    selection: { budget: 5 },
  };
}
