import { z } from 'zod';
import { TaskName } from './example.js';

// Every object is strict: an unknown (e.g. misspelt) key is an error naming its path, never silently dropped.

/** Pool file shapes ingestion understands; `auto` detects per file from the first valid row. */
export const PoolFormat = z.enum(['auto', 'tulu', 'alpaca', 'sharegpt']);
export type PoolFormat = z.infer<typeof PoolFormat>;

export const PoolConfig = z.strictObject({
  inputs: z.array(z.string().min(1)).min(1, 'give at least one pool file or glob'),
  format: PoolFormat.default('auto'),
  shardSize: z.number().int().positive().default(50_000),
  /** Rows larger than this (bytes of the raw line/record) are rejected. */
  maxRowBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  /**
   * Set by the API server (to RDS_DATA_ROOTS; anything submitted is replaced): every pool and query
   * file must really lie inside one of these directories when it is opened, symlinks resolved.
   */
  roots: z.array(z.string().min(1)).optional(),
});
export type PoolConfig = z.infer<typeof PoolConfig>;

export const QuerySetConfig = z.strictObject({
  task: TaskName,
  path: z.string().min(1),
  format: PoolFormat.default('auto'),
});
export type QuerySetConfig = z.infer<typeof QuerySetConfig>;

export const ExecutionProvider = z.enum(['cpu', 'cuda', 'webgpu']);
export type ExecutionProvider = z.infer<typeof ExecutionProvider>;

export const Pooling = z.enum(['weighted-mean', 'mean', 'last']);
export type Pooling = z.infer<typeof Pooling>;

export const EmbeddingDtype = z.enum(['float16', 'float32']);
export type EmbeddingDtype = z.infer<typeof EmbeddingDtype>;

export const ModelConfig = z.strictObject({
  /** Directory with model.onnx, tokenizer.json, tokenizer_config.json, config.json (Hugging Face export layout). */
  dir: z.string().min(1),
  /** Human-readable id recorded in manifests; defaults to the directory name. */
  id: z.string().min(1).optional(),
  /** RDS+ pools weighted-mean over final hidden states (SGPT style). */
  pooling: Pooling.default('weighted-mean'),
  maxTokens: z.number().int().positive().default(2048),
  executionProvider: ExecutionProvider.default('cpu'),
  /** Intra-op threads for the CPU provider; 0: one per CPU core (os.availableParallelism()). */
  threads: z.number().int().nonnegative().default(0),
  /**
   * Token budget per batch (rows x padded length); batches are length-bucketed. Default by the
   * provider that runs: 1024 on CPU (bigger batches were slower there, see bench:embed), 16384 on GPUs.
   */
  batchTokens: z.number().int().positive().optional(),
  /** Most rows per batch. Default: 8 on CPU, 64 on GPUs. */
  maxBatchSize: z.number().int().positive().optional(),
  /** Storage dtype of embedding shards. */
  dtype: EmbeddingDtype.default('float16'),
  /** Rows between resumable checkpoints inside a shard. */
  checkpointRows: z.number().int().positive().default(1024),
  /** Set by the API server (to RDS_DATA_ROOTS): the model's files must really lie inside these when loaded. */
  roots: z.array(z.string().min(1)).optional(),
});
export type ModelConfig = z.infer<typeof ModelConfig>;

/**
 * The embedding cache shared by runs (see README "Embedding cache"): rows already embedded with the
 * same model file, pooling, maxTokens and dtype are read from it instead of embedded again.
 * `false` turns it off; `dir` defaults to RDS_EMBEDDING_CACHE_DIR, else <user cache>/rds-select/embeddings.
 */
export const EmbeddingCacheConfig = z.union([z.literal(false), z.strictObject({ dir: z.string().min(1).optional() })]);
export type EmbeddingCacheConfig = z.infer<typeof EmbeddingCacheConfig>;

export const ScoringConfig = z.strictObject({
  /**
   * Pool rows scored per block; memory is bounded by blockRows x (dims + queries). 16,384 scored
   * 1M rows faster than 65,536 in bench:score (less memory touched per block), and keeps a block of
   * 4096-dim embeddings (float32 in the GEMM) at 256 MB.
   */
  blockRows: z.number().int().positive().default(16_384),
  /** Initial per-query top-K kept for round-robin over queries; grown on demand. */
  /**
   * At most 2^20: each query keeps K ids and scores (8 bytes each) for the whole run, so even 1,000
   * queries at the bound hold 8 GiB; larger values could never be allocated (they failed after embedding).
   */
  topK: z
    .number()
    .int()
    .positive()
    .max(1 << 20, 'at most 1048576 (each query keeps K ids and scores in memory)')
    .default(4096),
  /**
   * auto: 'fused' (the project's native kernel) when it is built, else 'blocked' (onnxruntime).
   * 'faiss' is exact too but far slower (bench:score); all give the same lists up to float rounding.
   */
  engine: z.enum(['auto', 'fused', 'blocked', 'faiss']).default('auto'),
});
export type ScoringConfig = z.infer<typeof ScoringConfig>;

