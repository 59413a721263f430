import { describe, expect, it } from 'vitest';
import { createEngine, ENGINES, floatBelow, RunningTopK, samplePlan, scoreRun } from '../src/index.js';
import { expectTopKLists, makeRun, rng, unitVectors } from './helpers.js';

describe('samplePlan', () => {
  it('spreads chunks evenly over the pool, inside shards, without overlap, up to the rows asked', () => {
    for (const [shards, want] of [
      [[50_000, 50_000, 50_000, 20_000], 16_384],
      [[300, 10, 5000], 1000],
      [[100], 1000],
      [[1000, 1000], 256],
    ] as const) {
      const plan = samplePlan(shards, want);
      const total = shards.reduce((a, b) => a + b, 0);
      const got = plan.reduce((n, c) => n + c.count, 0);
      expect(got).toBeLessThanOrEqual(want);
      expect(got).toBeGreaterThanOrEqual(Math.min(want, total) * 0.95);
      const offsets = shards.map((_, i) => shards.slice(0, i).reduce((a, b) => a + b, 0));
      let end = 0;
      for (const c of plan) {
        expect(c.count).toBeGreaterThan(0);
        expect(c.start + c.count).toBeLessThanOrEqual(shards[c.shard]!);
        const at = offsets[c.shard]! + c.start;
        expect(at).toBeGreaterThanOrEqual(end);
        end = at + c.count;
      }
      // Evenly spread: the first chunk at the start, the last one in the pool's last stretch.
      expect(plan[0]).toMatchObject({ shard: 0, start: 0 });
      const last = plan.at(-1)!;
      expect(offsets[last.shard]! + last.start).toBeGreaterThan(total * (1 - 2 / plan.length) - 256);
    }
  });
});

describe('floatBelow', () => {
  it('is the next float32 down, for positive, negative, zero and infinite values', () => {
    const bits = (x: number) => new Int32Array(Float32Array.of(x).buffer)[0]!;
    for (const x of [0.5, 1e-30, 0.1, 3.25]) {
      expect(bits(floatBelow(Math.fround(x)))).toBe(bits(Math.fround(x)) - 1);
      expect(bits(floatBelow(Math.fround(-x)))).toBe(bits(Math.fround(-x)) + 1); // one step away from zero
      expect(floatBelow(Math.fround(x))).toBeLessThan(Math.fround(x));
    }
    expect(floatBelow(0)).toBeLessThan(0);
    expect(floatBelow(-Infinity)).toBe(-Infinity);
  });
});

/** Brute force over every row offered so far (null: not offered): the k best with score >= floor (score desc, lower row first). */
function bruteLists(scores: (number | null)[][], k: number, floors: Float32Array) {
  return scores.map((row, q) => {
    const order = row
      .flatMap((s, i) => (s !== null && s >= floors[q]! ? [[s, i] as const] : []))
      .sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const top = order.slice(0, k);
    return {
      ids: [...top.map(([, i]) => i), ...Array<number>(k - top.length).fill(-1)],
      scores: [...top.map(([s]) => s), ...Array<number>(k - top.length).fill(-Infinity)],
    };
  });
}

describe('RunningTopK', () => {
  it('merging block lists of any depth equals brute force, with and without floors, ties included', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rand = rng(seed);
      const queries = 1 + Math.floor(rand() * 4);
      const k = 1 + Math.floor(rand() * 40);
      // Scores on a coarse grid, so equal scores (ties across blocks) are common.
      const grid = 2 + Math.floor(rand() * 30);
      const withFloors = seed % 2 === 0;
      const floors = new Float32Array(queries).map(() =>
        withFloors && rand() < 0.8 ? Math.fround(Math.floor(rand() * grid) / grid) : -Infinity,
      );
      let running = new RunningTopK(queries, k, undefined, floors.slice());
      const all: (number | null)[][] = Array.from({ length: queries }, () => []);
      let offset = 0;
      for (let b = 0; b < 1 + Math.floor(rand() * 8); b++) {
        const rows = 1 + Math.floor(rand() * 60);
        const kb = Math.min(rows, 1 + Math.floor(rand() * (k + 5)));
        const blockIds = new Int32Array(queries * kb);
        const blockScores = new Float32Array(queries * kb);
        for (let q = 0; q < queries; q++) {
          const s = Array.from({ length: rows }, () => Math.fround(Math.floor(rand() * grid) / grid));
          all[q]!.push(...s);
          const order = s
            .map((v, i) => [v, i] as const)
            .sort((x, y) => y[0] - x[0] || x[1] - y[1])
            .slice(0, kb);
          order.forEach(([v, i], j) => {
            blockIds[q * kb + j] = i;
            blockScores[q * kb + j] = v;
          });
        }
        running.merge(blockIds, blockScores, kb, offset);
        // A resume: the lists restored from their arrays (as a checkpoint stores them) go on identically.
        if (rand() < 0.2)
          running = new RunningTopK(
            queries,
            k,
            { ids: running.ids.slice(), scores: running.scores.slice() },
            running.floors.slice(),
          );
        // Rows beyond kb of this block were not offered (a list cut short is the caller's to
        // detect, see cutShort): leave them out of the brute force too.
        for (let q = 0; q < queries; q++) {
          const offered = new Set(Array.from(blockIds.subarray(q * kb, q * kb + kb)));
          for (let i = 0; i < rows; i++) if (!offered.has(i)) all[q]![offset + i] = null;
        }
        offset += rows;
      }
      const want = bruteLists(all, k, floors);
      for (let q = 0; q < queries; q++) {
        expect(Array.from(running.ids.subarray(q * k, q * k + k)), `seed ${seed} query ${q}`).toEqual(want[q]!.ids);
        expect(Array.from(running.scores.subarray(q * k, q * k + k))).toEqual(want[q]!.scores);
      }
      // unfilled: queries with a floor whose lists are not full.
      expect(running.unfilled()).toEqual(
        want.map((w, q) => (floors[q]! > -Infinity && w.ids[k - 1]! < 0 ? q : -1)).filter((q) => q >= 0),
      );
      // bars: the floor, raised to the worst entry once the list is full.
      const bars = running.bars(new Float32Array(queries));
      want.forEach((w, q) =>
        expect(bars[q]).toBe(Math.max(floors[q]!, w.ids[k - 1]! >= 0 ? w.scores[k - 1]! : -Infinity)),
      );
    }
  });
});

