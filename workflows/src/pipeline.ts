import type { EmbeddingCacheConfig, ModelConfig, RunConfigInput, RunStage } from '@rds/schemas';
import type { EmbedTotals, RunActivities, SelectionRunResult, ValidateConfigOutput } from './contract.js';
import type { StatusTracker } from './plan.js';

/**
 * Where the pipeline runs: the workflow (activities are Temporal proxies, pool embedding is the
 * embedShards child workflow, pausing waits on a signal) or the local runner (direct calls, an
 * in-process loop, a pause gate). One ordering of stages for both, so they produce the same artifacts.
 */
export interface PipelineHost {
  activities: RunActivities;
  tracker: StatusTracker;
  /** Resolves once the run is not paused; called before every stage. */
  waitWhilePaused(): Promise<void>;
  /** Embed pool shards 0..shards-1 (each shard activity skips finished shards). */
  embedPool(input: {
    runDir: string;
    model: ModelConfig;
    cache: EmbeddingCacheConfig;
    shards: number;
    poolRows: number;
  }): Promise<EmbedTotals>;
  /** Called once the validated config is known (e.g. to record memo). */
  onValidated?(validated: ValidateConfigOutput): void;
}

/** Validate -> ingest -> embed queries -> embed pool -> score -> select -> handoff. */
export async function runPipeline(
  host: PipelineHost,
  rawConfig: RunConfigInput,
  runId: string,
): Promise<SelectionRunResult> {
  const { activities: act, tracker } = host;
  const stage = async <T>(name: RunStage, fn: () => Promise<T>): Promise<T> => {
    await host.waitWhilePaused();
    tracker.stageStarted(name);
    return fn();
  };

  const validated = await stage('validate', () => act.validateConfig({ config: rawConfig, runId }));
  const { config, aggregates } = validated;
  tracker.setRunDir(config.runDir);
  tracker.stageDone('validate');
  host.onValidated?.(validated);
  const { runDir } = config;

  // Decontamination sets are ingested, embedded and scored beside the query sets under their own
  // names, but only the query sets steer the selection. `?? []`: a config recorded before they existed.
  const checkSets = (config.decontaminate ?? []).map((d) => ({ task: d.name, path: d.path, format: d.format }));
  const checkTasks = checkSets.map((c) => c.task);
  const ingest = await stage('ingest', () =>
    act.ingestPool({ runDir, pool: config.pool, queries: [...config.queries, ...checkSets] }),
  );
  const tasks = ingest.tasks.length > 0 ? ingest.tasks : [...config.queries.map((q) => q.task), ...checkTasks];
  const queryTasks = tasks.filter((t) => !checkTasks.includes(t));
  const queryRows = Object.values(ingest.queries ?? {}).reduce((n, q) => n + q.rows, 0);
  tracker.stageDone('ingest', {
    poolRows: ingest.rows,
    rejected: ingest.rejected,
    duplicate: ingest.duplicate,
    shards: ingest.shards,
    ...(ingest.queries ? { queryRows } : {}),
  });

  // `?? {}`: a config recorded before the embedding cache existed gets the default cache.
  const cache = config.cache ?? {};
  await stage('embed-queries', () => act.embedQueries({ runDir, tasks, model: config.model, cache }));
  tracker.stageDone('embed-queries');

  const totals = await stage('embed-pool', () =>
    host.embedPool({ runDir, model: config.model, cache, shards: ingest.shards, poolRows: ingest.rows }),
  );
  tracker.stageDone('embed-pool', {
    shardsEmbedded: totals.shardsDone,
    rowsEmbedded: totals.rows,
    rowsFromCache: totals.rowsFromCache ?? 0,
  });

  await stage('score', () => act.scorePool({ runDir, tasks, scoring: config.scoring, aggregates }));
  tracker.stageDone('score');

  const selected = await stage('select', () =>
    act.selectPool({
      runDir,
      tasks: queryTasks,
      checkTasks,
      selection: config.selection,
      contamination: config.contamination,
    }),
  );
  tracker.stageDone('select', { selected: selected.selected });

  const handoff = await stage('handoff', () => act.handoffSelection({ runDir, runId, handoff: config.handoff }));
  tracker.stageDone('handoff', { handedOff: handoff.rows });
  tracker.finish('completed');
  return { runId, runDir, selected: selected.selected, location: handoff.location, warnings: selected.warnings };
}
