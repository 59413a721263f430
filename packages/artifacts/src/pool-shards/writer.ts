import path from 'node:path';
import type { PoolShard } from '@rds/schemas';
import { AtomicFileWriter, writeFileAtomic } from '../files.js';
import { encodeRowOffsets, rowOffsetsRef } from './offsets.js';

/** Rows are gathered into ~1 MB buffers before hitting the stream: far fewer writes and hash updates. */
const FLUSH_BYTES = 1 << 20;

/**
 * Canonical JSONL split into shards of exactly `shardSize` rows (the last may be shorter).
 * Each shard is an AtomicFileWriter: it appears under its final name only when complete.
 * Rows are written straight into byte buffers (no per-row strings to join and re-encode), and a
 * finished shard's fsync + rename overlaps the next shard's work (one commit in flight at most).
 * With `offsetsPath`, each committed shard also gets its row-offset index (see encodeRowOffsets),
 * recorded as the shard's `offsets` (relative to `manifestDir`, like the shard's file).
 */
export class ShardWriter {
  private readonly committed: PoolShard[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private writer: AtomicFileWriter | null = null;
  private rows = 0;
  private shardIndex = 0;
  /** Filled buffers waiting for flush(), then the one being filled. */
  private full: Buffer[] = [];
  private fullBytes = 0;
  private buf = Buffer.allocUnsafe(FLUSH_BYTES);
  private pos = 0;
  /** Bytes of the current shard so far, and where each of its rows starts (only with offsetsPath). */
  private shardBytes = 0;
  private rowStarts: Float64Array;

  constructor(
    private readonly shardPath: (i: number) => string,
    private readonly shardSize: number,
    private readonly manifestDir: string,
    private readonly offsetsPath?: (i: number) => string,
  ) {
    this.rowStarts = new Float64Array(offsetsPath ? Math.min(shardSize, 1 << 16) : 0);
  }

  /**
   * Queue one row: `head` (the row's JSON up to its messages, see poolLineHead), the UTF-8 bytes of
   * its messages JSON, then `}\n`. True when the caller should `await flush()`.
   */
  addRow(head: string, messages: Uint8Array): boolean {
    this.reserve(head.length * 3 + messages.length + 2);
    const start = this.pos;
    this.pos += this.buf.write(head, this.pos, 'utf8');
    this.buf.set(messages, this.pos);
    this.pos += messages.length;
    this.buf[this.pos++] = 0x7d; // }
    this.buf[this.pos++] = 0x0a; // \n
    if (this.offsetsPath) {
      if (this.rows === this.rowStarts.length) {
        const grown = new Float64Array(Math.min(this.shardSize, 2 * this.rowStarts.length));
        grown.set(this.rowStarts);
        this.rowStarts = grown;
      }
      this.rowStarts[this.rows] = this.shardBytes;
      this.shardBytes += this.pos - start;
    }
    this.rows++;
    return this.rows === this.shardSize || this.fullBytes + this.pos >= FLUSH_BYTES;
  }

  async flush(): Promise<void> {
    if (this.pos > 0) this.retire();
    if (this.full.length > 0) {
      this.writer ??= new AtomicFileWriter(this.shardPath(this.shardIndex));
      for (const b of this.full) await this.writer.write(b);
      this.full = [];
      this.fullBytes = 0;
    }
    if (this.rows === this.shardSize) await this.commitShard();
  }

  /** Commit the last (partial) shard and wait for every commit; the shards in order. */
  async close(): Promise<PoolShard[]> {
    await this.flush();
    if (this.rows > 0) await this.commitShard();
    await this.inFlight;
    return this.committed;
  }

  async abort(): Promise<void> {
    await this.inFlight.catch(() => undefined);
    await this.writer?.abort();
    this.writer = null;
  }

  /** Make room for `bytes` more in the current buffer (a new one when it is too full). */
  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    if (this.pos > 0) this.retire();
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(bytes, FLUSH_BYTES));
  }

  /**
   * Hand the filled part of the current buffer to flush(). The stream keeps those bytes until
   * written, so filling goes on in the untouched rest of the buffer, or in a new one.
   */
  private retire(): void {
    this.full.push(this.buf.subarray(0, this.pos));
    this.fullBytes += this.pos;
    const rest = this.buf.length - this.pos;
    this.buf = rest >= FLUSH_BYTES / 8 ? this.buf.subarray(this.pos) : Buffer.allocUnsafe(FLUSH_BYTES);
    this.pos = 0;
  }

  private async commitShard(): Promise<void> {
    if (!this.writer) return;
    // Wait for the previous commit (keeps order and bounds the work in flight), then start this one
    // without waiting: its fsync runs while the next shard is parsed. close() waits for it.
    // (Awaited before taking the writer, so that abort() after a failed commit still removes its temp file.)
    await this.inFlight;
    const writer = this.writer;
    if (!writer) return;
    const rows = this.rows;
    const offsetsFile = this.offsetsPath?.(this.shardIndex);
    // Encoded now: the row starts are reused by the next shard.
    const offsets = offsetsFile ? encodeRowOffsets(this.rowStarts, rows, this.shardBytes) : null;
    this.writer = null;
    this.rows = 0;
    this.shardBytes = 0;
    this.shardIndex++;
    this.inFlight = writer.commit().then(async ({ bytes, sha256 }) => {
      const shard: PoolShard = { file: path.relative(this.manifestDir, writer.target), bytes, sha256, rows };
      if (offsetsFile && offsets) {
        await writeFileAtomic(offsetsFile, offsets);
        shard.offsets = rowOffsetsRef(path.relative(this.manifestDir, offsetsFile), offsets);
      }
      this.committed.push(shard);
    });
    this.inFlight.catch(() => undefined); // surfaced by the next commit, close() or abort()
  }
}
