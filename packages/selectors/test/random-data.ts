import { type PoolSources, type QueryLists, type TaskScores } from '../src/index.js';
import { SplitMix32 } from '@rds/common';

/** A small random scoring problem: per-query similarities with deliberate ties (quantised values). */
export interface Problem {
  pool: PoolSources;
  /** sims[t][q][row] */
  sims: number[][][];
  max: TaskScores[];
  mean: TaskScores[];
  /** Full ranked list per query (score desc, row asc). */
  deep: { ids: number[]; scores: number[] }[][];
}

/**
 * `overlap`: every query's similarities are a shared base score plus a little noise, so the
 * queries' (and tasks') rankings largely agree and round-robin turns keep meeting taken rows.
 */
export function randomProblem(seed: number, opts: { maxRows?: number; overlap?: boolean } = {}): Problem {
  const rng = new SplitMix32(seed);
  const rows = 1 + rng.nextBelow(opts.maxRows ?? 120);
  const nSources = 1 + rng.nextBelow(4);
  const sources = Array.from({ length: nSources }, (_, i) => `src${i}`);
  const sourceOf = new Uint8Array(rows);
  // Skewed source mix so some sources run out under quotas.
  for (let r = 0; r < rows; r++) sourceOf[r] = Math.min(rng.nextBelow(nSources), rng.nextBelow(nSources));
  const nTasks = 1 + rng.nextBelow(3);
  const levels = 2 + rng.nextBelow(12); // few levels = many ties
  const base = Array.from({ length: rows }, () => rng.nextBelow(levels));
  const sim = (r: number) => (opts.overlap ? Math.min(levels - 1, base[r]! + rng.nextBelow(2)) : rng.nextBelow(levels));
  const sims = Array.from({ length: nTasks }, () =>
    Array.from({ length: 1 + rng.nextBelow(4) }, () =>
      Array.from({ length: rows }, (_, r) => Math.fround(sim(r) / levels - 0.5)),
    ),
  );
  const max = sims.map((qs, t) => ({
    task: `task${t}`,
    scores: Float32Array.from({ length: rows }, (_, r) => Math.max(...qs.map((q) => q[r]!))),
  }));
  const mean = sims.map((qs, t) => ({
    task: `task${t}`,
    scores: Float32Array.from({ length: rows }, (_, r) => qs.reduce((a, q) => a + q[r]!, 0) / qs.length),
  }));
  const deep = sims.map((qs) =>
    qs.map((q) => {
      const ids = Array.from({ length: rows }, (_, r) => r).sort((a, b) => q[b]! - q[a]! || a - b);
      return { ids, scores: ids.map((r) => q[r]!) };
    }),
  );
  return { pool: { rows, sourceOf, sources }, sims, max, mean, deep };
}

/** Stored top-K lists (padded with -1 / -Infinity past the pool's end). */
export function topKLists(p: Problem, k: number): QueryLists[] {
  return p.deep.map((lists) => {
    const ids = new Int32Array(lists.length * k).fill(-1);
    const scores = new Float32Array(lists.length * k).fill(-Infinity);
    lists.forEach((l, q) => {
      for (let i = 0; i < Math.min(k, l.ids.length); i++) {
        ids[q * k + i] = l.ids[i]!;
        scores[q * k + i] = l.scores[i]!;
      }
    });
    return { queries: lists.length, k, ids, scores };
  });
}
