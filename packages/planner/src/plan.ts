import fs from 'node:fs';
import path from 'node:path';
import { batchLimits, embedSequences, getModel, renderTulu, type LoadedModel } from '@rds/encoder';
import { scanPool } from '@rds/pool';
import { aggregatesForRun, ComputePlan, type Message, type PoolConfig, type RunConfig } from '@rds/schemas';
import { forwardFlops, matmulParams, modelShape, type ModelShape } from './flops.js';
import { ASSUMED_GPU_UTILISATION, GPU_CLASSES, readCalibration } from './gpus.js';
import { BottomKSample } from './sample.js';

export interface PlanOptions {
  /** Pool rows tokenised at most; a larger pool is sampled (uniformly, by content hash) and extrapolated. */
  sampleRows?: number;
  /** Tokens embedded to measure this machine's speed; 0 skips the calibration (no local time estimate). */
  calibrateTokens?: number;
  /** Directory relative paths in the config are resolved against. */
  cwd?: string;
  signal?: AbortSignal;
  /** Progress lines ("scanning the pool: …"). */
  log?: (message: string) => void;
  /** Where bench:embed's recorded GPU utilisation is looked up (default: the cache directory). */
  cacheDir?: string;
}

export const DEFAULT_SAMPLE_ROWS = 20_000;
export const DEFAULT_CALIBRATE_TOKENS = 1024;

/** Token statistics of a set of rows as the encoder will run them. */
interface Lengths {
  rows: number;
  tokens: number;
  squares: number;
  truncated: number;
}

function measure(model: LoadedModel, conversations: readonly (readonly Message[])[], maxTokens: number): Lengths {
  const out: Lengths = { rows: conversations.length, tokens: 0, squares: 0, truncated: 0 };
  for (const m of conversations) {
    // The encoder's exact tokenisation (tokenizeMessages), keeping the untruncated length too.
    const n = model.tokenizer.encode(renderTulu(m, model.eos)).ids.length;
    const t = Math.min(n, maxTokens);
    out.tokens += t;
    out.squares += t * t;
    if (n > maxTokens) out.truncated++;
  }
  return out;
}

/** Bytes of the model's weights on disk (what a session holds in memory, about). */
function weightBytes(dir: string): number {
  let n = 0;
  for (const f of ['model.onnx', 'model.onnx_data', 'model.onnx.data'])
    n += fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0;
  return n;
}

/**
 * Embed about `budget` tokens of sampled rows with the run's own model and batch limits and return
 * the FLOP rate reached. Rows are taken at a stride through the sample so that every file and
 * length is represented; one short warm-up batch runs first (the first run allocates).
 */
async function calibrate(
  model: LoadedModel,
  shape: ModelShape,
  sample: readonly (readonly Message[])[],
  config: RunConfig,
  budget: number,
) {
  const stride = Math.max(1, Math.floor(sample.length / 64));
  const seqs: number[][] = [];
  let tokens = 0;
  for (let i = 0; i < sample.length && tokens < budget; i += stride) {
    const ids = model.tokenizer
      .encode(renderTulu(sample[i]!, model.eos))
      .ids.slice(0, Math.min(config.model.maxTokens, budget));
    seqs.push(ids);
    tokens += ids.length;
  }
  const limits = batchLimits(model.provider, config.model);
  const opts = { pooling: config.model.pooling, ...limits };
  await embedSequences(model, [seqs[0]!.slice(0, 8)], opts);
  const t0 = performance.now();
  await embedSequences(model, seqs, opts);
  const seconds = (performance.now() - t0) / 1000;
  const squares = seqs.reduce((a, s) => a + s.length * s.length, 0);
  return {
    provider: model.provider,
    rows: seqs.length,
    tokens,
    seconds,
    flopsPerSecond: forwardFlops(shape, tokens, squares).total / seconds,
  };
}

/**
 * What a run of `config` will cost before anything is embedded: rows and tokens exactly as ingest
 * and the encoder will see them (validation, dedup, Tulu rendering, truncation), FLOPs from the
 * model's config.json, time here (from a short calibration run) and on GPU classes, disk and memory.
 * Writes nothing.
 */
