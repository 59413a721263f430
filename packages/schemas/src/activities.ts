import { z } from 'zod';
import {
  ContaminationConfig,
  EmbeddingCacheConfig,
  HandoffConfig,
  ModelConfig,
  PoolConfig,
  QuerySetConfig,
  ScoringConfig,
  SelectionConfig,
} from './config.js';

/**
 * The contract between workflows (and the CLI's local runner) and the activities in the packages.
 * Inputs and outputs are small (paths, counts, checksums): large data moves as files under runDir.
 * Every activity validates its input with these schemas and is idempotent: when its artifact is
 * already complete it returns `skipped: true` without recomputing.
 *
 * | activity          | package              | task queue |
 * |-------------------|----------------------|------------|
 * | ingestPool        | @rds/pool            | cpu        |
 * | embedQueries      | @rds/encoder         | gpu        |
 * | embedPoolShard    | @rds/encoder         | gpu        |
 * | scorePool         | @rds/vector-index    | cpu        |
 * | selectPool        | @rds/selectors       | cpu        |
 * | handoffSelection  | @rds/handoff         | cpu        |
 */

export const IngestInput = z.object({
  runDir: z.string().min(1),
  pool: PoolConfig,
  queries: z.array(QuerySetConfig),
});
export type IngestInput = z.infer<typeof IngestInput>;
export interface IngestOutput {
  skipped: boolean;
  /** Number of pool shards written (embedding fans out over these). */
  shards: number;
  rows: number;
  rejected: number;
  duplicate: number;
  tasks: string[];
  /** Rows kept and rejected per query set. */
  queries?: Record<string, { rows: number; rejected: number }>;
}

export const EmbedQueriesInput = z.object({
  runDir: z.string().min(1),
  tasks: z.array(z.string()).min(1),
  model: ModelConfig,
  /** Absent: the default cache (also what inputs recorded before the cache existed mean). */
  cache: EmbeddingCacheConfig.optional(),
});
export type EmbedQueriesInput = z.infer<typeof EmbedQueriesInput>;
export interface EmbedQueriesOutput {
  skipped: boolean;
  rows: number;
  /** Rows read from the embedding cache instead of embedded. */
  cacheHits?: number;
}

export const EmbedShardInput = z.object({
  runDir: z.string().min(1),
  shard: z.number().int().nonnegative(),
  model: ModelConfig,
  cache: EmbeddingCacheConfig.optional(),
});
export type EmbedShardInput = z.infer<typeof EmbedShardInput>;
export interface EmbedShardOutput {
  skipped: boolean;
  shard: number;
  rows: number;
  tokens: number;
  seconds: number;
  /** Rows read from the embedding cache instead of embedded (absent: none, or recorded before the cache). */
  cacheHits?: number;
}

export const ScoreInput = z.object({
  runDir: z.string().min(1),
  tasks: z.array(z.string()).min(1),
  scoring: ScoringConfig,
  /** Which score artifacts to produce: per-task max/mean vectors and/or per-query top-K lists. */
  aggregates: z.array(z.enum(['max', 'mean', 'topk'])).min(1),
});
export type ScoreInput = z.infer<typeof ScoreInput>;
export interface ScoreOutput {
  skipped: boolean;
  tasks: string[];
  seconds: number;
}

export const SelectInput = z.object({
  runDir: z.string().min(1),
  tasks: z.array(z.string()).min(1),
  selection: SelectionConfig,
  /** Decontamination sets: scored like tasks, checked for contamination, never selected for. */
  checkTasks: z.array(z.string()).default([]),
  /** Absent (a run started before the contamination report existed): no check. */
  contamination: ContaminationConfig.optional(),
});
export type SelectInput = z.infer<typeof SelectInput>;
export interface SelectOutput {
  skipped: boolean;
  selected: number;
  /** Pool rows the contamination check flagged (excluded when selection.excludeContaminated). */
  contaminated?: number;
  warnings: string[];
}

export const HandoffInput = z.object({
  runDir: z.string().min(1),
  runId: z.string().min(1),
  handoff: HandoffConfig,
});
export type HandoffInput = z.infer<typeof HandoffInput>;
export interface HandoffOutput {
  skipped: boolean;
  location: string;
  rows: number;
  triggerStatus: string;
}

/**
 * Which score aggregates a run needs (so scoring computes only those): the strategy's, plus the
 * per-task max the contamination check's similarity test reads.
 */
export function aggregatesForRun(config: {
  selection: SelectionConfig;
  contamination?: ContaminationConfig;
}): ('max' | 'mean' | 'topk')[] {
  const own = aggregatesFor(config.selection.strategy);
  const similarity = config.contamination ? config.contamination.minSimilarity !== null : false;
  return similarity && !own.includes('max') ? [...own, 'max'] : own;
}

/** Which score aggregates a selection strategy needs. */
export function aggregatesFor(strategy: SelectionConfig['strategy']): ('max' | 'mean' | 'topk')[] {
  switch (strategy) {
    case 'round-robin-queries':
      return ['topk', 'max'];
    case 'top-k-mean':
      return ['mean'];
    case 'random':
    case 'balanced-random':
      return ['max'];
    default:
      return ['max'];
  }
}
