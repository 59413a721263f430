import ort from 'onnxruntime-node';
import { float16ToFloat32, type RawMatrix } from '@rds/artifacts';
import { DataType, encodeModel, type NodeSpec, type ValueSpec } from '@rds/encoder';
import { cpuThreads } from '@rds/common';
import type { EmbeddingDtype } from '@rds/schemas';
import { VectorIndex } from './faiss.js';
import { loadFusedKernel, type FusedAddon, type NativeScorer } from './fused-kernel.js';
import { fixTieOrder, selectTopK, type RunningTopK } from './topk.js';

export type EngineName = 'faiss' | 'blocked' | 'fused' | 'js';
export const ENGINES: EngineName[] = ['faiss', 'blocked', 'fused', 'js'];

/** All queries of the tasks being scored, task after task (rows of `data`, unit vectors). */
export interface QuerySet {
  dims: number;
  /** nQueries x dims, row-major. */
  data: Float32Array;
  tasks: { task: string; start: number; count: number }[];
}

export function queryCount(q: QuerySet): number {
  return q.data.length / q.dims;
}

export interface ScoreWanted {
  /** Per-task max and mean over the task's queries for every row. */
  vectors: boolean;
  /** Per-query top-K lists (0: none). */
  topK: number;
}

/** One block's scores: per-task vectors (length rows) and per-query lists (queries x kb, block-local ids). */
export interface BlockScores {
  rows: number;
  max: Float32Array[];
  mean: Float32Array[];
  kb: number;
  topIds: Int32Array;
  topScores: Float32Array;
}

export interface ScoreEngine {
  readonly name: EngineName;
  /**
   * Scores of `rows` pool rows (float32, or float16 bits as stored). `kb` caps the per-query lists
   * of this block (default: the wanted top-K); the caller picks a smaller one when it knows a
   * block cannot contribute more (see BlockDepth). `floors` (per query, see RunningTopK.bars):
   * list entries scoring below a query's floor are of no use to the caller, and an engine may put
   * any score below the floor in their place (the blocked engine does, to make its TopK cheaper).
   */
  score(block: RawMatrix, rows: number, kb?: number, floors?: Float32Array): Promise<BlockScores>;
  /**
   * Optional: score a block (rows from global `rowOffset`) and merge it into `running` itself,
   * exactly as RunningTopK.merge would merge its full-depth lists; returns the block's vectors
   * (no lists; an engine may reuse their memory at its next scoreInto) and the most entries one
   * query took. BlockDepth uses it when present. Part of the merge may wait for later blocks:
   * `running` is complete only after settle().
   */
  scoreInto?(
    block: RawMatrix,
    rows: number,
    rowOffset: number,
    running: RunningTopK,
  ): Promise<{ out: BlockScores; taken: number }>;
  /** With scoreInto: finish merging everything scored so far into `running` (before reading it). */
  settle?(running: RunningTopK): void;
  close(): Promise<void>;
}

/** The block as float32 values (engines other than 'blocked' cannot take float16). */
function asFloat32(block: RawMatrix, rows: number, d: number): Float32Array {
  const raw = block.subarray(0, rows * d);
  return raw instanceof Float32Array ? raw : float16ToFloat32(raw);
}

function blockK(wanted: ScoreWanted, rows: number, kb: number | undefined): number {
  return wanted.topK > 0 ? Math.min(kb ?? wanted.topK, wanted.topK, rows) : 0;
}

/** `poolDtype`: what the blocks will mostly be (the blocked engine prepares that session up front). */
export async function createEngine(
  name: EngineName,
  queries: QuerySet,
  wanted: ScoreWanted,
  poolDtype: EmbeddingDtype = 'float32',
): Promise<ScoreEngine> {
  if (name === 'faiss') return new FaissEngine(queries, wanted);
  if (name === 'blocked') return OnnxBlockedEngine.create(queries, wanted, poolDtype);
  if (name === 'fused') return FusedEngine.create(queries, wanted);
  return new JsEngine(queries, wanted);
}

/**
 * What `engine: 'auto'` means: the fused native kernel (GEMM and reductions in one pass; in
 * bench:score ~1.4x the blocked onnxruntime GEMM, ~20x faiss), or the blocked engine when the
 * kernel is not built, said in the log. Fixed per installation rather than timed per run: a
 * timed choice could switch engines between runs, and engines differ in the last float bits, so a
 * resumed run could rank near-ties differently (a resume keeps its checkpoint's engine).
 */
