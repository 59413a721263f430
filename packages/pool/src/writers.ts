import path from 'node:path';
import { AtomicFileWriter } from '@rds/artifacts';
import type { PoolShard } from '@rds/schemas';

/** Rows are gathered into ~1 MB buffers before hitting the stream: far fewer writes and hash updates. */
const FLUSH_BYTES = 1 << 20;

/**
 * UTF-8 encodes strings into one reused buffer. Ingestion encodes each row's messages once and
 * uses the bytes twice (dedup hash, then the shard), instead of hashing a string and encoding it again.
 */
export class Utf8Scratch {
  private buf = Buffer.allocUnsafe(1 << 16);

  /** The bytes of `text`; valid until the next call. */
  encode(text: string): Buffer {
    // UTF-8 needs at most 3 bytes per UTF-16 unit; only then is the exact length worth computing.
    if (text.length * 3 > this.buf.length) {
      const need = Buffer.byteLength(text, 'utf8');
      if (need > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    }
    return this.buf.subarray(0, this.buf.write(text, 0, 'utf8'));
  }
}

/**
 * Canonical JSONL split into shards of exactly `shardSize` rows (the last may be shorter).
 * Each shard is an AtomicFileWriter: it appears under its final name only when complete.
 * Rows are written straight into byte buffers (no per-row strings to join and re-encode), and a
 * finished shard's fsync + rename overlaps the next shard's work (one commit in flight at most).
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

  constructor(
    private readonly shardPath: (i: number) => string,
    private readonly shardSize: number,
    private readonly manifestDir: string,
  ) {}

  /**
   * Queue one row: `head` (the row's JSON up to its messages), the UTF-8 bytes of its messages
   * JSON, then `}\n`. True when the caller should `await flush()`.
   */
  addRow(head: string, messages: Uint8Array): boolean {
    this.reserve(head.length * 3 + messages.length + 2);
    this.pos += this.buf.write(head, this.pos, 'utf8');
    this.buf.set(messages, this.pos);
    this.pos += messages.length;
    this.buf[this.pos++] = 0x7d; // }
    this.buf[this.pos++] = 0x0a; // \n
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
    this.writer = null;
    this.rows = 0;
    this.shardIndex++;
    this.inFlight = writer.commit().then(({ bytes, sha256 }) => {
      this.committed.push({ file: path.relative(this.manifestDir, writer.target), bytes, sha256, rows });
    });
    this.inFlight.catch(() => undefined); // surfaced by the next commit, close() or abort()
  }
}

/** A JSONL file written atomically, created only if something is written to it. */
export class LazyJsonlWriter {
  private writer: AtomicFileWriter | null = null;
  private buffer: string[] = [];
  private bufferChars = 0;
  count = 0;

  constructor(readonly target: string) {}

  async add(value: unknown): Promise<void> {
    const line = JSON.stringify(value) + '\n';
    this.buffer.push(line);
    this.bufferChars += line.length;
    this.count++;
    if (this.bufferChars >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    this.writer ??= new AtomicFileWriter(this.target);
    await this.writer.write(this.buffer.join(''));
    this.buffer = [];
    this.bufferChars = 0;
  }

  /** Commit; returns size and checksum, or null when nothing was written. */
  async close(): Promise<{ bytes: number; sha256: string } | null> {
    await this.flush();
    if (!this.writer) return null;
    const result = await this.writer.commit();
    this.writer = null;
    return result;
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
    this.writer = null;
  }
}
