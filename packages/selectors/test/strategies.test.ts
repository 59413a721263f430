import { describe, expect, it } from 'vitest';
import { computeQuotas, select, SortedStream, type SelectParams, type Selection } from '../src/index.js';
import { SplitMix32 } from '@rds/common';
import type { RoundRobinTurns, SelectionStrategy } from '@rds/schemas';
import { idealQuotas, rankAll, referenceSelect } from './reference.js';
import { randomProblem, topKLists, type Problem } from './random-data.js';

const SEEDS = Array.from({ length: 200 }, (_, i) => i + 1);
const STRATEGIES: SelectionStrategy[] = [
  'round-robin-tasks',
  'round-robin-queries',
  'top-k-max',
  'top-k-mean',
  'random',
  'balanced-random',
];

/** Random budget / minScore / quota settings, drawn from the seed. */
function randomParams(
  p: Problem,
  strategy: SelectionStrategy,
  seed: number,
  k: number,
  turns?: RoundRobinTurns,
  opts: { nearPoolSize?: boolean } = {},
): SelectParams {
  const rng = new SplitMix32(seed * 7919 + 13);
  const budget = opts.nearPoolSize
    ? Math.max(1, p.pool.rows - 3 + rng.nextBelow(7))
    : 1 + rng.nextBelow(p.pool.rows + 20);
  const withMin = rng.nextBelow(3) === 0;
  const withQuotas = rng.nextBelow(3) === 0;
  let sourceQuotas: Record<string, number> | undefined;
  if (withQuotas) {
    sourceQuotas = {};
    for (const s of p.pool.sources) if (rng.nextBelow(4) > 0) sourceQuotas[s] = rng.nextBelow(5);
    if (!Object.values(sourceQuotas).some((w) => w > 0)) sourceQuotas[p.pool.sources[0]!] = 1;
  }
  return {
    strategy,
    budget,
    seed,
    turns,
    minScore: withMin ? rng.nextBelow(8) / 8 - 0.5 : undefined,
    sourceQuotas,
    pool: p.pool,
    tasks: strategy === 'top-k-mean' ? p.mean : p.max,
    queryLists: topKLists(p, k),
    fetchMore: (t, qs, depth) => ({
      ids: Int32Array.from(qs.flatMap((q) => p.deep[t]![q]!.ids.slice(0, depth))),
      scores: Float32Array.from(qs.flatMap((q) => p.deep[t]![q]!.scores.slice(0, depth))),
    }),
  };
}

function picks(s: Selection) {
  return Array.from(s.rows, (row, i) => ({ row, task: s.task[i]!, score: s.score[i]!, query: s.query[i]! }));
}

/** Every strategy with its default turns, and the round-robins with each turn rule named. */
const CASES: [SelectionStrategy, string, RoundRobinTurns | undefined][] = [
  ...STRATEGIES.map((s) => [s, 'default', undefined] as [SelectionStrategy, string, undefined]),
  ['round-robin-tasks', 'reference', 'reference'],
  ['round-robin-tasks', 'fill', 'fill'],
  ['round-robin-queries', 'reference', 'reference'],
  ['round-robin-queries', 'fill', 'fill'],
];

describe.each(CASES)('%s (turns: %s)', (strategy, _label, turns) => {
  // Seeds 1-200 draw independent rankings; 201-400 overlapping ones; 401-500 budgets within 3 rows of the pool size.
  const problems = [
    ...SEEDS.map((seed) => ({ seed, p: randomProblem(seed), near: false })),
    ...SEEDS.map((seed) => ({ seed: seed + 200, p: randomProblem(seed + 200, { overlap: true }), near: false })),
    ...SEEDS.slice(0, 100).map((seed) => ({
      seed: seed + 400,
      p: randomProblem(seed + 400, { overlap: seed % 2 === 0 }),
      near: true,
    })),
  ];
  it('matches the brute-force reference on 500 random problems (ties, overlapping rankings, budgets near the pool size, exact B, no duplicates, quotas, minScore)', async () => {
    for (const { seed, p, near } of problems) {
      const params = randomParams(p, strategy, seed, 1 + (seed % 4), turns, { nearPoolSize: near });
      const got = await select(params);
      const ref = referenceSelect(params, p.deep);
      expect(picks(got), `seed ${seed}`).toEqual(ref.picks);
      expect(got.count).toBe(ref.target);
      // Exactly B when the (weighted) eligible pool allows it.
      const min = params.minScore ?? -Infinity;
      const best = (row: number) => Math.max(...params.tasks.map((t) => t.scores[row]!));
      const eligible = Array.from({ length: p.pool.rows }, (_, r) => best(r)).filter((x) => x >= min).length;
      if (!ref.quota) expect(got.count).toBe(Math.min(params.budget, eligible));
      expect(got.warnings.some((w) => /budget/.test(w))).toBe(got.count < params.budget);
      expect(new Set(got.rows).size).toBe(got.count);
      for (let i = 0; i < got.count; i++) {
        const row = got.rows[i]!;
        expect(best(row)).toBeGreaterThanOrEqual(min);
      }
      if (ref.quota) {
        const per = p.pool.sources.map(() => 0);
        for (const row of got.rows) per[p.pool.sourceOf[row]!]!++;
        expect(per).toEqual(ref.quota);
      }
    }
  });

  it('is deterministic per seed', async () => {
    const p = randomProblem(99, { maxRows: 400 });
    const a = await select(randomParams(p, strategy, 5, 3, turns));
    const b = await select(randomParams(p, strategy, 5, 3, turns));
    expect(picks(a)).toEqual(picks(b));
  });
});