export const SelectionStrategy = z.enum([
  'round-robin-tasks',
  'round-robin-queries',
  'top-k-max',
  'top-k-mean',
  'random',
  'balanced-random',
]);
export type SelectionStrategy = z.infer<typeof SelectionStrategy>;

/**
 * How a round-robin turn treats a row another query/task already selected. `reference` (the
 * reference code's rule, which produced the paper's results): a turn pops the next row of its
 * ranking once and adds nothing if that row is taken. `fill`: a turn keeps popping until it adds a row.
 */
export const RoundRobinTurns = z.enum(['reference', 'fill']);
export type RoundRobinTurns = z.infer<typeof RoundRobinTurns>;

export const SelectionConfig = z.strictObject({
  strategy: SelectionStrategy.default('round-robin-tasks'),
  budget: z.number().int().positive(),
  /** Turn rule of round-robin-tasks / round-robin-queries (ignored by the other strategies). */
  turns: RoundRobinTurns.default('reference'),
  seed: z.number().int().nonnegative().default(42),
  /** Optional share per source (weights, normalised), like the reference's domain weights. */
  sourceQuotas: z.record(z.string(), z.number().nonnegative()).optional(),
  /** Rows scoring below this are never selected. */
  minScore: z.number().optional(),
  /** Drop the rows the contamination check flags (see `contamination`) before selecting. */
  excludeContaminated: z.boolean().default(false),
});
export type SelectionConfig = z.infer<typeof SelectionConfig>;

/**
 * An evaluation file checked for contamination but not used as a query set (its rows never steer the
 * selection). Named like a task; the name must differ from every query set's task.
 */
export const DecontaminationSet = z.strictObject({
  name: TaskName,
  path: z.string().min(1),
  format: PoolFormat.default('auto'),
});
export type DecontaminationSet = z.infer<typeof DecontaminationSet>;

/** Which pool rows count as near-copies of a query or evaluation example (the report lists them). */
export const ContaminationConfig = z.strictObject({
  /**
   * A pool row whose RDS+ score (cosine of the pooled embeddings) with any query or evaluation example
   * is at or above this is flagged; null: no similarity check. The default sits above what distinct
   * texts reach with the embedding models this project ships (README, "Contamination report").
   */
  minSimilarity: z.number().min(-1).max(1).nullable().default(0.995),
  /**
   * Length in words of the exact-overlap check (13, as in common decontamination practice): a pool row
   * sharing a run of this many words with an example is flagged. An example shorter than this is
   * matched as a whole. 0: no n-gram check.
   */
  ngram: z.number().int().min(0).max(64).default(13),
});
export type ContaminationConfig = z.infer<typeof ContaminationConfig>;

export const LocalDestination = z.strictObject({
  kind: z.literal('local'),
  /** Defaults to <runDir>/handoff. */
  dir: z.string().optional(),
});
export const S3Destination = z.strictObject({
  kind: z.literal('s3'),
  bucket: z.string().min(1),
  prefix: z.string().default(''),
  endpoint: z.string().url().optional(),
  region: z.string().default('us-east-1'),
  forcePathStyle: z.boolean().default(true),
});
export const Destination = z.discriminatedUnion('kind', [LocalDestination, S3Destination]);
export type Destination = z.infer<typeof Destination>;

