import type { RunConfig, RunConfigInput, RunDetail, RunStatus, RunSummary } from '@rds/schemas';
import type { RunActivities } from '@rds/workflows/plan';
import type { RunBackend } from './backend.js';
import { RunConflictError, RunNotFoundError } from './errors.js';
import { newRunId, runLocal } from './local.js';
import { PauseGate } from './pause-gate.js';
import { readRunStatus } from './status.js';
import { parseRunConfig } from './validate.js';

export interface LocalBackendOptions {
  activities: RunActivities;
  /** One run executes at a time; further starts wait in a queue (default) or are rejected. */
  whenBusy?: 'queue' | 'reject';
  log?: (runId: string, message: string) => void;
}

interface LocalRun {
  runId: string;
  config: RunConfig;
  state: 'queued' | 'active' | 'done';
  gate: PauseGate;
  abort: AbortController;
  status: RunStatus | null;
  queuedAt: string;
  done: Promise<void>;
  release: () => void;
}

/**
 * Runs selections in this process, one at a time (embedding saturates the machine). Runs are kept in
 * memory for list/get; their status also lives in each run directory's status.json.
 */
export class LocalBackend implements RunBackend {
  readonly kind = 'local' as const;
  private readonly runs = new Map<string, LocalRun>();
  private readonly queue: LocalRun[] = [];
  private active: LocalRun | null = null;

  constructor(private readonly options: LocalBackendOptions) {}

  async start(input: RunConfigInput): Promise<{ runId: string }> {
    const config = parseRunConfig(input);
    const busy = this.active !== null;
    if (busy && this.options.whenBusy === 'reject') {
      throw new RunConflictError(`a run is already in progress (${this.active?.runId}); this backend runs one at a time`);
    }
    for (const r of this.runs.values()) {
      if (r.state !== 'done' && r.config.runDir === config.runDir) {
        throw new RunConflictError(`run ${r.runId} is already using run directory ${config.runDir}`);
      }
    }
    // The same run directory is the same run: keep its id so a restart resumes it.
    const previous = await readRunStatus(config.runDir).catch(() => null);
    let runId = previous?.runId ?? newRunId();
    if (this.runs.has(runId) && !previous) runId = newRunId();
    let release: () => void = () => {};
    const done = new Promise<void>((r) => (release = r));
    const run: LocalRun = {
      runId,
      config,
      state: 'queued',
      gate: new PauseGate(),
      abort: new AbortController(),
      status: null,
      queuedAt: new Date().toISOString(),
      done,
      release,
    };
    this.runs.set(runId, run);
    this.queue.push(run);
    this.pump();
    return { runId };
  }

  private pump(): void {
    if (this.active) return;
    const next = this.queue.shift();
    if (!next) return;
    this.active = next;
    next.state = 'active';
    const log = this.options.log;
    void runLocal(next.config, {
      activities: this.options.activities,
      runId: next.runId,
      signal: next.abort.signal,
      pauseGate: next.gate,
      onStatus: (s) => void (next.status = s),
      ...(log ? { log: (m: string) => log(next.runId, m) } : {}),
    })
      .catch((err: unknown) => log?.(next.runId, `failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        next.state = 'done';
        this.active = null;
        next.release();
        this.pump();
      });
  }

  /** Resolves when the run has finished (completed, failed or cancelled). */
  async wait(runId: string): Promise<RunDetail> {
    await this.find(runId).done;
    return (await this.get(runId))!;
  }

  async list(): Promise<RunSummary[]> {
    return [...this.runs.values()].map((r) => this.summary(r));
  }

  async get(runId: string): Promise<RunDetail | null> {
    const run = this.runs.get(runId);
    if (!run) return null;
    const status = run.status ?? (run.state === 'queued' ? null : await readRunStatus(run.config.runDir).catch(() => null));
    return { ...this.summary(run, status), config: run.config, status, progress: status?.progress ?? null };
  }

  async pause(runId: string): Promise<void> {
    const run = this.live(runId, 'pause');
    run.gate.pause();
  }

  async resume(runId: string): Promise<void> {
    const run = this.live(runId, 'resume');
    run.gate.resume();
  }

  async cancel(runId: string): Promise<void> {
    const run = this.live(runId, 'cancel');
    if (run.state === 'queued') {
      this.queue.splice(this.queue.indexOf(run), 1);
      run.state = 'done';
      const t = new Date().toISOString();
      run.status = {
        kind: 'status', version: 1, runId, runDir: run.config.runDir, backend: 'local', state: 'cancelled', stage: null,
        completedStages: [], progress: null, counts: {}, error: { type: 'Cancelled', message: 'cancelled before it started' },
        startedAt: run.queuedAt, updatedAt: t, finishedAt: t,
      };
      run.release();
      return;
    }
    run.abort.abort(new Error('cancelled by request'));
    run.gate.resume(); // a paused run must wake up to notice the cancellation
  }

  private find(runId: string): LocalRun {
    const run = this.runs.get(runId);
    if (!run) throw new RunNotFoundError(runId);
    return run;
  }

  private live(runId: string, action: string): LocalRun {
    const run = this.find(runId);
    if (run.state === 'done') throw new RunConflictError(`cannot ${action} run ${runId}: it has already finished (${run.status?.state ?? 'done'})`);
    return run;
  }

  private summary(run: LocalRun, status: RunStatus | null = run.status): RunSummary {
    return {
      runId: run.runId,
      runDir: run.config.runDir,
      backend: 'local',
      state: run.state === 'queued' ? 'queued' : (status?.state ?? 'running'),
      stage: status?.stage ?? null,
      strategy: run.config.selection.strategy,
      budget: run.config.selection.budget,
      startedAt: status?.startedAt ?? null,
      updatedAt: status?.updatedAt ?? run.queuedAt,
    };
  }
}
