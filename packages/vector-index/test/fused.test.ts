import { afterEach, describe, expect, it } from 'vitest';
import { float32ToFloat16 } from '@rds/artifacts';
import {
  autoEngine,
  BlockDepth,
  createEngine,
  FusedEngine,
  loadFusedKernel,
  RunningTopK,
  type QuerySet,
} from '../src/index.js';
import { reference, rng, unitVectors } from './helpers.js';

// d and the query count are not multiples of the kernel's 16/32 lanes, to exercise every tail.
const d = 100;
const ROWS = 1300;
const K = 40;
const rand = rng(91);
const q = unitVectors(37, d, rand);
const pool = unitVectors(ROWS, d, rand);
const queries: QuerySet = {
  dims: d,
  data: q,
  tasks: [
    { task: 'a', start: 0, count: 20 },
    { task: 'b', start: 20, count: 1 },
    { task: 'c', start: 21, count: 16 },
  ],
};
const nq = 37;

const kernel = loadFusedKernel();
if ('error' in kernel) throw new Error(kernel.error);
const addon = kernel.addon;
const best = addon.kernel();
afterEach(() => void addon.useKernel(best as 'avx512'));

/** Score the pool in blocks of `blockRows` through scoreInto (as scoring does); vectors and lists. */
async function scoreAll(blockRows: number, opts: { threads?: number; float16?: boolean; floors?: Float32Array } = {}) {
  const engine = FusedEngine.create(queries, { vectors: true, topK: K }, opts.threads);
  const running = new RunningTopK(nq, K, undefined, opts.floors?.slice());
  const depth = new BlockDepth();
  const max = queries.tasks.map(() => new Float32Array(ROWS));
  const mean = queries.tasks.map(() => new Float32Array(ROWS));
  const data = opts.float16 ? float32ToFloat16(pool) : pool;
  for (let start = 0; start < ROWS; start += blockRows) {
    const n = Math.min(blockRows, ROWS - start);
    const out = await depth.scoreBlock(engine, data.subarray(start * d, (start + n) * d), n, start, running);
    out.max.forEach((v, t) => max[t]!.set(v, start));
    out.mean.forEach((v, t) => mean[t]!.set(v, start));
  }
  depth.settle(engine, running);
  return { ids: running.ids, scores: running.scores, max, mean };
}

const variants = (['avx512', 'avx2', 'portable'] as const).filter((v) => {
  try {
    addon.useKernel(v);
    return true;
  } catch {
    return false;
  } finally {
    addon.useKernel(best as 'avx512');
  }
});

