import fs from 'node:fs';

/**
 * Sorted entry files: the embedding cache's key index. An entry is 20 bytes: key (u64, big-endian,
 * so byte order is key order), segment number (u32 LE), row in that segment (u32 LE) and the
 * crc32 of the row's bytes (u32 LE). A file holds entries sorted by key with no duplicate keys.
 *
 * Lookups never load a file: they keep the first key of every page of PAGE_ENTRIES entries in
 * memory (8 bytes per 256 rows: 312 KB for 10M rows) and read the one page a key can be in.
 */
export const ENTRY_BYTES = 20;
export const PAGE_ENTRIES = 256;

export interface CacheEntry {
  key: bigint;
  seg: number;
  row: number;
  crc: number;
}

export function writeEntry(buf: Buffer, at: number, e: CacheEntry): void {
  buf.writeBigUInt64BE(e.key, at);
  buf.writeUInt32LE(e.seg, at + 8);
  buf.writeUInt32LE(e.row, at + 12);
  buf.writeUInt32LE(e.crc, at + 16);
}

function readEntry(buf: Buffer, at: number): CacheEntry {
  return {
    key: buf.readBigUInt64BE(at),
    seg: buf.readUInt32LE(at + 8),
    row: buf.readUInt32LE(at + 12),
    crc: buf.readUInt32LE(at + 16),
  };
}

/** Entries sorted by key with duplicates dropped (the first of equal keys is kept), as file bytes. */
export function encodeSortedEntries(entries: CacheEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const buf = Buffer.alloc(sorted.length * ENTRY_BYTES);
  let n = 0;
  for (const e of sorted) {
    if (n > 0 && buf.readBigUInt64BE((n - 1) * ENTRY_BYTES) === e.key) continue;
    writeEntry(buf, n++ * ENTRY_BYTES, e);
  }
  return buf.subarray(0, n * ENTRY_BYTES);
}

/** A sorted entry file opened for lookups and scans. */
export class SortedEntries {
  private page = -1;
  private readonly pageBuf = Buffer.alloc(PAGE_ENTRIES * ENTRY_BYTES);
  private pageCount = 0;

  private constructor(
    private readonly fd: number,
    readonly file: string,
    readonly count: number,
    /** First key of each page. */
    private readonly fences: BigUint64Array,
  ) {}

  /** Open `file`; throws if its size is not a whole number of entries or its keys are out of order. */
  static open(file: string): SortedEntries {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size % ENTRY_BYTES !== 0) throw new Error(`${file}: ${size} bytes is not a whole number of entries`);
      const count = size / ENTRY_BYTES;
      const fences = new BigUint64Array(Math.ceil(count / PAGE_ENTRIES));
      const key = Buffer.alloc(8);
      for (let p = 0; p < fences.length; p++) {
        fs.readSync(fd, key, 0, 8, p * PAGE_ENTRIES * ENTRY_BYTES);
        fences[p] = key.readBigUInt64BE(0);
        if (p > 0 && fences[p]! <= fences[p - 1]!) throw new Error(`${file}: keys are not sorted`);
      }
      return new SortedEntries(fd, file, count, fences);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  private loadPage(p: number): void {
    if (p === this.page) return;
    const first = p * PAGE_ENTRIES;
    this.pageCount = Math.min(PAGE_ENTRIES, this.count - first);
    const bytes = this.pageCount * ENTRY_BYTES;
    let off = 0;
    while (off < bytes) {
      const r = fs.readSync(this.fd, this.pageBuf, off, bytes - off, first * ENTRY_BYTES + off);
      if (r === 0) throw new Error(`${this.file}: unexpected end of file`);
      off += r;
    }
    this.page = p;
  }

  /** Memory this reader holds: its fences and one page buffer (the file itself stays on disk). */
  get memoryBytes(): number {
    return this.fences.byteLength + this.pageBuf.byteLength;
  }

  /** The entry with `key`, or null. Sorted lookups reuse the page they last read. */
  find(key: bigint): CacheEntry | null {
    const f = this.fences;
    if (f.length === 0 || key < f[0]!) return null;
    let lo = 0;
    let hi = f.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (f[mid]! <= key) lo = mid;
      else hi = mid - 1;
    }
    this.loadPage(lo);
    let a = 0;
    let b = this.pageCount - 1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const k = this.pageBuf.readBigUInt64BE(mid * ENTRY_BYTES);
      if (k === key) return readEntry(this.pageBuf, mid * ENTRY_BYTES);
      if (k < key) a = mid + 1;
      else b = mid - 1;
    }
    return null;
  }

  /** Every entry in key order, read in blocks (merges and gc stream through this). */
  *scan(blockEntries = 16_384): Generator<CacheEntry> {
    const buf = Buffer.alloc(blockEntries * ENTRY_BYTES);
    for (let start = 0; start < this.count; start += blockEntries) {
      const n = Math.min(blockEntries, this.count - start);
      let off = 0;
      while (off < n * ENTRY_BYTES) {
        const r = fs.readSync(this.fd, buf, off, n * ENTRY_BYTES - off, start * ENTRY_BYTES + off);
        if (r === 0) throw new Error(`${this.file}: unexpected end of file`);
        off += r;
      }
      for (let i = 0; i < n; i++) yield readEntry(buf, i * ENTRY_BYTES);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * K-way merge of sorted entry streams into one sorted stream without duplicate keys: for equal
 * keys the entry of the earliest source wins. Memory: one pending entry per source.
 */
export function* mergeEntries(sources: Iterable<CacheEntry>[]): Generator<CacheEntry> {
  const its = sources.map((s) => s[Symbol.iterator]());
  const heads: (CacheEntry | null)[] = its.map((it) => {
    const r = it.next();
    return r.done ? null : r.value;
  });
  let last: bigint | null = null;
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h && (best < 0 || h.key < heads[best]!.key)) best = i;
    }
    if (best < 0) return;
    const e = heads[best]!;
    const r = its[best]!.next();
    heads[best] = r.done ? null : r.value;
    if (e.key === last) continue;
    last = e.key;
    yield e;
  }
}
