import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { DefaultLogger } from '@temporalio/worker';
import { runLayout } from '@rds/artifacts';
import { HoldController, LocalBackend, TemporalBackend, type RunBackend } from '@rds/runner';
import { startDevServer, temporalTestsOptOut, type DevServer } from '@rds/runner/dev-server';
import type { RunConfigInput } from '@rds/schemas';
import { startWorkers, type StartedWorkers } from '@rds/worker';
import { PathPolicy, RunDetailResponse, RunList, SelectionPage, TokenSet, buildServer } from '../src/index.js';
import { apiCaller, exampleRunConfig, until } from './http.js';
import { pipelineActivities } from './pipeline.js';

/**
 * The run routes (start, list, get, pause, resume, cancel, selection page) with the same assertions
 * over both backends: LocalBackend in this process, and TemporalBackend on a real `temporal server
 * start-dev` with an in-process worker (the real `rds-worker` code: workflow bundle, both queues).
 * The activities are the same in both (real ingest, selection and handoff; stand-ins for the model
 * stages), wrapped in hold points so the tests look at runs in known states, never at a clock.
 * Without the Temporal CLI the temporal half fails; only RDS_SKIP_TEMPORAL_TESTS=1 skips it.
 */
const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const TOKEN = 'backends-test-token';
const optOut = temporalTestsOptOut();

interface Harness {
  backend: RunBackend;
  close(): Promise<void>;
}

async function localHarness(holds: HoldController): Promise<Harness> {
  const backend = new LocalBackend({ activities: holds.activities });
  return { backend, close: async () => {} };
}

async function temporalHarness(holds: HoldController): Promise<Harness> {
  // Workflows in this thread (the SDK's debug mode, as its replayer uses): vitest's `--conditions import`
  // reaches the SDK's workflow threads too, where protobufjs then decodes int64 timestamps as plain
  // numbers; protobuf-long.ts (the setup file) fixes that for this thread only.
  process.env.TEMPORAL_DEBUG = '1';
  const server: DevServer = await startDevServer();
  let workers: StartedWorkers | undefined;
  try {
    const queues = { cpu: `api-cpu-${process.pid}`, gpu: `api-gpu-${process.pid}` };
    workers = await startWorkers(
      { roles: ['cpu', 'gpu'], queues, maxActivities: { cpu: 2, gpu: 1 }, shutdownGraceMs: 0, bundle: 'fresh' },
      holds.activities,
      { address: server.address, namespace: server.namespace },
      new DefaultLogger('WARN'),
    );
    // A short heartbeat timeout, so a cancellation (delivered in a heartbeat's reply) reaches a running activity in seconds.
    const backend = new TemporalBackend({ client: server.client, queues, embedParallelism: 1, heartbeatTimeout: '3s' });
    const started = workers;
    return {
      backend,
      close: async () => {
        started.shutdown();
        await started.done;
        await server.stop();
      },
    };
  } catch (err) {
    workers?.shutdown();
    await workers?.done.catch(() => undefined);
    await server.stop();
    throw err;
  }
}

