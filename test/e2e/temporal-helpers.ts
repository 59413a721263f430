import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { defaultPayloadConverter, type Client, type WorkflowHandle } from '@temporalio/client';
import { REPO } from './helpers.js';

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
type Payloads = NonNullable<HistoryEvent['activityTaskCompletedEventAttributes']>['result'];

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the worker wrote (stdout + stderr), for assertions and failure messages. */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signal the worker's whole process group (it is its own group leader). */
  signal(sig: NodeJS.Signals): void;
}

const live = new Set<WorkerProcess>();

/**
 * Start `rds-worker` (apps/worker/src/main.ts, no wrapper process, so a SIGKILL is a real crash) in its
 * own process group, connected to `env`'s server. `killAllWorkers` (afterAll) leaves none behind.
 */
export function startWorker(env: Record<string, string>, args: string[]): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=@rds/source', '--import', 'tsx', path.join(REPO, 'apps/worker/src/main.ts'), ...args],
    {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const w: WorkerProcess = {
    child,
    output: () => out,
    exit,
    signal: (sig) => {
      try {
        process.kill(-child.pid!, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    },
  };
  live.add(w);
  void exit.then(() => live.delete(w));
  return w;
}

export async function killAllWorkers(): Promise<void> {
  const all = [...live];
  for (const w of all) w.signal('SIGKILL');
  await Promise.all(all.map((w) => w.exit));
}

/** Every event of one workflow execution. */
export async function historyOf(client: Client, workflowId: string, runId?: string): Promise<HistoryEvent[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return history.events ?? [];
}

/**
 * The histories of a continue-as-new chain, first run first: follows each run's
 * ContinuedAsNew event to the next (history, unlike visibility, is consistent at once).
 */
export async function chainHistories(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<HistoryEvent[][]> {
  const out: HistoryEvent[][] = [];
  let runId: string | null | undefined = firstRunId;
  while (runId) {
    const events = await historyOf(client, workflowId, runId);
    out.push(events);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return out;
}

/** The run id of the child workflow `childId` as its parent's history recorded it. */
export function childRunId(parentEvents: HistoryEvent[], childId: string): string {
  for (const e of parentEvents) {
    const started = e.childWorkflowExecutionStartedEventAttributes;
    if (started?.workflowExecution?.workflowId === childId && started.workflowExecution.runId)
      return started.workflowExecution.runId;
  }
  throw new Error(`no child workflow ${childId} in the parent's history`);
}

export interface CompletedActivity {
  type: string;
  input: unknown;
  result: unknown;
  /** The attempt that completed (1 = first try). */
  attempt: number;
  /** The failure that caused the last retry, if any (e.g. a heartbeat timeout). */
  lastFailure: string | null;
  /** The worker that ran the completed attempt (`pid@host` by default). */
  identity: string;
}

/** Completed activities of one history, with their decoded first input and result. */
export function completedActivities(events: HistoryEvent[]): CompletedActivity[] {
  const byId = new Map<string, HistoryEvent>();
  for (const e of events) byId.set(String(e.eventId), e);
  const decode = (p: Payloads | null | undefined) => {
    const first = p?.payloads?.[0];
    return first ? defaultPayloadConverter.fromPayload(first) : undefined;
  };
  const out: CompletedActivity[] = [];
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const scheduled = byId.get(String(done.scheduledEventId))?.activityTaskScheduledEventAttributes;
    const started = byId.get(String(done.startedEventId))?.activityTaskStartedEventAttributes;
    out.push({
      type: scheduled?.activityType?.name ?? '?',
      input: decode(scheduled?.input),
      result: decode(done.result),
      attempt: started?.attempt ?? 0,
      lastFailure: started?.lastFailure?.message ?? null,
      identity: started?.identity ?? '',
    });
  }
  return out;
}

/** Identities of the workers polling `taskQueue` for activities (the server's view). */
export async function activityPollers(client: Client, namespace: string, taskQueue: string): Promise<string[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 2 /* TASK_QUEUE_TYPE_ACTIVITY */,
  });
  return (res.pollers ?? []).map((p) => p.identity ?? '');
}

/** Where recorded histories go: the workflows package replays every file there (workflows/test/replay.test.ts). */
export const HISTORY_FIXTURES = path.join(REPO, 'workflows/test/histories');

/**
 * With RDS_RECORD_HISTORIES=1, write the histories of a finished run (the selectionRun execution and
 * each embedShards run of its chain) as replay fixtures `<scenario>.<n>.json`. A developer re-records
 * after a deliberate workflow change (with patched() where old histories must keep replaying).
 */
export async function recordHistories(
  client: Client,
  scenario: string,
  workflowId: string,
  runId?: string,
): Promise<void> {
  if (process.env.RDS_RECORD_HISTORIES !== '1') return;
  const handle = client.workflow.getHandle(workflowId, runId);
  const parentRunId = runId ?? (await handle.describe()).runId;
  const parent = await historyOf(client, workflowId, parentRunId);
  const childId = `${workflowId}/embed`;
  const runs: { workflowId: string; runId: string }[] = [{ workflowId, runId: parentRunId }];
  let next: string | null | undefined = childRunId(parent, childId);
  while (next) {
    runs.push({ workflowId: childId, runId: next });
    const events = await historyOf(client, childId, next);
    next = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  await fs.mkdir(HISTORY_FIXTURES, { recursive: true });
  for (const [i, r] of runs.entries()) {
    const history = await client.workflow.getHandle(r.workflowId, r.runId).fetchHistory();
    const file = path.join(HISTORY_FIXTURES, `${scenario}.${i}.json`);
    await fs.writeFile(file, `{"workflowId":${JSON.stringify(r.workflowId)},"history":${historyToJSON(history)}}\n`);
  }
}
