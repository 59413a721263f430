import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { z } from 'zod';
import { EmbeddingSettings, Sha256 } from '@rds/schemas';
import { readJsonIfExists, sha256File, tempPathFor, writeFileAtomic, writeJsonAtomic } from '../files.js';
import { bytesPerValue } from '../embeddings.js';
import {
  encodeSortedEntries,
  ENTRY_BYTES,
  mergeEntries,
  SortedEntries,
  writeEntry,
  type CacheEntry,
} from './entries.js';

/**
 * A content-addressed cache of row embeddings shared by runs: a row embedded once (same rendered
 * text, same model file, pooling, maxTokens and storage dtype) is never embedded again, whatever
 * its id or run directory.
 *
 * <root>/<namespace>/                 one namespace per embedding setting (CacheNamespace)
 *   namespace.json                    the settings
 *   segments/<id>.bin                 rows x dims in the run matrices' format (embeddings.ts)
 *   segments/<id>.keys                the segment's sorted entries (entries.ts)
 *   segments/<id>.json                the commit record; a segment without one does not exist
 *   index.json, index-<id>.keys       one merged entry file over many segments (fewer files to search)
 *
 * Segments are append-only and committed atomically, so any number of runs and workers can fill
 * one cache at once. Every row carries a crc32: a row whose bytes do not match (a damaged or
 * truncated segment) is a miss, never a wrong embedding. Cache trouble never fails a run: the
 * run's own matrices stay the record, the cache only saves work.
 */

/** Bump when the encoder renders rows differently: every key changes with it. */
export const CACHE_FORMAT_VERSION = 1;
/** Loose (unmerged) segments that trigger a merge into the index. */
const MAX_LOOSE_SEGMENTS = 8;
/** A merge lock older than this was left by a crashed merger. */
const STALE_LOCK_MS = 10 * 60_000;

/** What makes two embeddings of the same text interchangeable: a run's settings, by model checksum. */
export const CacheNamespace = EmbeddingSettings.omit({ model: true }).extend({
  /** sha256 of the model files (ModelRef.sha256; the id is only a label). */
  model: Sha256,
  /** Version of the rendering the keys hash (the encoder's). */
  render: z.number().int().positive(),
});
export type CacheNamespace = z.infer<typeof CacheNamespace>;

const NamespaceFile = z.object({
  kind: z.literal('embedding-cache'),
  version: z.literal(CACHE_FORMAT_VERSION),
  /** Human-readable model id of the run that created it (informational). */
  modelId: z.string(),
  settings: CacheNamespace,
  createdAt: z.string(),
});

const SegmentFile = z.object({
  kind: z.literal('embedding-cache-segment'),
  id: z.string(),
  rows: z.number().int().positive(),
  keys: z.object({ bytes: z.number().int().nonnegative(), sha256: Sha256 }),
  createdAt: z.string(),
});
type SegmentFile = z.infer<typeof SegmentFile>;

const IndexFile = z.object({
  kind: z.literal('embedding-cache-index'),
  file: z.string(),
  /** Segment ids; an entry's `seg` is a position in this list. */
  segments: z.array(z.string()),
  entries: z.number().int().nonnegative(),
  createdAt: z.string(),
});
type IndexFile = z.infer<typeof IndexFile>;

