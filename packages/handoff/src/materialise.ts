import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { once } from 'node:events';
import { peekPoolIdBytes, runLayout, throwIfCancelled } from '@rds/artifacts';
import { Example, ValidationError, parseOrThrow, type PoolManifest } from '@rds/schemas';
import type { RowTable } from '@rds/artifacts';

/** One selected example in output order, with its position in the selection (= rank). */
export interface MaterialisedRow {
  example: Example;
  position: number;
}

export interface MaterialiseOptions {
  runDir: string;
  manifest: PoolManifest;
  selection: RowTable;
  /** Output slot of each selection position (see outputSlots). */
  slots: Uint32Array;
  /** Scratch directory for bucket files (removed afterwards). */
  scratchDir: string;
  signal: AbortSignal;
  /** Rows held in memory at once while emitting; more selected rows than this spill to bucket files. */
  bucketRows?: number;
  onScan?: (rowsScanned: number, poolRows: number) => void;
}

export interface MaterialiseStats {
  poolRowsScanned: number;
  buckets: number;
  /** Pool rows whose id repeated an already-found selected id (the first one wins). */
  duplicateIds: number;
}

const DEFAULT_BUCKET_ROWS = 16_384;
const FLUSH_CHARS = 1 << 20;
/** Matched lines of one range of output slots: in memory, or appended to a scratch file. */
class Bucket {
  private pending: string[] = [];
  private pendingChars = 0;
  private stream: fs.WriteStream | null = null;

  constructor(
    readonly base: number,
    readonly size: number,
    private readonly file: string | null,
    /** In-memory buckets keep lines by slot directly. */
    readonly lines: (string | undefined)[] = file ? [] : new Array<string | undefined>(size),
  ) {}

  async add(slot: number, origin: string, line: string): Promise<void> {
    if (!this.file) {
      this.lines[slot - this.base] = `${origin}\t${line}`;
      return;
    }
    const entry = `${slot}\t${origin}\t${line}\n`;
    this.pending.push(entry);
    this.pendingChars += entry.length;
    if (this.pendingChars >= FLUSH_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.file || this.pending.length === 0) return;
    this.stream ??= fs.createWriteStream(this.file, { flags: 'a' });
    const ok = this.stream.write(this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
    if (!ok) await once(this.stream, 'drain');
  }

  /** Drop an open scratch stream (on failure; the scratch directory is removed anyway). */
  destroy(): void {
    this.stream?.destroy();
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.stream) {
      this.stream.end();
      await once(this.stream, 'finish');
    }
  }

  /** Lines of this bucket in slot order (`origin\tjson`). */
  async load(): Promise<(string | undefined)[]> {
    if (!this.file) return this.lines;
    const out = new Array<string | undefined>(this.size);
    if (!this.stream) return out;
    const rl = readline.createInterface({
      input: fs.createReadStream(this.file, { highWaterMark: 1 << 20 }),
      crlfDelay: Infinity,
    });
    for await (const text of rl) {
      if (text.length === 0) continue;
      const tab = text.indexOf('\t');
      out[Number(text.slice(0, tab)) - this.base] = text.slice(tab + 1);
    }
    return out;
  }
}

/**
 * Look the selected ids up in the pool shards and yield the full examples in output order, with
 * memory bounded by `bucketRows` rows whatever the pool or selection size: the shards are streamed
 * once (checksums verified on the way), matches go to the bucket of their output slot, then buckets
 * are loaded one at a time. Every emitted row is validated as an Example and must carry the source
 * the selection recorded.
 */
