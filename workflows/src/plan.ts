/**
 * Orchestration decisions as pure functions: what runs next, how shards are split into
 * continue-as-new batches, activity options per stage, progress arithmetic, and the status
 * bookkeeping shared by the workflow's `progress` query and the local runner's status.json.
 * No I/O, no clocks (time is passed in), no Temporal runtime: safe in the workflow sandbox and in Node.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import type { RunCounts, RunError, RunProgress, RunStage, RunState, RunStatus } from '@rds/schemas';
import type { EmbedShardsProgress, EmbedTotals, SelectionRunOptions, TaskQueues } from './contract.js';

export const WORKFLOW_TYPES = { selectionRun: 'selectionRun', embedShards: 'embedShards' } as const;
export const SIGNALS = { pause: 'pause', resume: 'resume' } as const;
export const QUERIES = { progress: 'progress' } as const;

/** Execution order; mirrors RUN_STAGES in @rds/schemas (kept as a type-checked literal so the workflow bundle needs no runtime import). */
export const STAGES: readonly RunStage[] = [
  'validate',
  'ingest',
  'embed-queries',
  'embed-pool',
  'score',
  'select',
  'handoff',
];

/** The embedShards child's id is derived from the run's, so clients can query its progress without asking the parent. */
export function embedWorkflowId(parentWorkflowId: string): string {
  return `${parentWorkflowId}/embed`;
}

export const DEFAULT_QUEUES: TaskQueues = { cpu: 'cpu', gpu: 'gpu' };
export const DEFAULT_EMBED_PARALLELISM = 2;
/** At ~6 history events per shard this keeps embedShards' history far below Temporal's limits. */
export const DEFAULT_SHARDS_PER_RUN = 200;

export interface ResolvedRunOptions {
  runId: string;
  queues: TaskQueues;
  embedParallelism: number;
  shardsPerRun: number;
  heartbeatTimeout?: string;
}

export function resolveRunOptions(options: SelectionRunOptions | undefined, fallbackRunId: string): ResolvedRunOptions {
  const positive = (v: number | undefined, d: number) => (v !== undefined && Number.isInteger(v) && v > 0 ? v : d);
  return {
    runId: options?.runId ?? fallbackRunId,
    queues: { cpu: options?.queues?.cpu || DEFAULT_QUEUES.cpu, gpu: options?.queues?.gpu || DEFAULT_QUEUES.gpu },
    embedParallelism: positive(options?.embedParallelism, DEFAULT_EMBED_PARALLELISM),
    shardsPerRun: positive(options?.shardsPerRun, DEFAULT_SHARDS_PER_RUN),
    ...(options?.heartbeatTimeout ? { heartbeatTimeout: options.heartbeatTimeout } : {}),
  };
}

/** Errors that no retry can fix (bad config, bad files): fail fast. */
export const NON_RETRYABLE_ERROR_TYPES = ['ValidationError', 'NonRetryableError'];

/**
 * Activity options per stage: long stages heartbeat (so a dead worker is noticed in minutes), retry
 * with backoff, and on cancellation wait for the activity to stop (WAIT_CANCELLATION_COMPLETED; the
 * SDK's actual default is TRY_CANCEL), so a cancelled run closes only once nothing writes to its files.
 */
export function activityOptionsFor(stage: RunStage, queues: TaskQueues, heartbeatTimeout?: string): ActivityOptions {
  const base = defaultActivityOptions(stage, queues);
  const options: ActivityOptions = base.heartbeatTimeout
    ? { ...base, cancellationType: 'WAIT_CANCELLATION_COMPLETED' }
    : base;
  return heartbeatTimeout && options.heartbeatTimeout
    ? { ...options, heartbeatTimeout: heartbeatTimeout as ActivityOptions['heartbeatTimeout'] }
    : options;
}

function defaultActivityOptions(stage: RunStage, queues: TaskQueues): ActivityOptions {
  const retry = (maximumAttempts: number) => ({
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  });
  switch (stage) {
    case 'validate':
      return { taskQueue: queues.cpu, startToCloseTimeout: '1m', retry: retry(3) };
    case 'ingest':
      return { taskQueue: queues.cpu, startToCloseTimeout: '12h', heartbeatTimeout: '2m', retry: retry(10) };
    case 'embed-queries':
    case 'embed-pool':
      // Loading a large model happens before the first heartbeat: allow for it.
      return { taskQueue: queues.gpu, startToCloseTimeout: '12h', heartbeatTimeout: '10m', retry: retry(10) };
    case 'score':
      return { taskQueue: queues.cpu, startToCloseTimeout: '12h', heartbeatTimeout: '5m', retry: retry(10) };
    case 'select':
      return { taskQueue: queues.cpu, startToCloseTimeout: '2h', heartbeatTimeout: '5m', retry: retry(5) };
    case 'handoff':
      return { taskQueue: queues.cpu, startToCloseTimeout: '2h', heartbeatTimeout: '2m', retry: retry(10) };
  }
}