describe('random baselines', () => {
  it('different seeds give different samples, and balanced-random splits sources equally', async () => {
    const rows = 3000;
    const sourceOf = Uint8Array.from({ length: rows }, (_, r) => (r < 2000 ? 0 : r < 2900 ? 1 : 2));
    const pool = { rows, sourceOf, sources: ['big', 'mid', 'small'] };
    const tasks = [{ task: 't', scores: new Float32Array(rows) }];
    const a = await select({ strategy: 'random', budget: 300, seed: 1, pool, tasks });
    const b = await select({ strategy: 'random', budget: 300, seed: 2, pool, tasks });
    expect(Array.from(a.rows)).not.toEqual(Array.from(b.rows));
    // Plain random follows the pool mix (2/3 big): far from balanced.
    const bigA = Array.from(a.rows).filter((r) => sourceOf[r] === 0).length;
    expect(bigA).toBeGreaterThan(160);
    expect(bigA).toBeLessThan(240);
    // Balanced: 100 each... but "small" has only 100 rows, fine; with budget 600 small gives 100 and the rest is shared.
    const bal = await select({ strategy: 'balanced-random', budget: 600, seed: 1, pool, tasks });
    const per = [0, 1, 2].map((s) => Array.from(bal.rows).filter((r) => sourceOf[r] === s).length);
    expect(per).toEqual([250, 250, 100]);
  });
});

describe('computeQuotas', () => {
  it('sums to min(B, weighted capacity), respects capacity and stays within 1 row of ideal water-filling', () => {
    for (const seed of SEEDS) {
      const rng = new SplitMix32(seed);
      const n = 1 + rng.nextBelow(6);
      const cap = Array.from({ length: n }, () => rng.nextBelow(50));
      const weights = Array.from({ length: n }, () => (rng.nextBelow(4) * (1 + rng.nextBelow(3))) / 3);
      if (!weights.some((w) => w > 0)) weights[0] = 1;
      const budget = 1 + rng.nextBelow(120);
      const q = Array.from(computeQuotas(cap, weights, budget));
      const ideal = idealQuotas(cap, weights, budget);
      const weightedCap = cap.reduce((a, c, i) => a + (weights[i]! > 0 ? c : 0), 0);
      expect(q.reduce((a, b) => a + b, 0)).toBe(Math.min(budget, weightedCap));
      q.forEach((x, i) => {
        expect(x).toBeLessThanOrEqual(cap[i]!);
        if (weights[i] === 0) expect(x).toBe(0);
        expect(Math.abs(x - ideal[i]!)).toBeLessThan(1 + 1e-9);
      });
    }
  });

  it('redistributes an exhausted source to the others in proportion to their weights', () => {
    expect(Array.from(computeQuotas([10, 1000, 1000], [1, 1, 2], 100))).toEqual([10, 30, 60]);
  });
});