export function autoEngine(log: (message: string) => void = () => {}, addonPath?: string): EngineName {
  const fused = loadFusedKernel(addonPath);
  if ('error' in fused) {
    log(`scoring engine: ${fused.error} Using the blocked onnxruntime engine instead.`);
    return 'blocked';
  }
  // An x86 CPU without AVX2/FMA (before 2013) gets the portable code, whose exact FMA chains
  // are library calls there (2 GFLOP/s here against 417 with AVX-512); on ARM they are NEON.
  if (fused.addon.kernel() === 'portable' && process.arch === 'x64') {
    log(
      'scoring engine: this CPU has no AVX2/FMA, where the fused kernel is slow; using the blocked onnxruntime engine.',
    );
    return 'blocked';
  }
  return 'fused';
}

/** The largest float32 below `x` (-Infinity stays -Infinity). */
export function floatBelow(x: number): number {
  if (!Number.isFinite(x)) return x;
  f32[0] = x;
  if (f32[0] === 0) return -1.401298464324817e-45; // below +0 and -0: the smallest negative subnormal
  i32[0] = f32[0]! > 0 ? i32[0]! - 1 : i32[0]! + 1;
  return f32[0]!;
}
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

const EMPTY_I32 = new Int32Array(0);
const EMPTY_F32 = new Float32Array(0);

/** (1) faiss: each task's queries in an IndexFlatIP searched by the block with k = its queries (all scores, sorted). */
class FaissEngine implements ScoreEngine {
  readonly name = 'faiss' as const;
  private readonly taskIndexes: VectorIndex[];

  constructor(
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
  ) {
    this.taskIndexes = wanted.vectors
      ? queries.tasks.map((t) => {
          const ix = VectorIndex.flat(queries.dims);
          ix.add(queries.data.subarray(t.start * queries.dims, (t.start + t.count) * queries.dims));
          return ix;
        })
      : [];
  }

  score(block: RawMatrix, rows: number, kbWanted?: number): Promise<BlockScores> {
    const d = this.queries.dims;
    const x = asFloat32(block, rows, d);
    const max: Float32Array[] = [];
    const mean: Float32Array[] = [];
    this.taskIndexes.forEach((ix, t) => {
      const nq = this.queries.tasks[t]!.count;
      const { distances } = ix.search(x, nq);
      const mx = new Float32Array(rows);
      const mn = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        mx[r] = distances[r * nq]!;
        let s = 0;
        for (let j = r * nq; j < (r + 1) * nq; j++) s += distances[j]!;
        mn[r] = s / nq;
      }
      max.push(mx);
      mean.push(mn);
    });
    let kb = 0;
    let topIds: Int32Array = EMPTY_I32;
    let topScores: Float32Array = EMPTY_F32;
    if (this.wanted.topK > 0) {
      // Per-query lists: the block in an index of its own, searched by every query.
      kb = blockK(this.wanted, rows, kbWanted);
      const blockIndex = VectorIndex.flat(d);
      blockIndex.add(x);
      const res = blockIndex.search(this.queries.data, kb);
      topIds = res.labels;
      topScores = res.distances;
      for (let q = 0; q < queryCount(this.queries); q++) fixTieOrder(topIds, topScores, q * kb, kb);
    }
    return Promise.resolve({ rows, max, mean, kb, topIds, topScores });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * (2) blocked GEMM in onnxruntime (MLAS): S = Q · Pᵀ ([queries + tasks, rows]) with the queries
 * as a constant, then per task ReduceMax over its query rows and TopK along rows, all inside one
 * graph so the [queries, rows] matrix never leaves onnxruntime (copying it out costs more than the
 * GEMM). float16 blocks go in as stored and are cast in the graph (no decode in JS).
 */
class OnnxBlockedEngine implements ScoreEngine {
  readonly name = 'blocked' as const;
  /** One session per input dtype, made on first use (a run reads one dtype; tests feed float32). */
  private readonly sessions = new Map<EmbeddingDtype, Promise<ort.InferenceSession>>();

  /** Rows of S that get top-K lists: the queries, then the task means (lists not wanted). */
  private readonly listCount: number;
  private readonly noFloors: Float32Array;
  private readonly masks: Float32Array;

