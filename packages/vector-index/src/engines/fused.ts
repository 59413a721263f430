import type { RawMatrix } from '@rds/artifacts';
import { cpuThreads } from '@rds/common';
import { loadFusedKernel, type FusedAddon, type NativeScorer } from '../fused-kernel.js';
import type { RunningTopK } from '../topk.js';
import {
  blockK,
  queryCount,
  taskMean,
  type BlockScores,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engine.js';

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
