import { z } from 'zod';
import { ExecutionProvider } from './config.js';

// The compute plan `rds plan` prints and POST /v1/plan returns: what a run will cost before it
// embeds anything. Every figure that rests on an assumption says so in `estimate` / `source`.

const Count = z.number().int().nonnegative();

export const GpuEstimate = z.strictObject({
  name: z.string(),
  /** Dense bf16/fp16 tensor-core peak, FLOP/s (vendor datasheet). */
  peakFlops: z.number().positive(),
  /** Fraction of the peak an embedding run reaches. */
  utilisation: z.number().positive().max(1),
  /** `measured`: recorded by bench:embed on that provider; `assumed`: the default, not measured. */
  utilisationSource: z.enum(['measured', 'assumed']),
  seconds: z.number().nonnegative(),
});
export type GpuEstimate = z.infer<typeof GpuEstimate>;

export const ComputePlan = z.strictObject({
  kind: z.literal('plan'),
  version: z.literal(1),
  pool: z.strictObject({ files: Count, bytes: Count, read: Count, rows: Count, duplicate: Count, rejected: Count }),
  queries: z.array(z.strictObject({ task: z.string(), rows: Count, tokens: Count })),
  tokens: z.strictObject({
    /** Pool tokens the encoder will run (after truncation to maxTokens); extrapolated when sampled. */
    pool: Count,
    queries: Count,
    maxTokens: Count,
    /** Pool rows tokenised to get `pool` (all rows unless sampled). */
    sampledRows: Count,
    sampled: z.boolean(),
    /** Pool rows longer than maxTokens (extrapolated when sampled). */
    truncatedRows: Count,
    meanPerRow: z.number().nonnegative(),
  }),
  model: z.strictObject({
    id: z.string(),
    sha256: z.string(),
    hiddenSize: Count,
    layers: Count,
    /** Weights every token is multiplied through (attention projections + MLP of every layer). */
    matmulParams: Count,
  }),
  flops: z.strictObject({
    pool: z.number().nonnegative(),
    queries: z.number().nonnegative(),
    attentionShare: z.number().min(0).max(1),
  }),
  calibration: z
    .strictObject({
      provider: ExecutionProvider,
      rows: Count,
      tokens: Count,
      seconds: z.number().nonnegative(),
      flopsPerSecond: z.number().nonnegative(),
    })
    .nullable(),
  time: z.strictObject({
    /** Embedding on this machine at the calibrated rate (null without calibration). */
    thisMachineSeconds: z.number().nonnegative().nullable(),
    gpus: z.array(GpuEstimate),
  }),
  disk: z.strictObject({ embeddings: Count, scores: Count, topk: Count }),
  memory: z.strictObject({ embed: Count, score: Count, select: Count }),
  notes: z.array(z.string()),
});
export type ComputePlan = z.infer<typeof ComputePlan>;

/** Options of a plan (CLI flags, API body): how many pool rows to tokenise, how long to calibrate. */
export const PlanSettings = z.strictObject({
  /** Pool rows tokenised at most; a larger pool is sampled uniformly and the counts extrapolated. */
  sampleRows: z.number().int().positive().max(1_000_000).default(20_000),
  /** Tokens embedded to measure this machine's speed; 0 skips it. */
  calibrateTokens: z.number().int().nonnegative().max(65_536).default(1024),
});
export type PlanSettings = z.infer<typeof PlanSettings>;