/** The shards one embedShards run handles, and where the next run (after continue-as-new) starts; null when done. */
export function shardBatch(
  from: number,
  total: number,
  shardsPerRun: number,
): { shards: number[]; next: number | null } {
  const end = Math.min(total, from + Math.max(1, shardsPerRun));
  const shards: number[] = [];
  for (let s = Math.max(0, from); s < end; s++) shards.push(s);
  return { shards, next: end < total ? end : null };
}

/** Embedding progress from running totals; the ETA assumes `parallelism` shards proceed at once. */
export function embedProgress(
  totals: EmbedTotals,
  shardsTotal: number,
  inFlight: number[],
  paused: boolean,
  parallelism: number,
): EmbedShardsProgress {
  const computed = totals.shardsDone - totals.shardsSkipped;
  const ratePerSec = embedRate(totals);
  const secsPerShard = computed > 0 ? totals.seconds / computed : null;
  const left = shardsTotal - totals.shardsDone;
  return {
    shardsDone: totals.shardsDone,
    shardsTotal,
    inFlight,
    paused,
    rows: totals.rows,
    rowsFromCache: totals.rowsFromCache ?? 0,
    ratePerSec,
    etaSec:
      secsPerShard === null ? null : Math.round((left * secsPerShard) / Math.max(1, Math.min(parallelism, left || 1))),
  };
}

/** Rows per second of embedding work (skipped shards count neither rows nor time). */
export function embedRate(totals: EmbedTotals): number {
  return totals.seconds > 0 ? round1(totals.rowsComputed / totals.seconds) : 0;
}

export function addShard(
  totals: EmbedTotals,
  out: { skipped: boolean; rows: number; tokens: number; seconds: number; cacheHits?: number },
): EmbedTotals {
  return {
    rowsFromCache: (totals.rowsFromCache ?? 0) + (out.skipped ? 0 : (out.cacheHits ?? 0)),
    shardsDone: totals.shardsDone + 1,
    shardsSkipped: totals.shardsSkipped + (out.skipped ? 1 : 0),
    rows: totals.rows + out.rows,
    rowsComputed: totals.rowsComputed + (out.skipped ? 0 : out.rows),
    tokens: totals.tokens + out.tokens,
    seconds: totals.seconds + (out.skipped ? 0 : out.seconds),
  };
}

export const EMPTY_TOTALS: EmbedTotals = {
  shardsDone: 0,
  shardsSkipped: 0,
  rows: 0,
  rowsComputed: 0,
  tokens: 0,
  seconds: 0,
  rowsFromCache: 0,
};

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Convert an error to the status' error record (ValidationError keeps its field issues). */
export function runError(err: unknown): RunError {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; type?: unknown; message?: unknown; issues?: unknown; cause?: unknown };
    // Temporal wraps activity errors: ActivityFailure -> ApplicationFailure(type = original name).
    if (e.cause && typeof e.cause === 'object' && (e.name === 'ActivityFailure' || e.name === 'ChildWorkflowFailure'))
      return runError(e.cause);
    const type = typeof e.type === 'string' && e.type ? e.type : typeof e.name === 'string' ? e.name : 'Error';
    const issues = Array.isArray(e.issues) ? (e.issues as { path: string; message: string }[]) : undefined;
    return { type, message: typeof e.message === 'string' ? e.message : String(err), ...(issues ? { issues } : {}) };
  }
  return { type: 'Error', message: String(err) };
}

/**
 * The run's status, updated by the pipeline as it goes. Pure bookkeeping: the caller passes the
 * clock (workflow time in Temporal, wall time locally) and decides what to do with changes.
 */
export class StatusTracker {
  private current: RunStatus;

