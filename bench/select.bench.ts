/**
 * Selection benchmark on synthetic scores (no embeddings): a 1,000,000-row pool, 7 tasks with 949
 * queries in all, budget 326,000, with round-robin-tasks and round-robin-queries under both turn
 * rules (reference, the default, and fill); then round-robin-tasks at 5.8M rows / 2.5M budget,
 * both rules (BENCH_SELECT_LARGE=0 skips it). BENCH_SELECT_K sets the stored list depth (4096).
 * Times the selection itself (score generation excluded) and prints peak RSS.
 *
 *   npm run bench:select
 */
import { select, type QueryLists, type TaskScores } from '@rds/selectors';
import { SplitMix32 } from '@rds/common';

const QUERIES_PER_TASK = [200, 150, 150, 150, 100, 100, 99]; // 949
const SOURCES = ['flan', 'sharegpt', 'alpaca', 'code', 'math'];
const K = Number(process.env.BENCH_SELECT_K ?? 4096);

function pool(rows: number, rng: SplitMix32) {
  const sourceOf = new Uint16Array(rows);
  for (let r = 0; r < rows; r++) sourceOf[r] = rng.nextBelow(SOURCES.length);
  return { rows, sourceOf, sources: SOURCES };
}

function taskVectors(rows: number, rng: SplitMix32): TaskScores[] {
  return QUERIES_PER_TASK.map((_, t) => {
    const scores = new Float32Array(rows);
    // Max of cosine similarities: mostly 0.2-0.6, quantised like real float32 scores.
    for (let r = 0; r < rows; r++) scores[r] = 0.2 + 0.4 * (rng.nextUint32() / 2 ** 32) ** 2;
    return { task: `task${t}`, scores };
  });
}

/** Query q's ranked list as an affine permutation of the rows: prefix-stable, so deeper lists extend shallower ones. */
function affine(rows: number, rng: SplitMix32) {
  let a = 1 + 2 * rng.nextBelow(rows / 2);
  while (gcd(a, rows) !== 1) a += 2;
  return { a, b: rng.nextBelow(rows) };
}
function gcd(x: number, y: number): number {
  return y === 0 ? x : gcd(y, x % y);
}
function listOf(rows: number, p: { a: number; b: number }, k: number) {
  const ids = new Int32Array(k);
  const scores = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    ids[i] = Number((BigInt(p.a) * BigInt(i) + BigInt(p.b)) % BigInt(rows));
    scores[i] = 0.9 - (0.7 * i) / rows;
  }
  return { ids, scores };
}

function rss(): string {
  return `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`;
}

async function timed(label: string, fn: () => Promise<{ count: number }>) {
  const t0 = performance.now();
  const s = await fn();
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `${label.padEnd(44)} ${secs.toFixed(2).padStart(7)} s  ${Math.round(s.count / secs)
      .toLocaleString('en-US')
      .padStart(12)} rows/s  selected ${s.count.toLocaleString('en-US')}  peak RSS ${rss()}`,
  );
}

async function main() {
  const rng = new SplitMix32(42);
  const rows = 1_000_000;
  const budget = 326_000;
  const p = pool(rows, rng);
  const tasks = taskVectors(rows, rng);
  const perms = QUERIES_PER_TASK.map((n) => Array.from({ length: n }, () => affine(rows, rng)));
  const queryLists: QueryLists[] = perms.map((qs) => {
    const ids = new Int32Array(qs.length * K);
    const scores = new Float32Array(qs.length * K);
    qs.forEach((perm, q) => {
      const l = listOf(rows, perm, K);
      ids.set(l.ids, q * K);
      scores.set(l.scores, q * K);
    });
    return { queries: qs.length, k: K, ids, scores };
  });
  console.log(
    `pool ${rows.toLocaleString('en-US')} rows, ${tasks.length} tasks, ${perms.flat().length} queries, top-K ${K}, budget ${budget.toLocaleString('en-US')} (inputs ready, peak RSS ${rss()})`,
  );

  for (const turns of ['reference', 'fill'] as const) {
    await timed(`round-robin-tasks (turns ${turns})`, () =>
      select({ strategy: 'round-robin-tasks', turns, budget, seed: 1, pool: p, tasks }),
    );
    let fetches = 0;
    let lists = 0;
    await timed(`round-robin-queries (turns ${turns})`, () =>
      select({
        strategy: 'round-robin-queries',
        turns,
        budget,
        seed: 1,
        pool: p,
        tasks,
        queryLists,
        fetchMore: (t, qs, k) => {
          fetches++;
          lists += qs.length;
          const ids = new Int32Array(qs.length * k);
          const scores = new Float32Array(qs.length * k);
          qs.forEach((q, i) => {
            const l = listOf(rows, perms[t]![q]!, k);
            ids.set(l.ids, i * k);
            scores.set(l.scores, i * k);
          });
          return { ids, scores };
        },
      }),
    );
    console.log(`  (round-robin-queries, turns ${turns}: ${lists} deeper lists in ${fetches} fetches)`);
  }
  await timed('top-k-max', () => select({ strategy: 'top-k-max', budget, seed: 1, pool: p, tasks }));
  await timed('balanced-random', () => select({ strategy: 'balanced-random', budget, seed: 1, pool: p, tasks }));
  await timed('round-robin-tasks + quotas + minScore', () =>
    select({
      strategy: 'round-robin-tasks',
      budget,
      seed: 1,
      pool: p,
      tasks,
      minScore: 0.3,
      sourceQuotas: { flan: 3, sharegpt: 1, alpaca: 1, code: 1, math: 1 },
    }),
  );

  if (process.env.BENCH_SELECT_LARGE !== '0') {
    const big = 5_800_000;
    const bigBudget = 2_500_000;
    const bp = pool(big, rng);
    const bt = taskVectors(big, rng);
    console.log(
      `pool ${big.toLocaleString('en-US')} rows, ${bt.length} tasks, budget ${bigBudget.toLocaleString('en-US')} (inputs ready, peak RSS ${rss()})`,
    );
    for (const turns of ['reference', 'fill'] as const) {
      await timed(`round-robin-tasks (5.8M / 2.5M, turns ${turns})`, () =>
        select({ strategy: 'round-robin-tasks', turns, budget: bigBudget, seed: 1, pool: bp, tasks: bt }),
      );
    }
  }
}

await main();
