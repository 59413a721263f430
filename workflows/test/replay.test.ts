import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { RunConfig, type RunConfigInput } from '@rds/schemas';
import type { EmbedShardsInput, SelectionRunOptions } from '../src/contract.js';
import { EMPTY_TOTALS } from '../src/plan.js';
import { HistoryBuilder } from './history-builder.js';

/**
 * Replays hand-built histories of the scenarios that matter (happy path, a retried activity,
 * pause/resume, cancellation, continue-as-new of the embedding fan-out) against the bundled workflow
 * code: if the workflow's commands ever change for these histories, replay fails. A deliberately
 * wrong history must fail too, which proves the check bites.
 */
const WORKFLOW_ID = 'rds-test';
const workflowsPath = new URL('../src/index.ts', import.meta.url).pathname;
let code: string;

beforeAll(async () => {
  // Core logs every nondeterminism it detects at WARN; the tests that expect one would flood the output.
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  ({ code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }));
}, 120_000);

const replay = (history: HistoryBuilder, workflowId = WORKFLOW_ID) =>
  Worker.runReplayHistory({ workflowBundle: { code } }, history.toJSON(), workflowId);

const raw: RunConfigInput = {
  runDir: '/runs/r1',
  pool: { inputs: ['/data/pool.jsonl'] },
  queries: [{ task: 'gsm8k', path: '/data/gsm8k.jsonl' }],
  model: { dir: '/models/test' },
  selection: { budget: 10 },
};
const config = RunConfig.parse(raw);
const options: SelectionRunOptions = { runId: 'run-1', embedParallelism: 2, shardsPerRun: 200 };
const runDir = config.runDir;
const tasks = ['gsm8k'];
const ingestOut = {
  skipped: false,
  shards: 2,
  rows: 100,
  rejected: 1,
  duplicate: 3,
  tasks,
  queries: { gsm8k: { rows: 50, rejected: 0 } },
};
const childInput: EmbedShardsInput = {
  runDir,
  model: config.model,
  shards: 2,
  from: 0,
  parallelism: 2,
  shardsPerRun: 200,
  gpuQueue: 'gpu',
  paused: false,
  totals: EMPTY_TOTALS,
};
const totals = { shardsDone: 2, shardsSkipped: 0, rows: 100, rowsComputed: 100, tokens: 3000, seconds: 4 };

/** The parent's history through ingest (optionally retried). */
function selectionRunHistory(vary: { ingestAttempt?: number } = {}) {
  const h = new HistoryBuilder('cpu').started('selectionRun', [raw, options]).workflowTask();
  h.activity('validateConfig', { config: raw, runId: 'run-1' }, { config, aggregates: ['max'] });
  h.activity('ingestPool', { runDir, pool: config.pool, queries: config.queries }, ingestOut, {
    attempt: vary.ingestAttempt ?? 1,
  });
  return h;
}

/** The stages after pool embedding, each completing at once, and the workflow's result. */
function finishFromScore(h: HistoryBuilder) {
  h.activity(
    'scorePool',
    { runDir, tasks, scoring: config.scoring, aggregates: ['max'] },
    { skipped: false, tasks, seconds: 1 },
  );
  h.activity(
    'selectPool',
    { runDir, tasks, selection: config.selection },
    { skipped: false, selected: 10, warnings: [] },
  );
  h.activity(
    'handoffSelection',
    { runDir, runId: 'run-1', handoff: config.handoff },
    { skipped: false, location: `${runDir}/handoff`, rows: 10, triggerStatus: 'skipped' },
  );
  return h.completed({ runId: 'run-1', runDir, selected: 10, location: `${runDir}/handoff`, warnings: [] });
}

function finishFromEmbedQueries(h: HistoryBuilder) {
  h.activity(
    'embedQueries',
    { runDir, tasks, model: config.model },
    { skipped: false, rows: 50 },
    { taskQueue: 'gpu' },
  );
  h.childWorkflow('embedShards', `${WORKFLOW_ID}/embed`, childInput, totals);
  return finishFromScore(h);
}

