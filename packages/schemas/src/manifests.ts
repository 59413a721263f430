import { z } from 'zod';
import { BaselineStrategy, EmbeddingDtype, Pooling, RoundRobinTurns, SelectionStrategy } from './config.js';

/**
 * Manifests describe artifacts on disk. They are written last (atomically), so a manifest's
 * presence means its artifact is complete; its checksum lets a resumed run trust the file.
 */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a hex sha256');

export const FileRef = z.object({
  /** Path relative to the manifest's directory. */
  file: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: Sha256,
});
export type FileRef = z.infer<typeof FileRef>;

export const PoolShard = FileRef.extend({
  rows: z.number().int().nonnegative(),
  /** The shard's row-offset index (absent in pools ingested before it existed: readers scan the shard). */
  offsets: FileRef.optional(),
});
export type PoolShard = z.infer<typeof PoolShard>;

export const PoolManifest = z.object({
  kind: z.literal('pool'),
  version: z.literal(1),
  /** sha256 over the input list (paths, sizes, mtimes) and ingestion options: same fingerprint = same pool. */
  fingerprint: Sha256,
  inputs: z.array(z.object({ path: z.string(), bytes: z.number().int().nonnegative(), format: z.string() })),
  counts: z.object({
    read: z.number().int().nonnegative(),
    kept: z.number().int().nonnegative(),
    duplicate: z.number().int().nonnegative(),
    rejected: z.number().int().nonnegative(),
  }),
  perSource: z.record(z.string(), z.number().int().nonnegative()),
  /** read/kept/duplicate/rejected per source (rows that never parsed count under their file's name). */
  sources: z
    .record(
      z.string(),
      z.object({
        read: z.number().int().nonnegative(),
        kept: z.number().int().nonnegative(),
        duplicate: z.number().int().nonnegative(),
        rejected: z.number().int().nonnegative(),
      }),
    )
    .optional(),
  shards: z.array(PoolShard),
  rejected: FileRef.nullable(),
  createdAt: z.string(),
});
export type PoolManifest = z.infer<typeof PoolManifest>;

export const ModelRef = z.object({
  id: z.string(),
  /** sha256 of model.onnx (and its external data), so embeddings from another model are never mixed. */
  sha256: Sha256,
});
export type ModelRef = z.infer<typeof ModelRef>;

/** Settings that make two embedding files comparable; a shard with other settings is recomputed. */
export const EmbeddingSettings = z.object({
  model: ModelRef,
  pooling: Pooling,
  maxTokens: z.number().int().positive(),
  dtype: EmbeddingDtype,
  dims: z.number().int().positive(),
});
export type EmbeddingSettings = z.infer<typeof EmbeddingSettings>;

export const EmbeddingManifest = z.object({
  kind: z.literal('embeddings'),
  version: z.literal(1),
  settings: EmbeddingSettings,
  /** What was embedded: a pool shard or a query set, with its checksum. */
  input: FileRef,
  rows: z.number().int().nonnegative(),
  /** Example ids in row order. */
  ids: z.array(z.string()),
  /** Little-endian row-major matrix, rows x dims of settings.dtype. */
  matrix: FileRef,
  /** Tokens of the rows embedded here (rows read from the cache are not counted). */
  tokens: z.number().int().nonnegative(),
  /** Rows read from the embedding cache instead of embedded (absent: written before the cache existed). */
  cacheHits: z.number().int().nonnegative().optional(),
  createdAt: z.string(),
});
export type EmbeddingManifest = z.infer<typeof EmbeddingManifest>;

export const ScoresManifest = z.object({
  kind: z.literal('scores'),
  version: z.literal(1),
  task: z.string(),
  /** Per task: max/mean over the task's queries for every pool row; topk: per query top-K lists. */
  aggregate: z.enum(['max', 'mean', 'topk']),
  rows: z.number().int().nonnegative(),
  queries: z.number().int().nonnegative(),
  /** For topk: K per query (rows of the ids/scores matrices are queries). */
  k: z.number().int().nonnegative().optional(),
  files: z.array(FileRef),
  embeddingsFingerprint: Sha256,
  createdAt: z.string(),
});
export type ScoresManifest = z.infer<typeof ScoresManifest>;

export const SelectedRow = z.object({
  id: z.string(),
  rank: z.number().int().nonnegative(),
  task: z.string().nullable(),
  score: z.number().nullable(),
  source: z.string(),
  /** Index of the best-matching query in the task's query set, when known. */
  query: z.number().int().nonnegative().nullable().optional(),
});
export type SelectedRow = z.infer<typeof SelectedRow>;

