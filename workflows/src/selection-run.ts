import * as wf from '@temporalio/workflow';
import type { RunConfigInput, RunStatus } from '@rds/schemas';
import type { EmbedShardsInput, RunActivities, SelectionRunOptions, SelectionRunResult } from './contract.js';
import { embedShards, pauseSignal, resumeSignal } from './embed-shards.js';
import { runPipeline } from './pipeline.js';
import { activityOptionsFor, embedWorkflowId, EMPTY_TOTALS, QUERIES, resolveRunOptions, runError, StatusTracker, WORKFLOW_TYPES } from './plan.js';

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
  const tracker = new StatusTracker({ runId: opts.runId, runDir: config.runDir ?? '', backend: 'temporal', startedAt: now() }, now);
  let paused = false;
  let embedding = false;
  const forwardToChild = (signal: typeof pauseSignal | typeof resumeSignal) => {
    if (embedding) void wf.getExternalWorkflowHandle(childId).signal(signal).catch(() => undefined);
  };
  wf.setHandler(pauseSignal, () => {
    paused = true;
    tracker.setState('paused');
    forwardToChild(pauseSignal);
  });
  wf.setHandler(resumeSignal, () => {
    paused = false;
    tracker.setState('running');
    forwardToChild(resumeSignal);
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
        embedPool: async ({ runDir, model, shards }) => {
          const input: EmbedShardsInput = {
            runDir,
            model,
            shards,
            from: 0,
            parallelism: opts.embedParallelism,
            shardsPerRun: opts.shardsPerRun,
            gpuQueue: opts.queues.gpu,
            ...(opts.heartbeatTimeout ? { heartbeatTimeout: opts.heartbeatTimeout } : {}),
            paused,
            totals: EMPTY_TOTALS,
          };
          embedding = true;
          try {
            return await wf.executeChild(embedShards, { workflowId: childId, taskQueue: info.taskQueue, args: [input] });
          } finally {
            embedding = false;
          }
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

export { WORKFLOW_TYPES };
