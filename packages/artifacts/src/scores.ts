import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ScoresManifest, ValidationError, type FileRef } from '@rds/schemas';
import { AtomicFileWriter, readJsonFile, writeJsonAtomic, writeTypedAtomic } from './files.js';
import { runLayout } from './layout.js';

/**
 * Score artifacts under runLayout.scores: per task and aggregate, a ScoresManifest and its files,
 * little-endian 4-byte elements. `max` / `mean`: one float32 per pool row. `topk`: per-query
 * lists of row ids (int32) and scores (float32), queries x k row-major.
 */

export type Aggregate = ScoresManifest['aggregate'];

/** File names (under runLayout.scores, after the task) of each aggregate, in the manifest's order. */
export const SCORE_FILES = {
  max: ['max.f32'],
  mean: ['mean.f32'],
  topk: ['topk.ids.i32', 'topk.scores.f32'],
} as const satisfies Record<Aggregate, readonly string[]>;

/**
 * Per-query ranked lists of one task: `queries` x `k` row-major, each list sorted by score
 * descending then row ascending, padded with row -1 / score -Infinity when the pool is smaller than k.
 */
export interface TopKLists {
  queries: number;
  k: number;
  ids: Int32Array;
  scores: Float32Array;
}

/** A streamed writer for one task's max or mean vector; commit() gives its manifest entry's size and checksum. */
export function scoreVectorWriter(runDir: string, task: string, aggregate: 'max' | 'mean'): AtomicFileWriter {
  return new AtomicFileWriter(runLayout(runDir).scores.file(task, SCORE_FILES[aggregate][0]));
}

/** Write one task's top-K list files (ids, then scores); returns their manifest entries. */
export async function writeTopKFiles(
  runDir: string,
  task: string,
  lists: Pick<TopKLists, 'ids' | 'scores'>,
): Promise<FileRef[]> {
  const refs: FileRef[] = [];
  for (const [name, data] of [
    [SCORE_FILES.topk[0], lists.ids],
    [SCORE_FILES.topk[1], lists.scores],
  ] as const) {
    const target = runLayout(runDir).scores.file(task, name);
    refs.push({ file: path.basename(target), ...(await writeTypedAtomic(target, data)) });
  }
  return refs;
}

/** Validate and write a task's scores manifest: written after its files, it vouches for them. */
export async function writeScoresManifest(runDir: string, manifest: ScoresManifest): Promise<void> {
  await writeJsonAtomic(
    runLayout(runDir).scores.manifest(manifest.task, manifest.aggregate),
    ScoresManifest.parse(manifest),
  );
}

export async function readScoresManifest(runDir: string, task: string, aggregate: Aggregate): Promise<ScoresManifest> {
  const file = runLayout(runDir).scores.manifest(task, aggregate);
  const m = await readJsonFile(file, ScoresManifest);
  if (m.task !== task || m.aggregate !== aggregate) {
    throw new ValidationError(
      `${file}: describes task "${m.task}" aggregate "${m.aggregate}", expected "${task}" "${aggregate}"`,
    );
  }
  return m;
}

/** The manifest's entry for one score file (matched by file name). */
function refFor(runDir: string, m: ScoresManifest, name: string): { ref: FileRef; file: string } {
  const layout = runLayout(runDir);
  const wanted = path.basename(layout.scores.file(m.task, name));
  const ref = m.files.find((f) => path.basename(f.file) === wanted);
  const manifestFile = layout.scores.manifest(m.task, m.aggregate);
  if (!ref) throw new ValidationError(`${manifestFile}: no entry for ${wanted} in files`);
  return { ref, file: path.resolve(path.dirname(manifestFile), ref.file) };
}

/** Read a little-endian 4-byte-element file whole, checking size and checksum against its manifest entry. */
async function readChecked(runDir: string, m: ScoresManifest, name: string, elements: number): Promise<ArrayBuffer> {
  const { ref, file } = refFor(runDir, m, name);
  const buf = await fsp.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new ValidationError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  if (buf.byteLength !== elements * 4 || buf.byteLength !== ref.bytes) {
    throw new ValidationError(
      `${file}: ${buf.byteLength} bytes, expected ${elements} x 4 = ${elements * 4} (manifest: ${ref.bytes})`,
    );
  }
  if (createHash('sha256').update(buf).digest('hex') !== ref.sha256)
    throw new ValidationError(`${file}: checksum does not match its manifest`);
  // Copy into a fresh, aligned buffer (a Buffer may sit at any offset of a shared pool).
  const out = new ArrayBuffer(buf.byteLength);
  new Uint8Array(out).set(buf);
  return out;
}

/** One task's per-row score vector (max or mean over its queries). */
export async function readScoreVector(
  runDir: string,
  task: string,
  aggregate: 'max' | 'mean',
  poolRows: number,
): Promise<{ scores: Float32Array; manifest: ScoresManifest }> {
  const m = await readScoresManifest(runDir, task, aggregate);
  if (m.rows !== poolRows)
    throw new ValidationError(
      `${runLayout(runDir).scores.manifest(task, aggregate)}: scores ${m.rows} rows, the pool has ${poolRows}`,
    );
  const scores = new Float32Array(await readChecked(runDir, m, SCORE_FILES[aggregate][0], poolRows));
  for (let r = 0; r < scores.length; r++) {
    if (scores[r] !== scores[r])
      throw new ValidationError(`${refFor(runDir, m, SCORE_FILES[aggregate][0]).file}: NaN score at row ${r}`);
  }
  return { scores, manifest: m };
}

/** One task's stored per-query top-K lists (queries x k, row-major). */
export async function readTopK(
  runDir: string,
  task: string,
  poolRows: number,
): Promise<{ lists: TopKLists; manifest: ScoresManifest }> {
  const m = await readScoresManifest(runDir, task, 'topk');
  const where = runLayout(runDir).scores.manifest(task, 'topk');
  if (m.k === undefined || m.k <= 0) throw new ValidationError(`${where}: k is required for topk scores`);
  if (m.rows !== poolRows) throw new ValidationError(`${where}: scores ${m.rows} rows, the pool has ${poolRows}`);
  const n = m.queries * m.k;
  const ids = new Int32Array(await readChecked(runDir, m, SCORE_FILES.topk[0], n));
  const scores = new Float32Array(await readChecked(runDir, m, SCORE_FILES.topk[1], n));
  for (let i = 0; i < n; i++) {
    if (ids[i]! < -1 || ids[i]! >= poolRows)
      throw new ValidationError(
        `${where}: query ${Math.floor(i / m.k)} lists row ${ids[i]}, outside the pool (${poolRows} rows)`,
      );
    if (scores[i] !== scores[i])
      throw new ValidationError(`${where}: NaN score in the list of query ${Math.floor(i / m.k)}`);
  }
  return { lists: { queries: m.queries, k: m.k, ids, scores }, manifest: m };
}
