import path from 'node:path';
import { AtomicFileWriter } from '@rds/artifacts';
import type { PoolShard } from '@rds/schemas';

/** Lines are gathered into ~1 MB strings before hitting the stream: far fewer writes and hash updates. */
const FLUSH_CHARS = 1 << 20;

/**
 * Canonical JSONL split into shards of exactly `shardSize` rows (the last may be shorter).
 * Each shard is an AtomicFileWriter: it appears under its final name only when complete.
 */
export class ShardWriter {
  readonly shards: PoolShard[] = [];
  private writer: AtomicFileWriter | null = null;
  private rows = 0;
  private buffer: string[] = [];
  private bufferChars = 0;

  constructor(
    private readonly shardPath: (i: number) => string,
    private readonly shardSize: number,
    private readonly manifestDir: string,
  ) {}

  /** Queue one line (with its newline); true when the caller should `await flush()`. */
  add(line: string): boolean {
    this.buffer.push(line);
    this.bufferChars += line.length;
    this.rows++;
    return this.rows === this.shardSize || this.bufferChars >= FLUSH_CHARS;
  }

  async flush(): Promise<void> {
    if (this.buffer.length > 0) {
      this.writer ??= new AtomicFileWriter(this.shardPath(this.shards.length));
      await this.writer.write(this.buffer.join(''));
      this.buffer = [];
      this.bufferChars = 0;
    }
    if (this.rows === this.shardSize) await this.commitShard();
  }

  /** Commit the last (partial) shard. */
  async close(): Promise<PoolShard[]> {
    await this.flush();
    if (this.rows > 0) await this.commitShard();
    return this.shards;
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
    this.writer = null;
  }

  private async commitShard(): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    const { bytes, sha256 } = await writer.commit();
    this.shards.push({ file: path.relative(this.manifestDir, writer.target), bytes, sha256, rows: this.rows });
    this.writer = null;
    this.rows = 0;
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
    if (this.bufferChars >= FLUSH_CHARS) await this.flush();
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