  constructor(
    init: {
      runId: string;
      runDir: string;
      backend: RunStatus['backend'];
      startedAt: string;
      previous?: RunStatus | null;
    },
    private readonly now: () => string,
    private readonly onChange: (status: RunStatus) => void = () => {},
  ) {
    const prev = init.previous;
    this.current = {
      kind: 'status',
      version: 1,
      runId: init.runId,
      runDir: init.runDir,
      backend: init.backend,
      state: 'running',
      stage: null,
      // A resumed run keeps what it knew; the stages themselves re-check their artifacts.
      completedStages: prev?.completedStages ?? [],
      progress: null,
      counts: prev?.counts ?? {},
      error: null,
      startedAt: prev?.startedAt ?? init.startedAt,
      updatedAt: init.startedAt,
      finishedAt: null,
    };
  }

  get status(): RunStatus {
    return this.current;
  }

  private update(patch: Partial<RunStatus>): void {
    this.current = { ...this.current, ...patch, updatedAt: this.now() };
    this.onChange(this.current);
  }

  setRunDir(runDir: string): void {
    this.update({ runDir });
  }

  stageStarted(stage: RunStage): void {
    this.update({ stage, progress: null });
  }

  stageDone(stage: RunStage, counts: RunCounts = {}): void {
    const completed = this.current.completedStages.includes(stage)
      ? this.current.completedStages
      : [...this.current.completedStages, stage];
    this.update({ completedStages: completed, counts: { ...this.current.counts, ...counts }, progress: null });
  }

  progress(progress: RunProgress, counts: RunCounts = {}): void {
    this.update({ progress, counts: { ...this.current.counts, ...counts } });
  }

  setState(state: Extract<RunState, 'running' | 'paused'>): void {
    if (this.current.state !== state) this.update({ state });
  }

  finish(state: Extract<RunState, 'completed' | 'failed' | 'cancelled'>, error: RunError | null = null): void {
    const t = this.now();
    this.current = {
      ...this.current,
      state,
      error,
      progress: state === 'completed' ? null : this.current.progress,
      updatedAt: t,
      finishedAt: t,
    };
    this.onChange(this.current);
  }
}

/** The shape activities heartbeat (Progress in @rds/artifacts), as far as run progress needs it. */
export interface HeartbeatProgress {
  done: number;
  total: number;
  unit: string;
  ratePerSec: number;
  etaSec: number | null;
  /** Embedding activities: rows read from the embedding cache so far (Progress.detail). */
  detail?: { cacheHits?: unknown };
}

/** What is known about pool embedding besides the in-flight shards' heartbeats. */
export interface EmbedContext {
  rowsDone: number;
  shardsDone: number;
  shardsTotal: number;
  poolRows: number;
  /** Rate over finished shards, used when no shard is heartbeating. */
  ratePerSec: number;
  /** Rows of the finished shards read from the embedding cache. */
  rowsFromCache?: number;
}

function beatHits(b: HeartbeatProgress): number {
  return typeof b.detail?.cacheHits === 'number' ? b.detail.cacheHits : 0;
}

/**
 * Run progress from the heartbeats of the running activities: the stage's own numbers, or for pool
 * embedding the finished shards' rows plus the in-flight shards' rows, with their summed rate.
 */
export function progressFromHeartbeats(
  stage: RunStage,
  beats: HeartbeatProgress[],
  embed?: EmbedContext,
): RunProgress | null {
  if (stage === 'embed-pool' && embed) {
    const rowBeats = beats.filter((b) => b.unit === 'rows');
    const done = embed.rowsDone + rowBeats.reduce((n, b) => n + b.done, 0);
    const total = Math.max(embed.poolRows, done);
    const rate = rowBeats.length ? round1(rowBeats.reduce((n, b) => n + b.ratePerSec, 0)) : embed.ratePerSec;
    return {
      stage,
      done,
      total,
      unit: 'rows',
      ratePerSec: rate,
      etaSec: rate > 0 ? Math.round((total - done) / rate) : null,
      shards: { done: embed.shardsDone, total: embed.shardsTotal },
      cacheHits: (embed.rowsFromCache ?? 0) + rowBeats.reduce((n, b) => n + beatHits(b), 0),
    };
  }
  const b = beats[0];
  if (!b) return null;
  const hits = typeof b.detail?.cacheHits === 'number' ? { cacheHits: beatHits(b) } : {};
  return { stage, done: b.done, total: b.total, unit: b.unit, ratePerSec: b.ratePerSec, etaSec: b.etaSec, ...hits };
}
