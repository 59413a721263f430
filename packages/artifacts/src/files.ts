import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { z } from 'zod';
import { parseOrThrow, ValidationError, type FileRef } from '@rds/schemas';

/** A unique sibling temp name: same directory, so the final rename is atomic on POSIX. */
export function tempPathFor(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
}

/** Write a whole file atomically: readers see the old file or the new one, never a half. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** Atomic write of a typed array as little-endian bytes; the checksum comes from the bytes in memory (no re-read). */
export async function writeTypedAtomic(
  target: string,
  data: Float32Array | Int32Array,
): Promise<{ bytes: number; sha256: string }> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  await writeFileAtomic(target, bytes);
  return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export async function writeJsonAtomic(target: string, value: unknown): Promise<void> {
  await writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

/**
 * A streamed file that only appears under its final name on commit().
 * Tracks bytes and sha256 as it goes, so committing never re-reads the file.
 */
export class AtomicFileWriter {
  readonly tmpPath: string;
  private readonly stream: fs.WriteStream;
  private readonly hash = createHash('sha256');
  private bytesWritten = 0;
  private closed = false;

  constructor(readonly target: string) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.tmpPath = tempPathFor(target);
    // Open synchronously so the temp file exists (and errors surface) before the first write.
    const fd = fs.openSync(this.tmpPath, 'w');
    this.stream = fs.createWriteStream(this.tmpPath, { fd, highWaterMark: 1 << 20 });
  }

  get bytes(): number {
    return this.bytesWritten;
  }

  /** Write a chunk; resolves when the stream can take more (backpressure). */
  async write(chunk: string | Uint8Array): Promise<void> {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.hash.update(buf);
    this.bytesWritten += buf.byteLength;
    if (!this.stream.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        this.stream.once('error', onError);
        this.stream.once('drain', () => {
          this.stream.off('error', onError);
          resolve();
        });
      });
    }
  }

  /** Flush, fsync and rename into place. Returns the file's size and checksum. */
  async commit(): Promise<{ bytes: number; sha256: string }> {
    if (this.closed) throw new Error(`${this.target}: writer already closed`);
    this.closed = true;
    this.stream.end();
    await finished(this.stream);
    const fh = await fsp.open(this.tmpPath, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(this.tmpPath, this.target);
    return { bytes: this.bytesWritten, sha256: this.hash.digest('hex') };
  }

  /** Drop the temp file; the target is untouched. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy();
    await fsp.rm(this.tmpPath, { force: true });
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await finished(fs.createReadStream(file, { highWaterMark: 1 << 22 }).on('data', (c) => hash.update(c)));
  return hash.digest('hex');
}

/** A FileRef (relative name, size, checksum) for a file that already exists. */
export async function fileRef(file: string, relativeTo: string): Promise<FileRef> {
  const st = await fsp.stat(file);
  return { file: path.relative(relativeTo, file), bytes: st.size, sha256: await sha256File(file) };
}

/** True when `ref` (relative to `dir`) exists with the recorded size and checksum. */
export async function verifyFileRef(ref: FileRef, dir: string): Promise<boolean> {
  const file = path.resolve(dir, ref.file);
  try {
    const st = await fsp.stat(file);
    if (st.size !== ref.bytes) return false;
  } catch {
    return false;
  }
  return (await sha256File(file)) === ref.sha256;
}

/** Read and validate a JSON file; errors name the file and the bad field. */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseOrThrow(schema, value, file);
}

/** Like readJsonFile, but a missing file is `null` (an artifact not produced yet). */
export async function readJsonIfExists<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S> | null> {
  try {
    await fsp.access(file);
  } catch {
    return null;
  }
  return readJsonFile(file, schema);
}

/** Remove temp files left by a crashed writer in `dir` (never touches committed files). */
export async function cleanTempFiles(dir: string): Promise<number> {
  let removed = 0;
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      await fsp.rm(path.join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}