describe('selectionRun replay', () => {
  it('happy path: validate, ingest, embed queries, embedShards child, score, select, handoff', async () => {
    await expect(replay(finishFromEmbedQueries(selectionRunHistory()))).resolves.toBeUndefined();
  });

  it('a retried activity (ingest succeeded on attempt 3) replays the same commands', async () => {
    await expect(replay(finishFromEmbedQueries(selectionRunHistory({ ingestAttempt: 3 })))).resolves.toBeUndefined();
  });

  it('pause holds the next stage until resume', async () => {
    const h = new HistoryBuilder('cpu').started('selectionRun', [raw, options]).workflowTask();
    h.activity('validateConfig', { config: raw, runId: 'run-1' }, { config, aggregates: ['max'] });
    const s = h.scheduleActivity('ingestPool', { runDir, pool: config.pool, queries: config.queries });
    const st = h.startActivity(s);
    h.signal('pause').workflowTask(); // no command while ingest runs
    h.completeActivity(s, st, ingestOut).workflowTask(); // paused: embedQueries must NOT be scheduled here
    h.signal('resume').workflowTask(); // now it is
    await expect(replay(finishFromEmbedQueries(h))).resolves.toBeUndefined();
  });

  it('a history where the paused workflow schedules the next stage anyway fails replay', async () => {
    const h = new HistoryBuilder('cpu').started('selectionRun', [raw, options]).workflowTask();
    h.activity('validateConfig', { config: raw, runId: 'run-1' }, { config, aggregates: ['max'] });
    const s = h.scheduleActivity('ingestPool', { runDir, pool: config.pool, queries: config.queries });
    const st = h.startActivity(s);
    h.signal('pause').workflowTask();
    h.completeActivity(s, st, ingestOut).workflowTask();
    await expect(replay(finishFromEmbedQueries(h))).rejects.toThrow(/[Nn]ondetermin/);
  });

  it('pause during embedding is forwarded to the embedShards child, and the next stage waits for resume', async () => {
    const h = selectionRunHistory();
    h.activity(
      'embedQueries',
      { runDir, tasks, model: config.model },
      { skipped: false, rows: 50 },
      { taskQueue: 'gpu' },
    );
    const child = h.startChild('embedShards', `${WORKFLOW_ID}/embed`, childInput);
    h.signal('pause').workflowTask(); // -> SignalExternalWorkflowExecution(pause) to the child
    h.signalExternal(`${WORKFLOW_ID}/embed`, 'pause');
    h.completeChild(child, totals); // paused: scorePool must wait
    h.signal('resume').workflowTask(); // the child is done: nothing to forward; scorePool is scheduled
    finishFromScore(h);
    await expect(replay(h)).resolves.toBeUndefined();
  });

  it('a pause that arrives while the child is being started reaches the child once it has started', async () => {
    const h = selectionRunHistory();
    h.activity(
      'embedQueries',
      { runDir, tasks, model: config.model },
      { skipped: false, rows: 50 },
      { taskQueue: 'gpu' },
    );
    const starting = h.initiateChild('embedShards', `${WORKFLOW_ID}/embed`, childInput);
    h.signal('pause').workflowTask(); // the child does not exist yet: nothing to send (a signal now would be lost)
    const child = h.childStarted(starting); // -> SignalExternalWorkflowExecution(pause) to the started child
    h.signalExternal(`${WORKFLOW_ID}/embed`, 'pause');
    h.completeChild(child, totals);
    h.signal('resume').workflowTask();
    finishFromScore(h);
    await expect(replay(h)).resolves.toBeUndefined();
  });

  it('no signal goes to a child that has not started (it would be lost): pause + resume while starting send nothing', async () => {
    const h = selectionRunHistory();
    h.activity(
      'embedQueries',
      { runDir, tasks, model: config.model },
      { skipped: false, rows: 50 },
      { taskQueue: 'gpu' },
    );
    const starting = h.initiateChild('embedShards', `${WORKFLOW_ID}/embed`, childInput);
    h.signal('pause').workflowTask();
    h.signal('resume').workflowTask();
    const child = h.childStarted(starting); // started unpaused, the parent is not paused: nothing to forward
    h.completeChild(child, totals);
    finishFromScore(h);
    await expect(replay(h)).resolves.toBeUndefined();
  });

  it('a history where the pause is not forwarded to the running child fails replay', async () => {
    const h = selectionRunHistory();
    h.activity(
      'embedQueries',
      { runDir, tasks, model: config.model },
      { skipped: false, rows: 50 },
      { taskQueue: 'gpu' },
    );
    const child = h.startChild('embedShards', `${WORKFLOW_ID}/embed`, childInput);
    h.signal('pause').workflowTask();
    h.completeChild(child, totals);
    h.signal('resume').workflowTask();
    h.activity(
      'scorePool',
      { runDir, tasks, scoring: config.scoring, aggregates: ['max'] },
      { skipped: false, tasks, seconds: 1 },
    );
    await expect(replay(h)).rejects.toThrow(/[Nn]ondetermin/);
  });

  it('cancellation cancels the running activity and then the workflow', async () => {
    const h = selectionRunHistory();
    const s = h.scheduleActivity('embedQueries', { runDir, tasks, model: config.model }, 'gpu');
    const st = h.startActivity(s);
    h.cancelRequested().workflowTask(); // -> RequestCancelActivityTask
    const cr = h.activityCancelRequested(s);
    h.activityCanceled(s, st, cr);
    h.workflowTask(); // -> CancelWorkflowExecution
    h.canceled();
    await expect(replay(h)).resolves.toBeUndefined();
  });

  it('a history that skips the embedding child fails replay (the check can fail)', async () => {
    const h = selectionRunHistory();
    h.activity(
      'embedQueries',
      { runDir, tasks, model: config.model },
      { skipped: false, rows: 50 },
      { taskQueue: 'gpu' },
    );
    h.activity(
      'scorePool',
      { runDir, tasks, scoring: config.scoring, aggregates: ['max'] },
      { skipped: false, tasks, seconds: 1 },
    );
    await expect(replay(h)).rejects.toThrow(/[Nn]ondetermin/);
  });
});

