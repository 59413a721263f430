import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import {
  EmbeddingManifest,
  PoolManifest,
  type EmbedShardInput,
  type EmbedShardOutput,
  type RunConfigInput,
} from '@rds/schemas';
import { loadConfigFile, RunConflictError, runLocal, TemporalBackend } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { startDevServer, temporalTestsOptOut, type DevServer } from '@rds/runner/dev-server';
import { embedWorkflowId, type EmbedShardsProgress } from '@rds/workflows/plan';
import { runTemporalTrigger, temporalTriggerPlan } from '@rds/handoff';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { writeWorkflowBundle } from '@rds/worker';
import { EXAMPLES, exists, waitFor } from './helpers.js';
import {
  activityPollers,
  chainHistories,
  childRunId,
  completedActivities,
  historyOf,
  killAllWorkers,
  recordHistories,
  startWorker,
  type WorkerProcess,
} from './temporal-helpers.js';

/**
 * Temporal on a real server: `temporal server start-dev` (the CLI that `node scripts/temporal-cli.mjs
 * install` builds) started by the test. Without the CLI these tests fail; only RDS_SKIP_TEMPORAL_TESTS=1
 * (never set in CI) skips them.
 */
const optOut = temporalTestsOptOut();
/** A namespace besides `default`, for the handoff trigger's connection settings. */
const HANDOFF_NAMESPACE = 'rds-e2e-handoff';

let server: DevServer;
let tmp: string;
let modelDir: string;
let bundle: string;
let example: RunConfigInput;
/** The yardstick: the same config, uninterrupted, with the local runner in this process. */
let localDir: string;

