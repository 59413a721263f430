import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  defaultPayloadConverter,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import type { RunConfigInput, RunDetail, RunProgress, RunState, RunStatus, RunSummary } from '@rds/schemas';
import { RunConfig, SelectionStrategy } from '@rds/schemas';
import { z } from 'zod';
import {
  DEFAULT_QUEUES,
  progressFromHeartbeats,
  QUERIES,
  SIGNALS,
  WORKFLOW_TYPES,
  embedWorkflowId,
  type EmbedShardsProgress,
  type SelectionRunOptions,
  type TaskQueues,
} from '@rds/workflows/plan';
import type { RunBackend } from './backend.js';
import { RunConflictError, RunNotFoundError } from './errors.js';
import { parseRunConfig, requireAbsolutePaths } from './validate.js';

export interface TemporalBackendOptions {
  client: Client;
  queues?: Partial<TaskQueues>;
  embedParallelism?: number;
  shardsPerRun?: number;
  /** Heartbeat timeout of long activities (default per stage, minutes). */
  heartbeatTimeout?: string;
  /** Prefix of workflow ids this backend creates (and lists). */
  idPrefix?: string;
}

const STATE_BY_STATUS: Record<WorkflowExecutionStatusName, RunState> = {
  UNSPECIFIED: 'running',
  RUNNING: 'running',
  PAUSED: 'paused',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'cancelled',
  CONTINUED_AS_NEW: 'running',
  TIMED_OUT: 'failed',
  UNKNOWN: 'running',
};

/** Heartbeat details as activities send them (validated: they come back from the server). */
const Heartbeat = z.object({
  done: z.number(),
  total: z.number(),
  unit: z.string(),
  ratePerSec: z.number(),
  etaSec: z.number().nullable(),
});

type Description = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['describe']>>;

/** The decoded last heartbeat of each running activity of a workflow execution. */
function pendingHeartbeats(description: Description): z.infer<typeof Heartbeat>[] {
  const out = [];
  for (const a of description.raw.pendingActivities ?? []) {
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    try {
      const beat = Heartbeat.safeParse(defaultPayloadConverter.fromPayload(payload));
      if (beat.success) out.push(beat.data);
    } catch {
      // Not JSON: not one of ours.
    }
  }
  return out;
}

/**
 * The workflow id of the run on `runDir`: one run directory, one workflow id, so the server itself
 * refuses a second open run over the same files, and starting the same config again after a cancel
 * or a failure continues that run (its finished artifacts are skipped). Readable (the directory's
 * name) and unique (a hash of its absolute path).
 */
export function workflowIdForRunDir(runDir: string, prefix = 'rds-'): string {
  const abs = path.resolve(runDir);
  const name =
    path
      .basename(abs)
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .slice(0, 60) || 'run';
  return `${prefix}${name}-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`;
}

/** Memo a UI lists runs by (memo needs no search-attribute registration on the server). */
interface RunMemo {
  runDir?: string;
  strategy?: string;
  budget?: number;
}

function memoOf(execution: { memo?: Record<string, unknown> }): RunMemo {
  return (execution.memo ?? {}) as RunMemo;
}

/** The list columns a run's memo carries, validated (the memo comes back from the server). */
function memoFields(memo: RunMemo): Pick<RunSummary, 'strategy' | 'budget'> {
  const strategy = SelectionStrategy.safeParse(memo.strategy);
  return {
    strategy: strategy.success ? strategy.data : null,
    budget: typeof memo.budget === 'number' ? memo.budget : null,
  };
}

type Handle = ReturnType<Client['workflow']['getHandle']>;

/** The server's description of a workflow, or null when there is no such run. */
async function describeOrNull(handle: Handle): Promise<Description | null> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** The workflow's own status (its progress query), or null when no worker can answer it now. */
async function queryStatus(handle: Handle): Promise<RunStatus | null> {
  try {
    return await handle.query<RunStatus>(QUERIES.progress);
  } catch {
    // A closed workflow whose history a worker cannot replay right now: the caller falls back to the server's view.
    return null;
  }
}

/**
 * Starts and steers `selectionRun` workflows. The workflow id is the run id; `get` asks the
 * workflow's `progress` query (and, while embedding, the embedShards child's) for live status.
 */
export class TemporalBackend implements RunBackend {
  readonly kind = 'temporal' as const;
  private readonly queues: TaskQueues;
  private readonly prefix: string;

  constructor(private readonly options: TemporalBackendOptions) {
    this.queues = { ...DEFAULT_QUEUES, ...options.queues };
    this.prefix = options.idPrefix ?? 'rds-';
  }