export async function planRun(config: RunConfig, options: PlanOptions = {}): Promise<ComputePlan> {
  const log = options.log ?? (() => undefined);
  const sampleRows = options.sampleRows ?? DEFAULT_SAMPLE_ROWS;
  const calibrateTokens = options.calibrateTokens ?? DEFAULT_CALIBRATE_TOKENS;
  const maxTokens = config.model.maxTokens;
  const model = await getModel(config.model.dir, {
    id: config.model.id,
    executionProvider: config.model.executionProvider,
    threads: config.model.threads,
    roots: config.model.roots,
    log,
  });
  const shape = modelShape(model.config, model.hiddenSize);

  log(`scanning the pool (${config.pool.inputs.join(', ')})`);
  const sample = new BottomKSample<Message[]>(sampleRows);
  const counts = await scanPool(config.pool, {
    cwd: options.cwd,
    signal: options.signal,
    onRow: (r) => sample.add(r.key, r.messages),
  });
  const sampled = sample.values();
  log(`tokenising ${sample.complete ? 'all' : `a sample of ${sampled.length} of`} ${counts.kept} rows`);
  const measured = measure(model, sampled, maxTokens);
  const scale = sampled.length > 0 ? counts.kept / sampled.length : 0;
  const pool = {
    tokens: Math.round(measured.tokens * scale),
    squares: measured.squares * scale,
    truncated: Math.round(measured.truncated * scale),
  };

  const queries: ComputePlan['queries'] = [];
  let queryTokens = 0;
  let querySquares = 0;
  let queryRows = 0;
  // Decontamination sets are embedded and scored like query sets (listed under their name).
  const sets = [
    ...config.queries,
    ...(config.decontaminate ?? []).map((d) => ({ task: d.name, path: d.path, format: d.format })),
  ];
  for (const q of sets) {
    const rows: Message[][] = [];
    const qpool: PoolConfig = {
      inputs: [q.path],
      format: q.format,
      shardSize: config.pool.shardSize,
      maxRowBytes: config.pool.maxRowBytes,
      roots: config.pool.roots,
    };
    await scanPool(qpool, {
      cwd: options.cwd,
      signal: options.signal,
      dedup: false,
      onRow: (r) => rows.push(r.messages),
    });
    const l = measure(model, rows, maxTokens);
    queries.push({ task: q.task, rows: l.rows, tokens: l.tokens });
    queryTokens += l.tokens;
    querySquares += l.squares;
    queryRows += l.rows;
  }

  const poolFlops = forwardFlops(shape, pool.tokens, pool.squares);
  const queryFlops = forwardFlops(shape, queryTokens, querySquares);
  const totalFlops = poolFlops.total + queryFlops.total;

  let calibration: ComputePlan['calibration'] = null;
  if (calibrateTokens > 0 && sampled.length > 0) {
    log(`calibrating: embedding about ${calibrateTokens} tokens on ${model.provider}`);
    calibration = await calibrate(model, shape, sampled, config, calibrateTokens);
  }

  const recorded = readCalibration('cuda', options.cacheDir);
  const utilisation = recorded?.fractionOfPeak ?? ASSUMED_GPU_UTILISATION;
  const gpus = GPU_CLASSES.map((g) => ({
    name: g.name,
    peakFlops: g.peakFlops,
    utilisation,
    utilisationSource: recorded ? ('measured' as const) : ('assumed' as const),
    seconds: totalFlops / (g.peakFlops * utilisation),
  }));

  // Disk: embedding shards (pool + queries) in the configured dtype; per task one float32 per pool
  // row for each vector aggregate the strategy reads; per query K (id, score) pairs for top-K lists.
  const H = model.hiddenSize;
  const aggregates = aggregatesForRun(config);
  const tasks = sets.length;
  const vectorAggregates = aggregates.filter((a) => a !== 'topk').length;
  const topkBytes = aggregates.includes('topk') ? queryRows * Math.min(config.scoring.topK, counts.kept) * 8 : 0;
  const dtypeBytes = config.model.dtype === 'float16' ? 2 : 4;
  const limits = batchLimits(model.provider, config.model);
  const longest = Math.min(maxTokens, limits.batchTokens);
  // Memory: the weights, plus one batch's activations (a few [tokens, max(H, F)] float32 tensors and
  // the [rows, heads, T, T] attention scores, rows x T <= batchTokens).
  const embedMemory =
    weightBytes(model.dir) + limits.batchTokens * 4 * (4 * Math.max(H, shape.intermediateSize) + shape.heads * longest);
  const scoreMemory = Math.min(config.scoring.blockRows, counts.kept) * (H + queryRows) * 4 + topkBytes;
  const selectMemory = counts.kept * (4 * tasks + 8);

  const notes = [
    sample.complete
      ? `tokens counted exactly on all ${counts.kept} pool rows`
      : `tokens extrapolated from a uniform sample of ${sampled.length} of ${counts.kept} pool rows (--sample-rows to change)`,
    'FLOPs: 2 x matmul weights per token plus attention (4 x T x hidden per token and layer); embeddings lookups and norms left out',
    calibration
      ? `time here: ${calibration.tokens} tokens embedded with the run's batch limits, extrapolated by FLOPs; tokenisation and I/O not included`
      : 'no calibration run (time here not estimated)',
    recorded
      ? `GPU utilisation ${(utilisation * 100).toFixed(0)}% measured by bench:embed on cuda (${recorded.model}, ${recorded.measuredAt})`
      : `GPU times are estimates: an assumed ${(utilisation * 100).toFixed(0)}% of the datasheet peak (run bench:embed on a GPU to record a measured one)`,
    'for scale (paper, App. C): embedding 4.78M rows with Llama-2-7B took 87 H100-hours',
    'memory figures are estimates (weights + one batch; one score block; score vectors for selection)',
  ];

  return ComputePlan.parse({
    kind: 'plan',
    version: 1,
    pool: {
      files: counts.files,
      bytes: counts.bytes,
      read: counts.read,
      rows: counts.kept,
      duplicate: counts.duplicate,
      rejected: counts.rejected,
    },
    queries,
    tokens: {
      pool: pool.tokens,
      queries: queryTokens,
      maxTokens,
      sampledRows: sampled.length,
      sampled: !sample.complete,
      truncatedRows: pool.truncated,
      meanPerRow: counts.kept > 0 ? pool.tokens / counts.kept : 0,
    },
    model: {
      id: model.ref.id,
      sha256: model.ref.sha256,
      hiddenSize: H,
      layers: shape.layers,
      matmulParams: matmulParams(shape),
    },
    flops: {
      pool: poolFlops.total,
      queries: queryFlops.total,
      attentionShare: totalFlops > 0 ? (poolFlops.attention + queryFlops.attention) / totalFlops : 0,
    },
    calibration,
    time: { thisMachineSeconds: calibration ? totalFlops / calibration.flopsPerSecond : null, gpus },
    disk: {
      embeddings: (counts.kept + queryRows) * H * dtypeBytes,
      scores: vectorAggregates * tasks * counts.kept * 4,
      topk: topkBytes,
    },
    memory: { embed: Math.round(embedMemory), score: scoreMemory, select: selectMemory },
    notes,
  } satisfies ComputePlan);
}