describe('embedShards replay', () => {
  const input: EmbedShardsInput = { ...childInput, shards: 3, shardsPerRun: 2 };
  const shardOut = (shard: number) => ({ skipped: false, shard, rows: 50, tokens: 1500, seconds: 2 });
  const shardIn = (shard: number) => ({ runDir, shard, model: config.model });

  it('runs shards two at a time and continues as new after shardsPerRun', async () => {
    const h = new HistoryBuilder('cpu').started('embedShards', [input]).workflowTask();
    const s0 = h.scheduleActivity('embedPoolShard', shardIn(0), 'gpu');
    const s1 = h.scheduleActivity('embedPoolShard', shardIn(1), 'gpu');
    h.completeActivity(s0, h.startActivity(s0), shardOut(0)).workflowTask();
    h.completeActivity(s1, h.startActivity(s1), shardOut(1)).workflowTask(); // -> ContinueAsNew
    const next = {
      ...input,
      from: 2,
      totals: { shardsDone: 2, shardsSkipped: 0, rows: 100, rowsComputed: 100, tokens: 3000, seconds: 4 },
    };
    h.continuedAsNew('embedShards', next);
    await expect(replay(h, `${WORKFLOW_ID}/embed`)).resolves.toBeUndefined();

    const h2 = new HistoryBuilder('cpu').started('embedShards', [next]).workflowTask();
    const s2 = h2.scheduleActivity('embedPoolShard', shardIn(2), 'gpu');
    h2.completeActivity(s2, h2.startActivity(s2), shardOut(2)).workflowTask();
    h2.completed({ shardsDone: 3, shardsSkipped: 0, rows: 150, rowsComputed: 150, tokens: 4500, seconds: 6 });
    await expect(replay(h2, `${WORKFLOW_ID}/embed`)).resolves.toBeUndefined();
  });

  it('a history that schedules three shards at once (parallelism 2) fails replay', async () => {
    const h = new HistoryBuilder('cpu').started('embedShards', [{ ...input, shardsPerRun: 3 }]).workflowTask();
    const ids = [0, 1, 2].map((s) => h.scheduleActivity('embedPoolShard', shardIn(s), 'gpu'));
    for (const [i, s] of ids.entries()) h.completeActivity(s, h.startActivity(s), shardOut(i));
    h.workflowTask().completed({});
    await expect(replay(h, `${WORKFLOW_ID}/embed`)).rejects.toThrow(/[Nn]ondetermin/);
  });
});

/**
 * Histories recorded from real runs on a dev server (test/e2e/temporal.test.ts with
 * RDS_RECORD_HISTORIES=1): a fan-out happy path, a worker killed mid-shard, pause/resume, a cancel.
 * A workflow change that would break a run in flight fails here; guard such a change with patched().
 */
describe('recorded histories replay', () => {
  const dir = new URL('./histories/', import.meta.url);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const scenarios = new Set(files.map((f) => f.replace(/\.\d+\.json$/, '')));

  it('covers the recorded scenarios, each with its parent and embedShards runs', () => {
    expect([...scenarios]).toEqual(['cancelled', 'happy-fan-out', 'paused-resumed', 'worker-killed']);
    for (const s of scenarios) expect(files.filter((f) => f.startsWith(`${s}.`)).length, s).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const { workflowId, history } = JSON.parse(fs.readFileSync(new URL(file, dir), 'utf8')) as {
      workflowId: string;
      history: unknown;
    };
    await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).resolves.toBeUndefined();
  });
});