/** Directory name of a namespace: a stable hash of its settings. */
export function namespaceKey(ns: CacheNamespace): string {
  const canonical = CacheNamespace.parse(ns);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

/** The 64-bit cache key of a row, from the text the encoder feeds the tokenizer. */
export function cacheKey(renderedText: string): bigint {
  return createHash('sha256').update(renderedText).digest().readBigUInt64BE(0);
}

function nsPaths(dir: string) {
  return {
    dir,
    namespace: path.join(dir, 'namespace.json'),
    segments: path.join(dir, 'segments'),
    bin: (id: string) => path.join(dir, 'segments', `${id}.bin`),
    keys: (id: string) => path.join(dir, 'segments', `${id}.keys`),
    record: (id: string) => path.join(dir, 'segments', `${id}.json`),
    index: path.join(dir, 'index.json'),
    lock: path.join(dir, 'index.lock'),
  };
}

/** Ids sort by creation time: base-36 milliseconds, then randomness against collisions. */
function newId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`;
}

interface OpenSegment {
  id: string;
  rows: number;
  fd: number;
  /** Its own entry file, when the index does not cover it. */
  entries: SortedEntries | null;
  corrupt: boolean;
  createdAt: string;
}

/** Committed segments of a namespace, each checked against its record; the rest are reported. */
async function listSegments(
  p: ReturnType<typeof nsPaths>,
  rowBytes: number,
): Promise<{ ok: (SegmentFile & { bytes: number })[]; bad: { id: string; reason: string }[] }> {
  const names = await fsp.readdir(p.segments).catch(() => [] as string[]);
  const ok: (SegmentFile & { bytes: number })[] = [];
  const bad: { id: string; reason: string }[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const id = name.slice(0, -'.json'.length);
    const rec = await readJsonIfExists(p.record(id), SegmentFile).catch((e: Error) => e);
    if (!rec || rec instanceof Error) {
      bad.push({ id, reason: rec ? rec.message : 'record vanished' });
      continue;
    }
    const binSize = fs.statSync(p.bin(id), { throwIfNoEntry: false })?.size;
    const keysSize = fs.statSync(p.keys(id), { throwIfNoEntry: false })?.size;
    if (binSize !== rec.rows * rowBytes)
      bad.push({ id, reason: `rows file holds ${binSize ?? 'no'} bytes, the record says ${rec.rows * rowBytes}` });
    else if (keysSize !== rec.keys.bytes)
      bad.push({ id, reason: `keys file holds ${keysSize ?? 'no'} bytes, the record says ${rec.keys.bytes}` });
    else ok.push({ ...rec, bytes: binSize + keysSize });
  }
  return { ok, bad };
}

export class EmbeddingCache {
  private constructor(
    private readonly p: ReturnType<typeof nsPaths>,
    readonly settings: CacheNamespace,
    private readonly rowBytes: number,
    private readonly segments: OpenSegment[],
    private readonly index: { entries: SortedEntries; segs: (OpenSegment | null)[] } | null,
    private readonly log: (m: string) => void,
  ) {}

  get dir(): string {
    return this.p.dir;
  }

  /**
   * Open (creating if needed) the namespace for `settings` under `root`. Damaged segments are
   * logged and left out; they are never read.
   */
  static async open(
    root: string,
    settings: CacheNamespace,
    opts: { modelId?: string; log?: (m: string) => void } = {},
  ): Promise<EmbeddingCache> {
    const log = opts.log ?? (() => {});
    const p = nsPaths(path.join(path.resolve(root), namespaceKey(settings)));
    await fsp.mkdir(p.segments, { recursive: true });
    if (!fs.existsSync(p.namespace)) {
      await writeJsonAtomic(p.namespace, {
        kind: 'embedding-cache',
        version: CACHE_FORMAT_VERSION,
        modelId: opts.modelId ?? '',
        settings,
        createdAt: new Date().toISOString(),
      } satisfies z.infer<typeof NamespaceFile>);
    }
    const rowBytes = settings.dims * bytesPerValue(settings.dtype);
    const { ok, bad } = await listSegments(p, rowBytes);
    for (const b of bad) log(`embedding cache: ignoring segment ${b.id} in ${p.dir}: ${b.reason}`);
    const indexRec = await readJsonIfExists(p.index, IndexFile).catch(() => null);
    let indexEntries: SortedEntries | null = null;
    if (indexRec) {
      try {
        indexEntries = SortedEntries.open(path.join(p.dir, indexRec.file));
      } catch (err) {
        // Replaced by a concurrent merge between reading index.json and opening it, or damaged:
        // search the segments' own entry files instead.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          log(`embedding cache: ignoring index ${indexRec.file}: ${(err as Error).message}`);
      }
    }
    const covered = new Set(indexEntries ? indexRec!.segments : []);
    const segments: OpenSegment[] = [];
    for (const s of ok) {
      let entries: SortedEntries | null = null;
      if (!covered.has(s.id)) {
        try {
          if ((await sha256File(p.keys(s.id))) !== s.keys.sha256) throw new Error('keys file checksum mismatch');
          entries = SortedEntries.open(p.keys(s.id));
        } catch (err) {
          log(`embedding cache: ignoring segment ${s.id} in ${p.dir}: ${(err as Error).message}`);
          continue;
        }
      }
      segments.push({
        id: s.id,
        rows: s.rows,
        fd: fs.openSync(p.bin(s.id), 'r'),
        entries,
        corrupt: false,
        createdAt: s.createdAt,
      });
    }
    const byId = new Map(segments.map((s) => [s.id, s]));
    const index = indexEntries
      ? { entries: indexEntries, segs: indexRec!.segments.map((id) => byId.get(id) ?? null) }
      : null;
    return new EmbeddingCache(p, settings, rowBytes, segments, index, log);
  }

  /** Rows in committed, intact segments (duplicates across segments counted each time). */
  get rows(): number {
    return this.segments.reduce((n, s) => n + s.rows, 0);
  }

  /** Memory the open cache holds for lookups (fences and page buffers of the index and loose segments). */
  get memoryBytes(): number {
    return (
      (this.index?.entries.memoryBytes ?? 0) + this.segments.reduce((n, s) => n + (s.entries?.memoryBytes ?? 0), 0)
    );
  }

  /** Row bytes (stored dtype) from `seg`, or null when its crc32 does not match. */
  private readRow(seg: OpenSegment, row: number, crc: number): Uint8Array | null {
    if (seg.corrupt || row >= seg.rows) return null;
    const buf = Buffer.alloc(this.rowBytes);
    let off = 0;
    while (off < this.rowBytes) {
      const r = fs.readSync(seg.fd, buf, off, this.rowBytes - off, row * this.rowBytes + off);
      if (r === 0) break;
      off += r;
    }
    if (off === this.rowBytes && zlib.crc32(buf) === crc) return buf;
    seg.corrupt = true;
    this.log(
      `embedding cache: segment ${seg.id} in ${this.p.dir} is damaged (row ${row} fails its checksum); ignoring it`,
    );
    return null;
  }

  /** For each key, its row's bytes in the stored dtype, or null (a miss). */
  lookup(keys: readonly bigint[]): (Uint8Array | null)[] {
    const out: (Uint8Array | null)[] = new Array<Uint8Array | null>(keys.length).fill(null);
    // Sorted order keeps consecutive lookups on the page they last read.
    const order = keys.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
    for (const i of order) {
      const key = keys[i]!;
      const e = this.index?.entries.find(key);
      const seg = e ? this.index!.segs[e.seg] : null;
      if (e && seg) out[i] = this.readRow(seg, e.row, e.crc);
      for (const s of this.segments) {
        if (out[i]) break;
        const own = s.entries?.find(key);
        if (own) out[i] = this.readRow(s, own.row, own.crc);
      }
    }
    return out;
  }

  /** A new segment to append rows to; nothing is visible to readers until its commit(). */
  newSegment(): CacheSegmentWriter {
    return new CacheSegmentWriter(this.p, this.rowBytes, this.log);
  }

  close(): void {
    for (const s of this.segments) {
      fs.closeSync(s.fd);
      s.entries?.close();
    }
    this.index?.entries.close();
  }
}

/** Rows appended to one segment file; commit() publishes them, abandon() drops them. */
export class CacheSegmentWriter {
  private readonly id = newId();
  private fd = -1;
  private readonly entries: CacheEntry[] = [];
  private readonly seen = new Set<bigint>();

  constructor(
    private readonly p: ReturnType<typeof nsPaths>,
    private readonly rowBytes: number,
    private readonly log: (m: string) => void,
  ) {}

  private get partial(): string {
    return `${this.p.bin(this.id)}.partial`;
  }

  get rows(): number {
    return this.entries.length;
  }

  /** Append one row (its bytes in the stored dtype); a key already in this segment is skipped. */
  add(key: bigint, row: Uint8Array): void {
    if (row.byteLength !== this.rowBytes)
      throw new Error(`embedding cache: a row is ${this.rowBytes} bytes, got ${row.byteLength}`);
    if (this.seen.has(key)) return;
    if (this.fd < 0) this.fd = fs.openSync(this.partial, 'w');
    let off = 0;
    while (off < row.byteLength)
      off += fs.writeSync(this.fd, row, off, row.byteLength - off, this.rows * this.rowBytes + off);
    this.seen.add(key);
    this.entries.push({ key, seg: 0, row: this.entries.length, crc: zlib.crc32(row) });
  }

  /**
   * Publish the rows: rows and keys files first, the record last (the commit point). Then merge
   * loose segments into the index if there are many. Failures are logged, never thrown: the run
   * that filled the segment has its own copy of every row.
   */
  async commit(): Promise<void> {
    if (this.fd < 0) return;
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      const keys = encodeSortedEntries(this.entries);
      await writeFileAtomic(this.p.keys(this.id), keys);
      await fsp.rename(this.partial, this.p.bin(this.id));
      await writeJsonAtomic(this.p.record(this.id), {
        kind: 'embedding-cache-segment',
        id: this.id,
        rows: this.rows,
        keys: { bytes: keys.byteLength, sha256: createHash('sha256').update(keys).digest('hex') },
        createdAt: new Date().toISOString(),
      } satisfies SegmentFile);
      await mergeIfMany(this.p, this.rowBytes, this.log);
    } catch (err) {
      this.log(
        `embedding cache: could not commit a segment of ${this.rows} rows in ${this.p.dir}: ${(err as Error).message}`,
      );
      this.abandon();
    }
  }

  /** Drop the uncommitted rows. */
  abandon(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    fs.rmSync(this.partial, { force: true });
  }
}

/** Take the merge lock, or return false if a live merger holds it. */
function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname(), at: new Date().toISOString() }), {
        flag: 'wx',
      });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < STALE_LOCK_MS) return false;
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

async function mergeIfMany(p: ReturnType<typeof nsPaths>, rowBytes: number, log: (m: string) => void): Promise<void> {
  const index = await readJsonIfExists(p.index, IndexFile).catch(() => null);
  const { ok } = await listSegments(p, rowBytes);
  const covered = new Set(index?.segments ?? []);
  if (ok.filter((s) => !covered.has(s.id)).length >= MAX_LOOSE_SEGMENTS) await rebuildIndex(p, rowBytes, log, false);
}

/**
 * Merge the index and the loose segments into a new index (full: from every segment's own entry
 * file, dropping segments that are gone). One merger at a time per namespace; a busy lock skips.
 */
async function rebuildIndex(
  p: ReturnType<typeof nsPaths>,
  rowBytes: number,
  log: (m: string) => void,
  full: boolean,
): Promise<boolean> {
  if (!takeLock(p.lock)) return false;
  const opened: SortedEntries[] = [];
  try {
    const current = await readJsonIfExists(p.index, IndexFile).catch(() => null);
    let old: SortedEntries | null = null;
    if (current && !full) {
      try {
        old = SortedEntries.open(path.join(p.dir, current.file));
        opened.push(old);
      } catch {
        old = null; // damaged or gone: rebuild from the segments' own entry files
      }
    }
    const { ok } = await listSegments(p, rowBytes);
    const present = new Set(ok.map((s) => s.id));
    const segments = old ? current!.segments.filter((id) => present.has(id)) : [];
    const pos = new Map(segments.map((id, i) => [id, i]));
    const sources: Iterable<CacheEntry>[] = [];
    if (old) {
      const from = old;
      const remap = current!.segments.map((id) => pos.get(id) ?? -1);
      sources.push(
        (function* () {
          for (const e of from.scan()) if (remap[e.seg]! >= 0) yield { ...e, seg: remap[e.seg]! };
        })(),
      );
    }
    for (const s of ok) {
      if (pos.has(s.id)) continue;
      let own: SortedEntries;
      try {
        if ((await sha256File(p.keys(s.id))) !== s.keys.sha256) throw new Error('keys file checksum mismatch');
        own = SortedEntries.open(p.keys(s.id));
      } catch (err) {
        log(`embedding cache: leaving segment ${s.id} out of the index: ${(err as Error).message}`);
        continue;
      }
      opened.push(own);
      const n = segments.push(s.id) - 1;
      pos.set(s.id, n);
      sources.push(
        (function* () {
          for (const e of own.scan()) yield { ...e, seg: n };
        })(),
      );
    }
    const file = `index-${newId()}.keys`;
    const target = path.join(p.dir, file);
    const tmp = tempPathFor(target);
    const fd = fs.openSync(tmp, 'w');
    let entries = 0;
    try {
      const block = Buffer.alloc(16_384 * ENTRY_BYTES);
      let n = 0;
      const flush = () => {
        let off = 0;
        while (off < n * ENTRY_BYTES) off += fs.writeSync(fd, block, off, n * ENTRY_BYTES - off);
        n = 0;
      };
      for (const e of mergeEntries(sources)) {
        writeEntry(block, n++ * ENTRY_BYTES, e);
        entries++;
        if (n * ENTRY_BYTES === block.byteLength) flush();
      }
      flush();
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    await fsp.rename(tmp, target);
    await writeJsonAtomic(p.index, {
      kind: 'embedding-cache-index',
      file,
      segments,
      entries,
      createdAt: new Date().toISOString(),
    } satisfies IndexFile);
    if (current && current.file !== file) await fsp.rm(path.join(p.dir, current.file), { force: true });
    return true;
  } finally {
    for (const o of opened) o.close();
    fs.rmSync(p.lock, { force: true });
  }
}

export interface CacheNamespaceStats {
  dir: string;
  key: string;
  modelId: string;
  settings: CacheNamespace | null;
  segments: number;
  rows: number;
  bytes: number;
  indexedSegments: number;
  damaged: { id: string; reason: string }[];
  oldest: string | null;
  newest: string | null;
}

/** Every namespace under `root` with its size; a root that does not exist has none. */
export async function cacheStats(root: string): Promise<CacheNamespaceStats[]> {
  const dirs = await fsp.readdir(path.resolve(root)).catch(() => [] as string[]);
  const out: CacheNamespaceStats[] = [];
  for (const key of dirs.sort()) {
    const p = nsPaths(path.join(path.resolve(root), key));
    const ns = await readJsonIfExists(p.namespace, NamespaceFile).catch(() => null);
    if (!ns) continue;
    const { ok, bad } = await listSegments(p, ns.settings.dims * bytesPerValue(ns.settings.dtype));
    const index = await readJsonIfExists(p.index, IndexFile).catch(() => null);
    const covered = new Set(index?.segments ?? []);
    const dates = ok.map((s) => s.createdAt).sort();
    out.push({
      dir: p.dir,
      key,
      modelId: ns.modelId,
      settings: ns.settings,
      segments: ok.length,
      rows: ok.reduce((n, s) => n + s.rows, 0),
      bytes: ok.reduce((n, s) => n + s.bytes, 0) + (index ? index.entries * ENTRY_BYTES : 0),
      indexedSegments: ok.filter((s) => covered.has(s.id)).length,
      damaged: bad,
      oldest: dates[0] ?? null,
      newest: dates.at(-1) ?? null,
    });
  }
  return out;
}

export interface GcOptions {
  /** Namespaces to keep (namespaceKey of each setting a run config names); others are deleted. Absent: keep all. */
  keep?: ReadonlySet<string>;
  /** Delete segments committed before this time. */
  olderThan?: Date;
}

export interface GcResult {
  namespacesRemoved: number;
  segmentsRemoved: number;
  rowsRemoved: number;
  bytesFreed: number;
}

/** Files a crashed writer left (uncommitted rows, temp files) are removed once this old. */
const ORPHAN_AGE_MS = 24 * 3600_000;

/**
 * Drop namespaces not in `keep`, segments older than `olderThan` and damaged segments, then
 * rebuild each changed namespace's index. A segment is removed record first, so a concurrent
 * reader sees it whole or not at all.
 */
export async function gcCache(root: string, opts: GcOptions): Promise<GcResult> {
  const result: GcResult = { namespacesRemoved: 0, segmentsRemoved: 0, rowsRemoved: 0, bytesFreed: 0 };
  for (const ns of await cacheStats(root)) {
    if (opts.keep && !opts.keep.has(ns.key)) {
      await fsp.rm(ns.dir, { recursive: true, force: true });
      result.namespacesRemoved++;
      result.segmentsRemoved += ns.segments;
      result.rowsRemoved += ns.rows;
      result.bytesFreed += ns.bytes;
      continue;
    }
    const p = nsPaths(ns.dir);
    const rowBytes = ns.settings!.dims * bytesPerValue(ns.settings!.dtype);
    const { ok, bad } = await listSegments(p, rowBytes);
    const drop = [
      ...ok.filter((s) => opts.olderThan && new Date(s.createdAt) < opts.olderThan),
      ...bad.map((b) => ({ id: b.id, rows: 0, bytes: 0 })),
    ];
    for (const s of drop) {
      await fsp.rm(p.record(s.id), { force: true });
      await fsp.rm(p.bin(s.id), { force: true });
      await fsp.rm(p.keys(s.id), { force: true });
      result.segmentsRemoved++;
      result.rowsRemoved += s.rows;
      result.bytesFreed += s.bytes;
    }
    for (const name of await fsp.readdir(p.segments).catch(() => [] as string[])) {
      const file = path.join(p.segments, name);
      const orphan = name.endsWith('.partial') || name.endsWith('.tmp');
      if (orphan && Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > ORPHAN_AGE_MS)
        await fsp.rm(file, { force: true });
    }
    if (drop.length > 0) await rebuildIndex(p, rowBytes, () => {}, true);
  }
  return result;
}
