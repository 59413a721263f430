import type {
  EmbedQueriesInput,
  EmbedQueriesOutput,
  EmbedShardInput,
  EmbedShardOutput,
  EmbeddingCacheConfig,
  HandoffInput,
  HandoffOutput,
  IngestInput,
  IngestOutput,
  ModelConfig,
  RunConfig,
  RunConfigInput,
  ScoreInput,
  ScoreOutput,
  SelectInput,
  SelectOutput,
} from '@rds/schemas';

/** Input of the first activity: the raw config as submitted, validated (with field paths) off the workflow thread. */
export interface ValidateConfigInput {
  config: RunConfigInput;
  runId: string;
}
/** The validated config with defaults applied, plus decisions that need runtime code (kept out of the workflow bundle). */
export interface ValidateConfigOutput {
  config: RunConfig;
  aggregates: ScoreInput['aggregates'];
}

/**
 * Every activity a selection run calls. Implemented in the packages (see @rds/schemas activities.ts),
 * assembled by @rds/runner's `activities` object, proxied by the workflows and called directly by the local runner.
 */
export interface RunActivities {
  validateConfig(input: ValidateConfigInput): Promise<ValidateConfigOutput>;
  ingestPool(input: IngestInput): Promise<IngestOutput>;
  embedQueries(input: EmbedQueriesInput): Promise<EmbedQueriesOutput>;
  embedPoolShard(input: EmbedShardInput): Promise<EmbedShardOutput>;
  scorePool(input: ScoreInput): Promise<ScoreOutput>;
  selectPool(input: SelectInput): Promise<SelectOutput>;
  handoffSelection(input: HandoffInput): Promise<HandoffOutput>;
}

/** Task queue names; embedding runs where the accelerators are. */
export interface TaskQueues {
  cpu: string;
  gpu: string;
}

/** Options of a selection run beyond its config (how to run, not what to compute). */
export interface SelectionRunOptions {
  runId?: string;
  queues?: Partial<TaskQueues>;
  /** Pool shards embedded at once (one per GPU worker slot). */
  embedParallelism?: number;
  /** Shards per embedShards run before it continues as new (bounds history size). */
  shardsPerRun?: number;
  /** Override the heartbeat timeout of long activities (e.g. '30s' where workers restart fast). */
  heartbeatTimeout?: string;
}

/** Running totals of pool embedding, carried across continue-as-new. */
export interface EmbedTotals {
  shardsDone: number;
  /** Shards found already embedded (skipped) among shardsDone. */
  shardsSkipped: number;
  rows: number;
  /** Rows of the shards computed in this run (not skipped): with `seconds`, the embedding rate. */
  rowsComputed: number;
  tokens: number;
  /** Activity seconds summed over shards (the rate counts work, not waiting). */
  seconds: number;
  /** Rows of the computed shards read from the embedding cache (absent in totals carried from before it). */
  rowsFromCache?: number;
}

export interface EmbedShardsInput {
  runDir: string;
  model: ModelConfig;
  /** Absent in inputs recorded before the embedding cache: the default cache. */
  cache?: EmbeddingCacheConfig;
  /** Number of pool shards (0..shards-1). */
  shards: number;
  /** First shard this run of the workflow handles. */
  from: number;
  parallelism: number;
  shardsPerRun: number;
  gpuQueue: string;
  heartbeatTimeout?: string;
  /** Pause state carried across continue-as-new. */
  paused: boolean;
  totals: EmbedTotals;
}

/** What `embedShards`' `progress` query returns. */
export interface EmbedShardsProgress {
  shardsDone: number;
  shardsTotal: number;
  inFlight: number[];
  paused: boolean;
  rows: number;
  /** Rows of `rows` read from the embedding cache. */
  rowsFromCache?: number;
  ratePerSec: number;
  etaSec: number | null;
}

export interface SelectionRunResult {
  runId: string;
  runDir: string;
  selected: number;
  location: string;
  warnings: string[];
}