describe('SortedStream (lazy partial selection)', () => {
  it('emits exactly the full-sort order, through many small batches, with rows excluded on the way', () => {
    for (const seed of SEEDS) {
      const rng = new SplitMix32(seed);
      const n = 1 + rng.nextBelow(500);
      const levels = 1 + rng.nextBelow(20);
      const scores = Float32Array.from({ length: n }, () => (rng.nextBelow(levels) - levels / 2) / 7);
      if (n > 3) scores[1] = -0; // -0 ranks with +0
      if (n > 3) scores[2] = 0;
      const excluded = new Uint8Array(n);
      const stream = new SortedStream(scores, 1 + rng.nextBelow(5), 0xffffffff, (r) => excluded[r] === 1);
      const ref = rankAll(scores);
      const got: number[] = [];
      const want: number[] = [];
      let refPos = 0;
      for (;;) {
        // Exclude a random row now and then, as other tasks selecting rows would.
        if (rng.nextBelow(3) === 0) excluded[rng.nextBelow(n)] = 1;
        let row = stream.next();
        while (row >= 0 && excluded[row]) row = stream.next();
        while (refPos < ref.length && excluded[ref[refPos]!]) refPos++;
        want.push(refPos < ref.length ? ref[refPos++]! : -1);
        got.push(row);
        if (row < 0) break;
      }
      expect(got, `seed ${seed}`).toEqual(want);
      if (n > 40) expect(stream.batches).toBeGreaterThan(2);
    }
  });

  it('partial selection of a 200k-row vector equals the full sort', () => {
    const rng = new SplitMix32(7);
    const n = 200_000;
    const scores = Float32Array.from({ length: n }, () => rng.nextUint32() / 2 ** 32 - 0.3);
    for (let i = 0; i < 5000; i++) scores[rng.nextBelow(n)] = 0.25; // a block of ties
    const stream = new SortedStream(scores, 1000);
    const ref = rankAll(scores);
    const got = Array.from({ length: 60_000 }, () => stream.next());
    expect(got).toEqual(ref.slice(0, 60_000));
    expect(stream.batches).toBeGreaterThanOrEqual(6);
  });
});

describe('round-robin-queries depth', () => {
  it('growing K on demand gives the same selection as one deep list', async () => {
    for (const seed of SEEDS.slice(0, 100)) {
      const p = randomProblem(seed, { maxRows: 200 });
      const shallow = randomParams(p, 'round-robin-queries', seed, 1);
      let fetched = 0;
      const inner = shallow.fetchMore!;
      shallow.fetchMore = (t, qs, k) => (fetched++, inner(t, qs, k));
      const deep = { ...randomParams(p, 'round-robin-queries', seed, p.pool.rows), fetchMore: undefined };
      expect(picks(await select(shallow))).toEqual(picks(await select(deep)));
      const queries = p.deep.flat().length;
      if (shallow.minScore === undefined && Math.min(shallow.budget, p.pool.rows) > queries)
        expect(fetched).toBeGreaterThan(0);
    }
  });

  it('reference turns: queries that run out together get their deeper lists in one fetch per task', async () => {
    const p = randomProblem(11, { maxRows: 400, overlap: true });
    const params = {
      ...randomParams(p, 'round-robin-queries', 11, 2, 'reference'),
      budget: p.pool.rows,
      minScore: undefined,
      sourceQuotas: undefined,
    };
    const calls: number[][] = [];
    const inner = params.fetchMore!;
    params.fetchMore = (t, qs, k) => (calls.push(qs), inner(t, qs, k));
    const deep = {
      ...randomParams(p, 'round-robin-queries', 11, p.pool.rows, 'reference'),
      budget: p.pool.rows,
      minScore: undefined,
      sourceQuotas: undefined,
      fetchMore: undefined,
    };
    expect(picks(await select(params))).toEqual(picks(await select(deep)));
    const queries = p.deep.flat().length;
    expect(queries).toBeGreaterThan(3);
    const lists = calls.reduce((a, qs) => a + qs.length, 0);
    // Every query deepens from 2 to 4, 8, ...; all of a task's queries run out in the same round: one call per task and depth.
    const doublings = Math.ceil(Math.log2(p.pool.rows / 2));
    expect(lists).toBeGreaterThan(calls.length);
    expect(calls.length).toBeLessThanOrEqual(p.deep.length * doublings);
  });

  it('without fetchMore, a query that runs out of its stored list is a clear error', async () => {
    const p = randomProblem(3, { maxRows: 100 });
    const params = {
      ...randomParams(p, 'round-robin-queries', 3, 1),
      budget: p.pool.rows,
      minScore: undefined,
      sourceQuotas: undefined,
      fetchMore: undefined,
    };
    await expect(select(params)).rejects.toThrow(/ran out of its stored top-1 list.*larger scoring.topK/);
  });

  it('records the query that picked each row, under either turn rule', async () => {
    const pool = { rows: 4, sourceOf: new Uint8Array(4), sources: ['s'] };
    const tasks = [{ task: 't', scores: Float32Array.from([0.9, 0.8, 0.7, 0.1]) }];
    const queryLists = [
      { queries: 2, k: 2, ids: Int32Array.from([0, 1, 0, 2]), scores: Float32Array.from([0.9, 0.8, 0.9, 0.7]) },
    ];
    const run = async (turns: RoundRobinTurns) =>
      picks(await select({ strategy: 'round-robin-queries', budget: 3, seed: 0, turns, pool, tasks, queryLists }));
    const [r0, r1, r2] = [
      { row: 0, score: Math.fround(0.9) },
      { row: 1, score: Math.fround(0.8) },
      { row: 2, score: Math.fround(0.7) },
    ];
    // fill: q0 takes 0; q1 skips 0 and takes 2; q0 takes 1.
    expect(await run('fill')).toEqual([
      { ...r0, task: 0, query: 0 },
      { ...r2, task: 0, query: 1 },
      { ...r1, task: 0, query: 0 },
    ]);
    // reference: q0 takes 0; q1 pops 0, taken: its turn adds nothing; q0 takes 1; q1 takes 2.
    expect(await run('reference')).toEqual([
      { ...r0, task: 0, query: 0 },
      { ...r1, task: 0, query: 0 },
      { ...r2, task: 0, query: 1 },
    ]);
  });
});

