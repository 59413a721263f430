import { ValidationError } from '@rds/schemas';
import { descKey } from './keys.js';
import { SplitMix32 } from '@rds/common';
import { computeQuotas, QuotaTracker } from './quotas.js';
import { SortedStream } from './sorted-stream.js';
import type { QueryList, Selection, SelectParams } from './types.js';

const PROGRESS_EVERY = 16_384;
/** Extra rows per task in the first partial selection, so overlap between tasks rarely needs a second batch. */
const FIRST_BATCH_MARGIN = 1.25;

/** Smallest float32 >= x (so "float32 score >= x" is exactly "score >= minScore" in double). */
function float32AtLeast(x: number): number {
  const f = Math.fround(x);
  if (f >= x || Number.isNaN(x)) return f;
  const buf = new Float32Array([f]);
  const bits = new Int32Array(buf.buffer);
  if (f === 0)
    bits[0] = 1; // smallest positive subnormal
  else if (f > 0) bits[0]!++;
  else bits[0]!--;
  return buf[0]!;
}

function firstNaN(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) return i;
  return -1;
}

/** Selection under construction: bitmap, quotas, output columns. */
class Picker {
  readonly selected: Uint8Array;
  readonly rows: Uint32Array;
  readonly task: Int32Array;
  readonly score: Float32Array;
  readonly query: Int32Array;
  count = 0;

  constructor(
    poolRows: number,
    readonly target: number,
    readonly quota: QuotaTracker,
    private readonly onProgress: SelectParams['onProgress'],
  ) {
    this.selected = new Uint8Array(poolRows);
    this.rows = new Uint32Array(target);
    this.task = new Int32Array(target);
    this.score = new Float32Array(target);
    this.query = new Int32Array(target);
  }

  get full(): boolean {
    return this.count >= this.target;
  }

  /** Whether `row` may still be picked (not taken yet, its source below quota). */
  available(row: number): boolean {
    return this.selected[row] === 0 && this.quota.allows(row);
  }

  take(row: number, task: number, score: number, query: number): void {
    const i = this.count++;
    this.selected[row] = 1;
    this.quota.take(row);
    this.rows[i] = row;
    this.task[i] = task;
    this.score[i] = score;
    this.query[i] = query;
    if (this.onProgress && this.count % PROGRESS_EVERY === 0) this.onProgress(this.count, this.target);
  }
}

/**
 * Run a selection strategy. Pure and deterministic: same params (and seed) -> same rows in the same
 * order. Async only because round-robin-queries may wait for deeper lists (params.fetchMore).
 *
 * Common rules for every strategy:
 * - A row is eligible when its best task score (max over tasks) is >= minScore (all rows without
 *   minScore) and it is not excluded (params.excluded).
 * - A row is selected at most once. The result has exactly min(B, eligible) rows; with quotas,
 *   exactly the sum of the quotas (see quotas.ts), which is B unless the weighted sources run out.
 * - Ranking ties are broken by the lower global row index; tasks and queries go in the given order.
 * - With quotas, a row whose source has reached its quota is skipped (the strategy moves on).
 * - Round-robins (params.turns): `reference` (default, the reference code's rule) spends a turn
 *   on a row another ranker already took; `fill` keeps popping until the turn adds a row.
 */
