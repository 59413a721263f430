import { AtomicFileWriter } from '@rds/artifacts';

/** Rows are gathered into ~1 MB before hitting the file: far fewer writes and hash updates. */
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
