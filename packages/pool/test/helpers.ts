import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readRecords, type SourceRecord } from '../src/readers.js';

const created: string[] = [];

/** A fresh temp dir, removed when the test file finishes (afterAll registered below). */
export function tempDir(prefix = 'rds-pool-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

export const tulu = (user: string, assistant: string, extra: Record<string, unknown> = {}) => ({
  ...extra,
  messages: [
    { role: 'user', content: user },
    { role: 'assistant', content: assistant },
  ],
});

export function writeJsonl(file: string, rows: (unknown | string)[], gzip = false): string {
  const text = rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
  fs.writeFileSync(file, gzip ? gzipSync(text) : text);
  return file;
}

/** A Parquet file with columns id, dataset and messages: list<struct<role, content>>, small row groups. */
export function writeTuluParquet(
  file: string,
  rows: { id: string; dataset: string; messages: { role: string; content: string }[] }[],
  rowGroupSize = 2,
): string {
  const schema = [
    { name: 'root', num_children: 3 },
    { name: 'id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'dataset', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  ] as const;
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'id', data: rows.map((r) => r.id) },
      { name: 'dataset', data: rows.map((r) => r.dataset) },
      { name: 'messages', data: rows.map((r) => r.messages) },
    ],
    schema: schema as unknown as Parameters<typeof parquetWriteBuffer>[0]['schema'],
    codec: 'SNAPPY',
    rowGroupSize,
  });
  fs.writeFileSync(file, new Uint8Array(buf));
  return file;
}

export async function readAll(
  file: string,
  maxRowBytes = 1 << 20,
): Promise<{ records: SourceRecord[]; batches: number }> {
  const records: SourceRecord[] = [];
  let batches = 0;
  for await (const b of readRecords(file, { maxRowBytes })) {
    batches++;
    records.push(...b.records);
  }
  return { records, batches };
}

export function readJsonlFile<T = Record<string, unknown>>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}