export async function select(params: SelectParams): Promise<Selection> {
  const { pool, tasks, budget } = params;
  if (!Number.isInteger(budget) || budget <= 0)
    throw new ValidationError(`budget must be a positive integer, got ${budget}`);
  if (tasks.length === 0) throw new ValidationError('select needs at least one task score vector');
  if (pool.sourceOf.length !== pool.rows)
    throw new ValidationError(`pool has ${pool.rows} rows but ${pool.sourceOf.length} source entries`);
  for (const t of tasks) {
    if (t.scores.length !== pool.rows)
      throw new ValidationError(`scores of task "${t.task}" have ${t.scores.length} rows, the pool has ${pool.rows}`);
    const nan = firstNaN(t.scores);
    if (nan >= 0) throw new ValidationError(`scores of task "${t.task}" have NaN at row ${nan}`);
  }
  const warnings: string[] = [];
  const minScore = params.minScore ?? -Infinity;

  // Best task (lowest index on ties) and its score per row: eligibility, top-k ranking, baseline labels.
  const best = new Float32Array(pool.rows).fill(-Infinity);
  const bestTask = new Uint16Array(pool.rows);
  tasks.forEach((t, ti) => {
    const s = t.scores;
    for (let r = 0; r < s.length; r++) {
      if (s[r]! > best[r]!) {
        best[r] = s[r]!;
        bestTask[r] = ti;
      }
    }
  });
  const excluded = params.excluded ?? null;
  if (excluded && excluded.length !== pool.rows)
    throw new ValidationError(`exclusion mask has ${excluded.length} rows, the pool has ${pool.rows}`);
  const isEligible = (r: number) => best[r]! >= minScore && !(excluded && excluded[r]);
  const capacity = new Array<number>(pool.sources.length).fill(0);
  let eligible = 0;
  for (let r = 0; r < pool.rows; r++) {
    if (isEligible(r)) {
      eligible++;
      capacity[pool.sourceOf[r]!]!++;
    }
  }

  const weights = sourceWeights(params, warnings);
  const quota = weights ? computeQuotas(capacity, weights, budget) : null;
  const target = quota ? quota.reduce((a, b) => a + b, 0) : Math.min(budget, eligible);
  if (target < budget) {
    warnings.push(
      quota
        ? `budget ${budget} cannot be met under the source quotas: the weighted sources have only ${target} eligible rows; selecting ${target}`
        : `budget ${budget} exceeds the ${eligible} eligible pool rows${params.minScore !== undefined ? ` (score >= ${params.minScore})` : ''}; selecting all ${eligible}`,
    );
  }
  const picker = new Picker(
    pool.rows,
    target,
    new QuotaTracker(pool.sourceOf, pool.sources.length, quota, excluded),
    params.onProgress,
  );
  const maxKey = descKey(float32AtLeast(minScore));

  switch (params.strategy) {
    case 'round-robin-tasks':
      roundRobinTasks(picker, params, maxKey);
      break;
    case 'top-k-max':
    case 'top-k-mean':
      topK(picker, best, bestTask, maxKey);
      break;
    case 'round-robin-queries':
      await roundRobinQueries(picker, params, minScore);
      break;
    case 'random':
    case 'balanced-random':
      randomPick(picker, params.seed, best, bestTask, isEligible);
      break;
  }
  if (picker.count < target) {
    // Only reachable when score vectors and query lists disagree (e.g. lists from other embeddings).
    warnings.push(`strategy ${params.strategy} ran out of candidates after ${picker.count} of ${target} rows`);
  }
  params.onProgress?.(picker.count, target);
  return {
    count: picker.count,
    rows: picker.rows.subarray(0, picker.count),
    task: picker.task.subarray(0, picker.count),
    score: picker.score.subarray(0, picker.count),
    query: picker.query.subarray(0, picker.count),
    target,
    eligible,
    warnings,
  };
}

/** Quota weights per source index, or null for no quotas. balanced-random: equal weights unless quotas are given. */
function sourceWeights(params: SelectParams, warnings: string[]): number[] | null {
  const { sources } = params.pool;
  if (params.sourceQuotas && Object.keys(params.sourceQuotas).length > 0) {
    const known = new Set(sources);
    for (const name of Object.keys(params.sourceQuotas)) {
      if (!known.has(name)) warnings.push(`quota for source "${name}" ignored: no pool row has that source`);
    }
    const weights = sources.map((s) => params.sourceQuotas![s] ?? 0);
    if (!weights.some((w) => w > 0)) throw new ValidationError('source quotas give no pool source a positive weight');
    return weights;
  }
  if (params.strategy === 'balanced-random') return sources.map(() => 1);
  return null;
}