export const SelectionSummary = z.object({
  kind: z.literal('selection'),
  version: z.literal(1),
  strategy: SelectionStrategy,
  /** Round-robin turn rule used (null for the other strategies; absent in summaries written before it existed). */
  turns: RoundRobinTurns.nullable().optional(),
  budget: z.number().int().positive(),
  selected: z.number().int().nonnegative(),
  poolRows: z.number().int().nonnegative(),
  seed: z.number().int(),
  perTask: z.record(z.string(), z.number().int().nonnegative()),
  perSource: z.record(z.string(), z.number().int().nonnegative()),
  /** Score quantiles of the selected rows per task: q0, q10, q25, q50, q75, q90, q100. */
  scoreQuantiles: z.record(z.string(), z.array(z.number())),
  warnings: z.array(z.string()),
  selection: FileRef,
  /** Tasks in the order the strategy visited them. */
  tasks: z.array(z.string()).optional(),
  minScore: z.number().nullable().optional(),
  sourceQuotas: z.record(z.string(), z.number()).nullable().optional(),
  /** The contamination report written with this selection (absent in runs before it existed) and its count. */
  contamination: FileRef.nullable().optional(),
  contaminated: z.number().int().nonnegative().optional(),
  excludeContaminated: z.boolean().optional(),
  /** sha256 over the settings above and the pool/score inputs: same fingerprint = same selection (skip). */
  fingerprint: Sha256.optional(),
  createdAt: z.string(),
});
export type SelectionSummary = z.infer<typeof SelectionSummary>;

/** One reason a pool row was flagged: a query/evaluation example it is a near-copy of. */
export const ContaminationMatch = z.object({
  kind: z.enum(['similarity', 'ngram']),
  /** Query set task or decontamination set name. */
  task: z.string(),
  /** Index of the example within its set (queries/<task>.jsonl line order) and its id. */
  query: z.number().int().nonnegative(),
  queryId: z.string(),
  /** similarity: the RDS+ score (cosine) of the pair. */
  score: z.number().optional(),
  /** ngram: the shared words (normalised: lower case, punctuation dropped). */
  ngram: z.string().optional(),
});
export type ContaminationMatch = z.infer<typeof ContaminationMatch>;

/** selection/contamination.json: pool rows that are near-copies of query or evaluation examples. */
export const ContaminationReport = z.object({
  kind: z.literal('contamination'),
  version: z.literal(1),
  settings: z.object({ minSimilarity: z.number().nullable(), ngram: z.number().int().nonnegative() }),
  /** The sets checked: query sets (steer the selection) and decontamination sets (only checked). */
  sets: z.array(
    z.object({ task: z.string(), role: z.enum(['query', 'evaluation']), examples: z.number().int().nonnegative() }),
  ),
  poolRows: z.number().int().nonnegative(),
  /** Pool rows flagged (each listed once in `rows`, with every set it matches). */
  flagged: z.number().int().nonnegative(),
  /** Whether the selection dropped them (selection.excludeContaminated). */
  excluded: z.boolean(),
  perSet: z.record(z.string(), z.number().int().nonnegative()),
  perSource: z.record(z.string(), z.number().int().nonnegative()),
  /** Flagged rows in pool order. */
  rows: z.array(
    z.object({
      row: z.number().int().nonnegative(),
      id: z.string(),
      source: z.string(),
      matches: z.array(ContaminationMatch).min(1),
    }),
  ),
  // No timestamp: the summary vouches for this file by checksum, so the same inputs must give the same bytes.
});
export type ContaminationReport = z.infer<typeof ContaminationReport>;

/** What a trigger did for one training file (the main selection's or a baseline's). */
export const ReceiptTrigger = z.object({
  kind: z.string(),
  idempotencyKey: z.string(),
  /** `failed`: the trigger was attempted and failed; a re-run tries it again (only success is final). */
  status: z.enum(['skipped', 'sent', 'started', 'signalled', 'rendered', 'ran', 'failed']),
  detail: z.string().optional(),
  /** Webhook: HTTP attempts made. */
  attempts: z.number().int().nonnegative().optional(),
  /** Command trigger: the rendered command, its exit code and the tail of its output. */
  command: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  outputTail: z.string().optional(),
});
export type ReceiptTrigger = z.infer<typeof ReceiptTrigger>;

const ReceiptCounts = z.object({
  perTask: z.record(z.string(), z.number().int().nonnegative()),
  perSource: z.record(z.string(), z.number().int().nonnegative()),
});

/** One matched baseline's training file as published, and its own trigger. */
export const BaselineReceipt = z.object({
  /** `<strategy>-seed<seed>`; also the directory under `baselines/`. */
  name: z.string(),
  strategy: BaselineStrategy,
  seed: z.number().int().nonnegative(),
  /** Path or s3:// URL of the training file. */
  dataset: z.string(),
  file: FileRef,
  rows: z.number().int().nonnegative(),
  counts: ReceiptCounts,
  trigger: ReceiptTrigger,
});
export type BaselineReceipt = z.infer<typeof BaselineReceipt>;

