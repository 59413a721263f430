import { eachPoolRowTexts, eachQuery, readScoreVector, throwIfCancelled, type PoolRows } from '@rds/artifacts';
import type { ContaminationConfig, ContaminationMatch, ContaminationReport } from '@rds/schemas';

/**
 * The contamination check: which pool rows are near-copies of a query or evaluation example.
 * Two independent tests, either of which flags a row:
 * - similarity: the row's RDS+ score with some example is >= minSimilarity. The per-task max vectors
 *   scoring already wrote say which rows reach the bar; the matching example is then found exactly
 *   (see `pairsAtLeast` in @rds/vector-index) for just those rows.
 * - n-gram: the row shares a run of `ngram` words with an example (13, as in common decontamination
 *   practice); words are lower-cased runs of letters/digits, so punctuation and spacing do not hide a copy.
 *   An example shorter than `ngram` words matches only as a whole.
 */

/** (pool row, example index) pairs of a set scoring at least a bar; `k` bounds any example's count. */
export type PairsAtLeast = (
  task: string,
  minScore: number,
  k: number,
) => Promise<{ row: number; query: number; score: number }[]>;

export interface ContaminationInput {
  runDir: string;
  /** Query set tasks (steer the selection) and decontamination sets (only checked). */
  queryTasks: string[];
  checkTasks: string[];
  settings: ContaminationConfig;
  pool: PoolRows;
  /** Needed only when the similarity test flags something. */
  pairsAtLeast: PairsAtLeast | undefined;
  signal: AbortSignal;
  onProgress?: (rows: number, total: number) => void;
}

export interface ContaminationResult {
  report: Omit<ContaminationReport, 'excluded'>;
  /** flagged[row] = 1 for every flagged pool row. */
  flagged: Uint8Array;
}

/** Lets a float32 score equal to the bar in the max vector still match its pair recomputed by another engine. */
const FLOAT_SLACK = 1e-6;

/** Lower-cased runs of letters and digits: what the n-gram test compares. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

const textOf = (messages: { content: string }[]) => messages.map((m) => m.content).join('\n');

/** Every n-gram (and every whole example shorter than n words) of the examples, to the first example having it. */
export class NgramIndex {
  private readonly grams = new Map<string, { set: number; query: number }>();
  /** Window lengths to slide over a pool row: n, plus the lengths of shorter examples. */
  readonly lengths = new Set<number>();

  constructor(readonly n: number) {}

  add(words: string[], set: number, query: number): void {
    const len = Math.min(this.n, words.length);
    if (len === 0) return;
    this.lengths.add(len);
    for (let i = 0; i + len <= words.length; i++) {
      const key = words.slice(i, i + len).join(' ');
      if (!this.grams.has(key)) this.grams.set(key, { set, query });
    }
  }

  /** The first match per set in `words` (row order), as [set, query, gram]. */
  matches(words: string[]): { set: number; query: number; gram: string }[] {
    const found = new Map<number, { set: number; query: number; gram: string }>();
    for (const len of this.lengths) {
      for (let i = 0; i + len <= words.length; i++) {
        const gram = words.slice(i, i + len).join(' ');
        const hit = this.grams.get(gram);
        if (hit && !found.has(hit.set)) found.set(hit.set, { ...hit, gram });
      }
    }
    return [...found.values()];
  }
}

export async function findContamination(input: ContaminationInput): Promise<ContaminationResult> {
  const { runDir, pool, settings, signal } = input;
  const sets = [
    ...input.queryTasks.map((task) => ({ task, role: 'query' as const })),
    ...input.checkTasks.map((task) => ({ task, role: 'evaluation' as const })),
  ];

  // Example ids (for the report) and the n-gram index, from the canonical sets ingest wrote.
  const exampleIds: string[][] = [];
  const index = settings.ngram > 0 ? new NgramIndex(settings.ngram) : null;
  for (const [s, set] of sets.entries()) {
    const ids: string[] = [];
    for await (const value of eachQuery(input.runDir, set.task)) {
      index?.add(wordsOf(textOf(value.messages)), s, ids.length);
      ids.push(value.id);
    }
    exampleIds.push(ids);
  }

  const matches = new Map<number, ContaminationMatch[]>();
  const add = (row: number, m: ContaminationMatch) => {
    const list = matches.get(row);
    if (list) list.push(m);
    else matches.set(row, [m]);
  };

  if (settings.minSimilarity !== null) {
    const bar = settings.minSimilarity;
    for (const [s, set] of sets.entries()) {
      throwIfCancelled(signal);
      const { scores } = await readScoreVector(runDir, set.task, 'max', pool.rows);
      const rows: number[] = [];
      for (let r = 0; r < scores.length; r++) if (scores[r]! >= bar) rows.push(r);
      if (rows.length === 0) continue;
      if (!input.pairsAtLeast)
        throw new Error('the similarity check needs @rds/vector-index (pairsAtLeast) to name the matching examples');
      const pairs = await input.pairsAtLeast(set.task, bar - FLOAT_SLACK, rows.length);
      // Pairs come best first: the first pair of a row is its matching example.
      const best = new Map<number, { query: number; score: number }>();
      for (const p of pairs) if (!best.has(p.row)) best.set(p.row, p);
      for (const r of rows) {
        const b = best.get(r);
        // The max vector is the authority on the score; the pair names the example (always found,
        // as any query of the set holds at most rows.length rows above the bar).
        if (!b)
          throw new Error(
            `similarity check: no example of "${set.task}" matches pool row ${r} (score ${scores[r]}) when recomputed; score the run again`,
          );
        add(r, {
          kind: 'similarity',
          task: set.task,
          query: b.query,
          queryId: exampleIds[s]![b.query]!,
          score: scores[r]!,
        });
      }
    }
  }

  if (index) {
    let rows = 0;
    for await (const { row, messages } of eachPoolRowTexts(runDir, pool.manifest, signal)) {
      for (const hit of index.matches(wordsOf(textOf(messages)))) {
        add(row, {
          kind: 'ngram',
          task: sets[hit.set]!.task,
          query: hit.query,
          queryId: exampleIds[hit.set]![hit.query]!,
          ngram: hit.gram,
        });
      }
      rows = row + 1;
      if ((rows & 0x3fff) === 0) input.onProgress?.(rows, pool.rows);
    }
    input.onProgress?.(rows, pool.rows);
  }

  const flagged = new Uint8Array(pool.rows);
  const perSet = Object.fromEntries(sets.map((s) => [s.task, 0]));
  const perSource: Record<string, number> = {};
  const rows: ContaminationReport['rows'] = [];
  for (const r of [...matches.keys()].sort((a, b) => a - b)) {
    flagged[r] = 1;
    const list = matches.get(r)!;
    for (const task of new Set(list.map((m) => m.task))) perSet[task]!++;
    const source = pool.sources[pool.sourceOf[r]!]!;
    perSource[source] = (perSource[source] ?? 0) + 1;
    rows.push({ row: r, id: pool.ids.get(r), source, matches: list });
  }
  return {
    flagged,
    report: {
      kind: 'contamination',
      version: 1,
      settings: { minSimilarity: settings.minSimilarity, ngram: settings.ngram },
      sets: sets.map((s, i) => ({ ...s, examples: exampleIds[i]!.length })),
      poolRows: pool.rows,
      flagged: rows.length,
      perSet,
      perSource,
      rows,
    },
  };
}
