import {
  ContaminationReport,
  SelectedRow,
  SelectionSummary,
  ValidationError,
  parseOrThrow,
  type FileRef,
} from '@rds/schemas';
import {
  AtomicFileWriter,
  cleanTempFiles,
  fileRef,
  readJsonFile,
  readJsonIfExists,
  verifyFileRef,
  writeJsonAtomic,
} from './files.js';
import { readJsonLines } from './jsonl.js';
import { runLayout } from './layout.js';
import { throwIfCancelled } from './runtime.js';

/**
 * The selection artifact, `selection/`: the chosen rows in rank order (selection.jsonl), the
 * contamination report, and summary.json, which vouches for both by checksum and is written last, so
 * a crash at any point leaves either the previous complete selection or no summary at all.
 */

const LINES_PER_WRITE = 8192;

/** The summary, if `fingerprint` matches and every file it names still has its recorded checksum. */
export async function completedSelection(runDir: string, fingerprint: string): Promise<SelectionSummary | null> {
  const layout = runLayout(runDir);
  const existing = await readSelectionSummaryIfExists(runDir).catch(() => null);
  if (
    existing?.fingerprint === fingerprint &&
    (await verifyFileRef(existing.selection, layout.selection.dir)) &&
    (!existing.contamination || (await verifyFileRef(existing.contamination, layout.selection.dir)))
  )
    return existing;
  return null;
}

/** Drop temp files a crashed writer left in selection/ (before writing a new selection). */
export function cleanSelectionTemps(runDir: string): Promise<number> {
  return cleanTempFiles(runLayout(runDir).selection.dir);
}

/**
 * Write selection.jsonl atomically from `count` rows (row i = rank i). Returns the FileRef the
 * summary records. Checks `signal` between chunks; nothing appears under the final name on failure.
 */
export async function writeSelectedRows(
  runDir: string,
  count: number,
  rowAt: (rank: number) => SelectedRow,
  options: { signal?: AbortSignal; onProgress?: (rows: number) => void } = {},
): Promise<FileRef> {
  const layout = runLayout(runDir);
  const writer = new AtomicFileWriter(layout.selection.rows);
  try {
    let chunk = '';
    for (let i = 0; i < count; i++) {
      chunk += JSON.stringify(rowAt(i)) + '\n';
      if ((i + 1) % LINES_PER_WRITE === 0) {
        if (options.signal) throwIfCancelled(options.signal);
        await writer.write(chunk);
        chunk = '';
        options.onProgress?.(i + 1);
      }
    }
    await writer.write(chunk);
    return { file: 'selection.jsonl', ...(await writer.commit()) };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Validate and write summary.json: the last write of a selection. */
export async function writeSelectionSummary(runDir: string, summary: SelectionSummary): Promise<void> {
  await writeJsonAtomic(
    runLayout(runDir).selection.summary,
    parseOrThrow(SelectionSummary, summary, 'selection summary'),
  );
}

/** summary.json, validated; null when the run has no selection yet. */
export function readSelectionSummaryIfExists(runDir: string): Promise<SelectionSummary | null> {
  return readJsonIfExists(runLayout(runDir).selection.summary, SelectionSummary);
}

/** summary.json, validated; a clear error when the run has not been selected. */
export function readSelectionSummary(runDir: string): Promise<SelectionSummary> {
  return readJsonFile(runLayout(runDir).selection.summary, SelectionSummary);
}

/**
 * Write contamination.json (validated) before the rows and summary that vouch for it. Returns its
 * FileRef for the summary.
 */
export async function writeContaminationReport(runDir: string, report: ContaminationReport): Promise<FileRef> {
  const layout = runLayout(runDir);
  await writeJsonAtomic(
    layout.selection.contamination,
    parseOrThrow(ContaminationReport, report, 'contamination report'),
  );
  return fileRef(layout.selection.contamination, layout.selection.dir);
}

/**
 * The contamination report `summary` vouches for, checked against its checksum; null when the
 * selection ran without the check.
 */
export async function readContaminationReport(
  runDir: string,
  summary: SelectionSummary,
): Promise<ContaminationReport | null> {
  if (!summary.contamination) return null;
  const layout = runLayout(runDir);
  if (!(await verifyFileRef(summary.contamination, layout.selection.dir))) {
    throw new ValidationError(
      `${layout.selection.contamination} does not match the checksum in ${layout.selection.summary}; run select again`,
    );
  }
  return readJsonFile(layout.selection.contamination, ContaminationReport);
}

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
 * Read and validate summary.json and selection.jsonl. The summary's checksum of the rows file must
 * verify (a half-replaced selection is never handed off), ranks must be 0..n-1 in file order, and ids
 * unique.
 */
export async function readSelectedRows(runDir: string): Promise<SelectionTable> {
  const layout = runLayout(runDir);
  const summary = await readSelectionSummary(runDir);
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
