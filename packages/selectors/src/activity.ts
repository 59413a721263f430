import { createHash } from 'node:crypto';
import os from 'node:os';
import {
  activityRuntime,
  cleanSelectionTemps,
  completedSelection,
  readScoresManifest,
  readScoreVector,
  readTopK,
  runLayout,
  throwIfCancelled,
  writeContaminationReport,
  writeSelectedRows,
  writeSelectionSummary,
  ProgressMeter,
  readPoolRows,
  querySetChecksum,
  type PoolRows,
  readPoolManifest,
} from '@rds/artifacts';
import type { z } from 'zod';
import {
  ContaminationReport,
  SelectInput,
  SelectionSummary,
  aggregatesFor,
  parseOrThrow,
  type SelectOutput,
  type SelectedRow,
} from '@rds/schemas';
import { findContamination, type PairsAtLeast } from './contamination.js';
import { select, type FetchMore, type QueryLists, type Selection } from './strategies/index.js';

const QUANTILES = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1];

/**
 * Deeper per-query lists of a task's queries (queries x k row-major ids/scores, same order and
 * padding as the stored lists): @rds/vector-index's `topKForQueries`.
 */
export type TopKForQueries = (
  runDir: string,
  task: string,
  queries: number[],
  k: number,
) => Promise<{ ids: Int32Array; scores: Float32Array }>;

/** The (pool row, example) pairs of a set scoring at least `minScore`: @rds/vector-index's `pairsAtLeast`. */
export type PairsAtLeastInRun = (
  runDir: string,
  task: string,
  minScore: number,
  k: number,
  signal?: AbortSignal,
) => ReturnType<PairsAtLeast>;

/** What selection needs from the vector index, passed in by the composition root (@rds/runner, the CLI). */
export interface SelectPoolDeps {
  /** For round-robin-queries when a query runs out of its stored list; without it the stored lists must do. */
  topKForQueries?: TopKForQueries;
  /** For the contamination check's similarity test, when it flags something. */
  pairsAtLeast?: PairsAtLeastInRun;
}

/**
 * selectPool activity: read the pool's ids/sources and the stored scores, run the strategy, write
 * selection/selection.jsonl (SelectedRow per line, rank order) and selection/summary.json.
 * Idempotent: a summary with the same fingerprint (settings + pool + score checksums) whose
 * selection file still verifies means there is nothing to do. Another strategy or budget replaces
 * both files atomically (rows first, then the summary that vouches for them).
 */
