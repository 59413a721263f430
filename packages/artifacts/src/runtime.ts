import { AsyncLocalStorage } from 'node:async_hooks';
import { ApplicationFailure, Context } from '@temporalio/activity';

/** Progress every long activity reports; heartbeated to Temporal and shown by the CLI. */
export interface Progress {
  stage: string;
  done: number;
  total: number;
  unit: string;
  ratePerSec: number;
  etaSec: number | null;
  /** Stage-specific resume state (e.g. rows checkpointed in a shard). */
  detail?: Record<string, unknown>;
}

/**
 * What an activity needs from whoever runs it: a way to report progress (heartbeat) and a
 * cancellation signal (activities resume from their own on-disk checkpoints, not from heartbeat details).
 * Temporal provides it in a worker; the CLI's local runner provides its own. Activities call
 * `activityRuntime()` and never care which.
 */
export interface ActivityRuntime {
  heartbeat(progress: Progress): void;
  readonly signal: AbortSignal;
  log(message: string): void;
  /**
   * How often a long wait must heartbeat so the server sees the activity alive and can deliver a
   * cancellation (Temporal: a quarter of the heartbeat timeout). Absent: nobody is watching (local runs).
   */
  readonly heartbeatEveryMs?: number;
  /**
   * A remote service asked to be called again in `ms`. Temporal: throw an ApplicationFailure with
   * `nextRetryDelay`, so the server waits and no worker slot is held. Absent: wait here (cancellable).
   */
  retryAfter?(ms: number, reason: string): Promise<never>;
}

const localRuntime = new AsyncLocalStorage<ActivityRuntime>();

/** Run `fn` with `runtime` as the activity runtime (the local runner and tests use this). */
export function runWithRuntime<T>(runtime: ActivityRuntime, fn: () => Promise<T>): Promise<T> {
  return localRuntime.run(runtime, fn);
}

const quiet: ActivityRuntime = {
  heartbeat() {},
  signal: new AbortController().signal,
  log() {},
};

export function activityRuntime(): ActivityRuntime {
  const local = localRuntime.getStore();
  if (local) return local;
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return quiet;
  }
  const c = ctx;
  const timeout = c.info.heartbeatTimeoutMs;
  return {
    heartbeat: (p) => c.heartbeat(p),
    signal: c.cancellationSignal,
    log: (m) => c.log.info(m),
    ...(timeout ? { heartbeatEveryMs: Math.max(50, Math.floor(timeout / 4)) } : {}),
    retryAfter: async (ms, reason) => {
      throw ApplicationFailure.create({
        type: 'RetryAfter',
        message: `${reason}; retrying in ${Math.ceil(ms / 1000)} s`,
        nextRetryDelay: ms,
      });
    },
  };
}

/**
 * Call again after `ms` as the remote side asked (Retry-After): under Temporal the attempt fails
 * and the server schedules the next one after `ms`; in a local run this waits (cancellable) and returns.
 */
export async function waitToRetry(rt: ActivityRuntime, ms: number, reason: string): Promise<void> {
  if (rt.retryAfter) await rt.retryAfter(ms, reason);
  const signal = rt.signal;
  throwIfCancelled(signal);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      try {
        throwIfCancelled(signal);
      } catch (err) {
        reject(err);
      }
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `fn` (a wait on something outside: an upload, a webhook, a long hash pass) while heartbeating
 * `progress()` every `rt.heartbeatEveryMs`, so the activity stays alive and a cancellation reaches
 * it (fn must honour `rt.signal`) within one heartbeat interval, however long fn takes.
 */
export async function withHeartbeats<T>(
  rt: ActivityRuntime,
  progress: () => Progress,
  fn: () => Promise<T>,
): Promise<T> {
  if (!rt.heartbeatEveryMs) return fn();
  rt.heartbeat(progress());
  const timer = setInterval(() => rt.heartbeat(progress()), rt.heartbeatEveryMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Throw the signal's reason if cancelled: call between units of work so cancellation is prompt and clean. */
export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    throw reason instanceof Error ? reason : new Error(`cancelled: ${String(reason)}`);
  }
}

/**
 * Rate/ETA bookkeeping with throttled reporting, so hot loops can call `update` freely.
 */
export class ProgressMeter {
  private readonly started = Date.now();
  private lastReport = 0;
  private done: number;

  constructor(
    private readonly stage: string,
    private readonly total: number,
    private readonly unit: string,
    private readonly report: (p: Progress) => void,
    /** Work already done before this attempt (a resume); excluded from the rate. */
    private readonly initial = 0,
    private readonly intervalMs = 1000,
  ) {
    this.done = initial;
  }

  snapshot(detail?: Record<string, unknown>): Progress {
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? (this.done - this.initial) / secs : 0;
    const left = this.total - this.done;
    return {
      stage: this.stage,
      done: this.done,
      total: this.total,
      unit: this.unit,
      ratePerSec: Math.round(rate * 10) / 10,
      etaSec: rate > 0 ? Math.round(left / rate) : null,
      ...(detail ? { detail } : {}),
    };
  }

  /** Record progress; reports at most once per interval unless `force`. */
  update(done: number, detail?: Record<string, unknown>, force = false): void {
    this.done = done;
    const now = Date.now();
    if (force || now - this.lastReport >= this.intervalMs) {
      this.lastReport = now;
      this.report(this.snapshot(detail));
    }
  }
}
