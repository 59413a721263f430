import { float16ToFloat32, type RawMatrix } from '@rds/artifacts';
import type { RunningTopK } from '../topk.js';

/** What every scoring engine takes and gives; the engines themselves are in this folder, one per file. */

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
export function asFloat32(block: RawMatrix, rows: number, d: number): Float32Array {
  const raw = block.subarray(0, rows * d);
  return raw instanceof Float32Array ? raw : float16ToFloat32(raw);
}

export function blockK(wanted: ScoreWanted, rows: number, kb: number | undefined): number {
  return wanted.topK > 0 ? Math.min(kb ?? wanted.topK, wanted.topK, rows) : 0;
}

export const EMPTY_I32 = new Int32Array(0);
export const EMPTY_F32 = new Float32Array(0);

/** Mean of queries [start, start+count), summed in float64: a task's mean score is (mean q)·p. */
export function taskMean(queries: QuerySet, start: number, count: number): Float32Array {
  const d = queries.dims;
  const sum = new Float64Array(d);
  for (let j = start; j < start + count; j++) for (let c = 0; c < d; c++) sum[c] = sum[c]! + queries.data[j * d + c]!;
  return Float32Array.from(sum, (s) => s / count);
}
