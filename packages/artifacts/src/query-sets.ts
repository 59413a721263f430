import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Example, ValidationError, type FileRef, type Message } from '@rds/schemas';
import { fileRef, sha256File, writeFileAtomic } from './files.js';
import { readJsonLines } from './jsonl.js';
import { runLayout } from './layout.js';

/**
 * The canonical query sets, `queries/<task>.jsonl`: one normalised example per line in the pool
 * shard line format (pool-shards/line.ts), line i = query i. Ingest writes them; embedding, the
 * contamination check and the API read them. Rows that failed validation go to
 * `<task>.rejected.jsonl` beside them.
 */

/** Write a task's query set and its rejects; a file is rewritten only when its content changed. */
export async function writeQuerySet(
  runDir: string,
  task: string,
  lines: string[],
  rejectedLines: string[],
): Promise<{ written: boolean; rejectedFile: string | null }> {
  const layout = runLayout(runDir).queries;
  const written = await writeIfChanged(layout.file(task), lines.join(''));
  if (rejectedLines.length > 0) await writeIfChanged(layout.rejected(task), rejectedLines.join(''));
  else await fsp.rm(layout.rejected(task), { force: true });
  return { written, rejectedFile: rejectedLines.length > 0 ? layout.rejected(task) : null };
}

async function writeIfChanged(file: string, text: string): Promise<boolean> {
  try {
    if ((await fsp.readFile(file, 'utf8')) === text) return false;
  } catch {
    // missing: write it
  }
  await writeFileAtomic(file, text);
  return true;
}

/** The tasks whose query sets ingest wrote into the run directory (sorted). */
export function querySetTasks(runDir: string): string[] {
  const dir = runLayout(runDir).queries.dir;
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl') && !f.endsWith('.rejected.jsonl'))
    .map((f) => path.basename(f, '.jsonl'))
    .sort();
}

function missing(runDir: string, task: string): ValidationError {
  return new ValidationError(
    `query set for task "${task}" not found at ${runLayout(runDir).queries.file(task)}; run ingestion first`,
  );
}

/** A FileRef for a task's query set (relative to `relativeTo`); a clear error when ingest has not written it. */
export async function querySetRef(runDir: string, task: string, relativeTo: string): Promise<FileRef> {
  try {
    return await fileRef(runLayout(runDir).queries.file(task), relativeTo);
  } catch {
    throw missing(runDir, task);
  }
}

/** The sha256 of a task's query set (what a fingerprint over it records). */
export async function querySetChecksum(runDir: string, task: string): Promise<string> {
  const file = runLayout(runDir).queries.file(task);
  if (!fs.existsSync(file)) throw missing(runDir, task);
  return sha256File(file);
}

/** Every example of a task's query set, in order, validated (errors name `file:line`). */
export async function* eachQuery(runDir: string, task: string): AsyncGenerator<Example> {
  const file = runLayout(runDir).queries.file(task);
  if (!fs.existsSync(file)) throw missing(runDir, task);
  for await (const { value } of readJsonLines(file, Example)) yield value;
}

/** A task's whole query set in memory (query sets are small: evaluation sets). */
export async function readQuerySet(runDir: string, task: string): Promise<Example[]> {
  const out: Example[] = [];
  for await (const example of eachQuery(runDir, task)) out.push(example);
  return out;
}

/**
 * The messages of some queries of a task, by index; reads the set only up to the last one asked for.
 * Indexes past the end are absent from the result; a missing set gives an empty map.
 */
export async function readQueryMessages(
  runDir: string,
  task: string,
  indexes: Set<number>,
): Promise<Map<number, Message[]>> {
  const out = new Map<number, Message[]>();
  if (indexes.size === 0 || !fs.existsSync(runLayout(runDir).queries.file(task))) return out;
  const last = Math.max(...indexes);
  let index = -1;
  for await (const example of eachQuery(runDir, task)) {
    index++;
    if (indexes.has(index)) out.set(index, example.messages);
    if (index >= last) break;
  }
  return out;
}