beforeAll(async () => {
  if (optOut) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-temporal-'));
  modelDir = path.join(tmp, 'model');
  bundle = path.join(tmp, 'workflow-bundle.js');
  // allSettled: a failed server start must not leave the other two writing while afterAll cleans up.
  const [started, ...rest] = await Promise.allSettled([
    startDevServer({ namespaces: [HANDOFF_NAMESPACE] }),
    writeTestModel(modelDir),
    writeWorkflowBundle(bundle),
  ]);
  for (const r of [started, ...rest]) if (r.status === 'rejected') throw r.reason;
  server = (started as PromiseFulfilledResult<DevServer>).value;
  example = await loadConfigFile(path.join(EXAMPLES, 'rds.config.json'));
  localDir = path.join(tmp, 'local');
  expect((await runLocal(configFor(localDir), { activities })).state).toBe('completed');
});
afterAll(async () => {
  await killAllWorkers();
  await server?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** The example config on its own run directory: 6 shards of 50 rows, 5 checkpoints per shard. */
function configFor(runDir: string): RunConfigInput {
  return {
    ...example,
    runDir,
    pool: { ...example.pool, shardSize: 50 },
    model: { ...example.model, dir: modelDir, checkpointRows: 10 },
    // Every shard really embeds (the local run of the same data in beforeAll would fill a cache):
    // these tests stop, kill and cancel workers in the middle of that work.
    cache: false,
  };
}

let queueSeq = 0;
function uniqueQueues() {
  const id = `${process.pid}-${++queueSeq}`;
  return { cpu: `e2e-cpu-${id}`, gpu: `e2e-gpu-${id}` };
}

function worker(
  queues: { cpu: string; gpu: string },
  extra: string[] = [],
  env: Record<string, string> = {},
): WorkerProcess {
  return startWorker({ ...server.childEnv, ...env }, [
    '--bundle',
    bundle,
    '--cpu-queue',
    queues.cpu,
    '--gpu-queue',
    queues.gpu,
    '--grace-seconds',
    '0',
    ...extra,
  ]);
}

const checkpointOf = (runDir: string, shard: number) =>
  `${runLayout(runDir).embeddings.poolMatrix(shard)}.checkpoint.json`;

/**
 * Freeze `w` (SIGSTOP of its process group) at a moment it is in the middle of embedding a shard > 0:
 * that shard has a checkpoint but no manifest. The check is repeated while the process is stopped,
 * so what it sees cannot change under it; if the shard finished in between, the worker goes on and
 * the next shard is tried. Returns the shard.
 */
async function freezeMidShard(w: WorkerProcess, runDir: string, shards: number): Promise<number> {
  const midShard = async () => {
    for (let s = 1; s < shards - 1; s++)
      if ((await exists(checkpointOf(runDir, s))) && !(await exists(runLayout(runDir).embeddings.poolManifest(s))))
        return s;
    return null;
  };
  for (;;) {
    await waitFor(
      'a pool shard half embedded',
      async () => {
        if (w.child.exitCode !== null) throw new Error(`the worker exited:\n${w.output()}`);
        return midShard();
      },
      300_000,
      2,
    );
    w.signal('SIGSTOP');
    const shard = await midShard();
    if (shard !== null) return shard;
    w.signal('SIGCONT');
  }
}

/** Same embeddings as the local run, shard by shard (matrix checksums), and the same selection, byte for byte. */
async function expectSameAsLocal(runDir: string, shards: number): Promise<void> {
  for (let s = 0; s < shards; s++) {
    const [a, b] = await Promise.all(
      [localDir, runDir].map((d) => readJsonFile(runLayout(d).embeddings.poolManifest(s), EmbeddingManifest)),
    );
    expect(b!.matrix.sha256, `shard ${s}`).toBe(a!.matrix.sha256);
  }
  const [want, got] = await Promise.all([localDir, runDir].map((d) => fs.readFile(runLayout(d).selection.rows)));
  expect(got!.equals(want!), 'selection.jsonl differs from the local run').toBe(true);
}

describe.skipIf(optOut !== null)(`Temporal on a real dev server${optOut ? ` (skipped: ${optOut})` : ''}`, () => {
  it('a worker SIGKILLed mid-shard is replaced: each shard is embedded exactly once and the selection is byte-identical to a local run', async () => {
    const pool = await readJsonFile(runLayout(localDir).pool.manifest, PoolManifest);
    const shards = pool.shards.length;
    expect(shards).toBe(6);

    const runDir = path.join(tmp, 'killed');
    const queues = uniqueQueues();
    const backend = new TemporalBackend({
      client: server.client,
      queues,
      embedParallelism: 1,
      shardsPerRun: 2,
      heartbeatTimeout: '5s',
    });
    const first = worker(queues);
    const { runId } = await backend.start(configFor(runDir));

    const killedShard = await freezeMidShard(first, runDir, shards);
    first.signal('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    expect(await exists(runLayout(runDir).embeddings.poolManifest(killedShard))).toBe(false);

    const second = worker(queues);
    const result = await server.client.workflow.getHandle(runId).result();
    expect(result).toMatchObject({ runId, runDir, selected: 60 });
    expect(second.output()).toContain(`resuming at row`); // the retried shard continued from its checkpoint

    // Every embedPoolShard completion over the embedShards continue-as-new chain, from the server's history.
    const parent = await historyOf(server.client, runId);
    const chain = await chainHistories(
      server.client,
      embedWorkflowId(runId),
      childRunId(parent, embedWorkflowId(runId)),
    );
    expect(chain.length).toBe(3); // 6 shards, 2 per run
    const embedded = chain.flatMap(completedActivities).filter((a) => a.type === 'embedPoolShard');
    const shardsDone = embedded.map((a) => (a.input as EmbedShardInput).shard).sort((a, b) => a - b);
    expect(shardsDone).toEqual([0, 1, 2, 3, 4, 5]); // each exactly once
    for (const a of embedded) expect((a.result as EmbedShardOutput).skipped).toBe(false);
    const retried = embedded.filter((a) => a.attempt > 1);
    expect(retried.map((a) => (a.input as EmbedShardInput).shard)).toEqual([killedShard]);
    expect(retried[0]!.lastFailure).toMatch(/heartbeat/i);

    await expectSameAsLocal(runDir, shards);
    await recordHistories(server.client, 'worker-killed', runId);
  });

  it('cancel mid-shard closes the run only after the shard activity stopped, keeps finished shards, and a second start resumes them (409 while open)', async () => {
    const runDir = path.join(tmp, 'cancelled');
    const queues = uniqueQueues();
    const backend = new TemporalBackend({
      client: server.client,
      queues,
      embedParallelism: 1,
      shardsPerRun: 2,
      heartbeatTimeout: '5s',
    });
    const w = worker(queues);
    const { runId } = await backend.start(configFor(runDir));
    const childId = embedWorkflowId(runId);
    const shard = await freezeMidShard(w, runDir, 6);
    await backend.cancel(runId); // recorded while the worker cannot act on it
    w.signal('SIGCONT');
    await expect(server.client.workflow.getHandle(runId).result()).rejects.toThrow(/cancel/i);
    expect((await backend.get(runId))?.state).toBe('cancelled');
    await recordHistories(server.client, 'cancelled', runId);

    // The child closed only after its shard activity ended (WAIT_CANCELLATION_COMPLETED): every
    // scheduled activity has its outcome in the history before the close.
    const parent = await historyOf(server.client, runId);
    const chain = await chainHistories(server.client, childId, childRunId(parent, childId));
    const last = chain.at(-1)!;
    expect(last.at(-1)?.workflowExecutionCanceledEventAttributes).toBeTruthy();
    const outcome = new Set(
      last.flatMap((e) => {
        const a =
          e.activityTaskCompletedEventAttributes ??
          e.activityTaskCanceledEventAttributes ??
          e.activityTaskFailedEventAttributes ??
          e.activityTaskTimedOutEventAttributes;
        return a ? [String(a.scheduledEventId)] : [];
      }),
    );
    const scheduled = last.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => String(e.eventId));
    expect(scheduled.length).toBeGreaterThan(0);
    for (const id of scheduled)
      expect(outcome.has(id), `activity scheduled at event ${id} has no outcome before the close`).toBe(true);

    // What was finished when the run closed: the shards before the frozen one, and that one if it
    // completed before it saw the cancellation (a shard is short); nothing after it.
    const before = new Map<number, string>();
    for (let s = 0; s < 6; s++) {
      const m = await readJsonFile(runLayout(runDir).embeddings.poolManifest(s), EmbeddingManifest).catch(() => null);
      if (m) before.set(s, m.createdAt);
    }
    expect([...before.keys()].slice(0, shard)).toEqual(Array.from({ length: shard }, (_, i) => i));
    expect(before.size).toBeLessThanOrEqual(shard + 1);

    // Starting the same config again reuses the run id (derived from runDir); while it is open a third start is a conflict.
    w.signal('SIGSTOP');
    expect((await backend.start(configFor(runDir))).runId).toBe(runId);
    await expect(backend.start(configFor(runDir))).rejects.toBeInstanceOf(RunConflictError);
    w.signal('SIGCONT');
    await server.client.workflow.getHandle(runId).result();
    for (const [s, createdAt] of before)
      expect(
        (await readJsonFile(runLayout(runDir).embeddings.poolManifest(s), EmbeddingManifest)).createdAt,
        `shard ${s} recomputed`,
      ).toBe(createdAt);
    const resumed = await historyOf(server.client, runId);
    const resumedChain = await chainHistories(server.client, childId, childRunId(resumed, childId));
    const skipped = resumedChain
      .flatMap(completedActivities)
      .filter((a) => a.type === 'embedPoolShard' && (a.result as EmbedShardOutput).skipped);
    expect(skipped.map((a) => (a.input as EmbedShardInput).shard).sort()).toEqual([...before.keys()]);
    await expectSameAsLocal(runDir, 6);
    // The run id has two executions now (cancelled, completed): the list shows the run once, as its latest.
    const listed = await waitFor(
      'the completed execution in the list',
      async () => {
        const runs = (await backend.list()).filter((r) => r.runId === runId);
        return runs.some((r) => r.state === 'completed') ? runs : null;
      },
      60_000,
      50,
    );
    expect(listed.map((r) => r.state)).toEqual(['completed']);
  });

  it('a Retry-After becomes a server-side retry delay, and a cancel reaches the handoff activity while its webhook hangs', async () => {
    // The receiver answers 503 + Retry-After: 1 once, then holds the next request open until the test ends.
    let held!: () => void;
    const heldRequest = new Promise<void>((r) => (held = r));
    const open: http.ServerResponse[] = [];
    let requests = 0;
    const receiver = http.createServer((req, res) => {
      req.resume();
      if (++requests === 1) return void res.writeHead(503, { 'retry-after': '1' }).end('busy');
      open.push(res);
      held();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const runDir = path.join(tmp, 'handoff-cancel');
      const config = {
        ...configFor(runDir),
        handoff: {
          ...example.handoff,
          trigger: { kind: 'webhook', url, secretEnv: 'RDS_WEBHOOK_E2E', maxAttempts: 3 },
        },
      } as RunConfigInput;
      const queues = uniqueQueues();
      const backend = new TemporalBackend({ client: server.client, queues, heartbeatTimeout: '5s' });
      worker(queues, [], { RDS_WEBHOOK_E2E: 'e2e-secret' });
      const { runId } = await backend.start(config);
      await heldRequest; // the handoff activity's second attempt is waiting on the webhook
      await backend.cancel(runId);
      await expect(server.client.workflow.getHandle(runId).result()).rejects.toThrow(/cancel/i);

      const events = await historyOf(server.client, runId);
      const scheduled = events.find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'handoffSelection',
      )!;
      const canceled = events.find(
        (e) => String(e.activityTaskCanceledEventAttributes?.scheduledEventId) === String(scheduled.eventId),
      );
      expect(canceled, 'the handoff activity did not report cancellation before the run closed').toBeTruthy();
      const started = events.find(
        (e) => String(e.eventId) === String(canceled!.activityTaskCanceledEventAttributes!.startedEventId),
      )!.activityTaskStartedEventAttributes!;
      expect(started.attempt).toBe(2); // the 503 failed attempt 1; the server scheduled attempt 2 after the Retry-After
      expect(started.lastFailure?.message).toMatch(/HTTP 503.*retrying in 1 s/);
      expect(requests).toBe(2);
    } finally {
      for (const res of open) res.destroy();
      await new Promise((r) => receiver.close(r));
    }
  });

  it('the temporal handoff trigger connects as the worker does: its workflow starts in TEMPORAL_NAMESPACE', async () => {
    const payload = {
      runId: 'run-e2e',
      name: 'selection',
      baseline: null,
      idempotencyKey: `rds-${process.pid}`,
      location: '/x',
      dataset: { location: '/x/train.jsonl', format: 'tulu' as const, rows: 3, bytes: 10, sha256: 'f'.repeat(64) },
      files: [],
      counts: { perTask: {}, perSource: {} },
    };
    const plan = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 'e2e-training', namespace: 'default' },
      payload,
      {
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: HANDOFF_NAMESPACE,
      },
    );
    expect(await runTemporalTrigger(plan)).toMatchObject({ status: 'started' });
    const workflowId = plan.action === 'start' ? plan.options.workflowId : '';
    const there = await new Client({ connection: server.client.connection, namespace: HANDOFF_NAMESPACE }).workflow
      .getHandle(workflowId)
      .describe();
    expect(there.type).toBe('finetune');
    await expect(server.client.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('fan-out: two gpu workers embed disjoint shards of one run (both work, no shard twice, all shards)', async () => {
    const runDir = path.join(tmp, 'fan-out');
    const queues = uniqueQueues();
    worker(queues, ['--queues', 'cpu']);
    const gpus = [worker(queues, ['--queues', 'gpu']), worker(queues, ['--queues', 'gpu'])];
    // Both must be polling before the run starts: each holds one shard at a time, so with two in flight
    // the server has to hand the second one to the other worker.
    await waitFor(
      'two gpu workers polling',
      async () => {
        for (const g of gpus) if (g.child.exitCode !== null) throw new Error(`a gpu worker exited:\n${g.output()}`);
        return (await activityPollers(server.client, server.namespace, queues.gpu)).length >= 2;
      },
      120_000,
      50,
    );
    const backend = new TemporalBackend({ client: server.client, queues, embedParallelism: 2, shardsPerRun: 200 });
    const { runId } = await backend.start(configFor(runDir));
    await server.client.workflow.getHandle(runId).result();

    const parent = await historyOf(server.client, runId);
    const chain = await chainHistories(
      server.client,
      embedWorkflowId(runId),
      childRunId(parent, embedWorkflowId(runId)),
    );
    const embedded = chain.flatMap(completedActivities).filter((a) => a.type === 'embedPoolShard');
    expect(embedded.map((a) => (a.input as EmbedShardInput).shard).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const byWorker = new Map<string, number>();
    for (const a of embedded) byWorker.set(a.identity, (byWorker.get(a.identity) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(gpus.map((g) => `${g.child.pid}@${os.hostname()}`).sort());
    await expectSameAsLocal(runDir, 6);
    await recordHistories(server.client, 'happy-fan-out', runId);
  });

  it('pause holds new shards (the running one finishes), progress is queryable throughout, resume completes the run', async () => {
    const runDir = path.join(tmp, 'paused');
    const queues = uniqueQueues();
    const backend = new TemporalBackend({ client: server.client, queues, embedParallelism: 1, shardsPerRun: 200 });
    worker(queues, ['--queues', 'cpu']); // answers the queries while the gpu worker is frozen
    const w = worker(queues, ['--queues', 'gpu']);
    const { runId } = await backend.start(configFor(runDir));
    const childId = embedWorkflowId(runId);
    const shard = await freezeMidShard(w, runDir, 6);

    // Progress while a shard is half done: the run's query and the child's, through the backend.
    const live = await backend.get(runId);
    expect(live).toMatchObject({
      state: 'running',
      stage: 'embed-pool',
      progress: { stage: 'embed-pool', unit: 'rows', total: 300, shards: { done: shard, total: 6 } },
    });
    await backend.pause(runId);
    w.signal('SIGCONT');
    // Paused: the child says so, and once the running shard is done nothing is in flight.
    const held = await waitFor(
      'the running shard to finish under pause',
      async () => {
        const p = await server.client.workflow.getHandle(childId).query<EmbedShardsProgress>('progress');
        return p.paused && p.inFlight.length === 0 ? p : null;
      },
      120_000,
      20,
    );
    expect(held.shardsDone).toBe(shard + 1);
    expect(await backend.get(runId)).toMatchObject({ state: 'paused', stage: 'embed-pool' });
    await backend.resume(runId);
    await server.client.workflow.getHandle(runId).result();
    expect((await backend.get(runId))?.state).toBe('completed');

    // Between the pause and the resume the child scheduled no shard.
    const child = (
      await chainHistories(server.client, childId, childRunId(await historyOf(server.client, runId), childId))
    )[0]!;
    const signals = child.flatMap((e, i) =>
      e.workflowExecutionSignaledEventAttributes
        ? [[i, e.workflowExecutionSignaledEventAttributes.signalName] as const]
        : [],
    );
    expect(signals.map(([, name]) => name)).toEqual(['pause', 'resume']);
    const between = child.slice(signals[0]![0], signals[1]![0]).filter((e) => e.activityTaskScheduledEventAttributes);
    expect(between).toEqual([]);
    await expectSameAsLocal(runDir, 6);
    await recordHistories(server.client, 'paused-resumed', runId);
  });
});
