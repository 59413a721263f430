// Orchestration cost of Temporal (what a run on the real server adds per pool shard), beside the local
// runner's in the same process as the yardstick:
//   - yardstick: runLocal over N shards with activities that return at once (as bench:runner).
//   - temporal: the real `embedShards` workflow on `temporal server start-dev` (the CLI that
//     `node scripts/temporal-cli.mjs install` builds) with an in-process worker whose embedPoolShard
//     returns at once: ms per shard, and the history size of every run of the continue-as-new chain.
//   - recovery: a gpu worker process (bench/temporal-kill-worker.ts) SIGKILLed in the middle of a shard
//     while a second one already polls: seconds from the kill to the shard running again on the second
//     worker (the server notices the missed heartbeats, then retries after the retry policy's interval).
//
//   npm run bench:temporal [-- shards=2000 parallelism=4 shardsPerRun=200 killHeartbeatSec=5 killShardMs=3000]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { ModelConfig } from '@rds/schemas';
import { runLocal, validateConfig } from '@rds/runner';
import { startDevServer } from '@rds/runner/dev-server';
import { bundleWorkflows } from '@rds/worker';
import { EMPTY_TOTALS, activityOptionsFor, type EmbedShardsInput, type RunActivities } from '@rds/workflows/plan';

const arg = (name: string, d: number) => Number(process.argv.find((a) => a.startsWith(`${name}=`))?.split('=')[1] ?? d);
const shards = arg('shards', 2000);
const parallelism = arg('parallelism', 4);
const shardsPerRun = arg('shardsPerRun', 200);
const killHeartbeatSec = arg('killHeartbeatSec', 5);
const killShardMs = arg('killShardMs', 3000);
/** Worker processes started by killRecovery (killed on the way out, whatever happens). */
const children = new Set<ChildProcess>();
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-bench-temporal-'));

const instant: RunActivities = {
  validateConfig,
  ingestPool: async ({ queries }) => ({
    skipped: true,
    shards,
    rows: shards,
    rejected: 0,
    duplicate: 0,
    tasks: queries.map((q) => q.task),
  }),
  embedQueries: async () => ({ skipped: true, rows: 1 }),
  embedPoolShard: async ({ shard }) => ({ skipped: false, shard, rows: 1, tokens: 1, seconds: 0 }),
  scorePool: async ({ tasks }) => ({ skipped: true, tasks, seconds: 0 }),
  selectPool: async ({ selection }) => ({ skipped: true, selected: selection.budget, warnings: [] }),
  handoffSelection: async ({ runDir }) => ({ skipped: true, location: runDir, rows: 0, triggerStatus: 'skipped' }),
};

Runtime.install({ logger: new DefaultLogger('WARN') });
const server = await startDevServer();
try {
  // Yardstick: the local runner over the same number of shards.
  const l0 = performance.now();
  const config = {
    runDir: path.join(tmp, 'local'),
    pool: { inputs: ['x'] },
    queries: [{ task: 't', path: 'q' }],
    model: { dir: 'm' },
    selection: { budget: 1 },
  };
  await runLocal(config, { activities: instant });
  const localMs = (performance.now() - l0) / shards;

  const connection = await NativeConnection.connect({ address: server.address });
  const code = await bundleWorkflows(new DefaultLogger('WARN'));
  const queues = { cpu: 'bench-cpu', gpu: 'bench-gpu' };
  const workflows = await Worker.create({ connection, taskQueue: queues.cpu, workflowBundle: { code } });
  const gpu = await Worker.create({
    connection,
    taskQueue: queues.gpu,
    activities: { embedPoolShard: instant.embedPoolShard },
    maxConcurrentActivityTaskExecutions: parallelism,
  });
  const input: EmbedShardsInput = {
    runDir: path.join(tmp, 'temporal'),
    model: ModelConfig.parse({ dir: '/m' }),
    shards,
    from: 0,
    parallelism,
    shardsPerRun,
    gpuQueue: queues.gpu,
    paused: false,
    totals: EMPTY_TOTALS,
  };
  const workflowId = `bench-embed-${Date.now()}`;
  const running = Promise.all([workflows.run(), gpu.run()]);
  const t0 = performance.now();
  const handle = await server.client.workflow.start('embedShards', {
    workflowId,
    taskQueue: queues.cpu,
    args: [input],
  });
  const totals = (await handle.result()) as typeof EMPTY_TOTALS;
  const secs = (performance.now() - t0) / 1000;
  workflows.shutdown();
  gpu.shutdown();
  await running;

  // History of every run in the chain: first run from the start, then each continue-as-new.
  const sizes: number[] = [];
  const runOf = async (id: string): Promise<{ events: number; next: string | null }> => {
    const runEvents = (await server.client.workflow.getHandle(workflowId, id).fetchHistory()).events ?? [];
    return {
      events: runEvents.length,
      next: runEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? null,
    };
  };
  for (let id: string | null = handle.firstExecutionRunId; id;) {
    const r = await runOf(id);
    sizes.push(r.events);
    id = r.next;
  }
  await connection.close();
  const temporalMs = (1000 * secs) / shards;
  const events = sizes.reduce((a, b) => a + b, 0);
  console.log(`yardstick (local runner, ${shards} instant shards): ${localMs.toFixed(3)} ms/shard`);
  console.log(
    `temporal (embedShards on start-dev, ${shards} instant shards, parallelism ${parallelism}, ${shardsPerRun} per run): ${secs.toFixed(1)} s = ` +
      `${temporalMs.toFixed(2)} ms/shard = ${(temporalMs / localMs).toFixed(0)}x the local runner; shards done ${totals.shardsDone}`,
  );
  console.log(
    `  history: ${sizes.length} runs, largest ${Math.max(...sizes)} events, ${events} in all = ${(events / shards).toFixed(2)} events/shard`,
  );

  const recovery = await killRecovery(server.address, code);
  const retryAfter = activityOptionsFor('embed-pool', queues).retry?.initialInterval;
  console.log(
    `recovery (gpu worker SIGKILLed mid-shard, heartbeat timeout ${killHeartbeatSec} s, retry interval ${String(retryAfter)}): ` +
      `${recovery.toFixed(1)} s from the kill to the shard running again on the other worker`,
  );
} finally {
  for (const c of children) c.kill('SIGKILL');
  await server.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}

