import ort from 'onnxruntime-node';
import type { RawMatrix } from '@rds/artifacts';
import { cpuThreads } from '@rds/common';
import { DataType, encodeModel, type NodeSpec, type TensorSpec, type ValueSpec } from '@rds/onnx-graph';
import type { EmbeddingDtype } from '@rds/schemas';
import { fixTieOrder } from '../topk.js';
import {
  blockK,
  EMPTY_F32,
  EMPTY_I32,
  queryCount,
  taskMean,
  type BlockScores,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engine.js';

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

/**
 * (2) blocked GEMM in onnxruntime (MLAS): S = Q · Pᵀ ([queries + tasks, rows]) with the queries
 * as a constant, then per task ReduceMax over its query rows and TopK along rows, all inside one
 * graph so the [queries, rows] matrix never leaves onnxruntime (copying it out costs more than the
 * GEMM). float16 blocks go in as stored and are cast in the graph (no decode in JS).
 */
export class OnnxBlockedEngine implements ScoreEngine {
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
  const initializers: TensorSpec[] = [
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
  return encodeModel({ name: 'rds-scoring', nodes, initializers, inputs, outputs, opset: 17 });
}
