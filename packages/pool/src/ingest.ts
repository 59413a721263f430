import { createHash, hash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  ShardWriter,
  cleanTempFiles,
  poolLine,
  poolLineHead,
  readJsonFile,
  runLayout,
  throwIfCancelled,
  verifyFileRef,
  writeQuerySet,
  writeJsonAtomic,
} from '@rds/artifacts';
import {
  PoolManifest,
  ValidationError,
  type Message,
  type PoolConfig,
  type PoolFormat,
  type QuerySetConfig,
} from '@rds/schemas';
import { expandInputs } from './glob.js';
import { Hash64Set } from './hashset.js';
import {
  detectShape,
  isRejection,
  normaliseRow,
  strippedMessagesJson,
  type RejectReason,
  type RowShape,
} from './normalise.js';
import { inputKind, isBroken, preview, readRecords, sourceFromFileName, type SourceRecord } from './readers.js';
import { LazyJsonlWriter, Utf8Scratch } from './writers.js';

/** Bump when the canonical output changes, so old pools are not mistaken for new ones. */
const FORMAT_VERSION = 2; // 2: dedup keys on stripped contents (strippedMessagesJson)

export interface SourceStats {
  read: number;
  kept: number;
  duplicate: number;
  rejected: number;
}

export interface IngestProgress {
  bytesDone: number;
  bytesTotal: number;
  rows: number;
  kept: number;
  file: string;
}

export interface IngestOptions {
  signal?: AbortSignal;
  /** Called after every chunk / row group (callers throttle). */
  onProgress?: (p: IngestProgress) => void;
  /** Directory relative inputs and globs are resolved against (default: process.cwd()). */
  cwd?: string;
  /** Query files must really lie inside these when opened (the pool's own files use PoolConfig.roots). */
  roots?: readonly string[] | undefined;
}

export interface PoolIngestResult {
  skipped: boolean;
  manifest: PoolManifest;
}

/** One row quarantined in rejected.jsonl. */
export interface RejectedRow {
  file: string;
  line: number;
  reason: RejectReason;
  detail: string;
  source: string;
  raw: string;
}

/** A canonical row, or why the record was rejected. */
export type Outcome =
  | {
      ok: true;
      messages: Message[];
      messagesJson: string;
      dedupJson: string | undefined;
      source: string;
      id: string | undefined;
    }
  | { ok: false; reason: RejectReason; detail: string; source: string; raw: string };

/**
 * Normalises the records of one file: detects the shape from the first parseable row (unless
 * forced) and maps every record to canonical messages or a rejection.
 */
export class FileNormaliser {
  private shape: RowShape | undefined;
  readonly defaultSource: string;

  constructor(file: string, format: PoolFormat) {
    this.shape = format === 'auto' ? undefined : format;
    this.defaultSource = sourceFromFileName(file);
  }

  normalise(rec: SourceRecord): Outcome {
    if (isBroken(rec))
      return { ok: false, reason: rec.reason, detail: rec.detail, source: this.defaultSource, raw: rec.raw };
    this.shape ??= detectShape(rec.value);
    if (!this.shape) {
      return {
        ok: false,
        reason: 'unknown-shape',
        detail: 'row has none of messages (tulu), conversations (sharegpt), instruction+output (alpaca)',
        source: sourceOf(rec.value) ?? this.defaultSource,
        raw: preview(rec.text),
      };
    }
    const row = normaliseRow(rec.value, this.shape);
    if (isRejection(row)) {
      return {
        ok: false,
        reason: row.reason,
        detail: row.detail,
        source: sourceOf(rec.value) ?? this.defaultSource,
        raw: preview(rec.text),
      };
    }
    return {
      ok: true,
      messages: row.messages,
      messagesJson: JSON.stringify(row.messages),
      dedupJson: strippedMessagesJson(row.messages),
      source: row.source ?? this.defaultSource,
      id: row.id,
    };
  }
}

function sourceOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  for (const key of ['dataset', 'source']) {
    const s = v[key];
    if (typeof s === 'string' && s !== '') return s;
  }
  return undefined;
}

/**
 * The exact-dedup key (and the seed of derived ids): sha256 of the contents as the encoder will see
 * them (role + stripped content), else of the messages as stored. The first row is kept as it came.
 */
