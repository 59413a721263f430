import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { FileHandle } from 'node:fs/promises';
import { openConfined } from '@rds/artifacts';
import { ValidationError } from '@rds/schemas';
import type { RejectReason } from './normalise.js';

export type InputKind = 'jsonl' | 'jsonl.gz' | 'parquet';

/** A row that parsed: `line` is the 1-based line (JSONL) or row number (Parquet). */
export interface ParsedRecord {
  line: number;
  value: unknown;
  /** The row as text, kept for quarantine previews. */
  text: string;
}

/** A row that could not even be parsed. */
export interface BrokenRecord {
  line: number;
  reason: RejectReason;
  detail: string;
  raw: string;
}

export type SourceRecord = ParsedRecord | BrokenRecord;

export interface RecordBatch {
  records: SourceRecord[];
  /** Bytes of the file consumed so far (compressed bytes for .gz). */
  bytesRead: number;
}

export interface ReaderOptions {
  /** Rows longer than this (raw bytes) are rejected without being buffered whole. */
  maxRowBytes: number;
  /** When given, the file actually opened must lie inside one of these (symlinks resolved at open time). */
  roots?: readonly string[] | undefined;
}

/** How much of a bad row is kept in rejected.jsonl. */
export const RAW_PREVIEW_CHARS = 1000;

export function isBroken(r: SourceRecord): r is BrokenRecord {
  return (r as BrokenRecord).reason !== undefined;
}

export function inputKind(file: string): InputKind {
  const name = file.toLowerCase();
  if (name.endsWith('.parquet')) return 'parquet';
  if (name.endsWith('.gz')) return 'jsonl.gz';
  return 'jsonl';
}

/** Default `source` of a file's rows: its name without directory and extensions. */
export function sourceFromFileName(file: string): string {
  const base = path.basename(file);
  const dot = base.indexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base) || 'pool';
}

/**
 * Stream a pool or query file as batches of records (one batch per read chunk or Parquet row
 * group), so memory stays bounded by the chunk/row-group size whatever the file size.
 * A file that cannot be read at all fails with a ValidationError naming it; bad rows do not fail.
 */
export async function* readRecords(file: string, options: ReaderOptions): AsyncGenerator<RecordBatch> {
  const kind = inputKind(file);
  let handle: FileHandle | undefined;
  try {
    handle = await openConfined(file, options.roots);
    if (kind === 'parquet') yield* readParquet(handle, options);
    else yield* readJsonl(handle, kind === 'jsonl.gz', options);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    const e = err as NodeJS.ErrnoException;
    const what =
      kind === 'jsonl.gz' ? 'a readable gzip file' : kind === 'parquet' ? 'a readable Parquet file' : 'readable';
    throw new ValidationError(`cannot read ${file}: not ${what} (${e.code ?? e.message})`);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const decoder = new TextDecoder('utf-8'); // lenient: only for previews of rejected rows

async function* readJsonl(
  handle: FileHandle,
  gzip: boolean,
  { maxRowBytes }: ReaderOptions,
): AsyncGenerator<RecordBatch> {
  // The stream reads the descriptor the confinement check was made on; closing stays with readRecords.
  const fileStream = fs.createReadStream('', { fd: handle, highWaterMark: 1 << 20, autoClose: false });
  const stream = gzip ? fileStream.pipe(createGunzip({ chunkSize: 1 << 20 })) : fileStream;
  if (gzip) fileStream.on('error', (e) => stream.destroy(e));

  let lineNo = 0;
  // A line that spans chunks: its pieces so far. Once it passes maxRowBytes only a preview is kept.
  let pieces: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;

  const emit = (records: SourceRecord[], bytes: Buffer): void => {
    lineNo++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let start = 0;
    if (lineNo === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    const body = bytes.subarray(start, end);
    if (oversized || body.length > maxRowBytes) {
      const size = oversized ? pendingBytes : body.length;
      records.push(broken(lineNo, 'too-large', `row is ${size} bytes, over maxRowBytes ${maxRowBytes}`, body));
      return;
    }
    if (!isUtf8(body)) {
      records.push(broken(lineNo, 'invalid-utf8', 'row is not valid UTF-8', body));
      return;
    }
    const text = body.toString('utf8');
    if (text.length === 0 || (isSpace(text.charCodeAt(0)) && text.trim() === '')) return; // blank line
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      records.push({ line: lineNo, reason: 'bad-json', detail: (err as Error).message, raw: preview(text) });
      return;
    }
    records.push({ line: lineNo, value, text });
  };

  const hold = (piece: Buffer): void => {
    pendingBytes += piece.length;
    if (oversized) return;
    if (pendingBytes > maxRowBytes + 2) {
      oversized = true;
      pieces = [Buffer.concat(pieces).subarray(0, RAW_PREVIEW_CHARS * 4)];
      return;
    }
    pieces.push(piece);
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const records: SourceRecord[] = [];
    let start = 0;
    while (true) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        if (start < chunk.length) hold(chunk.subarray(start));
        break;
      }
      if (pieces.length === 0 && !oversized) {
        emit(records, chunk.subarray(start, nl));
      } else {
        hold(chunk.subarray(start, nl));
        emit(records, pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
        pieces = [];
        pendingBytes = 0;
        oversized = false;
      }
      start = nl + 1;
    }
    yield { records, bytesRead: fileStream.bytesRead };
  }
  if (pieces.length > 0 || oversized) {
    const records: SourceRecord[] = [];
    emit(records, Buffer.concat(pieces));
    yield { records, bytesRead: fileStream.bytesRead };
  }
}

/** hyparquet's reader over an open file (its own helper opens by path, which would bypass the confinement check). */
async function handleBuffer(handle: FileHandle): Promise<AsyncBuffer> {
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end = size) {
      const out = Buffer.alloc(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.buffer.slice(out.byteOffset, out.byteOffset + done) as ArrayBuffer;
    },
  };
}

async function* readParquet(handle: FileHandle, { maxRowBytes }: ReaderOptions): AsyncGenerator<RecordBatch> {
  const buffer = await handleBuffer(handle);
  const metadata = await parquetMetadataAsync(buffer);
  let rowStart = 0;
  let bytesRead = 0;
  // One row group at a time: memory is bounded by the largest row group, not the file.
  for (const group of metadata.row_groups) {
    const rows = Number(group.num_rows);
    const values = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd: rowStart + rows, compressors });
    const records: SourceRecord[] = [];
    for (let i = 0; i < values.length; i++) {
      const value: unknown = values[i];
      const text = JSON.stringify(value, bigintAsString);
      const line = rowStart + i + 1;
      const size = Buffer.byteLength(text);
      if (size > maxRowBytes) {
        records.push({
          line,
          reason: 'too-large',
          detail: `row is ${size} bytes, over maxRowBytes ${maxRowBytes}`,
          raw: preview(text),
        });
      } else {
        records.push({ line, value, text });
      }
    }
    rowStart += rows;
    bytesRead += Number(group.total_compressed_size ?? group.total_byte_size);
    yield { records, bytesRead: Math.min(bytesRead, buffer.byteLength) };
  }
}

function broken(line: number, reason: RejectReason, detail: string, bytes: Buffer): BrokenRecord {
  return { line, reason, detail, raw: preview(decoder.decode(bytes.subarray(0, RAW_PREVIEW_CHARS * 4))) };
}

export function preview(text: string): string {
  return text.length > RAW_PREVIEW_CHARS ? text.slice(0, RAW_PREVIEW_CHARS) : text;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

function bigintAsString(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