describe.each(['local', 'temporal'] as const)('the run routes over the %s backend', (kind) => {
  const skipped = kind === 'temporal' && optOut !== null;
  let tmp: string;
  let runsRoot: string;
  let app: FastifyInstance | undefined;
  let base = '';
  let harness: Harness | undefined;
  let holds: HoldController;
  const call = apiCaller(() => base, TOKEN);

  beforeAll(async () => {
    if (skipped) return;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `rds-api-${kind}-`));
    const dataRoot = path.join(tmp, 'data');
    runsRoot = path.join(tmp, 'runs');
    fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
    fs.mkdirSync(path.join(dataRoot, 'model'));
    fs.mkdirSync(runsRoot);
    holds = new HoldController(pipelineActivities({ shardMs: 30 }));
    harness = kind === 'local' ? await localHarness(holds) : await temporalHarness(holds);
    app = await buildServer({
      backend: harness.backend,
      tokens: new TokenSet([TOKEN]),
      paths: await PathPolicy.create([dataRoot], runsRoot),
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await harness?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const config = exampleRunConfig;

  async function start(body: RunConfigInput): Promise<string> {
    const res = await call('POST', '/v1/runs', { body });
    expect(res.status, res.text).toBe(201);
    return res.json.runId as string;
  }

  async function detail(runId: string) {
    const res = await call('GET', `/v1/runs/${runId}`);
    expect(res.status, res.text).toBe(200);
    return RunDetailResponse.parse(res.json);
  }

  const finished = (runId: string) =>
    until(
      `run ${runId} to finish`,
      async () => {
        const d = await detail(runId);
        return ['completed', 'failed', 'cancelled'].includes(d.state) ? d : null;
      },
      90_000,
      50,
    );

  const listed = async (runId: string) =>
    RunList.parse((await call('GET', '/v1/runs')).json).runs.find((r) => r.runId === runId);

  /** The stand-in model stages leave one marker file per unit of work they did (fake/<name>.json). */
  const did = (runDir: string, name: string) => fs.existsSync(path.join(runDir, 'fake', `${name}.json`));

  describe.skipIf(skipped)(skipped ? `(skipped: ${optOut})` : 'routes', () => {
    it('start, get through to completion, list, and the selection page; a finished run takes no more steering (409)', async () => {
      const runId = await start(config('first'));
      const done = await finished(runId);
      expect(done.state, JSON.stringify(done.status?.error)).toBe('completed');
      expect(done).toMatchObject({
        backend: kind,
        runDir: path.join(runsRoot, 'first'),
        strategy: 'round-robin-queries',
        budget: 24,
      });
      expect(done.config?.pool.inputs).toEqual([path.join(tmp, 'data', 'pool.jsonl')]);
      expect(done.status?.counts).toMatchObject({ poolRows: 300, shards: 3, selected: 24 });
      expect(done.status?.completedStages).toEqual([
        'validate',
        'ingest',
        'embed-queries',
        'embed-pool',
        'score',
        'select',
        'handoff',
      ]);
      expect(done.artifacts.map((a) => a.name)).toEqual(
        expect.arrayContaining(['config', 'pool-manifest', 'selection', 'selection-summary', 'handoff-receipt']),
      );

      // Temporal lists through its visibility store, which catches up with a close shortly after it.
      const item = await until(
        'the completed run in the list',
        async () => {
          const r = await listed(runId);
          return r?.state === 'completed' ? r : null;
        },
        30_000,
        50,
      );
      expect(item).toMatchObject({
        backend: kind,
        runDir: done.runDir,
        strategy: 'round-robin-queries',
        budget: 24,
        progress: null,
      });

      const source = new Map(
        fs
          .readFileSync(path.join(EXAMPLES, 'pool.jsonl'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const row = JSON.parse(l) as { id: string; messages: unknown };
            return [row.id, row.messages] as const;
          }),
      );
      const all = [];
      for (let offset = 0; offset < 24; offset += 10) {
        const res = await call('GET', `/v1/runs/${runId}/selection?offset=${offset}&limit=10`);
        expect(res.status, res.text).toBe(200);
        const page = SelectionPage.parse(res.json);
        expect(page.total).toBe(24);
        expect(page.examples.map((e) => e.rank)).toEqual(
          Array.from({ length: Math.min(10, 24 - offset) }, (_, i) => offset + i),
        );
        all.push(...page.examples);
      }
      expect(new Set(all.map((e) => e.id)).size).toBe(24);
      for (const e of all) expect(e.messages).toEqual(source.get(e.id));

      for (const action of ['pause', 'resume', 'cancel'])
        expect((await call('POST', `/v1/runs/${runId}/${action}`)).status, action).toBe(409);
    });

    it('pause holds the run before its next stage, resume continues it to completion', async () => {
      const atIngest = holds.hold('ingestPool');
      const atEmbedQueries = holds.hold('embedQueries');
      let nextStageReached = false;
      void atEmbedQueries.reached.then(() => (nextStageReached = true));
      const runId = await start(config('steered', { selection: { strategy: 'round-robin-tasks', budget: 10 } }));
      await atIngest.reached;
      expect(await detail(runId)).toMatchObject({ state: 'running', stage: 'ingest' });
      expect((await call('POST', `/v1/runs/${runId}/pause`)).status).toBe(202);
      atIngest.release();
      // Paused with ingest done: the run waits between stages.
      const paused = await until(
        'paused after ingest',
        async () => {
          const d = await detail(runId);
          return d.state === 'paused' && d.status?.completedStages.includes('ingest') ? d : null;
        },
        60_000,
        50,
      );
      expect(paused.status?.completedStages).toEqual(['validate', 'ingest']);
      expect(nextStageReached).toBe(false);
      expect((await listed(runId))?.state).toBe('paused');

      expect((await call('POST', `/v1/runs/${runId}/resume`)).status).toBe(202);
      await atEmbedQueries.reached; // the next stage starts only now
      atEmbedQueries.release();
      const done = await finished(runId);
      expect(done.state, JSON.stringify(done.status?.error)).toBe('completed');
      expect(done.status?.counts.selected).toBe(10);
    });

    it('cancel stops a run held mid-embedding: the held shard never runs, finished shards stay, no selection', async () => {
      const atShard1 = holds.hold('embedPoolShard', 1);
      const runId = await start(config('cancelled'));
      await atShard1.reached; // shard 0 embedded, shard 1 held
      expect(await detail(runId)).toMatchObject({ state: 'running', stage: 'embed-pool' });
      // The list carries a live run's progress.
      const moving = await until(
        'embedding progress in the list',
        async () => {
          const r = await listed(runId);
          return r?.progress?.stage === 'embed-pool' && r.progress.total > 0 ? r : null;
        },
        30_000,
        50,
      );
      expect(moving).toMatchObject({ state: 'running', stage: 'embed-pool', progress: { unit: 'rows', total: 300 } });

      expect((await call('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
      const cancelled = await finished(runId);
      expect(cancelled.state).toBe('cancelled');
      expect(cancelled.status?.completedStages).not.toContain('embed-pool');
      expect(cancelled.artifacts.map((a) => a.name)).not.toContain('selection');
      expect([
        did(cancelled.runDir, 'shard-0'),
        did(cancelled.runDir, 'shard-1'),
        did(cancelled.runDir, 'shard-2'),
      ]).toEqual([true, false, false]);
      expect((await call('GET', `/v1/runs/${runId}/selection`)).json).toEqual({
        error: 'no selection for this run yet',
      });
    });

    it('a second start on a run directory in use is a 409 naming it relative to the runs root', async () => {
      const atIngest = holds.hold('ingestPool');
      const runId = await start(config('busy-dir'));
      await atIngest.reached;
      const second = await call('POST', '/v1/runs', { body: config('busy-dir') });
      expect(second.status).toBe(409);
      expect(second.json.error).toMatch(/ busy-dir\b/);
      expect(second.text).not.toContain(tmp);
      expect((await call('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
      expect((await finished(runId)).state).toBe('cancelled');
      expect(fs.existsSync(runLayout(path.join(runsRoot, 'busy-dir')).pool.manifest)).toBe(false); // the held ingest never ran
    });

    it('404 for unknown runs', async () => {
      expect((await call('GET', '/v1/runs/nope')).json).toEqual({ error: 'run not found' });
      for (const action of ['pause', 'resume', 'cancel'])
        expect((await call('POST', `/v1/runs/nope/${action}`)).status, action).toBe(404);
      expect((await call('GET', '/v1/runs/nope/selection')).status).toBe(404);
    });
  });
});
