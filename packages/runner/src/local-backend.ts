import fs from 'node:fs/promises';
import path from 'node:path';
import { readJsonIfExists, readRunStatus, runLayout } from '@rds/artifacts';
import { RunConfig, type RunConfigInput, type RunDetail, type RunStatus, type RunSummary } from '@rds/schemas';
import type { RunActivities } from '@rds/workflows/plan';
import type { RunBackend } from './backend.js';
import { RunConflictError, RunNotFoundError } from './errors.js';
import { newRunId, runLocal } from './local.js';
import { PauseGate } from './pause-gate.js';
import { assertRunDirUsable, parseRunConfig } from './validate.js';

export interface LocalBackendOptions {
  activities: RunActivities;
  /** One run executes at a time; further starts wait in a queue (default) or are rejected. */
  whenBusy?: 'queue' | 'reject';
  log?: (runId: string, message: string) => void;
  /**
   * Where run directories live (the API's runs root). list() and get() then also show the runs
   * found there that this process did not start, e.g. before a restart: a directory with a valid
   * status.json (and, once the run got that far, config.json), up to 3 levels down. A run whose
   * status still says queued, running or paused had its process stop under it: it is reported as
   * failed ("Interrupted"); starting its config again resumes it.
   */
  runsRoot?: string;
}

/** How deep below runsRoot run directories are looked for. */
const HISTORY_DEPTH = 3;
const UNFINISHED = new Set(['queued', 'running', 'paused']);

/** A run found on disk (not started by this process). */
interface PastRun {
  /** Null when the run stopped before its config was recorded. */
  config: RunConfig | null;
  status: RunStatus;
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
 * Runs selections in this process, one at a time (embedding saturates the machine) up to their
 * handoff stage, which goes on outside that slot (it may wait on its trigger). Runs are kept in
 * memory for list/get; their status also lives in each run directory's status.json, which is how
 * runs of an earlier process are listed (see `runsRoot`).
 */
export class LocalBackend implements RunBackend {
  readonly kind = 'local' as const;
  private readonly runs = new Map<string, LocalRun>();
  private readonly queue: LocalRun[] = [];
  private active: LocalRun | null = null;
  /** pastRuns(): what each run directory's status.json said, by directory, with its mtime and size. */
  private readonly pastCache = new Map<string, { mtimeMs: number; size: number; run: PastRun | null }>();

  constructor(private readonly options: LocalBackendOptions) {}

