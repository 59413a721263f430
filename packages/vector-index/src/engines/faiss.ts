import type { RawMatrix } from '@rds/artifacts';
import { VectorIndex } from '../faiss.js';
import { fixTieOrder } from '../topk.js';
import {
  asFloat32,
  blockK,
  EMPTY_F32,
  EMPTY_I32,
  queryCount,
  type BlockScores,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engine.js';

/** (1) faiss: each task's queries in an IndexFlatIP searched by the block with k = its queries (all scores, sorted). */
export class FaissEngine implements ScoreEngine {
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