describe('scoring with sampled floors', () => {
  const d = 8;
  const K = 64;
  const expectLists = (run: Awaited<ReturnType<typeof makeRun>>, task: string) => expectTopKLists(run, task, d, K);

  for (const engine of ENGINES) {
    it(`${engine}: a floor set too high by an unrepresentative sample is caught and that query rescanned`, async () => {
      // Query 0's 20 best rows sit exactly where the sample is taken (rows 0..19 of a 256-row sample
      // at the pool's start), every other row scores far lower for it: its floor (the sample's 13th
      // best) lets only 20 rows in, fewer than K.
      const base = await makeRun({ shardRows: [10_000, 10_000], d, queries: { t: 4 }, seed: 71 });
      const q0 = base.queries.t!.subarray(0, d);
      const rand = rng(72);
      const pool = unitVectors(20_000, d, rand);
      for (let r = 0; r < 20_000; r++) {
        const v = pool.subarray(r * d, (r + 1) * d);
        const dot = v.reduce((s, x, i) => s + x * q0[i]!, 0);
        const c = r < 20 ? 3 + rand() * 0.01 : (rand() - 0.5) * 0.5; // the new q0 component
        for (let i = 0; i < d; i++) v[i] = v[i]! + (c - dot) * q0[i]!;
        const norm = Math.hypot(...v);
        for (let i = 0; i < d; i++) v[i] = v[i]! / norm;
      }
      const run = await makeRun({ shardRows: [10_000, 10_000], d, queries: { t: 4 }, seed: 71, pool });
      const logs: string[] = [];
      const out = await scoreRun({
        runDir: run.dir,
        tasks: ['t'],
        aggregates: ['topk', 'max'],
        blockRows: 500,
        topK: K,
        engine,
        sampleRows: 256,
        log: (m) => logs.push(m),
      });
      expect(out.rescannedQueries).toBe(1);
      expect(logs.join('\n')).toMatch(
        /top-K floors from 256 sampled rows[\s\S]*1 query had a floor above its K-th best/,
      );
      await expectLists(run, 't');
    });
  }

  it.each(['blocked', 'fused'] as const)(
    '%s: an unordered pool: floors hold for every query, no block is re-scored, lists equal brute force',
    async (engine) => {
      const run = await makeRun({ shardRows: [7000, 7000, 6000], d, queries: { a: 5, b: 3 }, seed: 73 });
      const out = await scoreRun({
        runDir: run.dir,
        tasks: ['a', 'b'],
        aggregates: ['topk'],
        blockRows: 1000,
        topK: K,
        engine,
      });
      expect(out).toMatchObject({ rescannedQueries: 0, fullDepthRescores: 0 });
      await expectLists(run, 'a');
      await expectLists(run, 'b');
    },
  );

  it.each(['blocked', 'fused'] as const)(
    '%s: resumes a run that used floors from its checkpoint, with identical results',
    async (engine) => {
      const run = await makeRun({ shardRows: [7000, 7000, 6000], d, queries: { a: 5 }, seed: 74 });
      const opts = {
        runDir: run.dir,
        tasks: ['a'],
        aggregates: ['topk', 'mean'] as ('topk' | 'mean')[],
        blockRows: 1000,
        topK: K,
        engine,
        checkpointSeconds: 0,
      };
      const logs: string[] = [];
      await expect(
        scoreRun({
          ...opts,
          log: (m) => logs.push(m),
          afterShard: (s) => {
            if (s === 1) throw new Error('killed');
          },
        }),
      ).rejects.toThrow('killed');
      expect(logs.join('\n')).toMatch(/top-K floors/);
      const out = await scoreRun(opts);
      expect(out.resumedFromShard).toBe(2);
      await expectLists(run, 'a');
    },
  );

  it.each(['blocked', 'fused'] as const)(
    '%s engine: masking under the floors leaves every entry at or above them unchanged',
    async (name) => {
      const rand = rng(75);
      const q = unitVectors(6, d, rand);
      const pool = unitVectors(3000, d, rand);
      const engine = await createEngine(
        name,
        { dims: d, data: q, tasks: [{ task: 't', start: 0, count: 6 }] },
        { vectors: true, topK: 300 },
      );
      const plain = await engine.score(pool, 3000, 300);
      const floors = new Float32Array(6).map((_, j) => plain.topScores[j * 300 + 40 + j * 30]!); // 41.. entries pass
      const masked = await engine.score(pool, 3000, 300, floors);
      await engine.close();
      for (let j = 0; j < 6; j++) {
        const pass = 41 + j * 30;
        expect(Array.from(masked.topIds.subarray(j * 300, j * 300 + pass))).toEqual(
          Array.from(plain.topIds.subarray(j * 300, j * 300 + pass)),
        );
        expect(masked.topScores[j * 300 + pass]).toBeLessThan(floors[j]!);
      }
      expect(masked.max[0]).toEqual(plain.max[0]);
    },
  );
});