  async start(input: RunConfigInput): Promise<{ runId: string }> {
    const config = parseRunConfig(input);
    await assertRunDirUsable(config.runDir);
    const busy = this.active !== null;
    if (busy && this.options.whenBusy === 'reject') {
      throw new RunConflictError(
        `a run is already in progress (${this.active?.runId}); this backend runs one at a time`,
      );
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
      onStatus: (s) => {
        next.status = s;
        // The slot is for the heavy stages. A handoff may wait on its trigger (webhook retries, a
        // command): it goes on outside the slot, so it never holds up the runs queued behind it.
        if (s.stage === 'handoff' && this.active === next) {
          this.active = null;
          this.pump();
        }
      },
      ...(log ? { log: (m: string) => log(next.runId, m) } : {}),
    })
      .catch((err: unknown) => log?.(next.runId, `failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        next.state = 'done';
        if (this.active === next) this.active = null;
        next.release();
        this.pump();
      });
  }

  /** Resolves when the run has finished (completed, failed or cancelled). */
  async wait(runId: string): Promise<RunDetail> {
    const run = this.runs.get(runId);
    if (run) await run.done;
    const detail = await this.get(runId); // (an earlier process's run has finished as far as it goes)
    if (!detail) throw new RunNotFoundError(runId);
    return detail;
  }

  /**
   * Runs under runsRoot that this process has not started, by id (the directories are walked on
   * each call, so runs another process writes there show up too; a status.json that does not parse
   * is skipped).
   */
  private async pastRuns(): Promise<Map<string, PastRun>> {
    const found = new Map<string, PastRun>();
    if (!this.options.runsRoot) return found;
    const seen = new Set<string>();
    const visit = async (dir: string, depth: number): Promise<void> => {
      const layout = runLayout(dir);
      const stat = await fs.stat(layout.status).catch(() => null);
      if (stat) {
        seen.add(dir);
        // Parsed again only when status.json changed (the UI polls the list; past runs rarely change).
        let cached = this.pastCache.get(dir);
        if (!cached || cached.mtimeMs !== stat.mtimeMs || cached.size !== stat.size) {
          const status = await readRunStatus(dir).catch(() => null);
          const config = status ? await readJsonIfExists(layout.config, RunConfig).catch(() => null) : null;
          cached = { mtimeMs: stat.mtimeMs, size: stat.size, run: status ? { config, status } : null };
          this.pastCache.set(dir, cached);
        }
        if (cached.run && !this.runs.has(cached.run.status.runId)) found.set(cached.run.status.runId, cached.run);
        if (cached.run) return; // a run directory: nothing to look for inside it
      }
      if (depth === HISTORY_DEPTH) return;
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      await Promise.all(
        entries
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => visit(path.join(dir, e.name), depth + 1)),
      );
    };
    await visit(this.options.runsRoot, 0);
    for (const dir of this.pastCache.keys()) if (!seen.has(dir)) this.pastCache.delete(dir); // removed since
    return found;
  }

  /** This process's runs, then (with runsRoot) the earlier ones found on disk, newest first. */
  async list(): Promise<RunSummary[]> {
    const past = [...(await this.pastRuns()).values()]
      .sort((a, b) => (a.status.updatedAt < b.status.updatedAt ? 1 : a.status.updatedAt > b.status.updatedAt ? -1 : 0))
      .map((p) => pastSummary(p));
    return [...[...this.runs.values()].map((r) => this.summary(r)), ...past];
  }

  async get(runId: string): Promise<RunDetail | null> {
    const run = this.runs.get(runId);
    if (!run) {
      const past = (await this.pastRuns()).get(runId);
      return past
        ? { ...pastSummary(past), config: past.config, status: pastStatus(past.status), progress: null }
        : null;
    }
    const status =
      run.status ?? (run.state === 'queued' ? null : await readRunStatus(run.config.runDir).catch(() => null));
    return { ...this.summary(run, status), config: run.config, status, progress: status?.progress ?? null };
  }

  async pause(runId: string): Promise<void> {
    const run = await this.live(runId, 'pause');
    run.gate.pause();
  }

  async resume(runId: string): Promise<void> {
    const run = await this.live(runId, 'resume');
    run.gate.resume();
  }

  async cancel(runId: string): Promise<void> {
    const run = await this.live(runId, 'cancel');
    if (run.state === 'queued') {
      this.queue.splice(this.queue.indexOf(run), 1);
      run.state = 'done';
      const t = new Date().toISOString();
      run.status = {
        kind: 'status',
        version: 1,
        runId,
        runDir: run.config.runDir,
        backend: 'local',
        state: 'cancelled',
        stage: null,
        completedStages: [],
        progress: null,
        counts: {},
        error: { type: 'Cancelled', message: 'cancelled before it started' },
        startedAt: run.queuedAt,
        updatedAt: t,
        finishedAt: t,
      };
      run.release();
      return;
    }
    run.abort.abort(new Error('cancelled by request'));
    run.gate.resume(); // a paused run must wake up to notice the cancellation
  }

  private async live(runId: string, action: string): Promise<LocalRun> {
    const run = this.runs.get(runId);
    if (!run) {
      const past = (await this.pastRuns()).get(runId);
      if (!past) throw new RunNotFoundError(runId);
      throw new RunConflictError(
        `cannot ${action} run ${runId}: it is not running in this process (${pastStatus(past.status).state}); start its config again to resume it`,
      );
    }
    if (run.state === 'done')
      throw new RunConflictError(
        `cannot ${action} run ${runId}: it has already finished (${run.status?.state ?? 'done'})`,
      );
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

/** An earlier process's status as it stands now: unfinished means its process stopped under it. */
function pastStatus(status: RunStatus): RunStatus {
  if (!UNFINISHED.has(status.state)) return status;
  return {
    ...status,
    state: 'failed',
    error: {
      type: 'Interrupted',
      message: `the process running it stopped while it was ${status.state}; start its config again to resume it`,
    },
  };
}

function pastSummary(p: PastRun): RunSummary {
  const status = pastStatus(p.status);
  return {
    runId: status.runId,
    runDir: status.runDir,
    backend: 'local',
    state: status.state,
    stage: status.stage,
    strategy: p.config?.selection.strategy ?? null,
    budget: p.config?.selection.budget ?? null,
    startedAt: status.startedAt,
    updatedAt: status.updatedAt,
  };
}
