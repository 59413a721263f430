import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { EmbeddingManifest, PoolManifest } from '@rds/schemas';
import { connectTemporalClient, loadConfigFile, TemporalBackend } from '@rds/runner';
import { EXAMPLES, REPO, waitFor } from './helpers.js';

/**
 * Opt-in (needs a Temporal server: TEMPORAL_ADDRESS, e.g. `temporal server start-dev`): a worker
 * in a child process is SIGKILLed in the middle of pool embedding; a new worker takes over, and
 * every pool shard is embedded exactly once (finished shards are never recomputed, every pool row
 * has exactly one embedding).
 */
const address = process.env.TEMPORAL_ADDRESS;
const encoder = (await import('@rds/encoder')) as Record<string, unknown>;
const writeTestModel = encoder.writeTestModel as ((dir: string) => Promise<unknown>) | undefined;
const skipReason = !address
  ? 'set TEMPORAL_ADDRESS to run it against a Temporal server'
  : typeof writeTestModel !== 'function'
    ? '@rds/encoder does not export writeTestModel yet'
    : null;

const workers: ChildProcess[] = [];
afterAll(() => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
});

function startWorker(queues: { cpu: string; gpu: string }): ChildProcess {
  const w = spawn(process.execPath, ['--conditions=@rds/source', '--import', 'tsx', path.join(REPO, 'apps/worker/src/main.ts'), '--bundle', 'fresh', '--cpu-queue', queues.cpu, '--gpu-queue', queues.gpu], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  workers.push(w);
  return w;
}

describe.skipIf(skipReason !== null)(`Temporal failover${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('a worker killed mid-embedding is replaced and every shard is embedded exactly once', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-temporal-'));
    const modelDir = path.join(tmp, 'model');
    await writeTestModel!(modelDir);
    const example = await loadConfigFile(path.join(EXAMPLES, 'rds.config.json'));
    const runDir = path.join(tmp, 'run');
    const config = { ...example, runDir, pool: { ...example.pool, shardSize: 50 }, model: { ...example.model, dir: modelDir } };
    const suffix = `${process.pid}-${Date.now()}`;
    const queues = { cpu: `e2e-cpu-${suffix}`, gpu: `e2e-gpu-${suffix}` };

    const { client, connection } = await connectTemporalClient();
    try {
      const backend = new TemporalBackend({ client, queues, embedParallelism: 1, shardsPerRun: 2, heartbeatTimeout: '5s', idPrefix: `e2e-${suffix}-` });
      const first = startWorker(queues);
      const { runId } = await backend.start(config);
      const shard0 = runLayout(runDir).embeddings.poolManifest(0);
      await waitFor('shard 0 embedded', () => fs.stat(shard0).then(() => true, () => false), 300_000, 20);
      first.kill('SIGKILL');
      const before = await readJsonFile(shard0, EmbeddingManifest);
      startWorker(queues);
      const result = await client.workflow.getHandle(runId).result();
      expect(result).toMatchObject({ runId, runDir });

      const pool = await readJsonFile(runLayout(runDir).pool.manifest, PoolManifest);
      expect(pool.shards.length).toBeGreaterThanOrEqual(4);
      const ids: string[] = [];
      for (let s = 0; s < pool.shards.length; s++) {
        const m = await readJsonFile(runLayout(runDir).embeddings.poolManifest(s), EmbeddingManifest);
        expect(m.rows).toBe(pool.shards[s]!.rows);
        ids.push(...m.ids);
      }
      expect(new Set(ids).size).toBe(pool.counts.kept); // each row embedded exactly once
      expect(ids.length).toBe(pool.counts.kept);
      expect((await readJsonFile(shard0, EmbeddingManifest)).createdAt).toBe(before.createdAt); // not recomputed

      // Count computed (non-skipped) shard completions over all embedShards runs (continue-as-new chain).
      const computed = new Map<number, number>();
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${runId}/embed'` })) {
        const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        for (const e of history.events ?? []) {
          const payload = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
          if (!payload) continue;
          const out = JSON.parse(Buffer.from(payload).toString()) as { shard?: number; skipped?: boolean };
          if (typeof out.shard === 'number' && !out.skipped) computed.set(out.shard, (computed.get(out.shard) ?? 0) + 1);
        }
      }
      expect([...computed.keys()].sort((a, b) => a - b)).toEqual(pool.shards.map((_, i) => i));
      for (const n of computed.values()) expect(n).toBe(1);
    } finally {
      await connection.close();
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});