/**
 * round-robin-tasks (RDS+ multi-task): task t's score of a row is its max over t's queries. Tasks
 * take turns in the given order, each walking its own ranking (score desc, row asc), until the
 * target is reached; a task with no eligible row left drops out of the rotation. On its turn a task
 * pops rows its source quota rules out for free, then (turns `reference`) pops one row and adds
 * nothing if another task already took it, or (turns `fill`) keeps popping until it adds a row.
 */
function roundRobinTasks(picker: Picker, params: SelectParams, maxKey: number): void {
  const fill = params.turns === 'fill';
  const firstBatch = (picker.target / params.tasks.length) * FIRST_BATCH_MARGIN + 64;
  // Rows a stream may drop for good while building its next batch (the rule must be monotone).
  // Under `reference` a row another task took must still be popped (it costs the turn), so only
  // rows whose source quota is full are dropped.
  const excluded = fill ? (row: number) => !picker.available(row) : (row: number) => !picker.quota.allows(row);
  const streams = params.tasks.map((t) => new SortedStream(t.scores, firstBatch, maxKey, excluded));
  const live = streams.map(() => true);
  let liveCount = streams.length;
  while (!picker.full && liveCount > 0) {
    for (let t = 0; t < streams.length && !picker.full; t++) {
      if (!live[t]) continue;
      const row = fill ? nextAvailable(streams[t]!, picker) : nextAllowed(streams[t]!, picker);
      if (row < 0) {
        live[t] = false;
        liveCount--;
        continue;
      }
      if (picker.selected[row]) continue; // reference: the turn is spent on a taken row
      picker.take(row, t, params.tasks[t]!.scores[row]!, -1);
    }
  }
}

/** Next row neither selected nor ruled out by its source quota, or -1. */
function nextAvailable(stream: SortedStream, picker: Picker): number {
  for (;;) {
    const row = stream.next();
    if (row < 0 || picker.available(row)) return row;
  }
}

/** Next row its source quota allows (selected or not), or -1. */
function nextAllowed(stream: SortedStream, picker: Picker): number {
  for (;;) {
    const row = stream.next();
    if (row < 0 || picker.quota.allows(row)) return row;
  }
}

/**
 * top-k-max / top-k-mean: the B best rows by their best task score (max over tasks of the task's
 * max- or mean-over-queries score), score desc then row asc. Labelled with that best task.
 */
function topK(picker: Picker, best: Float32Array, bestTask: Uint16Array, maxKey: number): void {
  const stream = new SortedStream(best, picker.target + 64, maxKey, (row) => !picker.available(row));
  while (!picker.full) {
    const row = nextAvailable(stream, picker);
    if (row < 0) break;
    picker.take(row, bestTask[row]!, best[row]!, -1);
  }
}

/**
 * round-robin-queries (paper Algorithm 1): every query of every task, in task order then query
 * order, takes turns walking its ranked list, until the target is reached. On its turn a query
 * pops rows its source quota rules out for free, then (turns `reference`) pops one row and adds
 * nothing if it is already selected, or (turns `fill`) keeps popping until it adds a row. A query
 * whose stored list runs out fetches a list twice as deep (params.fetchMore); a query drops out
 * when its list ends (padding), or its next score is below minScore.
 */
