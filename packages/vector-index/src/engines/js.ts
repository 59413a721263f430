import type { RawMatrix } from '@rds/artifacts';
import { selectTopK } from '../topk.js';
import {
  asFloat32,
  blockK,
  queryCount,
  type BlockScores,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engine.js';

/** (3) plain JS: a blocked dot-product loop (the baseline the others are measured against). */
export class JsEngine implements ScoreEngine {
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