describe('turn rules: reference vs fill', () => {
  // The README's example: rows A, B, C (0, 1, 2); two rankers, budget 2.
  //   ranker 0: A 0.9, B 0.8, C 0.1      ranker 1: A 0.9, C 0.7, B 0.2
  // reference: 0 takes A; 1 pops A (taken, turn spent); 0 takes B   -> A, B
  // fill:      0 takes A; 1 pops A (taken), pops C, takes C         -> A, C
  const pool = { rows: 3, sourceOf: new Uint8Array(3), sources: ['s'] };
  const s0 = Float32Array.from([0.9, 0.8, 0.1]);
  const s1 = Float32Array.from([0.9, 0.2, 0.7]);

  it('hand-worked three-row example: round-robin-tasks', async () => {
    const tasks = [
      { task: 'a', scores: s0 },
      { task: 'b', scores: s1 },
    ];
    const rows = async (turns?: RoundRobinTurns) =>
      Array.from((await select({ strategy: 'round-robin-tasks', budget: 2, seed: 0, turns, pool, tasks })).rows);
    expect(await rows()).toEqual([0, 1]); // reference is the default
    expect(await rows('reference')).toEqual([0, 1]);
    expect(await rows('fill')).toEqual([0, 2]);
  });

  it('hand-worked three-row example: round-robin-queries', async () => {
    const tasks = [{ task: 'a', scores: Float32Array.from([0.9, 0.8, 0.7]) }];
    const queryLists = [
      {
        queries: 2,
        k: 3,
        ids: Int32Array.from([0, 1, 2, 0, 2, 1]),
        scores: Float32Array.from([0.9, 0.8, 0.1, 0.9, 0.7, 0.2]),
      },
    ];
    const run = async (turns?: RoundRobinTurns) => {
      const s = await select({ strategy: 'round-robin-queries', budget: 2, seed: 0, turns, pool, tasks, queryLists });
      return [Array.from(s.rows), Array.from(s.query)];
    };
    expect(await run()).toEqual([
      [0, 1],
      [0, 0],
    ]);
    expect(await run('fill')).toEqual([
      [0, 2],
      [0, 1],
    ]);
  });

  it('the two rules really select different rows on overlapping rankings, and each returns exactly min(B, eligible)', async () => {
    let differ = 0;
    for (const seed of SEEDS) {
      const p = randomProblem(seed + 200, { overlap: true });
      for (const strategy of ['round-robin-tasks', 'round-robin-queries'] as const) {
        const ref = await select({
          ...randomParams(p, strategy, seed, 2, 'reference'),
          minScore: undefined,
          sourceQuotas: undefined,
        });
        const fill = await select({
          ...randomParams(p, strategy, seed, 2, 'fill'),
          minScore: undefined,
          sourceQuotas: undefined,
        });
        expect(ref.count).toBe(ref.target);
        expect(fill.count).toBe(fill.target);
        if (Array.from(ref.rows).join() !== Array.from(fill.rows).join()) differ++;
      }
    }
    expect(differ).toBeGreaterThan(100); // of 400 runs
  });
});

describe('validation', () => {
  it('rejects NaN scores and mismatched lengths, naming the task', async () => {
    const pool = { rows: 3, sourceOf: new Uint8Array(3), sources: ['s'] };
    await expect(
      select({
        strategy: 'top-k-max',
        budget: 1,
        seed: 0,
        pool,
        tasks: [{ task: 'gsm', scores: Float32Array.from([0, NaN, 1]) }],
      }),
    ).rejects.toThrow(/task "gsm" have NaN at row 1/);
    await expect(
      select({
        strategy: 'top-k-max',
        budget: 1,
        seed: 0,
        pool,
        tasks: [{ task: 'gsm', scores: new Float32Array(2) }],
      }),
    ).rejects.toThrow(/"gsm" have 2 rows, the pool has 3/);
  });
});