export async function* materialise(
  opts: MaterialiseOptions,
  stats: MaterialiseStats = { poolRowsScanned: 0, buckets: 0, duplicateIds: 0 },
): AsyncGenerator<MaterialisedRow> {
  const { selection, slots, signal } = opts;
  const layout = runLayout(opts.runDir);
  const bucketRows = Math.max(1, opts.bucketRows ?? DEFAULT_BUCKET_ROWS);
  const bucketCount = Math.max(1, Math.ceil(selection.count / bucketRows));
  const spill = bucketCount > 1;
  if (spill) await fsp.mkdir(opts.scratchDir, { recursive: true });
  const tag = randomBytes(4).toString('hex');
  const buckets: Bucket[] = [];
  for (let b = 0; b < bucketCount; b++) {
    const base = b * bucketRows;
    const size = Math.min(bucketRows, Math.max(0, selection.count - base));
    buckets.push(new Bucket(base, size, spill ? path.join(opts.scratchDir, `bucket-${tag}-${b}.jsonl`) : null));
  }
  stats.buckets = bucketCount;

  try {
    const found = new Uint8Array(selection.count);
    let matched = 0;
    const poolRows = opts.manifest.shards.reduce((a, s) => a + s.rows, 0);
    let scanned = 0;
    for (const [shardIndex, shard] of opts.manifest.shards.entries()) {
      throwIfCancelled(signal);
      const file = path.resolve(path.dirname(layout.pool.manifest), shard.file);
      const hash = createHash('sha256');
      let line = 0;
      let rows = 0;
      // Lines are split on the raw bytes and only matched rows are decoded: most of a large pool is
      // never turned into strings (and never buffered: one 1 MB chunk at a time).
      const matches: [slot: number, origin: string, text: string][] = [];
      const onLine = (buf: Buffer, start: number, end: number) => {
        line++;
        if (end > start && buf[end - 1] === 0x0d) end--;
        if (end === start) return;
        rows++;
        if ((++scanned & 0xffff) === 0) {
          throwIfCancelled(signal);
          opts.onScan?.(scanned, poolRows);
        }
        // Once every selected row is found, the rest of the pool only needs hashing.
        if (matched === selection.count) return;
        const position = selection.positionOf.get(peekPoolIdBytes(buf, start, end, file, line));
        if (position === undefined) return;
        if (found[position]) {
          stats.duplicateIds++;
          return;
        }
        found[position] = 1;
        matched++;
        matches.push([slots[position]!, `${shardIndex}:${line}`, buf.toString('utf8', start, end)]);
      };
      // Bucket writes are awaited per chunk, not per line: an await per pool row would dominate the scan.
      const drain = async () => {
        for (const [slot, origin, text] of matches)
          await buckets[Math.floor(slot / bucketRows)]!.add(slot, origin, text);
        matches.length = 0;
      };
      let carry: Buffer | null = null;
      for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
        let start = 0;
        for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
          onLine(buf, start, nl);
          start = nl + 1;
        }
        carry = start < buf.length ? buf.subarray(start) : null;
        await drain();
      }
      if (carry) onLine(carry, 0, carry.length);
      await drain();
      if (rows !== shard.rows) throw new ValidationError(`${file}: ${rows} rows, the pool manifest says ${shard.rows}`);
      if (hash.digest('hex') !== shard.sha256)
        throw new ValidationError(
          `${file}: checksum differs from ${layout.pool.manifest}; the pool changed since ingestion`,
        );
    }
    stats.poolRowsScanned = scanned;
    opts.onScan?.(scanned, poolRows);
    if (matched !== selection.count) {
      const missing: string[] = [];
      for (let i = 0; i < selection.count && missing.length < 5; i++) if (!found[i]) missing.push(selection.ids[i]!);
      throw new ValidationError(
        `${selection.count - matched} selected ids are not in the pool (e.g. ${missing.map((m) => JSON.stringify(m)).join(', ')}); the selection does not belong to this pool`,
      );
    }
    for (const bucket of buckets) await bucket.close();

    // Invert slots once per bucket: which selection position lands in each slot.
    const positionAt = new Uint32Array(selection.count);
    for (let p = 0; p < selection.count; p++) positionAt[slots[p]!] = p;
    for (const bucket of buckets) {
      throwIfCancelled(signal);
      const lines = await bucket.load();
      for (let k = 0; k < bucket.size; k++) {
        const entry = lines[k]!;
        lines[k] = undefined;
        const tab = entry.indexOf('\t');
        const [shardIndex, line] = entry.slice(0, tab).split(':').map(Number) as [number, number];
        const where = `${path.resolve(path.dirname(layout.pool.manifest), opts.manifest.shards[shardIndex]!.file)}:${line}`;
        let value: unknown;
        try {
          value = JSON.parse(entry.slice(tab + 1));
        } catch (err) {
          throw new ValidationError(`${where}: not valid JSON (${(err as Error).message})`);
        }
        const example = parseOrThrow(Example, value, where);
        const position = positionAt[bucket.base + k]!;
        const expected = selection.sources[selection.sourceOf[position]!]!;
        if (example.source !== expected) {
          throw new ValidationError(
            `${where}: id "${example.id}" has source "${example.source}" but the selection says "${expected}"; the selection does not belong to this pool`,
          );
        }
        yield { example, position };
      }
    }
  } finally {
    for (const bucket of buckets) bucket.destroy();
    if (spill) await fsp.rm(opts.scratchDir, { recursive: true, force: true });
  }
}
