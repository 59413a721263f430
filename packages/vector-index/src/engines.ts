import ort from 'onnxruntime-node';
import { DataType, encodeModel, type NodeSpec, type ValueSpec } from '@rds/encoder';
import { VectorIndex } from './faiss.js';
import { fixTieOrder, selectTopK } from './topk.js';

export type EngineName = 'faiss' | 'blocked' | 'js';
export const ENGINES: EngineName[] = ['faiss', 'blocked', 'js'];

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
  score(block: Float32Array, rows: number): Promise<BlockScores>;
  close(): Promise<void>;
}

export async function createEngine(name: EngineName, queries: QuerySet, wanted: ScoreWanted): Promise<ScoreEngine> {
  if (name === 'faiss') return new FaissEngine(queries, wanted);
  if (name === 'blocked') return OnnxBlockedEngine.create(queries, wanted);
  return new JsEngine(queries, wanted);
}

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

  score(block: Float32Array, rows: number): Promise<BlockScores> {
    const d = this.queries.dims;
    const x = block.subarray(0, rows * d);
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
      kb = Math.min(this.wanted.topK, rows);
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
 * (2) blocked GEMM in onnxruntime (MLAS): S = Q · Pᵀ ([queries, rows]) with the queries as a
 * constant, then per task ReduceMax/ReduceMean over its query rows and TopK along rows.
 */
class OnnxBlockedEngine implements ScoreEngine {
  readonly name = 'blocked' as const;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
  ) {}

  static async create(queries: QuerySet, wanted: ScoreWanted): Promise<OnnxBlockedEngine> {
    const model = scoringGraph(queries, wanted);
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    return new OnnxBlockedEngine(session, queries, wanted);
  }

  async score(block: Float32Array, rows: number): Promise<BlockScores> {
    const d = this.queries.dims;
    const feeds: Record<string, ort.Tensor> = { pool: new ort.Tensor('float32', block.subarray(0, rows * d), [rows, d]) };
    const kb = this.wanted.topK > 0 ? Math.min(this.wanted.topK, rows) : 0;
    if (kb > 0) feeds.k = new ort.Tensor('int64', BigInt64Array.of(BigInt(kb)), [1]);
    const out = await this.session.run(feeds);
    const max: Float32Array[] = [];
    const mean: Float32Array[] = [];
    if (this.wanted.vectors) {
      this.queries.tasks.forEach((_, t) => {
        max.push(out[`max_${t}`]!.data as Float32Array);
        mean.push(out[`mean_${t}`]!.data as Float32Array);
      });
    }
    let topIds: Int32Array = EMPTY_I32;
    let topScores: Float32Array = EMPTY_F32;
    if (kb > 0) {
      topScores = out.top_scores!.data as Float32Array;
      const i64 = out.top_ids!.data as BigInt64Array;
      topIds = new Int32Array(i64.length);
      for (let i = 0; i < i64.length; i++) topIds[i] = Number(i64[i]);
      // onnxruntime's TopK already puts the lower index first on ties; keep the invariant explicit.
      for (let q = 0; q < queryCount(this.queries); q++) fixTieOrder(topIds, topScores, q * kb, kb);
    }
    return { rows, max, mean, kb, topIds, topScores };
  }

  close(): Promise<void> {
    return this.session.release();
  }
}

/** The ONNX model behind OnnxBlockedEngine (inputs: pool [rows, d], k [1]; outputs max_t, mean_t, top_scores, top_ids). */
export function scoringGraph(queries: QuerySet, wanted: ScoreWanted): Uint8Array {
  const nq = queryCount(queries);
  const nodes: NodeSpec[] = [];
  const outputs: ValueSpec[] = [];
  const i64 = (v: number[]) => BigInt64Array.from(v.map((x) => BigInt(x)));
  const initializers = [{ name: 'queries', dims: [nq, queries.dims], type: DataType.FLOAT, data: queries.data } as const];
  nodes.push({ op: 'Gemm', inputs: ['queries', 'pool'], outputs: ['sim'], attrs: { transB: 1 } });
  if (wanted.vectors) {
    queries.tasks.forEach((t, i) => {
      let sim = 'sim';
      if (queries.tasks.length > 1) {
        initializers.push({ name: `start_${i}`, dims: [1], type: DataType.INT64, data: i64([t.start]) } as never);
        initializers.push({ name: `end_${i}`, dims: [1], type: DataType.INT64, data: i64([t.start + t.count]) } as never);
        initializers.push({ name: `axis0_${i}`, dims: [1], type: DataType.INT64, data: i64([0]) } as never);
        sim = `sim_${i}`;
        nodes.push({ op: 'Slice', inputs: ['sim', `start_${i}`, `end_${i}`, `axis0_${i}`], outputs: [sim] });
      }
      nodes.push({ op: 'ReduceMax', inputs: [sim], outputs: [`max_${i}`], attrs: { axes: [0], keepdims: 0 } });
      nodes.push({ op: 'ReduceMean', inputs: [sim], outputs: [`mean_${i}`], attrs: { axes: [0], keepdims: 0 } });
      outputs.push({ name: `max_${i}`, type: DataType.FLOAT, shape: ['rows'] }, { name: `mean_${i}`, type: DataType.FLOAT, shape: ['rows'] });
    });
  }
  const inputs: ValueSpec[] = [{ name: 'pool', type: DataType.FLOAT, shape: ['rows', queries.dims] }];
  if (wanted.topK > 0) {
    inputs.push({ name: 'k', type: DataType.INT64, shape: [1] });
    nodes.push({ op: 'TopK', inputs: ['sim', 'k'], outputs: ['top_scores', 'top_ids'], attrs: { axis: 1, largest: 1, sorted: 1 } });
    outputs.push({ name: 'top_scores', type: DataType.FLOAT, shape: [nq, 'kb'] }, { name: 'top_ids', type: DataType.INT64, shape: [nq, 'kb'] });
  }
  if (outputs.length === 0) throw new Error('scoring graph: nothing to compute (no vectors, no top-K)');
  return encodeModel({ name: 'rds-scoring', nodes, initializers: initializers as never, inputs, outputs, opset: 17 });
}

/** (3) plain JS: a blocked dot-product loop (the baseline the others are measured against). */
class JsEngine implements ScoreEngine {
  readonly name = 'js' as const;
  constructor(
    private readonly queries: QuerySet,
    private readonly wanted: ScoreWanted,
  ) {}

  score(block: Float32Array, rows: number): Promise<BlockScores> {
    const d = this.queries.dims;
    const nq = queryCount(this.queries);
    const q = this.queries.data;
    // sim is queries x rows, like the ONNX graph, so a query's scores are contiguous.
    const sim = new Float32Array(nq * rows);
    for (let r = 0; r < rows; r++) {
      const po = r * d;
      for (let j = 0; j < nq; j++) {
        const qo = j * d;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
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
    const kb = this.wanted.topK > 0 ? Math.min(this.wanted.topK, rows) : 0;
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