export const Trigger = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({
    kind: z.literal('webhook'),
    url: z.string().url(),
    /** Name of the environment variable holding the HMAC-SHA256 secret (never the secret itself). */
    secretEnv: z.string().min(1),
    /** Capped: a trigger retrying for days would hold its run (and, on a worker, a slot) that long. */
    maxAttempts: z.number().int().positive().max(20).default(5),
    /** Total time spent waiting between attempts; no retry starts that would end past it. */
    maxRetrySeconds: z.number().int().positive().max(3600).default(600),
  }),
  z.strictObject({
    kind: z.literal('temporal'),
    workflowType: z.string().min(1),
    taskQueue: z.string().min(1),
    namespace: z.string().default('default'),
    /** Signal an already running workflow instead of starting one. */
    signal: z.string().optional(),
    workflowId: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal('command'),
    /**
     * Template with {{dataset}}, {{runId}}, {{rows}}, {{format}} and {{name}} ("selection", or the
     * baseline's "<strategy>-seed<seed>") placeholders (values are shell-quoted); rendered once per training file.
     */
    template: z.string().min(1),
    run: z.boolean().default(false),
  }),
]);
export type Trigger = z.infer<typeof Trigger>;

/** Strategies a matched baseline can use: the paper's random and balanced-random (equal share per source). */
export const BaselineStrategy = z.enum(['random', 'balanced-random']);
export type BaselineStrategy = z.infer<typeof BaselineStrategy>;

const noRepeats =
  <T>(what: string) =>
  (list: T[], ctx: z.RefinementCtx) => {
    list.forEach((v, i) => {
      if (list.indexOf(v) !== i)
        ctx.addIssue({ code: 'custom', path: [i], message: `${what} ${JSON.stringify(v)} is listed twice` });
    });
  };

/**
 * Matched baselines (the paper compares every selection with random and balanced-random selections
 * of the same size, averaged over 3 seeds): one extra training file per (strategy, seed), of exactly
 * as many rows as the main selection, drawn from the same ingested (deduplicated) pool.
 */
export const BaselinesConfig = z.strictObject({
  strategies: z
    .array(BaselineStrategy)
    .min(1, 'give at least one strategy')
    .superRefine(noRepeats('strategy'))
    .default(['random', 'balanced-random']),
  seeds: z
    .array(z.number().int().nonnegative().max(0xffffffff))
    .min(1, 'give at least one seed')
    .superRefine(noRepeats('seed'))
    .default([1, 2, 3]),
});
export type BaselinesConfig = z.infer<typeof BaselinesConfig>;

export const HandoffConfig = z.strictObject({
  format: z.enum(['tulu', 'parquet', 'alpaca']).default('tulu'),
  order: z.enum(['selection', 'shuffled']).default('selection'),
  includeMetadata: z.boolean().default(false),
  destination: Destination.default({ kind: 'local' }),
  trigger: Trigger.default({ kind: 'none' }),
  /** Absent: no baselines. `{}`: random and balanced-random, seeds 1, 2, 3 (six files). */
  baselines: BaselinesConfig.optional(),
});
export type HandoffConfig = z.infer<typeof HandoffConfig>;

/** The whole run: what a UI form edits, what `rds run --config` reads, what a workflow receives. */
export const RunConfig = z
  .strictObject({
    /** Every artifact of the run lives under this directory. */
    runDir: z.string().min(1),
    pool: PoolConfig,
    queries: z
      .array(QuerySetConfig)
      .min(1, 'give at least one query set')
      .refine((q) => new Set(q.map((x) => x.task)).size === q.length, { message: 'task names must be unique' }),
    model: ModelConfig,
    cache: EmbeddingCacheConfig.default({}),
    scoring: ScoringConfig.default({ blockRows: 16_384, topK: 4096, engine: 'auto' }),
    selection: SelectionConfig,
    /** Evaluation files checked for contamination besides the query sets (never used as queries). */
    decontaminate: z.array(DecontaminationSet).default([]),
    contamination: ContaminationConfig.default({ minSimilarity: 0.995, ngram: 13 }),
    handoff: HandoffConfig.default({
      format: 'tulu',
      order: 'selection',
      includeMetadata: false,
      destination: { kind: 'local' },
      trigger: { kind: 'none' },
    }),
  })
  .superRefine((c, ctx) => {
    // Decontamination sets are embedded and scored beside the query sets, under their own name.
    const tasks = new Set(c.queries.map((q) => q.task));
    const seen = new Set<string>();
    c.decontaminate.forEach((d, i) => {
      if (tasks.has(d.name) || seen.has(d.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['decontaminate', i, 'name'],
          message: `"${d.name}" is already the name of a query set or another decontamination set`,
        });
      }
      seen.add(d.name);
    });
  });
export type RunConfig = z.infer<typeof RunConfig>;
/** What a user writes: defaults not yet applied. */
export type RunConfigInput = z.input<typeof RunConfig>;

/** JSON Schema of the run config (input side, so defaults are optional) for UIs that render forms. */
export function runConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(RunConfig, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