export async function selectPool(raw: z.input<typeof SelectInput>, deps: SelectPoolDeps = {}): Promise<SelectOutput> {
  const input = parseOrThrow(SelectInput, raw, 'selectPool input');
  if (os.endianness() !== 'LE') throw new Error('score files are little-endian; this host is big-endian');
  const rt = activityRuntime();
  const layout = runLayout(input.runDir);
  const { strategy, budget, seed } = input.selection;
  // The turn rule only matters to the round-robins: switching it for another strategy changes nothing.
  const turns = strategy === 'round-robin-tasks' || strategy === 'round-robin-queries' ? input.selection.turns : null;
  const minScore = input.selection.minScore ?? null;
  const sourceQuotas =
    input.selection.sourceQuotas && Object.keys(input.selection.sourceQuotas).length
      ? input.selection.sourceQuotas
      : null;
  // Sorted: the order the fingerprint has always listed them in.
  const aggregates = [...aggregatesFor(strategy)].sort();
  const contamination = input.contamination ?? null;
  const exclude = contamination !== null && input.selection.excludeContaminated;
  // Every set the check reads: the query sets' and decontamination sets' canonical files and max scores.
  const checkedSets = contamination ? [...input.tasks, ...input.checkTasks] : [];

  // Fingerprint from manifests only (cheap), so an unchanged selection is recognised without reading scores.
  const poolManifest = await readPoolManifest(input.runDir);
  const scoreManifests = await Promise.all(
    input.tasks.flatMap((task) => aggregates.map((a) => readScoresManifest(input.runDir, task, a))),
  );
  const checkedManifests =
    contamination?.minSimilarity != null
      ? await Promise.all(checkedSets.map((task) => readScoresManifest(input.runDir, task, 'max')))
      : [];
  const checkedFiles = await Promise.all(checkedSets.map((task) => querySetChecksum(input.runDir, task)));
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        strategy,
        turns,
        budget,
        seed,
        minScore,
        sourceQuotas: sourceQuotas
          ? Object.entries(sourceQuotas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          : null,
        tasks: input.tasks,
        pool: [poolManifest.fingerprint, poolManifest.shards.map((s) => s.sha256)],
        scores: scoreManifests.map((m) => [
          m.task,
          m.aggregate,
          m.k ?? null,
          m.embeddingsFingerprint,
          m.files.map((f) => f.sha256),
        ]),
        // Added only when a contamination check runs, so earlier runs keep their fingerprints.
        ...(contamination
          ? {
              contamination: [
                contamination.minSimilarity,
                contamination.ngram,
                exclude,
                input.checkTasks,
                checkedFiles,
              ],
              checkedScores: checkedManifests.map((m) => [
                m.task,
                m.embeddingsFingerprint,
                m.files.map((f) => f.sha256),
              ]),
            }
          : {}),
      }),
    )
    .digest('hex');
  const existing = await completedSelection(input.runDir, fingerprint);
  if (existing) {
    rt.log(`selection already done (${existing.selected} rows, ${strategy}); skipping`);
    return {
      skipped: true,
      selected: existing.selected,
      warnings: existing.warnings,
      ...(existing.contaminated !== undefined ? { contaminated: existing.contaminated } : {}),
    };
  }
  await cleanSelectionTemps(input.runDir);

  const poolMeter = new ProgressMeter(
    'select:read-pool',
    poolManifest.shards.reduce((a, s) => a + s.rows, 0),
    'rows',
    (p) => rt.heartbeat(p),
  );
  const pool = await readPoolRows(input.runDir, rt.signal, (rows) => poolMeter.update(rows));
  if (pool.manifest.fingerprint !== poolManifest.fingerprint)
    throw new Error(`${layout.pool.manifest} changed while selecting; run select again`);

  let contaminationRef = null;
  let excluded: Uint8Array | undefined;
  let contaminated: number | undefined;
  if (contamination) {
    const meter = new ProgressMeter('select:contamination', pool.rows, 'rows', (p) => rt.heartbeat(p));
    const found = await findContamination({
      runDir: input.runDir,
      queryTasks: input.tasks,
      checkTasks: input.checkTasks,
      settings: contamination,
      pool,
      pairsAtLeast: deps.pairsAtLeast
        ? (task, minScore, k) => deps.pairsAtLeast!(input.runDir, task, minScore, k, rt.signal)
        : undefined,
      signal: rt.signal,
      onProgress: (rows) => meter.update(rows),
    });
    const report = parseOrThrow(ContaminationReport, { ...found.report, excluded: exclude }, 'contamination report');
    // Written before the selection and the summary that vouches for both (a crash leaves no summary naming it).
    contaminationRef = await writeContaminationReport(input.runDir, report);
    contaminated = report.flagged;
    if (exclude) excluded = found.flagged;
    rt.log(
      `contamination check: ${report.flagged} of ${pool.rows} pool rows are near-copies of query/evaluation examples` +
        (report.flagged
          ? ` (${Object.entries(report.perSet)
              .filter(([, n]) => n > 0)
              .map(([t, n]) => `${t}: ${n}`)
              .join(', ')})`
          : '') +
        (exclude ? '; excluded from the selection' : ''),
    );
  }

  const vectorAggregate = strategy === 'top-k-mean' ? 'mean' : 'max';
  const tasks = [];
  const queryLists: QueryLists[] = [];
  for (const task of input.tasks) {
    throwIfCancelled(rt.signal);
    tasks.push({ task, scores: (await readScoreVector(input.runDir, task, vectorAggregate, pool.rows)).scores });
    if (strategy === 'round-robin-queries') queryLists.push((await readTopK(input.runDir, task, pool.rows)).lists);
  }
  const fetchMore =
    strategy === 'round-robin-queries'
      ? deeperLists(deps.topKForQueries, input.runDir, input.tasks, rt.log)
      : undefined;

  const chooseMeter = new ProgressMeter('select:choose', Math.min(budget, pool.rows), 'rows', (p) => rt.heartbeat(p));
  const selection = await select({
    strategy,
    turns: turns ?? undefined,
    budget,
    seed,
    minScore: minScore ?? undefined,
    sourceQuotas: sourceQuotas ?? undefined,
    excluded,
    pool,
    tasks,
    queryLists: strategy === 'round-robin-queries' ? queryLists : undefined,
    fetchMore,
    onProgress: (done) => {
      throwIfCancelled(rt.signal);
      chooseMeter.update(done);
    },
  });
  for (const w of selection.warnings) rt.log(`warning: ${w}`);

  const writeMeter = new ProgressMeter('select:write', selection.count, 'rows', (p) => rt.heartbeat(p));
  const ref = await writeSelectedRows(
    input.runDir,
    selection.count,
    (i) => selectedRow(selection, i, pool, input.tasks),
    {
      signal: rt.signal,
      onProgress: (rows) => writeMeter.update(rows),
    },
  );

  const summary: SelectionSummary = {
    kind: 'selection',
    version: 1,
    strategy,
    turns,
    budget,
    selected: selection.count,
    poolRows: pool.rows,
    seed,
    ...tally(selection, pool, input.tasks),
    warnings: selection.warnings,
    selection: ref,
    tasks: input.tasks,
    minScore,
    sourceQuotas,
    ...(contamination ? { contamination: contaminationRef, contaminated, excludeContaminated: exclude } : {}),
    fingerprint,
    createdAt: new Date().toISOString(),
  };
  await writeSelectionSummary(input.runDir, summary);
  writeMeter.update(selection.count, undefined, true);
  return {
    skipped: false,
    selected: selection.count,
    warnings: selection.warnings,
    ...(contaminated !== undefined ? { contaminated } : {}),
  };
}

