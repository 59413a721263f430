import { readJsonFile, readJsonLines, runLayout, verifyFileRef } from '@rds/artifacts';
import { SelectedRow, SelectionSummary, ValidationError } from '@rds/schemas';

/**
 * The selection as compact columns: ids (for the pool lookup) plus the per-row metadata the card and
 * the `includeMetadata` fields need. Index = position in selection.jsonl = rank.
 */
export interface SelectionTable {
  summary: SelectionSummary;
  count: number;
  ids: string[];
  /** Task per row as an index into `tasks` (-1 = none). */
  taskOf: Int32Array;
  tasks: string[];
  score: Float64Array;
  /** Source per row as an index into `sources`. */
  sourceOf: Int32Array;
  sources: string[];
  /** Row position of every id (the lookup the pool scan probes). */
  positionOf: Map<string, number>;
}

/** The rows of a selection without its summary: what materialising needs (a baseline has no summary). */
export type RowTable = Omit<SelectionTable, 'summary'>;

function intern(names: string[], index: Map<string, number>, name: string): number {
  let i = index.get(name);
  if (i === undefined) {
    i = names.length;
    names.push(name);
    index.set(name, i);
  }
  return i;
}

/**
 * Read and validate selection/summary.json and selection/selection.jsonl. The summary's checksum of
 * the rows file must verify (a half-replaced selection is never handed off), ranks must be 0..n-1 in
 * file order, and ids unique.
 */
export async function readSelection(runDir: string): Promise<SelectionTable> {
  const layout = runLayout(runDir);
  const summary = await readJsonFile(layout.selection.summary, SelectionSummary);
  if (!(await verifyFileRef(summary.selection, layout.selection.dir))) {
    throw new ValidationError(
      `${layout.selection.rows} does not match the checksum in ${layout.selection.summary}; run select again`,
    );
  }
  const ids: string[] = [];
  const taskOf: number[] = [];
  const score: number[] = [];
  const sourceOf: number[] = [];
  const tasks: string[] = [];
  const sources: string[] = [];
  const taskIndex = new Map<string, number>();
  const sourceIndex = new Map<string, number>();
  const positionOf = new Map<string, number>();
  const file = layout.selection.rows;
  for await (const { value: row, line } of readJsonLines(file, SelectedRow)) {
    const position = ids.length;
    if (row.rank !== position)
      throw new ValidationError(`${file}:${line}: rank ${row.rank}, expected ${position} (rows must be in rank order)`);
    if (positionOf.has(row.id)) throw new ValidationError(`${file}:${line}: id "${row.id}" selected twice`);
    positionOf.set(row.id, position);
    ids.push(row.id);
    taskOf.push(row.task === null ? -1 : intern(tasks, taskIndex, row.task));
    score.push(row.score ?? Number.NaN);
    sourceOf.push(intern(sources, sourceIndex, row.source));
  }
  if (ids.length !== summary.selected) {
    throw new ValidationError(`${file}: ${ids.length} rows, ${layout.selection.summary} says ${summary.selected}`);
  }
  return {
    summary,
    count: ids.length,
    ids,
    taskOf: Int32Array.from(taskOf),
    tasks,
    score: Float64Array.from(score),
    sourceOf: Int32Array.from(sourceOf),
    sources,
    positionOf,
  };
}
