import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, readJsonIfExists, sha256File, writeJsonAtomic } from './files.js';
import { EmbeddingManifest, ModelRef, type EmbeddingDtype } from '@rds/schemas';
import { runLayout } from './layout.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

/**
 * Embedding matrices on disk: little-endian, row-major, rows x dims of float16 or float32, with an
 * EmbeddingManifest (JSON) beside them. Writers append rows in order and checkpoint; a killed
 * writer resumes from its last checkpoint and produces a byte-identical file. Readers read in
 * blocks so memory stays bounded whatever the pool size.
 */

export function bytesPerValue(dtype: EmbeddingDtype): number {
  return dtype === 'float16' ? 2 : 4;
}

/** Rows (float32) as they are stored in a matrix file of `dtype`. */
export function encodeRows(rows: Float32Array, dtype: EmbeddingDtype): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
  const half = float32ToFloat16(rows);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/**
 * Stored row bytes back to float32, into `out` at `offset`. Exact: re-encoding the result gives the
 * same bytes (every float16 is a float32), so a row read from the embedding cache and written
 * into a run's matrix is bit-identical to the stored one.
 */
export function decodeRowInto(bytes: Uint8Array, dtype: EmbeddingDtype, out: Float32Array, offset: number): void {
  const copy = new Uint8Array(bytes); // aligned for the typed-array view
  if (dtype === 'float32') out.set(new Float32Array(copy.buffer, 0, copy.byteLength / 4), offset);
  else out.set(float16ToFloat32(new Uint16Array(copy.buffer, 0, copy.byteLength / 2)), offset);
}

/** Resume state of an in-progress matrix: how many rows of the partial file are durable. */
const Checkpoint = z.object({
  settingsKey: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** Caller's extra resume state (e.g. tokens so far). */
  extra: z.record(z.string(), z.unknown()).default({}),
});
type Checkpoint = z.infer<typeof Checkpoint>;

export interface MatrixWriterOptions {
  /** Final path of the matrix; `<matrix>.partial` and `<matrix>.checkpoint.json` hold work in progress. */
  matrixPath: string;
  dims: number;
  dtype: EmbeddingDtype;
  /**
   * Identifies the settings and input this matrix is computed from. A partial file written under
   * another key is discarded rather than resumed, so settings never mix within a file.
   */
  settingsKey: string;
}

export class EmbeddingMatrixWriter {
  private fd: number;
  private rowsWritten: number;
  private bytesWritten: number;
  private extraState: Record<string, unknown>;

  private constructor(
    private readonly opts: MatrixWriterOptions,
    fd: number,
    cp: Checkpoint,
  ) {
    this.fd = fd;
    this.rowsWritten = cp.rows;
    this.bytesWritten = cp.bytes;
    this.extraState = cp.extra;
  }

  static partialPath(matrixPath: string): string {
    return `${matrixPath}.partial`;
  }
  static checkpointPath(matrixPath: string): string {
    return `${matrixPath}.checkpoint.json`;
  }

  /** Open for writing, resuming from the last checkpoint when the settings match. */
  static async open(opts: MatrixWriterOptions): Promise<EmbeddingMatrixWriter> {
    await fsp.mkdir(path.dirname(opts.matrixPath), { recursive: true });
    const partial = EmbeddingMatrixWriter.partialPath(opts.matrixPath);
    const cpPath = EmbeddingMatrixWriter.checkpointPath(opts.matrixPath);
    let cp = await readJsonIfExists(cpPath, Checkpoint).catch(() => null);
    const rowBytes = opts.dims * bytesPerValue(opts.dtype);
    if (!cp || cp.settingsKey !== opts.settingsKey || cp.bytes !== cp.rows * rowBytes || !fs.existsSync(partial)) {
      cp = { settingsKey: opts.settingsKey, rows: 0, bytes: 0, extra: {} };
    } else if (fs.statSync(partial).size < cp.bytes) {
      // The checkpoint claims more than the file holds: trust neither.
      cp = { settingsKey: opts.settingsKey, rows: 0, bytes: 0, extra: {} };
    }
    // Rows written after the last checkpoint may be torn: cut the file back to the checkpoint.
    const fd = fs.openSync(partial, fs.existsSync(partial) ? 'r+' : 'w+');
    fs.ftruncateSync(fd, cp.bytes);
    return new EmbeddingMatrixWriter(opts, fd, cp);
  }

