/**
 * Brute-force references: full sorts with comparators, whole shuffles, no laziness. The strategies
 * must agree with these exactly on small data.
 */
import { computeQuotas, type SelectParams } from '../src/index.js';
import { SplitMix32 } from '@rds/common';

export interface Picked {
  row: number;
  task: number;
  score: number;
  query: number;
}

/** Rows in ranking order: score desc, row asc. */
export function rankAll(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, r) => r).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function setup(p: SelectParams) {
  const n = p.pool.rows;
  const minScore = p.minScore ?? -Infinity;
  const best: number[] = [];
  const bestTask: number[] = [];
  for (let r = 0; r < n; r++) {
    let b = -Infinity;
    let bt = 0;
    p.tasks.forEach((t, ti) => {
      if (t.scores[r]! > b) {
        b = t.scores[r]!;
        bt = ti;
      }
    });
    best.push(b);
    bestTask.push(bt);
  }
  const eligible = (r: number) => best[r]! >= minScore;
  const cap = p.pool.sources.map(() => 0);
  for (let r = 0; r < n; r++) if (eligible(r)) cap[p.pool.sourceOf[r]!]!++;
  let weights: number[] | null = null;
  if (p.sourceQuotas && Object.keys(p.sourceQuotas).length)
    weights = p.pool.sources.map((s) => p.sourceQuotas![s] ?? 0);
  else if (p.strategy === 'balanced-random') weights = p.pool.sources.map(() => 1);
  const quota = weights ? Array.from(computeQuotas(cap, weights, p.budget)) : null;
  const target = quota
    ? quota.reduce((a, b) => a + b, 0)
    : Math.min(
        p.budget,
        cap.reduce((a, b) => a + b, 0),
      );
  const taken = p.pool.sources.map(() => 0);
  const chosen = new Set<number>();
  const out: Picked[] = [];
  const quotaAllows = (r: number) => !quota || taken[p.pool.sourceOf[r]!]! < quota[p.pool.sourceOf[r]!]!;
  const ok = (r: number) => !chosen.has(r) && quotaAllows(r);
  const take = (x: Picked) => {
    chosen.add(x.row);
    taken[p.pool.sourceOf[x.row]!]!++;
    out.push(x);
  };
  return { n, minScore, best, bestTask, eligible, target, ok, quotaAllows, chosen, take, out, quota };
}

/** One ranker of a round-robin (a task or a query): its eligible rows in ranking order with their scores. */
interface Ranker {
  task: number;
  query: number;
  rows: number[];
  scores: number[];
}

/**
 * Round-robin with the reference code's turns, written from its description: rankers take turns
 * in order; on its turn a ranker first discards rows whose source quota is full, then pops its next
 * row once; if that row was already chosen, the turn adds nothing. A ranker with nothing left
 * leaves the rotation. Stops as soon as the target is reached.
 */
function popOncePerTurn(rankers: Ranker[], s: ReturnType<typeof setup>): void {
  const queues = rankers.map((r) => ({ ...r, rows: [...r.rows], scores: [...r.scores] }));
  while (s.out.length < s.target && queues.length > 0) {
    for (const q of [...queues]) {
      if (s.out.length >= s.target) break;
      while (q.rows.length > 0 && !s.quotaAllows(q.rows[0]!)) {
        q.rows.shift();
        q.scores.shift();
      }
      if (q.rows.length === 0) {
        queues.splice(queues.indexOf(q), 1);
        continue;
      }
      const row = q.rows.shift()!;
      const score = q.scores.shift()!;
      if (!s.chosen.has(row)) s.take({ row, task: q.task, score, query: q.query });
    }
  }
}