  /**
   * Start a run; its id is derived from the run directory (see workflowIdForRunDir) unless `runId` is
   * given. RunConflictError (409) while a run with that id is still open.
   */
  async start(input: RunConfigInput, runId?: string): Promise<{ runId: string }> {
    // Validate here too, so a bad config is a 400 at submit time, not a failed workflow.
    const config = parseRunConfig(input);
    requireAbsolutePaths(config);
    const id = runId ?? workflowIdForRunDir(config.runDir, this.prefix);
    const options: SelectionRunOptions = {
      runId: id,
      queues: this.queues,
      ...(this.options.embedParallelism ? { embedParallelism: this.options.embedParallelism } : {}),
      ...(this.options.shardsPerRun ? { shardsPerRun: this.options.shardsPerRun } : {}),
      ...(this.options.heartbeatTimeout ? { heartbeatTimeout: this.options.heartbeatTimeout } : {}),
    };
    const memo: RunMemo = {
      runDir: config.runDir,
      strategy: config.selection.strategy,
      budget: config.selection.budget,
    };
    try {
      await this.options.client.workflow.start(WORKFLOW_TYPES.selectionRun, {
        workflowId: id,
        taskQueue: this.queues.cpu,
        args: [input, options],
        memo: memo as Record<string, unknown>,
        // A closed run's id may start again (a resume); an open one may not.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowIdConflictPolicy: 'FAIL',
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new RunConflictError(
          `run ${id} on ${config.runDir} is still open: pause, resume or cancel it, or wait for it to finish`,
        );
      }
      throw err;
    }
    return { runId: id };
  }

  /** One entry per run id: its latest execution (a run started again after a cancel has several). */
  async list(): Promise<RunSummary[]> {
    const out: RunSummary[] = [];
    const seen = new Set<string>();
    // Visibility lists newest first.
    for await (const wf of this.options.client.workflow.list({
      query: `WorkflowType = '${WORKFLOW_TYPES.selectionRun}'`,
    })) {
      if (seen.has(wf.workflowId)) continue;
      seen.add(wf.workflowId);
      const memo = memoOf(wf);
      out.push({
        runId: wf.workflowId,
        runDir: memo.runDir ?? '',
        backend: 'temporal',
        state: STATE_BY_STATUS[wf.status.name],
        stage: null,
        ...memoFields(memo),
        startedAt: wf.startTime.toISOString(),
        updatedAt: (wf.closeTime ?? wf.startTime).toISOString(),
      });
    }
    return out;
  }

  /** A run's detail: the server's description, the workflow's own status query, and live progress. */
  async get(runId: string): Promise<RunDetail | null> {
    const handle = this.options.client.workflow.getHandle(runId);
    const description = await describeOrNull(handle);
    if (!description) return null;
    const status = await queryStatus(handle);
    const progress = await this.liveProgress(runId, status, description);
    const serverState = STATE_BY_STATUS[description.status.name];
    // The server knows closed states; while it says running, the workflow knows better (e.g. paused).
    const state: RunState = serverState === 'running' && status ? status.state : serverState;
    return {
      runId,
      runDir: status?.runDir || memoOf(description).runDir || '',
      backend: 'temporal',
      state,
      stage: status?.stage ?? null,
      ...memoFields(memoOf(description)),
      startedAt: description.startTime.toISOString(),
      updatedAt: status?.updatedAt ?? (description.closeTime ?? description.startTime).toISOString(),
      config: await this.startConfig(runId),
      status: status ? { ...status, state, progress } : null,
      progress,
    };
  }

  /**
   * Progress of the running stage from its activities' heartbeats (fresher than the workflow's own
   * view). While embedding, finished shards come from the embedShards child's query and in-flight
   * rows from the child's activities.
   */
  private async liveProgress(
    runId: string,
    status: RunStatus | null,
    description: Description,
  ): Promise<RunProgress | null> {
    const recorded = status?.progress ?? null;
    if (!status?.stage || status.state === 'completed') return recorded;
    if (status.stage !== 'embed-pool') {
      return progressFromHeartbeats(status.stage, pendingHeartbeats(description)) ?? recorded;
    }
    try {
      const childHandle = this.options.client.workflow.getHandle(embedWorkflowId(runId));
      const [child, childDescription] = await Promise.all([
        childHandle.query<EmbedShardsProgress>(QUERIES.progress),
        childHandle.describe(),
      ]);
      return progressFromHeartbeats('embed-pool', pendingHeartbeats(childDescription), {
        rowsDone: child.rows,
        shardsDone: child.shardsDone,
        shardsTotal: child.shardsTotal,
        poolRows: status.counts.poolRows ?? child.rows,
        ratePerSec: child.ratePerSec,
        rowsFromCache: child.rowsFromCache ?? 0,
      });
    } catch {
      // The child has not started yet or just finished.
      return recorded;
    }
  }

  /** The config the run was started with (first argument of its start event), defaults applied. */
  private async startConfig(runId: string): Promise<RunConfig | null> {
    try {
      const history = await this.options.client.workflow.getHandle(runId).fetchHistory();
      const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      if (!payload) return null;
      const parsed = RunConfig.safeParse(defaultPayloadConverter.fromPayload(payload));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  async pause(runId: string): Promise<void> {
    await this.signal(runId, SIGNALS.pause);
  }

  async resume(runId: string): Promise<void> {
    await this.signal(runId, SIGNALS.resume);
  }

  async cancel(runId: string): Promise<void> {
    // The server accepts a cancel request for a closed execution without complaint: refuse it here,
    // as a signal to a closed run (and the local backend) is refused.
    await this.guard(runId, async () => {
      const handle = this.options.client.workflow.getHandle(runId);
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING')
        throw new RunConflictError(`run ${runId} has already finished (${STATE_BY_STATUS[status.name]})`);
      await handle.cancel();
    });
  }

  private signal(runId: string, name: string): Promise<void> {
    return this.guard(runId, () => this.options.client.workflow.getHandle(runId).signal(name));
  }

  private async guard(runId: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // Also raised for a closed workflow: tell the two apart.
        const exists = await this.get(runId).catch(() => null);
        if (exists) throw new RunConflictError(`run ${runId} has already finished (${exists.state})`);
        throw new RunNotFoundError(runId);
      }
      throw err;
    }
  }
}