  /** Rows already durable (resumed from a checkpoint or appended and checkpointed since). */
  get rows(): number {
    return this.rowsWritten;
  }
  get extra(): Record<string, unknown> {
    return this.extraState;
  }

  /** Append rows (n x dims float32, already normalised). Not durable until checkpoint(). */
  append(rows: Float32Array): void {
    if (rows.length % this.opts.dims !== 0) {
      throw new Error(`append: ${rows.length} values is not a multiple of dims ${this.opts.dims}`);
    }
    const bytes = encodeRows(rows, this.opts.dtype);
    let off = 0;
    while (off < bytes.byteLength) {
      off += fs.writeSync(this.fd, bytes, off, bytes.byteLength - off, this.bytesWritten + off);
    }
    this.bytesWritten += bytes.byteLength;
    this.rowsWritten += rows.length / this.opts.dims;
  }

  /** Make everything appended so far durable and record it as the resume point. */
  async checkpoint(extra: Record<string, unknown> = {}): Promise<void> {
    fs.fsyncSync(this.fd);
    this.extraState = extra;
    await writeJsonAtomic(EmbeddingMatrixWriter.checkpointPath(this.opts.matrixPath), {
      settingsKey: this.opts.settingsKey,
      rows: this.rowsWritten,
      bytes: this.bytesWritten,
      extra,
    } satisfies Checkpoint);
  }

  /** Move the finished matrix into place and drop the resume state. Returns size and checksum. */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = -1;
    const partial = EmbeddingMatrixWriter.partialPath(this.opts.matrixPath);
    await fsp.rename(partial, this.opts.matrixPath);
    await fsp.rm(EmbeddingMatrixWriter.checkpointPath(this.opts.matrixPath), { force: true });
    return { bytes: this.bytesWritten, sha256: await sha256File(this.opts.matrixPath) };
  }

  /** Close without finishing (e.g. on cancellation); the checkpoint stays for a later resume. */
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Matrix rows as stored: float32 values, or float16 bit patterns. */
export type RawMatrix = Float32Array | Uint16Array;

/** A buffer of `length` values for rows stored as `dtype` (see EmbeddingMatrixReader.readRaw). */
export function rawMatrix(dtype: EmbeddingDtype, length: number): RawMatrix {
  return dtype === 'float32' ? new Float32Array(length) : new Uint16Array(length);
}

/** Reads a matrix file in row blocks, decoding float16 to float32. */
export class EmbeddingMatrixReader {
  private constructor(
    private readonly fd: number,
    readonly rows: number,
    readonly dims: number,
    readonly dtype: EmbeddingDtype,
    readonly file: string,
  ) {}

  static open(file: string, dims: number, dtype: EmbeddingDtype, rows?: number): EmbeddingMatrixReader {
    const size = fs.statSync(file).size;
    const rowBytes = dims * bytesPerValue(dtype);
    if (size % rowBytes !== 0)
      throw new Error(`${file}: size ${size} is not a whole number of ${dims}-dim ${dtype} rows`);
    const n = size / rowBytes;
    if (rows !== undefined && rows !== n) throw new Error(`${file}: manifest says ${rows} rows, file holds ${n}`);
    return new EmbeddingMatrixReader(fs.openSync(file, 'r'), n, dims, dtype, file);
  }

  /** Rows [start, start+count) as float32, into `out` if given (length >= count*dims). */
  read(start: number, count: number, out?: Float32Array): Float32Array {
    const n = count * this.dims;
    const dst = out ? out.subarray(0, n) : new Float32Array(n);
    if (this.dtype === 'float32') return this.readRaw(start, count, dst) as Float32Array;
    float16ToFloat32(this.readRaw(start, count) as Uint16Array, dst);
    return dst;
  }