async function roundRobinQueries(picker: Picker, params: SelectParams, minScore: number): Promise<void> {
  const lists = params.queryLists;
  if (!lists || lists.length !== params.tasks.length) {
    throw new ValidationError('round-robin-queries needs the per-query top-K lists of every task');
  }
  const poolRows = params.pool.rows;
  interface Cursor {
    task: number;
    query: number;
    ids: Int32Array;
    scores: Float32Array;
    pos: number;
    done: boolean;
  }
  const cursors: Cursor[] = [];
  lists.forEach((l, t) => {
    if (l.ids.length !== l.queries * l.k || l.scores.length !== l.queries * l.k) {
      throw new ValidationError(
        `top-K lists of task "${params.tasks[t]!.task}" should hold ${l.queries} x ${l.k} entries`,
      );
    }
    for (let q = 0; q < l.queries; q++) {
      const span = [q * l.k, (q + 1) * l.k] as const;
      cursors.push({
        task: t,
        query: q,
        ids: l.ids.subarray(...span),
        scores: l.scores.subarray(...span),
        pos: 0,
        done: false,
      });
    }
  });

  /**
   * Deepen c's list, and in the same call every live list of c's task that is as deep and at least
   * half used: under reference turns every query pops one row per round, so they all run out
   * within a round of each other, and one pass over the pool serves them all.
   */
  const deepen = async (c: Cursor): Promise<void> => {
    const depth = c.ids.length;
    if (depth >= poolRows) {
      c.done = true;
      return;
    }
    const name = params.tasks[c.task]!.task;
    if (!params.fetchMore) {
      throw new Error(
        `query ${c.query} of task "${name}" ran out of its stored top-${depth} list after ${picker.count} of ${picker.target} rows were selected ` +
          `and no deeper lists can be fetched; re-score with a larger scoring.topK`,
      );
    }
    const group = cursors.filter(
      (o) => o === c || (o.task === c.task && !o.done && o.ids.length === depth && 2 * o.pos >= depth),
    );
    const k = Math.min(poolRows, Math.max(2 * depth, 1));
    const more: QueryList = await params.fetchMore(
      c.task,
      group.map((o) => o.query),
      k,
    );
    if (more.ids.length !== group.length * k || more.scores.length !== group.length * k) {
      throw new Error(
        `deeper lists for ${group.length} queries of task "${name}" have ${more.ids.length} entries, expected ${group.length} x ${k}`,
      );
    }
    group.forEach((o, i) => {
      o.ids = more.ids.subarray(i * k, (i + 1) * k);
      o.scores = more.scores.subarray(i * k, (i + 1) * k);
    });
  };

  const fill = params.turns === 'fill';
  let live = cursors.length;
  while (!picker.full && live > 0) {
    for (const c of cursors) {
      if (picker.full) break;
      if (c.done) continue;
      for (;;) {
        if (c.pos >= c.ids.length) {
          await deepen(c);
          if (c.done) break;
          continue;
        }
        const row = c.ids[c.pos]!;
        const score = c.scores[c.pos]!;
        c.pos++;
        if (row < 0 || score < minScore) {
          c.done = true;
          break;
        }
        if (row >= poolRows)
          throw new Error(
            `top-K list of query ${c.query} of task "${params.tasks[c.task]!.task}" names row ${row}, the pool has ${poolRows}`,
          );
        if (!picker.quota.allows(row)) continue;
        if (picker.selected[row]) {
          if (fill) continue;
          break; // reference: the turn is spent on a taken row
        }
        picker.take(row, c.task, score, c.query);
        break;
      }
      if (c.done) live--;
    }
  }
}

/**
 * random / balanced-random: a seeded uniform random order of the eligible rows (Fisher-Yates with
 * splitmix32, drawn lazily), taken front to back, skipping rows whose source quota is full.
 * balanced-random = random with equal quota weights for every source (see quotas.ts for how an
 * exhausted source's remainder is shared). Rows are labelled with their best task and its score.
 */
function randomPick(
  picker: Picker,
  seed: number,
  best: Float32Array,
  bestTask: Uint16Array,
  isEligible: (row: number) => boolean,
): void {
  let n = 0;
  for (let r = 0; r < best.length; r++) if (isEligible(r)) n++;
  const order = new Uint32Array(n);
  n = 0;
  for (let r = 0; r < best.length; r++) if (isEligible(r)) order[n++] = r;
  const rng = new SplitMix32(seed);
  for (let i = 0; i < n && !picker.full; i++) {
    const j = i + rng.nextBelow(n - i);
    const row = order[j]!;
    order[j] = order[i]!;
    order[i] = row;
    if (picker.available(row)) picker.take(row, bestTask[row]!, best[row]!, -1);
  }
}