  private constructor(
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
  ) {
    this.listCount = queryCount(queries) + (wanted.vectors ? queries.tasks.length : 0);
    this.noFloors = new Float32Array(this.listCount).fill(-Infinity);
    this.masks = new Float32Array(this.listCount);
  }

  /**
   * The graph's TopK reads max(score, mask): with the mask just below a query's floor, every
   * score under the floor ties at the mask and TopK's heap stops taking them in (most rows of a
   * block), which made TopK ~3x cheaper at the depths scoring asks for. A score exactly at the floor
   * stays above the mask, so callers can tell real entries (>= floor) from masked ones (< floor).
   */
  private maskValues(floors: Float32Array | undefined): Float32Array {
    if (!floors) return this.noFloors;
    const nq = queryCount(this.queries);
    for (let q = 0; q < this.listCount; q++) this.masks[q] = q < nq ? floatBelow(floors[q]!) : -Infinity;
    return this.masks;
  }

  static async create(queries: QuerySet, wanted: ScoreWanted, poolDtype: EmbeddingDtype): Promise<OnnxBlockedEngine> {
    const engine = new OnnxBlockedEngine(queries, wanted);
    await engine.session(poolDtype); // fail at creation, not mid-run, if the graph is refused
    return engine;
  }

  private session(dtype: EmbeddingDtype): Promise<ort.InferenceSession> {
    let s = this.sessions.get(dtype);
    if (!s) {
      // No memory pattern: it is planned per set of output shapes, and the top-K depth (an output
      // dimension) changes from block to block; re-planning cost ~1 s on the second block.
      s = ort.InferenceSession.create(scoringGraph(this.queries, this.wanted, dtype), {
        graphOptimizationLevel: 'all',
        enableMemPattern: false,
        intraOpNumThreads: cpuThreads(),
        logSeverityLevel: 3,
      });
      this.sessions.set(dtype, s);
    }
    return s;
  }