  /**
   * Rows [start, start+count) as stored: float32 values, or float16 bit patterns in a Uint16Array
   * (what onnxruntime takes as a float16 tensor, so scoring skips the decode). Into `out` if given.
   */
  readRaw(start: number, count: number, out?: RawMatrix): RawMatrix {
    if (start < 0 || count < 0 || start + count > this.rows) {
      throw new RangeError(`${this.file}: rows ${start}..${start + count} out of 0..${this.rows}`);
    }
    const n = count * this.dims;
    const dst = out ? out.subarray(0, n) : rawMatrix(this.dtype, n);
    if (dst instanceof Float32Array !== (this.dtype === 'float32'))
      throw new TypeError(
        `${this.file}: raw ${this.dtype} rows need a ${this.dtype === 'float32' ? 'Float32Array' : 'Uint16Array'}`,
      );
    const buf = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
    const bpv = bytesPerValue(this.dtype);
    let off = 0;
    while (off < buf.byteLength) {
      const r = fs.readSync(this.fd, buf, off, buf.byteLength - off, start * this.dims * bpv + off);
      if (r === 0) throw new Error(`${this.file}: unexpected end of file`);
      off += r;
    }
    return dst;
  }

  /** Iterate over blocks of at most blockRows rows as float32, reusing one buffer. */
  *blocks(blockRows: number): Generator<{ start: number; count: number; data: Float32Array }> {
    const scratch = new Float32Array(Math.min(blockRows, this.rows) * this.dims);
    for (let start = 0; start < this.rows; start += blockRows) {
      const count = Math.min(blockRows, this.rows - start);
      yield { start, count, data: this.read(start, count, scratch) };
    }
  }

  /**
   * Iterate over blocks of at most blockRows rows in the stored dtype (see readRaw), reusing one
   * buffer: `scratch` if given (pass the same one for every shard: on some VMs first-touching
   * 100 MB of fresh memory costs more than reading it from the page cache).
   */
  *rawBlocks(blockRows: number, scratch?: RawMatrix): Generator<{ start: number; count: number; data: RawMatrix }> {
    const size = Math.min(blockRows, this.rows) * this.dims;
    if (!scratch || scratch.length < size) scratch = rawMatrix(this.dtype, size);
    for (let start = 0; start < this.rows; start += blockRows) {
      const count = Math.min(blockRows, this.rows - start);
      yield { start, count, data: this.readRaw(start, count, scratch) };
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Read and validate an embedding manifest, and open its matrix. */
export async function openEmbeddings(
  manifestPath: string,
): Promise<{ manifest: EmbeddingManifest; reader: EmbeddingMatrixReader }> {
  const manifest = await readJsonFile(manifestPath, EmbeddingManifest);
  const file = path.resolve(path.dirname(manifestPath), manifest.matrix.file);
  const reader = EmbeddingMatrixReader.open(file, manifest.settings.dims, manifest.settings.dtype, manifest.rows);
  return { manifest, reader };
}

/** A stable key over anything JSON-serialisable (settings + input checksum). */
export function settingsKey(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** The fields of an embedding manifest provenance needs (not its id list, which can be long). */
const ManifestProvenance = z
  .object({ settings: z.object({ model: ModelRef }), rows: z.number(), cacheHits: z.number().optional() })
  .loose();

/**
 * What a run's embeddings say about themselves, for its dataset card: the model (from the pool
 * shards, else the query sets), and how many pool rows were read from the embedding cache.
 */
export async function readEmbeddingProvenance(
  runDir: string,
  shards: number,
  tasks: readonly string[],
): Promise<{ model: ModelRef | null; poolRows: number; poolRowsFromCache: number }> {
  const layout = runLayout(runDir);
  let model: ModelRef | null = null;
  let poolRows = 0;
  let poolRowsFromCache = 0;
  for (let i = 0; i < shards; i++) {
    const m = await readJsonIfExists(layout.embeddings.poolManifest(i), ManifestProvenance);
    if (!m) continue;
    model ??= m.settings.model;
    poolRows += m.rows;
    poolRowsFromCache += m.cacheHits ?? 0;
  }
  for (const t of tasks) {
    if (model) break;
    model = (await readJsonIfExists(layout.embeddings.queryManifest(t), ManifestProvenance))?.settings.model ?? null;
  }
  return { model, poolRows, poolRowsFromCache };
}