export function referenceSelect(
  p: SelectParams,
  deepLists?: { ids: number[]; scores: number[] }[][],
): { picks: Picked[]; target: number; quota: number[] | null } {
  const s = setup(p);
  const fill = p.turns === 'fill';
  if (p.strategy === 'round-robin-tasks' && !fill) {
    popOncePerTurn(
      p.tasks.map((t, task) => {
        const rows = rankAll(t.scores).filter((r) => t.scores[r]! >= s.minScore);
        return { task, query: -1, rows, scores: rows.map((r) => t.scores[r]!) };
      }),
      s,
    );
  } else if (p.strategy === 'round-robin-queries' && !fill) {
    popOncePerTurn(
      deepLists!.flatMap((lists, task) =>
        lists.map((l, query) => {
          // A list ends at its padding or at its first score below minScore.
          let end = 0;
          while (end < l.ids.length && l.ids[end]! >= 0 && l.scores[end]! >= s.minScore) end++;
          return { task, query, rows: l.ids.slice(0, end), scores: l.scores.slice(0, end) };
        }),
      ),
      s,
    );
  } else if (p.strategy === 'round-robin-tasks') {
    const orders = p.tasks.map((t) => rankAll(t.scores).filter((r) => t.scores[r]! >= s.minScore));
    const pos = orders.map(() => 0);
    while (s.out.length < s.target) {
      let any = false;
      for (let t = 0; t < orders.length && s.out.length < s.target; t++) {
        const o = orders[t]!;
        while (pos[t]! < o.length && !s.ok(o[pos[t]!]!)) pos[t]!++;
        if (pos[t]! >= o.length) continue;
        const row = o[pos[t]!++]!;
        s.take({ row, task: t, score: p.tasks[t]!.scores[row]!, query: -1 });
        any = true;
      }
      if (!any) break;
    }
  } else if (p.strategy === 'top-k-max' || p.strategy === 'top-k-mean') {
    for (const row of rankAll(s.best)) {
      if (s.out.length >= s.target) break;
      if (s.best[row]! >= s.minScore && s.ok(row))
        s.take({ row, task: s.bestTask[row]!, score: s.best[row]!, query: -1 });
    }
  } else if (p.strategy === 'round-robin-queries') {
    const qs = deepLists!.flatMap((lists, t) => lists.map((l, q) => ({ t, q, l, pos: 0 })));
    while (s.out.length < s.target) {
      let any = false;
      for (const c of qs) {
        if (s.out.length >= s.target) break;
        while (
          c.pos < c.l.ids.length &&
          c.l.ids[c.pos]! >= 0 &&
          c.l.scores[c.pos]! >= s.minScore &&
          !s.ok(c.l.ids[c.pos]!)
        )
          c.pos++;
        if (c.pos >= c.l.ids.length || c.l.ids[c.pos]! < 0 || c.l.scores[c.pos]! < s.minScore) continue;
        s.take({ row: c.l.ids[c.pos]!, task: c.t, score: c.l.scores[c.pos]!, query: c.q });
        c.pos++;
        any = true;
      }
      if (!any) break;
    }
  } else {
    // Whole Fisher-Yates shuffle of the eligible rows with the same generator, then filter.
    const order = Array.from({ length: s.n }, (_, r) => r).filter(s.eligible);
    const rng = new SplitMix32(p.seed);
    for (let i = 0; i < order.length; i++) {
      const j = i + rng.nextBelow(order.length - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const row of order) {
      if (s.out.length >= s.target) break;
      if (s.ok(row)) s.take({ row, task: s.bestTask[row]!, score: s.best[row]!, query: -1 });
    }
  }
  return { picks: s.out, target: s.target, quota: s.quota };
}

/** Real-valued water-filling: quota_s = min(cap_s, lambda * w_s) with sum = min(B, weighted capacity). */
export function idealQuotas(cap: number[], weights: number[], budget: number): number[] {
  const total = cap.reduce((a, c, i) => a + (weights[i]! > 0 ? c : 0), 0);
  const target = Math.min(budget, total);
  const fill = (lambda: number) => cap.map((c, i) => (weights[i]! > 0 ? Math.min(c, lambda * weights[i]!) : 0));
  let lo = 0;
  let hi = 1;
  while (fill(hi).reduce((a, b) => a + b, 0) < target) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (fill(mid).reduce((a, b) => a + b, 0) < target) lo = mid;
    else hi = mid;
  }
  return fill(hi);
}