function selectedRow(s: Selection, i: number, pool: PoolRows, tasks: string[]): SelectedRow {
  const row = s.rows[i]!;
  const score = s.score[i]!;
  return {
    id: pool.ids.get(row),
    rank: i,
    task: tasks[s.task[i]!] ?? null,
    score: Number.isFinite(score) ? score : null,
    source: pool.sources[pool.sourceOf[row]!]!,
    query: s.query[i]! >= 0 ? s.query[i]! : null,
  };
}

/** Counts per task and source, and score quantiles (nearest rank below) of each task's selected rows. */
function tally(s: Selection, pool: { sources: string[]; sourceOf: ArrayLike<number> }, tasks: string[]) {
  const perTask = Object.fromEntries(tasks.map((t) => [t, 0]));
  const perSource = Object.fromEntries(pool.sources.map((x) => [x, 0]));
  const byTask = tasks.map(() => [] as number[]);
  for (let i = 0; i < s.count; i++) {
    const t = s.task[i]!;
    perTask[tasks[t]!]!++;
    perSource[pool.sources[pool.sourceOf[s.rows[i]!]!]!]!++;
    if (Number.isFinite(s.score[i]!)) byTask[t]!.push(s.score[i]!);
  }
  const scoreQuantiles = Object.fromEntries(
    tasks.map((t, ti) => {
      const v = Float64Array.from(byTask[ti]!).sort();
      return [t, v.length ? QUANTILES.map((q) => v[Math.floor(q * (v.length - 1))]!) : []];
    }),
  );
  return { perTask, perSource, scoreQuantiles };
}

/**
 * Deeper per-query lists for round-robin-queries, from `topKForQueries`. Without it, selection works
 * from the stored lists alone and fails with a clear message if a query runs out of them.
 */
function deeperLists(
  topKForQueries: TopKForQueries | undefined,
  runDir: string,
  tasks: string[],
  log: (m: string) => void,
): FetchMore | undefined {
  if (!topKForQueries) {
    log('topKForQueries (@rds/vector-index) was not provided; selecting from the stored lists alone');
    return undefined;
  }
  return async (task, queries, k) => {
    const out = await topKForQueries(runDir, tasks[task]!, queries, k);
    if (!(out?.ids instanceof Int32Array) || !(out.scores instanceof Float32Array)) {
      throw new Error(
        `topKForQueries(${tasks[task]}, [${queries.join(', ')}], ${k}) did not return {ids: Int32Array, scores: Float32Array}`,
      );
    }
    const n = queries.length * k;
    return { ids: out.ids.subarray(0, n), scores: out.scores.subarray(0, n) };
  };
}
