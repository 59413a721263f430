import { randomBytes } from 'node:crypto';
import { readRunStatus, runWithRuntime, StatusFileWriter, type Progress } from '@rds/artifacts';
import type { RunConfig, RunConfigInput, RunStatus } from '@rds/schemas';
import {
  addShard,
  embedRate,
  EMPTY_TOTALS,
  progressFromHeartbeats,
  runError,
  runPipeline,
  StatusTracker,
  type EmbedTotals,
  type RunActivities,
} from '@rds/workflows/plan';
import { removeDeadWritersTemp } from './leftovers.js';
import { acquireRunLock } from './lock.js';
import { abortReason, PauseGate } from './pause-gate.js';
import { assertRunDirUsable, parseRunConfig } from './validate.js';

export interface RunLocalOptions {
  /** The activity functions (normally `activities` from '@rds/runner/activities'). */
  activities: RunActivities;
  /** Defaults to the runId recorded in the run directory's status (a resume), else a new id. */
  runId?: string;
  /** Abort to cancel: the running activity stops at its next check, finished artifacts stay. */
  signal?: AbortSignal;
  /** Every status change (also written to runLayout(runDir).status). */
  onStatus?: (status: RunStatus) => void;
  /** Pause takes effect before the next stage or pool shard. */
  pauseGate?: PauseGate;
  log?: (message: string) => void;
}

export function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
}

/**
 * Run a selection in this process: the same activities in the same order as the workflow (one
 * `runPipeline`), with heartbeats turned into status progress and cancellation into an AbortSignal.
 * Re-running on the same runDir after a crash resumes: each activity skips its finished artifacts.
 * Resolves with the final status when completed or cancelled; rejects (after recording a failed
 * status) on error, and with ValidationError before touching the run directory when the config is bad.
 */
export async function runLocal(input: RunConfigInput, options: RunLocalOptions): Promise<RunStatus> {
  const config = parseRunConfig(input);
  await assertRunDirUsable(config.runDir);
  const previous = await readRunStatus(config.runDir).catch(() => null);
  const runId = options.runId ?? previous?.runId ?? newRunId();
  const release = await acquireRunLock(config.runDir, runId);
  try {
    for (const f of await removeDeadWritersTemp(config.runDir))
      options.log?.(`removed ${f} (left by a process that was killed while writing it)`);
    return await runLocked(config, runId, previous, options);
  } finally {
    await release();
  }
}

async function runLocked(
  config: RunConfig,
  runId: string,
  previous: RunStatus | null,
  options: RunLocalOptions,
): Promise<RunStatus> {
  const signal = options.signal ?? new AbortController().signal;
  const gate = options.pauseGate ?? new PauseGate();
  const writer = new StatusFileWriter();
  const tracker = new StatusTracker(
    { runId, runDir: config.runDir, backend: 'local', startedAt: new Date().toISOString(), previous },
    () => new Date().toISOString(),
    (s) => {
      writer.write(s);
      options.onStatus?.(s);
    },
  );
  const offGate = gate.onChange((paused) => tracker.setState(paused ? 'paused' : 'running'));

  let poolRows = 0;
  let embedded: EmbedTotals = EMPTY_TOTALS;
  let shardsTotal = 0;
  const onHeartbeat = (p: Progress) => {
    const stage = tracker.status.stage;
    if (!stage) return;
    const embed = {
      rowsDone: embedded.rows,
      shardsDone: embedded.shardsDone,
      shardsTotal,
      poolRows,
      ratePerSec: 0,
      rowsFromCache: embedded.rowsFromCache ?? 0,
    };
    const progress = progressFromHeartbeats(stage, [p], embed);
    if (progress) tracker.progress(progress);
  };

  const runtime = { heartbeat: onHeartbeat, signal, log: options.log ?? (() => {}) };
  try {
    await runWithRuntime(runtime, () =>
      runPipeline(
        {
          activities: options.activities,
          tracker,
          waitWhilePaused: () => gate.wait(signal),
          embedPool: async ({ runDir, model, cache, shards, poolRows: rows }) => {
            poolRows = rows;
            shardsTotal = shards;
            embedded = EMPTY_TOTALS;
            for (let shard = 0; shard < shards; shard++) {
              await gate.wait(signal);
              const out = await options.activities.embedPoolShard({ runDir, shard, model, cache });
              embedded = addShard(embedded, out);
              const context = {
                rowsDone: embedded.rows,
                shardsDone: embedded.shardsDone,
                shardsTotal: shards,
                poolRows,
                ratePerSec: embedRate(embedded),
                rowsFromCache: embedded.rowsFromCache ?? 0,
              };
              const progress = progressFromHeartbeats('embed-pool', [], context);
              if (progress) tracker.progress(progress, { shardsEmbedded: embedded.shardsDone });
            }
            return embedded;
          },
        },
        config,
        runId,
      ),
    );
    // The last stage may have finished just as cancellation arrived: completed work is reported as completed.
  } catch (err) {
    if (signal.aborted) tracker.finish('cancelled', { type: 'Cancelled', message: abortReason(signal).message });
    else tracker.finish('failed', runError(err));
    await writer.flush();
    offGate();
    if (signal.aborted) return tracker.status;
    throw err;
  }
  offGate();
  await writer.flush();
  return tracker.status;
}