export function contentDigest(out: { dedupJson: string | undefined }, messages: string | Uint8Array): Buffer {
  return out.dedupJson === undefined ? hash('sha256', messages, 'buffer') : hash('sha256', out.dedupJson, 'buffer');
}

/**
 * Hands out unique ids: a row keeps its own `id` unless an earlier row took it; otherwise
 * `${source}-${first 16 hex of the content hash}` (suffixed in the near-impossible case that is taken).
 * Ids are tracked as 64-bit hashes, so millions of ids cost 8-16 bytes each.
 */
class IdAllocator {
  private readonly taken = new Hash64Set();

  assign(given: string | undefined, source: string, contentDigest: Buffer): string {
    if (given !== undefined && this.take(given)) return given;
    const base = `${source}-${contentDigest.toString('hex', 0, 8)}`;
    let id = base;
    for (let n = 2; !this.take(id); n++) id = `${base}-${n}`;
    return id;
  }

  private take(id: string): boolean {
    return this.taken.add(stringHash32(id, 0x9e3779b1), stringHash32(id, 0x85ebca77));
  }
}

/**
 * A 32-bit hash of a string's UTF-16 units (murmur3-style mixing); two seeds make the id set's
 * 64-bit key. Ids are short, and a sha256 call per id cost more than the rest of the id work.
 */