export const HandoffReceipt = z.object({
  kind: z.literal('receipt'),
  version: z.literal(1),
  runId: z.string(),
  /** Where the dataset was published (a directory or an s3:// URL). */
  location: z.string(),
  files: z.array(FileRef),
  rows: z.number().int().nonnegative(),
  trigger: ReceiptTrigger,
  /** Training-file format, the dataset file's sha256 and per-task / per-source row counts. */
  format: z.string().optional(),
  datasetSha256: Sha256.optional(),
  counts: ReceiptCounts.optional(),
  /** Matched baselines (handoff.baselines), each with its own trigger; absent when none were asked for. */
  baselines: z.array(BaselineReceipt).optional(),
  createdAt: z.string(),
});
export type HandoffReceipt = z.infer<typeof HandoffReceipt>;

// ---- handoff/card.json (written by @rds/handoff through @rds/artifacts handoff-files)

const PerSource = z.record(
  z.string(),
  z.object({ selected: z.number(), pool: z.number(), selectedPct: z.number(), poolPct: z.number() }),
);

/** One matched baseline (handoff.baselines): its file, how it was drawn, what it holds. */
export const CardBaseline = z.object({
  name: z.string(),
  strategy: z.enum(['random', 'balanced-random']),
  seed: z.number(),
  /** Path relative to the card's directory: baselines/<name>/<training file>. */
  dataset: FileRef.extend({
    format: z.string(),
    order: z.enum(['selection', 'shuffled']),
    includeMetadata: z.boolean(),
    rows: z.number().int().nonnegative(),
  }),
  counts: z.object({ perSource: PerSource }),
  /** The fine-tuning command rendered for this file (command trigger). */
  command: z.string().optional(),
});
export type CardBaseline = z.infer<typeof CardBaseline>;

/** card.json: everything needed to trust, compare and reproduce the dataset. */
export const DatasetCard = z.object({
  kind: z.literal('dataset-card'),
  version: z.literal(1),
  runId: z.string(),
  /** sha256 over the inputs (selection, pool) and handoff settings: same fingerprint = same files. */
  fingerprint: z.string(),
  dataset: FileRef.extend({
    format: z.string(),
    order: z.enum(['selection', 'shuffled']),
    includeMetadata: z.boolean(),
    rows: z.number().int().nonnegative(),
  }),
  /** The other files published beside the dataset (the histogram). */
  files: z.array(FileRef),
  selection: z.object({
    strategy: z.string(),
    /** Round-robin turn rule (null for other strategies and for selections made before it was recorded). */
    turns: z.string().nullable().default(null),
    budget: z.number(),
    seed: z.number(),
    selected: z.number(),
    poolRows: z.number(),
    selectionSha256: z.string(),
    fingerprint: z.string().nullable(),
    warnings: z.array(z.string()),
  }),
  pool: z.object({
    fingerprint: z.string(),
    rows: z.number(),
    shards: z.array(z.object({ file: z.string(), rows: z.number(), sha256: z.string() })),
  }),
  model: ModelRef.nullable(),
  /** Pool rows embedded, and how many were read from the embedding cache (absent on cards written before it). */
  embedding: z.object({ poolRows: z.number(), fromCache: z.number() }).optional(),
  counts: z.object({
    perTask: z.record(z.string(), z.number()),
    /** Selected vs pool rows per source, with shares in percent. */
    perSource: PerSource,
  }),
  quantileLevels: z.array(z.number()),
  scoreQuantiles: z.record(z.string(), z.array(z.number())),
  histogram: z.object({
    file: z.string(),
    bins: z.number(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    counts: z.record(z.string(), z.array(z.number())),
  }),
  trigger: z.object({ kind: z.string(), command: z.string().optional() }),
  /**
   * The contamination check (selection/contamination.json): rows of the pool that are near-copies of
   * query or evaluation examples, whether the selection dropped them, and the first few with their match.
   * Null for runs made before the check existed.
   */
  contamination: z
    .object({
      flagged: z.number(),
      excluded: z.boolean(),
      /** Flagged rows that are in this dataset (0 when excluded). */
      inDataset: z.number(),
      minSimilarity: z.number().nullable(),
      ngram: z.number(),
      sets: z.array(z.object({ task: z.string(), role: z.string(), examples: z.number(), flagged: z.number() })),
      examples: z.array(z.object({ id: z.string(), source: z.string(), matches: z.array(ContaminationMatch) })),
    })
    .nullable()
    .default(null),
  /** Matched random baselines, each the size of the selection (empty unless handoff.baselines is set). */
  baselines: z.array(CardBaseline).default([]),
  reproduce: z.string(),
  config: z.unknown().nullable(),
  createdAt: z.string(),
});
export type DatasetCard = z.infer<typeof DatasetCard>;