describe('fused kernel', () => {
  it('equals brute force: per-task max and mean, and the top-K lists', async () => {
    const got = await scoreAll(256);
    queries.tasks.forEach((t, i) => {
      const ref = reference(pool, q.subarray(t.start * d, (t.start + t.count) * d), d, K);
      for (let r = 0; r < ROWS; r++) {
        expect(Math.abs(got.max[i]![r]! - ref.max[r]!)).toBeLessThan(1e-5);
        expect(Math.abs(got.mean[i]![r]! - ref.mean[r]!)).toBeLessThan(1e-5);
      }
      for (let j = 0; j < t.count; j++) {
        const at = (t.start + j) * K;
        expect(Array.from(got.ids.subarray(at, at + K))).toEqual(ref.topIds[j]);
      }
    });
  });

  it(`gives the same bits whatever the block size, thread count and code path (${variants.join(', ')} on this CPU)`, async () => {
    const base = await scoreAll(ROWS);
    const runs = [
      await scoreAll(1),
      await scoreAll(13),
      await scoreAll(500, { threads: 1 }),
      await scoreAll(500, { threads: 3 }),
    ];
    for (const v of variants) {
      addon.useKernel(v);
      runs.push(await scoreAll(300));
    }
    for (const r of runs) {
      expect(r.ids).toEqual(base.ids);
      expect(r.scores).toEqual(base.scores);
      expect(r.max).toEqual(base.max);
      expect(r.mean).toEqual(base.mean);
    }
  });

  it('float16 blocks: every code path decodes them to the same bits', async () => {
    const base = await scoreAll(400, { float16: true });
    for (const v of variants) {
      addon.useKernel(v);
      const r = await scoreAll(400, { float16: true });
      expect(r.scores).toEqual(base.scores);
      expect(r.max).toEqual(base.max);
    }
    // And they are the float32 results within float16 precision.
    const f32 = await scoreAll(400);
    for (let i = 0; i < ROWS; i++) expect(Math.abs(base.max[0]![i]! - f32.max[0]![i]!)).toBeLessThan(2e-3);
  });

  it('floors: only rows at or above them enter; the rest of a short list stays empty', async () => {
    const plain = await scoreAll(ROWS);
    const floors = Float32Array.from({ length: nq }, (_, j) => plain.scores[j * K + 9 + (j % 5)]!); // 10..14 entries pass
    const floored = await scoreAll(200, { floors });
    for (let j = 0; j < nq; j++) {
      const pass = 10 + (j % 5);
      expect(Array.from(floored.ids.subarray(j * K, j * K + pass))).toEqual(
        Array.from(plain.ids.subarray(j * K, j * K + pass)),
      );
      expect(floored.ids[j * K + pass]).toBe(-1);
    }
  });

  it('score(): fresh lists per block, the floors as their entry bar', async () => {
    const engine = await createEngine('fused', queries, { vectors: false, topK: K });
    const out = await engine.score(pool, ROWS, 5);
    expect(out.kb).toBe(5);
    const ref = reference(pool, q.subarray(0, d), d, 5);
    expect(Array.from(out.topIds.subarray(0, 5))).toEqual(ref.topIds[0]);
    expect(out.max).toEqual([]);
  });

  it('refuses mismatched inputs with a message that names them', async () => {
    const scorer = new addon.FusedScorer(q, d, nq, Int32Array.of(0, 37), false, 2);
    const ids = new Int32Array(nq * K);
    const scores = new Float32Array(nq * K);
    const floors = new Float32Array(nq);
    expect(() => scorer.scoreBlock(pool.subarray(0, 10), 5, 0, K, ids, scores, floors, null, null, true)).toThrow(
      /pool holds 10 values, needs 500/,
    );
    expect(() => scorer.scoreBlock(pool, 5, 0, K, ids.subarray(1), scores, floors, null, null, true)).toThrow(
      /ids holds/,
    );
    expect(() => new addon.FusedScorer(q, d, nq, Int32Array.of(0, 30), false, 2)).toThrow(/task starts/);
    expect(() =>
      FusedEngine.create(
        {
          ...queries,
          tasks: [
            { task: 'a', start: 0, count: 20 },
            { task: 'b', start: 21, count: 16 },
          ],
        },
        { vectors: true, topK: K },
      ),
    ).toThrow(/contiguous/);
  });

  it('waiting candidates belong to their lists: scoring other lists first needs a settle', async () => {
    const scorer = new addon.FusedScorer(q, d, nq, Int32Array.of(0, 37), false, 2);
    const lists = () => [new Int32Array(nq * K).fill(-1), new Float32Array(nq * K).fill(-Infinity)] as const;
    const [ids1, scores1] = lists();
    const floors = new Float32Array(nq).fill(-Infinity);
    await scorer.scoreBlock(pool, 10, 0, K, ids1, scores1, floors, null, null, false);
    const [ids2, scores2] = lists();
    await expect(scorer.scoreBlock(pool, 10, 0, K, ids2, scores2, floors, null, null, false)).rejects.toThrow(
      /settle those lists first/,
    );
    scorer.settle(ids1, scores1, floors, K);
    expect(ids1[K - 1]).toBe(-1); // 10 rows: a list of 40 holds all 10
    expect(ids1[9]).toBeGreaterThanOrEqual(0);
    await scorer.scoreBlock(pool, 10, 0, K, ids2, scores2, floors, null, null, true);
    expect(ids2).toEqual(ids1);
  });

  it("engine 'auto': the fused kernel when it loads, else the blocked engine with a log line that says why and how to build it", () => {
    const logs: string[] = [];
    expect(autoEngine((m) => logs.push(m))).toBe('fused');
    expect(logs).toEqual([]);
    expect(autoEngine((m) => logs.push(m), '/nonexistent/rds_fused.node')).toBe('blocked');
    expect(logs.join('\n')).toMatch(
      /fused scoring kernel \(\/nonexistent\/rds_fused.node\) did not load: .*install-native.*Using the blocked onnxruntime engine/,
    );
  });
});