function stringHash32(s: string, seed: number): number {
  let h = seed ^ s.length;
  for (let i = 0; i < s.length; i++) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface InputFile {
  path: string;
  bytes: number;
  mtimeMs: number;
}

export async function statInputs(patterns: readonly string[], cwd: string | undefined): Promise<InputFile[]> {
  const files = await expandInputs(patterns, cwd);
  return Promise.all(
    files.map(async (file) => {
      try {
        const st = await fsp.stat(file);
        if (!st.isFile()) throw new ValidationError(`input ${file} is not a file`);
        return { path: file, bytes: st.size, mtimeMs: st.mtimeMs };
      } catch (err) {
        if (err instanceof ValidationError) throw err;
        throw new ValidationError(`cannot read input ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }),
  );
}

/** Same inputs (paths, sizes, mtimes) and same options = same pool. */
export function poolFingerprint(inputs: readonly InputFile[], config: PoolConfig): string {
  const payload = {
    version: FORMAT_VERSION,
    inputs: inputs.map((f) => [f.path, f.bytes, f.mtimeMs]),
    options: { format: config.format, shardSize: config.shardSize, maxRowBytes: config.maxRowBytes },
  };
  return createHash('sha256').update(JSON.stringify(payload)).digest('hex');
}

/** The existing manifest, when it has this fingerprint and every file it lists is intact. */
async function finishedPool(
  manifestFile: string,
  fingerprint: string,
  signal?: AbortSignal,
): Promise<PoolManifest | null> {
  let manifest: PoolManifest;
  try {
    manifest = await readJsonFile(manifestFile, PoolManifest);
  } catch {
    return null; // missing or unreadable: ingest again
  }
  if (manifest.fingerprint !== fingerprint) return null;
  const dir = path.dirname(manifestFile);
  const refs = [
    ...manifest.shards.flatMap((s) => (s.offsets ? [s, s.offsets] : [s])),
    ...(manifest.rejected ? [manifest.rejected] : []),
  ];
  for (const ref of refs) {
    if (signal) throwIfCancelled(signal);
    if (!(await verifyFileRef(ref, dir))) return null;
  }
  return manifest;
}

/** Remove shard files (or their indexes) a previous, larger run left behind in `dir` (they are not in the new manifest). */
async function removeStaleShards(dir: string, pattern: RegExp, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (pattern.test(name) && !keep.has(name)) await fsp.rm(path.join(dir, name), { force: true });
  }
}

/**
 * Ingest pool files into runDir/pool: validate, normalise, exact-dedup, shard, quarantine bad rows,
 * and write the manifest last. Skips (skipped: true) when a manifest with the same fingerprint
 * and intact files is already there.
 */
export async function ingestPoolFiles(
  runDir: string,
  config: PoolConfig,
  options: IngestOptions = {},
): Promise<PoolIngestResult> {
  const layout = runLayout(runDir).pool;
  const inputs = await statInputs(config.inputs, options.cwd);
  const fingerprint = poolFingerprint(inputs, config);
  const done = await finishedPool(layout.manifest, fingerprint, options.signal);
  if (done) return { skipped: true, manifest: done };

  await fsp.mkdir(layout.dir, { recursive: true });
  await cleanTempFiles(layout.dir);
  // The new pool is written into a staging directory: a failure while reading (a truncated input)
  // leaves the previous pool, manifest and all, exactly as it was. Its files move into place only
  // once every one of them is complete (commitStaged).
  // The shards' row-offset indexes are staged the same way, beside the pool directory.
  const stage = path.join(layout.dir, STAGING_DIR);
  const offsetsStage = path.join(layout.offsetsDir, STAGING_DIR);
  const removeStages = async () => {
    await fsp.rm(stage, { recursive: true, force: true });
    await fsp.rm(offsetsStage, { recursive: true, force: true });
  };
  await removeStages();
  await fsp.mkdir(stage);
  await fsp.mkdir(offsetsStage, { recursive: true });

  const shards = new ShardWriter(
    (i) => path.join(stage, path.basename(layout.shard(i))),
    config.shardSize,
    stage,
    (i) => path.join(offsetsStage, path.basename(layout.offsets(i))),
  );
  const rejected = new LazyJsonlWriter(path.join(stage, path.basename(layout.rejected)));
  const firstRejects: string[] = [];
  const contentSeen = new Hash64Set(1 << 20);
  const ids = new IdAllocator();
  const utf8 = new Utf8Scratch();
  const sources = new Map<string, SourceStats>();
  const statsFor = (source: string): SourceStats => {
    let s = sources.get(source);
    if (!s) sources.set(source, (s = { read: 0, kept: 0, duplicate: 0, rejected: 0 }));
    return s;
  };
  const bytesTotal = inputs.reduce((n, f) => n + f.bytes, 0);
  let bytesBefore = 0;
  let read = 0;
  let kept = 0;

  try {
    for (const input of inputs) {
      const normaliser = new FileNormaliser(input.path, config.format);
      for await (const batch of readRecords(input.path, { maxRowBytes: config.maxRowBytes, roots: config.roots })) {
        throwIfCancelled(options.signal ?? neverAborted);
        for (const rec of batch.records) {
          read++;
          const out = normaliser.normalise(rec);
          const stats = statsFor(out.source);
          stats.read++;
          if (!out.ok) {
            stats.rejected++;
            const row: RejectedRow = {
              file: input.path,
              line: rec.line,
              reason: out.reason,
              detail: out.detail,
              source: out.source,
              raw: out.raw,
            };
            await rejected.add(row);
            if (firstRejects.length < 3) firstRejects.push(`${input.path}:${rec.line} ${out.reason}`);
            continue;
          }
          const messages = utf8.encode(out.messagesJson);
          const digest = contentDigest(out, messages);
          if (!contentSeen.addDigest(digest)) {
            stats.duplicate++;
            continue;
          }
          stats.kept++;
          kept++;
          const id = ids.assign(out.id, out.source, digest);
          if (shards.addRow(poolLineHead(id, out.source), messages)) await shards.flush();
        }
        options.onProgress?.({
          bytesDone: bytesBefore + batch.bytesRead,
          bytesTotal,
          rows: read,
          kept,
          file: input.path,
        });
      }
      bytesBefore += input.bytes;
    }
    if (kept === 0) {
      const why =
        read === 0 ? 'no rows at all' : `${read} rows, none valid (first rejected: ${firstRejects.join('; ')})`;
      throw new ValidationError(`pool.inputs: the pool is empty: ${inputs.map((f) => f.path).join(', ')} gave ${why}`, [
        { path: 'pool.inputs', message: `the pool is empty (${why})` },
      ]);
    }
    // Index refs name the staged files until here; the manifest names them where commitStaged puts them.
    const shardRefs = (await shards.close()).map((s, i) => ({
      ...s,
      ...(s.offsets ? { offsets: { ...s.offsets, file: path.relative(layout.dir, layout.offsets(i)) } } : {}),
    }));
    const rejectedRef = await rejected.close();
    await commitStaged(
      stage,
      offsetsStage,
      layout,
      shardRefs.map((s) => s.file),
      rejectedRef !== null,
    );

    const counts = { read, kept, duplicate: 0, rejected: 0 };
    const sorted = [...sources.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, s] of sorted) {
      counts.duplicate += s.duplicate;
      counts.rejected += s.rejected;
    }
    const manifest: PoolManifest = {
      kind: 'pool',
      version: 1,
      fingerprint,
      inputs: inputs.map((f) => ({ path: f.path, bytes: f.bytes, format: inputKind(f.path) })),
      counts,
      perSource: Object.fromEntries(sorted.filter(([, s]) => s.kept > 0).map(([k, s]) => [k, s.kept])),
      sources: Object.fromEntries(sorted),
      shards: shardRefs,
      rejected: rejectedRef ? { file: path.basename(layout.rejected), ...rejectedRef } : null,
      createdAt: new Date().toISOString(),
    };
    // Written last: its presence means every shard above is complete.
    await writeJsonAtomic(layout.manifest, PoolManifest.parse(manifest));
    await removeStages();
    return { skipped: false, manifest };
  } catch (err) {
    await shards.abort();
    await rejected.abort();
    await removeStages();
    throw err;
  }
}

/** Where a pool being ingested is written until all of it is complete (inside pool/, so renames stay on one filesystem). */
const STAGING_DIR = '.staging';

/**
 * Move a completely written pool from `stage` into place. The old manifest goes first: from then on
 * until the new one is written, there is no manifest, so a crash in between means "ingest again"
 * (never a manifest describing shards that were replaced).
 */
async function commitStaged(
  stage: string,
  offsetsStage: string,
  layout: ReturnType<typeof runLayout>['pool'],
  shardFiles: string[],
  hasRejected: boolean,
): Promise<void> {
  await fsp.rm(layout.manifest, { force: true });
  for (const name of shardFiles) await fsp.rename(path.join(stage, name), path.join(layout.dir, name));
  const offsetsFiles = shardFiles.map((_, i) => path.basename(layout.offsets(i)));
  for (const name of offsetsFiles) await fsp.rename(path.join(offsetsStage, name), path.join(layout.offsetsDir, name));
  if (hasRejected) await fsp.rename(path.join(stage, path.basename(layout.rejected)), layout.rejected);
  else await fsp.rm(layout.rejected, { force: true });
  await removeStaleShards(layout.dir, /^shard-\d+\.jsonl$/, new Set(shardFiles));
  await removeStaleShards(layout.offsetsDir, /^shard-\d+\.offsets$/, new Set(offsetsFiles));
}

const neverAborted = new AbortController().signal;

export interface QuerySetResult {
  task: string;
  rows: number;
  rejected: number;
  /** False when the canonical file already had exactly this content. */
  written: boolean;
  /** Where rejected rows went (null when none). */
  rejectedFile: string | null;
}

/**
 * Normalise a task's query set into runDir/queries/<task>.jsonl with the pool's readers and
 * validation (no dedup: every query counts). Query sets are small, so the canonical text is built in
 * memory and the file is only rewritten when it changed. Rejects go to <task>.rejected.jsonl.
 */
export async function ingestQuerySet(
  runDir: string,
  query: QuerySetConfig,
  maxRowBytes: number,
  options: IngestOptions = {},
): Promise<QuerySetResult> {
  const files = await statInputs([query.path], options.cwd);
  const ids = new IdAllocator();
  const lines: string[] = [];
  const rejectedLines: string[] = [];
  for (const file of files) {
    const normaliser = new FileNormaliser(file.path, query.format);
    for await (const batch of readRecords(file.path, { maxRowBytes, roots: options.roots })) {
      throwIfCancelled(options.signal ?? neverAborted);
      for (const rec of batch.records) {
        const out = normaliser.normalise(rec);
        if (!out.ok) {
          const row: RejectedRow = {
            file: file.path,
            line: rec.line,
            reason: out.reason,
            detail: out.detail,
            source: out.source,
            raw: out.raw,
          };
          rejectedLines.push(JSON.stringify(row) + '\n');
          continue;
        }
        const id = ids.assign(out.id, out.source, hash('sha256', out.messagesJson, 'buffer'));
        lines.push(poolLine(id, out.source, out.messagesJson));
      }
    }
  }
  if (lines.length === 0) {
    throw new ValidationError(
      `query set "${query.task}" (${query.path}) has no valid rows (${rejectedLines.length} rejected)`,
    );
  }
  const { written, rejectedFile } = await writeQuerySet(runDir, query.task, lines, rejectedLines);
  return { task: query.task, rows: lines.length, rejected: rejectedLines.length, written, rejectedFile };
}
