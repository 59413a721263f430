import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  EmbeddingMatrixReader,
  readJsonIfExists,
  runLayout,
  scoreVectorWriter,
  throwIfCancelled,
  verifyFileRef,
  writeJsonAtomic,
  writeScoresManifest,
  writeTopKFiles,
  writeTypedAtomic,
  type Aggregate,
  type RawMatrix,
} from '@rds/artifacts';
import { ScoresManifest, type FileRef } from '@rds/schemas';
import {
  autoEngine,
  createEngine,
  FusedEngine,
  queryCount,
  type BlockScores,
  type EngineName,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engines/index.js';
import {
  poolBlockBuffer,
  querySubset,
  readPoolEmbeddings,
  readQueries,
  taskFingerprint,
  type PoolEmbeddings,
} from './inputs.js';
import { BlockDepth } from './depth.js';
import { streamTopK } from './deeper.js';
import { sampleFloors } from './floors.js';
import { RunningTopK } from './topk.js';

export interface ScoreRunOptions {
  runDir: string;
  tasks: string[];
  aggregates: Aggregate[];
  blockRows: number;
  topK: number;
  engine: 'auto' | EngineName;
  signal?: AbortSignal;
  log?: (message: string) => void;
  /** Called after every block with pool rows done (including rows of shards finished before a resume). */
  onProgress?: (rowsDone: number, totalRows: number, detail: { shard: number; engine: EngineName }) => void;
  /**
   * Seconds between checkpoints (default 15): a checkpoint writes the running top-K lists, tens of
   * MB, so one per shard cost ~15% of scoring time; a crash redoes at most this much work.
   * 0: after every shard.
   */
  checkpointSeconds?: number;
  /**
   * Rows sampled across the pool for the per-query top-K floors (default and most: a block's rows;
   * see sampleFloors). Floors are used when the pool has at least 8x this many rows.
   * They only make scoring faster: the lists are the same with or without them.
   */
  sampleRows?: number;
  /** Test hook: called after shard `i` is done (and checkpointed, when one was due); a throw here simulates a crash. */
  afterShard?: (shard: number) => void;
}

export interface ScoreRunResult {
  skipped: boolean;
  /** Tasks whose artifacts were (re)computed. */
  computed: string[];
  engine: EngineName | null;
  rows: number;
  queries: number;
  seconds: number;
  resumedFromShard: number;
  /** Blocks whose shallow per-query lists could have been cut short and were scored again at full depth. */
  fullDepthRescores: number;
  /** Queries whose sampled floor turned out too high, rescanned without it (see sampleFloors). */
  rescannedQueries: number;
}

const Checkpoint = z.object({
  key: z.string(),
  shardsDone: z.number().int().nonnegative(),
  engine: z.enum(['faiss', 'blocked', 'fused', 'js']),
  files: z.record(z.string(), z.object({ bytes: z.number().int().nonnegative(), sha256: z.string() })),
});
type Checkpoint = z.infer<typeof Checkpoint>;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Is every requested artifact of `task` there, made from the same inputs, with intact files? */
async function isComplete(
  runDir: string,
  task: string,
  aggregates: Aggregate[],
  fingerprints: Record<Aggregate, string>,
): Promise<boolean> {
  const layout = runLayout(runDir);
  for (const a of aggregates) {
    const m = await readJsonIfExists(layout.scores.manifest(task, a), ScoresManifest).catch(() => null);
    if (!m || m.embeddingsFingerprint !== fingerprints[a]) return false;
    for (const f of m.files) if (!(await verifyFileRef(f, layout.scores.dir))) return false;
  }
  return true;
}

export function fingerprintsOf(
  pool: PoolEmbeddings,
  query: Parameters<typeof taskFingerprint>[1],
  topK: number,
): Record<Aggregate, string> {
  const vec = taskFingerprint(pool, query, null);
  return { max: vec, mean: vec, topk: taskFingerprint(pool, query, topK) };
}

const DEFAULT_CHECKPOINT_SECONDS = 15;

/** What one scoring pass works on: the inputs of the tasks left to score and where its resume state lives. */
interface ScoringPass {
  opts: ScoreRunOptions;
  log: (message: string) => void;
  signal: AbortSignal;
  pool: PoolEmbeddings;
  /** Queries of the tasks being (re)computed. */
  queries: QuerySet;
  aggregates: Aggregate[];
  wanted: ScoreWanted;
  /** Resume state (shard vectors, running lists, checkpoint) of exactly this computation. */
  partialDir: string;
  cpPath: string;
  /** Tasks, inputs, aggregates and K the resume state belongs to. */
  key: string;
}

/** Where scoring stands: files written to the partial directory so far, and the running per-query lists. */
interface ScoringProgress {
  files: Checkpoint['files'];
  running: RunningTopK | null;
  depth: BlockDepth;
}

/**
 * Score the pool against the tasks' queries, streamed over pool shards block by block (memory:
 * one block of rows x (dims + queries) plus the running top-K lists). Per shard, the per-task
 * vectors go to scores/.partial; every checkpointSeconds the running lists and a checkpoint
 * follow, so a killed run resumes after the last checkpointed shard. Per-query lists keep only
 * rows at or above sampled floors when the pool is large (see sampleFloors; exact either way).
 * Tasks whose artifacts are complete for the same inputs are skipped.
 */
export async function scoreRun(opts: ScoreRunOptions): Promise<ScoreRunResult> {
  if (os.endianness() !== 'LE') throw new Error('score and embedding files are little-endian; this host is big-endian');
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  const aggregates = [...new Set(opts.aggregates)].sort();
  const pool = await readPoolEmbeddings(opts.runDir);
  const all = await readQueries(opts.runDir, opts.tasks, pool.settings);
  const fingerprints = new Map(opts.tasks.map((t, i) => [t, fingerprintsOf(pool, all.manifests[i]!, opts.topK)]));

  const todo = await tasksToScore(opts.runDir, opts.tasks, aggregates, fingerprints);
  const result = { rows: pool.rows, queries: queryCount(all.queries), resumedFromShard: 0 };
  if (todo.length === 0) {
    log(`scores up to date for ${opts.tasks.join(', ')}; skipping`);
    return {
      skipped: true,
      computed: [],
      engine: null,
      seconds: (performance.now() - started) / 1000,
      fullDepthRescores: 0,
      rescannedQueries: 0,
      ...result,
    };
  }
  const { queries } = todo.length === opts.tasks.length ? all : await readQueries(opts.runDir, todo, pool.settings);
  const wantTopK = aggregates.includes('topk') ? opts.topK : 0;
  const partialDir = path.join(runLayout(opts.runDir).scores.dir, '.partial');
  const pass: ScoringPass = {
    opts,
    log,
    signal,
    pool,
    queries,
    aggregates,
    wanted: { vectors: aggregates.includes('max') || aggregates.includes('mean'), topK: wantTopK },
    partialDir,
    cpPath: path.join(partialDir, 'checkpoint.json'),
    key: taskFingerprintKey(
      todo.map((t) => [t, fingerprints.get(t)!]),
      aggregates,
      wantTopK,
    ),
  };

  const { cp, running } = await resumeState(pass);
  const startShard = cp?.shardsDone ?? 0;
  result.resumedFromShard = startShard;
  if (startShard > 0)
    log(`resuming scoring after shard ${startShard - 1} (${startShard}/${pool.shards.length} shards done)`);

  let engineName: EngineName;
  if (cp) engineName = cp.engine;
  else if (opts.engine !== 'auto') engineName = opts.engine;
  else engineName = autoEngine(log);
  const progress: ScoringProgress = { files: { ...(cp?.files ?? {}) }, running, depth: new BlockDepth() };
  const engine = await createEngine(engineName, queries, pass.wanted, pool.settings.dtype);
  log(
    `scoring ${pool.rows.toLocaleString('en-US')} rows x ${queryCount(queries)} queries with the ${engineName} engine${engine instanceof FusedEngine ? ` (${FusedEngine.kernel()} code, ${engine.threads} threads)` : ''}`,
  );
  // The first checkpoint is due checkpointSeconds from here (the floors' sample counts too).
  const checkpointClock = performance.now();
  const scratch = poolBlockBuffer(pool, opts.blockRows);
  try {
    if (wantTopK > 0 && !progress.running) await startLists(pass, engine, scratch, progress);
    await scoreShards(pass, engine, engineName, startShard, checkpointClock, scratch, progress);
  } finally {
    await engine.close();
  }
  if (progress.depth.rescores > 0)
    log(
      `top-K: ${progress.depth.rescores} block(s) re-scored at full depth (their rows ranked higher than the previous blocks')`,
    );
  const rescannedQueries = progress.running ? await rescanUnfilled(pass, engineName, progress.running) : 0;

  await assembleOutputs(pass, progress, fingerprints);
  await fsp.rm(partialDir, { recursive: true, force: true });
  return {
    skipped: false,
    computed: todo,
    engine: engineName,
    seconds: (performance.now() - started) / 1000,
    fullDepthRescores: progress.depth.rescores,
    rescannedQueries,
    ...result,
  };
}

/** The tasks whose requested artifacts are missing, stale or damaged. */
async function tasksToScore(
  runDir: string,
  tasks: string[],
  aggregates: Aggregate[],
  fingerprints: Map<string, Record<Aggregate, string>>,
): Promise<string[]> {
  const todo: string[] = [];
  for (const task of tasks) if (!(await isComplete(runDir, task, aggregates, fingerprints.get(task)!))) todo.push(task);
  return todo;
}

/**
 * The checkpoint to resume from and the running lists it vouches for, when the partial directory
 * holds intact resume state of this very computation; otherwise the directory is emptied and
 * scoring starts from shard 0 (cp null; the running lists are made later, after the floors).
 */
async function resumeState(pass: ScoringPass): Promise<{ cp: Checkpoint | null; running: RunningTopK | null }> {
  const { partialDir, wanted } = pass;
  const nq = queryCount(pass.queries);
  let cp = await readJsonIfExists(pass.cpPath, Checkpoint).catch(() => null);
  if (cp && cp.key !== pass.key) cp = null;
  let running: RunningTopK | null = null;
  if (cp && cp.shardsDone > 0 && wanted.topK > 0) {
    const ids = await readPartial(partialDir, 'topk.ids.i32', cp);
    const scores = await readPartial(partialDir, 'topk.scores.f32', cp);
    // Floors are in the checkpoint when the run used them (rows below them were never kept).
    const floors = cp.files['topk.floors.f32']
      ? await readPartial(partialDir, 'topk.floors.f32', cp)
      : new Float32Array(nq).fill(-Infinity).buffer;
    if (
      ids &&
      scores &&
      floors &&
      ids.byteLength === nq * wanted.topK * 4 &&
      scores.byteLength === nq * wanted.topK * 4 &&
      floors.byteLength === nq * 4
    ) {
      running = new RunningTopK(
        nq,
        wanted.topK,
        { ids: new Int32Array(ids), scores: new Float32Array(scores) },
        new Float32Array(floors),
      );
    } else cp = null;
  }
  for (let s = 0; cp && wanted.vectors && s < cp.shardsDone; s++) {
    if (!(await readVerified(partialDir, shardVectorsFile(s), cp.files))) cp = null;
  }
  if (!cp) {
    running = null;
    await fsp.rm(partialDir, { recursive: true, force: true });
    await fsp.mkdir(partialDir, { recursive: true });
  }
  return { cp, running };
}

/**
 * Fresh running lists for a run that did not resume: with per-query floors from a sample of the
 * pool when it is large enough (written to the partial directory: a resume needs them), else
 * without floors.
 */
async function startLists(
  pass: ScoringPass,
  engine: ScoreEngine,
  scratch: RawMatrix,
  progress: ScoringProgress,
): Promise<void> {
  const { pool, wanted, opts } = pass;
  const nq = queryCount(pass.queries);
  // The sample fills the block buffer: the same shapes as the blocks, so onnxruntime's first-run
  // memory set-up (~1 s here) is paid once.
  const sampleRows = Math.min(opts.sampleRows ?? Infinity, scratch.length / pool.settings.dims);
  if (pool.rows >= 8 * sampleRows) {
    const sample = await sampleFloors(pool, engine, wanted.topK, sampleRows, scratch);
    progress.running = new RunningTopK(nq, wanted.topK, undefined, sample.floors);
    progress.depth = new BlockDepth(sample.perRow);
    progress.files['topk.floors.f32'] = await writeTypedAtomic(
      path.join(pass.partialDir, 'topk.floors.f32'),
      sample.floors,
    );
    pass.log(
      `top-K floors from ${sample.sampleRows} sampled rows: blocks need ~${Math.ceil(sample.perRow * opts.blockRows)} of ${wanted.topK} rows per query`,
    );
  } else {
    progress.running = new RunningTopK(nq, wanted.topK);
  }
}

/**
 * Score shards startShard.. in order. After each shard its vectors are written now (one small
 * file: a write + fsync per task and aggregate cost ~10% of scoring); the running lists (queries x
 * K, tens of MB) and the checkpoint that vouches for everything up to here only every
 * checkpointSeconds. No checkpoint after the last shard: the artifacts are assembled next,
 * straight from memory (a crash from here on resumes from the previous checkpoint, at most
 * checkpointSeconds back).
 */
async function scoreShards(
  pass: ScoringPass,
  engine: ScoreEngine,
  engineName: EngineName,
  startShard: number,
  checkpointClock: number,
  scratch: RawMatrix,
  progress: ScoringProgress,
): Promise<void> {
  const { pool, opts, partialDir } = pass;
  const checkpointMs = (opts.checkpointSeconds ?? DEFAULT_CHECKPOINT_SECONDS) * 1000;
  let lastCheckpoint = checkpointClock;
  for (let s = startShard; s < pool.shards.length; s++) {
    const vectors = await scoreShardBlocks(pass, engine, engineName, s, scratch, progress);
    throwIfCancelled(pass.signal);
    if (pass.wanted.vectors)
      progress.files[shardVectorsFile(s)] = await writeTypedAtomic(path.join(partialDir, shardVectorsFile(s)), vectors);
    if (s < pool.shards.length - 1 && performance.now() - lastCheckpoint >= checkpointMs) {
      await writeCheckpoint(pass, engine, engineName, s + 1, progress);
      lastCheckpoint = performance.now();
    }
    opts.afterShard?.(s);
  }
  if (progress.running) progress.depth.settle(engine, progress.running);
}

/**
 * Score one shard block by block, merging into the running lists; returns the shard's per-task
 * vectors in one array: task after task, max then mean (see vectorsOf).
 */
async function scoreShardBlocks(
  pass: ScoringPass,
  engine: ScoreEngine,
  engineName: EngineName,
  s: number,
  scratch: RawMatrix,
  progress: ScoringProgress,
): Promise<Float32Array> {
  const { pool, wanted, opts } = pass;
  const shard = pool.shards[s]!;
  const reader = EmbeddingMatrixReader.open(
    path.resolve(path.dirname(shard.manifestPath), shard.manifest.matrix.file),
    pool.settings.dims,
    pool.settings.dtype,
    shard.manifest.rows,
  );
  const vectors = new Float32Array(wanted.vectors ? pass.queries.tasks.length * 2 * reader.rows : 0);
  try {
    for (const block of reader.rawBlocks(opts.blockRows, scratch)) {
      throwIfCancelled(pass.signal);
      const out: BlockScores = progress.running
        ? await progress.depth.scoreBlock(
            engine,
            block.data,
            block.count,
            shard.rowOffset + block.start,
            progress.running,
          )
        : await engine.score(block.data, block.count);
      if (wanted.vectors) {
        out.max.forEach((v, t) => vectorsOf(vectors, reader.rows, t, 'max').set(v, block.start));
        out.mean.forEach((v, t) => vectorsOf(vectors, reader.rows, t, 'mean').set(v, block.start));
      }
      opts.onProgress?.(shard.rowOffset + block.start + block.count, pool.rows, { shard: s, engine: engineName });
    }
  } finally {
    reader.close();
  }
  return vectors;
}

/** Write the running lists, then the checkpoint that vouches for them and every file before it. */
async function writeCheckpoint(
  pass: ScoringPass,
  engine: ScoreEngine,
  engineName: EngineName,
  shardsDone: number,
  progress: ScoringProgress,
): Promise<void> {
  const { running, files } = progress;
  if (running) {
    progress.depth.settle(engine, running);
    for (const [name, data] of [
      ['topk.ids.i32', running.ids],
      ['topk.scores.f32', running.scores],
    ] as const) {
      files[name] = await writeTypedAtomic(path.join(pass.partialDir, name), data);
    }
  }
  await writeJsonAtomic(pass.cpPath, { key: pass.key, shardsDone, engine: engineName, files } satisfies Checkpoint);
}

/**
 * Queries whose floors were above their K-th best (fewer than K rows reached them): rescan just
 * these without floors and put their exact lists in place. Returns how many there were. A crash
 * here resumes from the final checkpoint and redoes this.
 */
async function rescanUnfilled(pass: ScoringPass, engineName: EngineName, running: RunningTopK): Promise<number> {
  const unfilled = running.unfilled();
  if (unfilled.length === 0) return 0;
  const k = pass.wanted.topK;
  const one = unfilled.length === 1;
  pass.log(
    `top-K: ${unfilled.length} ${one ? 'query had a floor above its' : 'queries had floors above their'} K-th best score; rescanning the pool for ${one ? 'it' : 'them'}`,
  );
  const exact = await streamTopK(pass.pool, querySubset(pass.queries, unfilled, 'rescan'), k, engineName, {
    signal: pass.signal,
    blockRows: pass.opts.blockRows,
  });
  unfilled.forEach((q, i) => running.setList(q, exact.ids.subarray(i * k), exact.scores.subarray(i * k)));
  return unfilled.length;
}

/** Write the final artifacts: every task's files first, its manifests last (they vouch for the files). */
async function assembleOutputs(
  pass: ScoringPass,
  progress: ScoringProgress,
  fingerprints: Map<string, Record<Aggregate, string>>,
): Promise<void> {
  const { opts, pool, queries, aggregates, signal } = pass;
  const vectorRefs = await assembleVectors(
    opts.runDir,
    pass.partialDir,
    progress.files,
    pool,
    queries,
    aggregates,
    signal,
  );
  const createdAt = new Date().toISOString();
  throwIfCancelled(signal);
  // Tasks in parallel: each file's write and fsync wait on the disk, not the CPU.
  await Promise.all(
    queries.tasks.map(async (t) => {
      const fps = fingerprints.get(t.task)!;
      for (const a of aggregates) {
        const refs: FileRef[] =
          a === 'topk'
            ? await writeTopKFiles(opts.runDir, t.task, progress.running!.slice(t.start, t.count))
            : [vectorRefs.get(`${t.task}/${a}`)!];
        await writeScoresManifest(opts.runDir, {
          kind: 'scores',
          version: 1,
          task: t.task,
          aggregate: a,
          rows: pool.rows,
          queries: t.count,
          ...(a === 'topk' ? { k: pass.wanted.topK } : {}),
          files: refs,
          embeddingsFingerprint: fps[a],
          createdAt,
        });
      }
    }),
  );
}

function shardVectorsFile(shard: number): string {
  return `vectors.${String(shard).padStart(5, '0')}.f32`;
}

/** Task t's `max` or `mean` vector inside a shard's vectors (tasks x [max, mean] x rows). */
function vectorsOf(vectors: Float32Array, rows: number, t: number, a: 'max' | 'mean'): Float32Array {
  const start = vectorStart(rows, t, a);
  return vectors.subarray(start, start + rows);
}

/** Where task t's `max` or `mean` vector starts in a shard's vectors, in values. */
function vectorStart(rows: number, t: number, a: 'max' | 'mean'): number {
  return (2 * t + (a === 'max' ? 0 : 1)) * rows;
}

/**
 * Concatenate the shards' vectors into each task's max.f32 / mean.f32 (the aggregates asked for):
 * one pass over the shard files, each checked against the checkpoint's checksum, every output
 * written through its own atomic writer. Returns the file refs by `${task}/${aggregate}`.
 */
async function assembleVectors(
  runDir: string,
  partialDir: string,
  files: Checkpoint['files'],
  pool: PoolEmbeddings,
  queries: QuerySet,
  aggregates: Aggregate[],
  signal: AbortSignal,
): Promise<Map<string, FileRef>> {
  const outputs = queries.tasks.flatMap((t, i) =>
    (['max', 'mean'] as const)
      .filter((a) => aggregates.includes(a))
      .map((a) => ({ key: `${t.task}/${a}`, t: i, a, writer: scoreVectorWriter(runDir, t.task, a) })),
  );
  try {
    for (let s = 0; s < pool.shards.length && outputs.length > 0; s++) {
      throwIfCancelled(signal);
      const buf = await readVerified(partialDir, shardVectorsFile(s), files);
      if (!buf)
        throw new Error(
          `${path.join(partialDir, shardVectorsFile(s))}: partial scores missing or corrupt (changed after the checkpoint); score again`,
        );
      const rows = pool.shards[s]!.manifest.rows;
      for (const o of outputs) {
        const start = vectorStart(rows, o.t, o.a) * 4;
        await o.writer.write(buf.subarray(start, start + rows * 4));
      }
    }
    const committed = await Promise.all(
      outputs.map(
        async (o) => [o.key, { file: path.basename(o.writer.target), ...(await o.writer.commit()) }] as const,
      ),
    );
    return new Map<string, FileRef>(committed);
  } catch (err) {
    for (const o of outputs) await o.writer.abort();
    throw err;
  }
}

function taskFingerprintKey(
  tasks: [string, Record<Aggregate, string>][],
  aggregates: Aggregate[],
  topK: number,
): string {
  return JSON.stringify({ tasks, aggregates, topK });
}

/** A checkpointed partial file, verified against its recorded size and checksum (null if not intact). */
async function readPartial(dir: string, name: string, cp: Checkpoint): Promise<ArrayBuffer | null> {
  const buf = await readVerified(dir, name, cp.files);
  if (!buf) return null;
  // A fresh ArrayBuffer: typed arrays need their own aligned buffer, a Buffer may sit in a pool.
  const out = new ArrayBuffer(buf.byteLength);
  new Uint8Array(out).set(buf);
  return out;
}

/** A partial file as the checkpoint recorded it (size and checksum), or null if missing or changed. */
async function readVerified(dir: string, name: string, files: Checkpoint['files']): Promise<Buffer | null> {
  const want = files[name];
  if (!want) return null;
  const buf = await fsp.readFile(path.join(dir, name)).catch(() => null);
  if (!buf || buf.byteLength !== want.bytes || sha256(buf) !== want.sha256) return null;
  return buf;
}
