import { z } from 'zod';
import { RunConfig, SelectionStrategy } from './config.js';

/**
 * Run status shared by the local runner (written to runLayout(runDir).status), the Temporal
 * workflow's `progress` query, `rds status` and the HTTP API.
 */
export const RunState = z.enum(['queued', 'running', 'paused', 'completed', 'failed', 'cancelled']);
export type RunState = z.infer<typeof RunState>;

/** Stages in execution order (the workflow and the local runner run exactly these). */
export const RUN_STAGES = ['validate', 'ingest', 'embed-queries', 'embed-pool', 'score', 'select', 'handoff'] as const;
export const RunStage = z.enum(RUN_STAGES);
export type RunStage = z.infer<typeof RunStage>;

export const RunProgress = z.object({
  stage: RunStage,
  /** Units of the current stage done / total (bytes for ingest, rows for embedding, ...). */
  done: z.number().nonnegative(),
  total: z.number().nonnegative(),
  unit: z.string(),
  ratePerSec: z.number().nonnegative(),
  etaSec: z.number().nonnegative().nullable(),
  /** Pool shards embedded / total (embedding stage and after). */
  shards: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }).optional(),
  /** Embedding stages: rows of `done` read from the embedding cache instead of embedded. */
  cacheHits: z.number().int().nonnegative().optional(),
});
export type RunProgress = z.infer<typeof RunProgress>;

/** Counts so far; each appears once its stage has produced it. */
export const RunCounts = z.object({
  poolRows: z.number().int().nonnegative().optional(),
  rejected: z.number().int().nonnegative().optional(),
  duplicate: z.number().int().nonnegative().optional(),
  shards: z.number().int().nonnegative().optional(),
  shardsEmbedded: z.number().int().nonnegative().optional(),
  rowsEmbedded: z.number().int().nonnegative().optional(),
  /** Pool rows of rowsEmbedded read from the embedding cache. */
  rowsFromCache: z.number().int().nonnegative().optional(),
  queryRows: z.number().int().nonnegative().optional(),
  selected: z.number().int().nonnegative().optional(),
  handedOff: z.number().int().nonnegative().optional(),
});
export type RunCounts = z.infer<typeof RunCounts>;

export const RunError = z.object({
  type: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type RunError = z.infer<typeof RunError>;

export const RunStatus = z.object({
  kind: z.literal('status'),
  version: z.literal(1),
  runId: z.string().min(1),
  runDir: z.string().min(1),
  backend: z.enum(['local', 'temporal']),
  state: RunState,
  stage: RunStage.nullable(),
  /** Stages finished (skipped-because-complete counts as finished). */
  completedStages: z.array(RunStage),
  progress: RunProgress.nullable(),
  counts: RunCounts,
  error: RunError.nullable(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type RunStatus = z.infer<typeof RunStatus>;

/** One line of a run listing (what a UI table shows). */
export const RunSummary = z.object({
  runId: z.string(),
  runDir: z.string(),
  backend: z.enum(['local', 'temporal']),
  state: RunState,
  stage: RunStage.nullable(),
  strategy: SelectionStrategy.nullable(),
  budget: z.number().int().nullable(),
  startedAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** Everything about one run: its summary, validated config and latest status. */
export const RunDetail = RunSummary.extend({
  config: RunConfig.nullable(),
  status: RunStatus.nullable(),
  progress: RunProgress.nullable(),
});
export type RunDetail = z.infer<typeof RunDetail>;