  async score(block: RawMatrix, rows: number, kbWanted?: number, floors?: Float32Array): Promise<BlockScores> {
    const d = this.queries.dims;
    const nq = queryCount(this.queries);
    const dtype = block instanceof Float32Array ? 'float32' : 'float16';
    const feeds: Record<string, ort.Tensor> = { pool: new ort.Tensor(dtype, block.subarray(0, rows * d), [rows, d]) };
    const kb = blockK(this.wanted, rows, kbWanted);
    if (this.wanted.topK > 0) {
      feeds.k = new ort.Tensor('int64', BigInt64Array.of(BigInt(kb)), [1]);
      feeds.floor = new ort.Tensor('float32', this.maskValues(floors), [this.listCount, 1]);
    }
    const out = await (await this.session(dtype)).run(feeds);
    const max: Float32Array[] = [];
    const mean: Float32Array[] = [];
    if (this.wanted.vectors) {
      const maxes = out.maxes!.data as Float32Array;
      const means = out.means!.data as Float32Array;
      this.queries.tasks.forEach((_, t) => {
        max.push(maxes.subarray(t * rows, (t + 1) * rows));
        mean.push(means.subarray(t * rows, (t + 1) * rows));
      });
    }
    let topIds: Int32Array = EMPTY_I32;
    let topScores: Float32Array = EMPTY_F32;
    if (kb > 0) {
      // The lists of the task-mean rows at the end of S are not wanted.
      topScores = (out.top_scores!.data as Float32Array).subarray(0, nq * kb);
      topIds = (out.top_ids!.data as Int32Array).subarray(0, nq * kb); // cast to int32 in the graph
      // onnxruntime's TopK already puts the lower index first on ties; keep the invariant explicit.
      for (let q = 0; q < nq; q++) fixTieOrder(topIds, topScores, q * kb, kb);
    }
    return { rows, max, mean, kb, topIds, topScores };
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

/**
 * The ONNX model behind OnnxBlockedEngine. Inputs: pool [rows, d] (float32, or float16 cast in
 * the graph), k [1], floor [lists, 1] (see maskValues). The constant Q holds the queries and, when
 * per-task vectors are wanted, one more row per task: the mean of its queries, so
 * mean_t = (mean q)·p comes out of the same GEMM instead of a reduction over the task's rows. Outputs: maxes [tasks, rows], means [tasks, rows],
 * top_scores / top_ids (int32) [queries (+ tasks), kb].
 */
export function scoringGraph(
  queries: QuerySet,
  wanted: ScoreWanted,
  poolDtype: EmbeddingDtype = 'float32',
): Uint8Array {
  const nq = queryCount(queries);
  const d = queries.dims;
  const nTasks = queries.tasks.length;
  const nodes: NodeSpec[] = [];
  const outputs: ValueSpec[] = [];
  const i64 = (v: number[]) => BigInt64Array.from(v.map((x) => BigInt(x)));
  const q = new Float32Array((nq + (wanted.vectors ? nTasks : 0)) * d);
  q.set(queries.data.subarray(0, nq * d));
  if (wanted.vectors) queries.tasks.forEach((t, i) => q.set(taskMean(queries, t.start, t.count), (nq + i) * d));
  const initializers: { name: string; dims: number[]; type: number; data: Float32Array | BigInt64Array }[] = [
    { name: 'queries', dims: [q.length / d, d], type: DataType.FLOAT, data: q },
    { name: 'axis0', dims: [1], type: DataType.INT64, data: i64([0]) },
  ];
  const slice = (name: string, from: number, to: number) => {
    initializers.push(
      { name: `${name}_from`, dims: [1], type: DataType.INT64, data: i64([from]) },
      { name: `${name}_to`, dims: [1], type: DataType.INT64, data: i64([to]) },
    );
    nodes.push({ op: 'Slice', inputs: ['sim', `${name}_from`, `${name}_to`, 'axis0'], outputs: [name] });
  };
  const inputs: ValueSpec[] = [
    { name: 'pool', type: poolDtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT, shape: ['rows', d] },
  ];
  if (poolDtype === 'float16')
    nodes.push({ op: 'Cast', inputs: ['pool'], outputs: ['pool32'], attrs: { to: DataType.FLOAT } });
  nodes.push({
    op: 'Gemm',
    inputs: ['queries', poolDtype === 'float16' ? 'pool32' : 'pool'],
    outputs: ['sim'],
    attrs: { transB: 1 },
  });
  if (wanted.vectors) {
    // One [tasks, rows] output rather than one per task: each output costs a copy and a JS buffer per run.
    queries.tasks.forEach((t, i) => {
      slice(`sim_${i}`, t.start, t.start + t.count);
      nodes.push({ op: 'ReduceMax', inputs: [`sim_${i}`], outputs: [`max_${i}`], attrs: { axes: [0], keepdims: 1 } });
    });
    nodes.push({
      op: 'Concat',
      inputs: queries.tasks.map((_, i) => `max_${i}`),
      outputs: ['maxes'],
      attrs: { axis: 0 },
    });
    outputs.push({ name: 'maxes', type: DataType.FLOAT, shape: [nTasks, 'rows'] });
    slice('means', nq, nq + nTasks);
    outputs.push({ name: 'means', type: DataType.FLOAT, shape: [nTasks, 'rows'] });
  }
  if (wanted.topK > 0) {
    inputs.push(
      { name: 'k', type: DataType.INT64, shape: [1] },
      { name: 'floor', type: DataType.FLOAT, shape: [q.length / d, 1] },
    );
    nodes.push({ op: 'Max', inputs: ['sim', 'floor'], outputs: ['sim_floored'] });
    nodes.push({
      op: 'TopK',
      inputs: ['sim_floored', 'k'],
      outputs: ['top_scores', 'top_ids64'],
      attrs: { axis: 1, largest: 1, sorted: 1 },
    });
    // Row ids fit int32: half the bytes out, and no BigInt conversion in JS.
    nodes.push({ op: 'Cast', inputs: ['top_ids64'], outputs: ['top_ids'], attrs: { to: DataType.INT32 } });
    outputs.push(
      { name: 'top_scores', type: DataType.FLOAT, shape: ['lists', 'kb'] },
      { name: 'top_ids', type: DataType.INT32, shape: ['lists', 'kb'] },
    );
  }
  if (outputs.length === 0) throw new Error('scoring graph: nothing to compute (no vectors, no top-K)');
  return encodeModel({ name: 'rds-scoring', nodes, initializers: initializers as never, inputs, outputs, opset: 17 });
}

/** Per-task max and mean of a block's rows, tasks x rows each. */
interface TaskVectors {
  max: Float32Array;
  mean: Float32Array;
}

/**
 * (4) fused native kernel (native/fused-kernel.cc): per tile of 252 rows, its own GEMM, then,
 * while the tile's scores are in cache, the per-task max / mean and the rows that reach each
 * query's bar, merged into the running lists in place. Each core takes a share of the block's
 * rows, then a share of the queries for the merge. Bit-identical results on every CPU.
 */
export class FusedEngine implements ScoreEngine {
  readonly name = 'fused' as const;
  private readonly scorer: NativeScorer;
  private readonly nq: number;
  private readonly noFloors: Float32Array;
  /** scoreInto's per-task vectors (tasks x rows), reused from block to block (see scoreInto). */
  private maxOut = new Float32Array(0);
  private meanOut = new Float32Array(0);

  private constructor(
    addon: FusedAddon,
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
    readonly threads: number,
  ) {
    const d = queries.dims;
    this.nq = queryCount(queries);
    const nTasks = queries.tasks.length;
    // As in the blocked engine's graph: one more row per task, the mean of its queries, so the
    // task's mean score comes out of the same GEMM.
    const q = new Float32Array((this.nq + (wanted.vectors ? nTasks : 0)) * d);
    q.set(queries.data.subarray(0, this.nq * d));
    if (wanted.vectors) queries.tasks.forEach((t, i) => q.set(taskMean(queries, t.start, t.count), (this.nq + i) * d));
    const starts = Int32Array.from([...queries.tasks.map((t) => t.start), this.nq]);
    this.scorer = new addon.FusedScorer(q, d, this.nq, starts, wanted.vectors, threads);
    this.noFloors = new Float32Array(this.nq).fill(-Infinity);
  }

  /** Throws with the reason when the kernel is not built. */
  static create(queries: QuerySet, wanted: ScoreWanted, threads = cpuThreads()): FusedEngine {
    const k = loadFusedKernel();
    if ('error' in k) throw new Error(k.error);
    queries.tasks.forEach((t, i) => {
      const next = queries.tasks[i + 1]?.start ?? queryCount(queries);
      if (t.start + t.count !== next)
        throw new RangeError(`fused engine: task "${t.task}" queries must be contiguous and in order`);
    });
    return new FusedEngine(k.addon, queries, wanted, threads);
  }

  /** The micro-kernel this CPU gets (avx512, avx2, portable), or null when the addon is not built. */
  static kernel(): string | null {
    const k = loadFusedKernel();
    return 'addon' in k ? k.addon.kernel() : null;
  }

  async score(block: RawMatrix, rows: number, kb?: number, floors?: Float32Array): Promise<BlockScores> {
    const k = blockK(this.wanted, rows, kb);
    const ids = new Int32Array(this.nq * k).fill(-1);
    const scores = new Float32Array(this.nq * k).fill(-Infinity);
    // Fresh lists with the floors as their entry bar: exactly the block's entries >= floor.
    const cells = this.wanted.vectors ? this.queries.tasks.length * rows : 0;
    const vectors = { max: new Float32Array(cells), mean: new Float32Array(cells) };
    await this.run(block, rows, 0, k, ids, scores, floors ?? this.noFloors, true, vectors);
    return { ...this.vectors(rows, vectors), kb: k, topIds: ids, topScores: scores };
  }

  /**
   * Score a block and merge it straight into `running` (no per-block lists); see settle(). The
   * vectors returned are valid until the next scoreInto: one buffer serves every block (a fresh
   * 0.9 MB per block cost ~0.2 s per 1M rows in page faults here).
   */
  async scoreInto(
    block: RawMatrix,
    rows: number,
    rowOffset: number,
    running: RunningTopK,
  ): Promise<{ out: BlockScores; taken: number }> {
    const cells = this.wanted.vectors ? this.queries.tasks.length * rows : 0;
    if (this.maxOut.length < cells) {
      this.maxOut = new Float32Array(cells);
      this.meanOut = new Float32Array(cells);
    }
    const vectors = { max: this.maxOut, mean: this.meanOut };
    const taken = await this.run(
      block,
      rows,
      rowOffset,
      running.k,
      running.ids,
      running.scores,
      running.floors,
      false,
      vectors,
    );
    return {
      out: { ...this.vectors(rows, vectors), kb: 0, topIds: new Int32Array(0), topScores: new Float32Array(0) },
      taken,
    };
  }

  /**
   * Candidates of a query wait until there are a few hundred (each merge moves most of a K-long
   * list; merging every block streamed all lists, 31 MB at K = 4096, through memory twice).
   */
  settle(running: RunningTopK): void {
    this.scorer.settle(running.ids, running.scores, running.floors, running.k);
  }

  private run(
    block: RawMatrix,
    rows: number,
    rowOffset: number,
    k: number,
    ids: Int32Array,
    scores: Float32Array,
    floors: Float32Array,
    settle: boolean,
    out: TaskVectors,
  ): Promise<number> {
    const lists = k > 0;
    const vectors = this.wanted.vectors;
    return this.scorer.scoreBlock(
      block,
      rows,
      rowOffset,
      k,
      lists ? ids : null,
      lists ? scores : null,
      lists ? floors : null,
      vectors ? out.max : null,
      vectors ? out.mean : null,
      settle,
    );
  }

  /** Each task's max and mean vector, as views into `out` (tasks x rows). */
  private vectors(rows: number, out: TaskVectors): { rows: number; max: Float32Array[]; mean: Float32Array[] } {
    if (!this.wanted.vectors) return { rows, max: [], mean: [] };
    const part = (a: Float32Array, t: number) => a.subarray(t * rows, (t + 1) * rows);
    return {
      rows,
      max: this.queries.tasks.map((_, t) => part(out.max, t)),
      mean: this.queries.tasks.map((_, t) => part(out.mean, t)),
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** (3) plain JS: a blocked dot-product loop (the baseline the others are measured against). */
class JsEngine implements ScoreEngine {
  readonly name = 'js' as const;
  constructor(
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
  ) {}

  score(raw: RawMatrix, rows: number, kbWanted?: number): Promise<BlockScores> {
    const d = this.queries.dims;
    const block = asFloat32(raw, rows, d);
    const nq = queryCount(this.queries);
    const q = this.queries.data;
    // sim is queries x rows, like the ONNX graph, so a query's scores are contiguous.
    const sim = new Float32Array(nq * rows);
    for (let r = 0; r < rows; r++) {
      const po = r * d;
      for (let j = 0; j < nq; j++) {
        const qo = j * d;
        let s0 = 0,
          s1 = 0,
          s2 = 0,
          s3 = 0;
        let i = 0;
        for (; i + 3 < d; i += 4) {
          s0 += block[po + i]! * q[qo + i]!;
          s1 += block[po + i + 1]! * q[qo + i + 1]!;
          s2 += block[po + i + 2]! * q[qo + i + 2]!;
          s3 += block[po + i + 3]! * q[qo + i + 3]!;
        }
        for (; i < d; i++) s0 += block[po + i]! * q[qo + i]!;
        sim[j * rows + r] = s0 + s1 + s2 + s3;
      }
    }
    const max: Float32Array[] = [];
    const mean: Float32Array[] = [];
    if (this.wanted.vectors) {
      for (const t of this.queries.tasks) {
        const mx = new Float32Array(rows).fill(-Infinity);
        const sum = new Float64Array(rows);
        for (let j = t.start; j < t.start + t.count; j++) {
          const o = j * rows;
          for (let r = 0; r < rows; r++) {
            const s = sim[o + r]!;
            if (s > mx[r]!) mx[r] = s;
            sum[r] = sum[r]! + s;
          }
        }
        max.push(mx);
        mean.push(Float32Array.from(sum, (s) => s / t.count));
      }
    }
    const kb = blockK(this.wanted, rows, kbWanted);
    const topIds = new Int32Array(nq * kb);
    const topScores = new Float32Array(nq * kb);
    for (let j = 0; j < nq && kb > 0; j++) {
      const o = j * rows;
      selectTopK(rows, kb, (r) => sim[o + r]!, topIds, topScores, j * kb);
    }
    return Promise.resolve({ rows, max, mean, kb, topIds, topScores });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Mean of queries [start, start+count), summed in float64: a task's mean score is (mean q)·p. */
function taskMean(queries: QuerySet, start: number, count: number): Float32Array {
  const d = queries.dims;
  const sum = new Float64Array(d);
  for (let j = start; j < start + count; j++) for (let c = 0; c < d; c++) sum[c] = sum[c]! + queries.data[j * d + c]!;
  return Float32Array.from(sum, (s) => s / count);
}
