import * as wf from '@temporalio/workflow';
import type { RunConfigInput, RunStatus } from '@rds/schemas';
import type {
  EmbedShardsInput,
  EmbedTotals,
  RunActivities,
  SelectionRunOptions,
  SelectionRunResult,
} from './contract.js';
import { embedShards, pauseSignal, resumeSignal } from './embed-shards.js';
import { runPipeline } from './pipeline.js';
import {
  activityOptionsFor,
  embedWorkflowId,
  EMPTY_TOTALS,
  QUERIES,
  resolveRunOptions,
  runError,
  StatusTracker,
  WORKFLOW_TYPES,
} from './plan.js';

export const progressQuery = wf.defineQuery<RunStatus>(QUERIES.progress);

/**
 * One RDS+ selection run: validate -> ingest -> embed queries -> embed pool (child workflow, gpu queue)
 * -> score -> select -> handoff. Signals `pause`/`resume` take effect between activities; cancelling
 * the workflow cancels the running activity (which stops at its next cancellation check) and keeps
 * every completed artifact, so starting the same config again resumes.
 */
export async function selectionRun(config: RunConfigInput, options?: SelectionRunOptions): Promise<SelectionRunResult> {
  const info = wf.workflowInfo();
  const opts = resolveRunOptions(options, info.workflowId);
  const childId = embedWorkflowId(info.workflowId);
  const now = () => new Date().toISOString(); // workflow time: deterministic on replay
  const tracker = new StatusTracker(
    { runId: opts.runId, runDir: config.runDir ?? '', backend: 'temporal', startedAt: now() },
    now,
  );
  let paused = false;
  wf.setHandler(pauseSignal, () => {
    paused = true;
    tracker.setState('paused');
  });
  wf.setHandler(resumeSignal, () => {
    paused = false;
    tracker.setState('running');
  });
  wf.setHandler(progressQuery, () => tracker.status);

  const stageActivities = (stage: Parameters<typeof activityOptionsFor>[0]) =>
    wf.proxyActivities<RunActivities>(activityOptionsFor(stage, opts.queues, opts.heartbeatTimeout));
  const activities: RunActivities = {
    validateConfig: stageActivities('validate').validateConfig,
    ingestPool: stageActivities('ingest').ingestPool,
    embedQueries: stageActivities('embed-queries').embedQueries,
    embedPoolShard: stageActivities('embed-pool').embedPoolShard,
    scorePool: stageActivities('score').scorePool,
    selectPool: stageActivities('select').selectPool,
    handoffSelection: stageActivities('handoff').handoffSelection,
  };

  try {
    return await runPipeline(
      {
        activities,
        tracker,
        waitWhilePaused: () => wf.condition(() => !paused),
        embedPool: async ({ runDir, model, cache, shards }) => {
          const input: EmbedShardsInput = {
            runDir,
            model,
            cache,
            shards,
            from: 0,
            parallelism: opts.embedParallelism,
            shardsPerRun: opts.shardsPerRun,
            gpuQueue: opts.queues.gpu,
            ...(opts.heartbeatTimeout ? { heartbeatTimeout: opts.heartbeatTimeout } : {}),
            paused,
            totals: EMPTY_TOTALS,
          };
          const child = await wf.startChild(embedShards, {
            workflowId: childId,
            taskQueue: info.taskQueue,
            args: [input],
          });
          return await withPauseForwarded(child, input.paused, () => paused);
        },
      },
      config,
      opts.runId,
    );
  } catch (err) {
    tracker.finish(wf.isCancellation(err) ? 'cancelled' : 'failed', runError(err));
    throw err;
  }
}

/**
 * Await the embedShards child while keeping its pause state equal to the parent's: the child started
 * with `startedPaused`, and every later change (including one that arrived while the child was being
 * started, which a signal could not yet reach) is sent to it in order. A signal that fails while the
 * child is still running fails the run instead of leaving the parent "paused" over a running child.
 */
async function withPauseForwarded(
  child: wf.ChildWorkflowHandle<typeof embedShards>,
  startedPaused: boolean,
  parentPaused: () => boolean,
): Promise<EmbedTotals> {
  let closed = false;
  const result = child.result().finally(() => void (closed = true));
  const forward = async () => {
    let childPaused = startedPaused;
    for (;;) {
      await wf.condition(() => closed || parentPaused() !== childPaused);
      if (closed) return;
      const target = parentPaused();
      try {
        await child.signal(target ? pauseSignal : resumeSignal);
      } catch (err) {
        // The child finishing as the signal went out is the one harmless failure.
        if (await wf.condition(() => closed, '1 minute')) return;
        throw err;
      }
      childPaused = target;
    }
  };
  // Not cancellable: a cancelled run must still wait for the child to close (it cancels its activities).
  const forwarding = wf.CancellationScope.nonCancellable(forward);
  const [totals] = await Promise.all([result, forwarding]);
  return totals;
}

export { WORKFLOW_TYPES };