/** A gpu worker process; `next(match)` resolves with the first line it prints from now on that `match` accepts. */
function gpuWorker(address: string, taskQueue: string) {
  const entry = fileURLToPath(new URL('./temporal-kill-worker.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=@rds/source', '--import', 'tsx', entry, address, taskQueue, String(killShardMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  const waiting: { match: (e: Record<string, unknown>) => boolean; resolve: (t: number) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const t = performance.now();
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not one of its event lines
    }
    for (const w of waiting.splice(0)) {
      if (w.match(event)) w.resolve(t);
      else waiting.push(w);
    }
  });
  const exited = new Promise<never>((_, reject) =>
    child.on('exit', (c, sig) => reject(new Error(`gpu worker exited (${sig ?? c})`))),
  );
  exited.catch(() => {});
  return {
    child,
    next: (match: (e: Record<string, unknown>) => boolean) =>
      Promise.race([new Promise<number>((resolve) => waiting.push({ match, resolve })), exited]),
  };
}

/**
 * Seconds from SIGKILL of the gpu worker running shard 1 of 4 to that shard starting again on a
 * second worker that was already polling: what a crash costs a run beyond the lost partial shard.
 */
async function killRecovery(address: string, workflowCode: string): Promise<number> {
  const queues = { cpu: 'bench-kill-cpu', gpu: 'bench-kill-gpu' };
  const connection = await NativeConnection.connect({ address });
  const workflows = await Worker.create({ connection, taskQueue: queues.cpu, workflowBundle: { code: workflowCode } });
  const running = workflows.run();
  try {
    const first = gpuWorker(address, queues.gpu);
    const second = gpuWorker(address, queues.gpu);
    await Promise.all([first.next((e) => e.event === 'ready'), second.next((e) => e.event === 'ready')]);
    const input: EmbedShardsInput = {
      runDir: path.join(tmp, 'kill'),
      model: ModelConfig.parse({ dir: '/m' }),
      shards: 4,
      from: 0,
      parallelism: 1,
      shardsPerRun: 200,
      gpuQueue: queues.gpu,
      heartbeatTimeout: `${killHeartbeatSec}s`,
      paused: false,
      totals: EMPTY_TOTALS,
    };
    const handle = await server.client.workflow.start('embedShards', {
      workflowId: `bench-kill-${Date.now()}`,
      taskQueue: queues.cpu,
      args: [input],
    });
    // Shard 1 is where the kill lands: whichever worker took it, the other one is left to retry it.
    const isShard1 = (e: Record<string, unknown>) => e.event === 'start' && e.shard === 1 && e.attempt === 1;
    const victim = await Promise.race([
      first.next(isShard1).then(() => first),
      second.next(isShard1).then(() => second),
    ]);
    const survivor = victim === first ? second : first;
    const retried = survivor.next((e) => e.event === 'start' && e.shard === 1 && e.attempt === 2);
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');
    const resumedAt = await retried;
    const totals = (await handle.result()) as typeof EMPTY_TOTALS;
    if (totals.shardsDone !== 4) throw new Error(`recovery run finished with ${totals.shardsDone} of 4 shards`);
    return (resumedAt - killedAt) / 1000;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    workflows.shutdown();
    await running;
    await connection.close();
  }
}
