import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  activityRuntime,
  cacheKey,
  decodeRowInto,
  EmbeddingCache,
  EmbeddingMatrixWriter,
  type CacheNamespace,
  encodeRows,
  querySetRef,
  readQuerySet,
  ProgressMeter,
  readJsonIfExists,
  readJsonLines,
  runLayout,
  settingsKey,
  throwIfCancelled,
  verifyFileRef,
  writeJsonAtomic,
  readPoolManifest,
} from '@rds/artifacts';
import {
  EmbeddingManifest,
  EmbeddingSettings,
  EmbedQueriesInput,
  EmbedShardInput,
  Example,
  parseOrThrow,
  ValidationError,
  type EmbedQueriesOutput,
  type EmbedShardOutput,
  type EmbeddingCacheConfig,
  type FileRef,
  type ModelConfig,
} from '@rds/schemas';
import { batchLimits, embedSequences } from './embed.js';
import { cacheDir, getModel, hiddenSizeOf, modelChecksum, type LoadedModel } from './model.js';
import { renderTulu, RENDER_VERSION } from './render.js';
import { TokenizerWorker } from './tokenize-pool.js';

/** Read a canonical JSONL file (pool shard or query set) whose checksum was already verified. */
async function readExamples(file: string): Promise<Example[]> {
  const rows: Example[] = [];
  for await (const { value } of readJsonLines(file, Example)) rows.push(value);
  return rows;
}

function settingsOf(model: LoadedModel, cfg: ModelConfig): EmbeddingSettings {
  return { model: model.ref, pooling: cfg.pooling, maxTokens: cfg.maxTokens, dtype: cfg.dtype, dims: model.hiddenSize };
}

/** True when a finished manifest exists for exactly these settings and input, and its matrix is intact. */
async function isComplete(
  manifestPath: string,
  settings: EmbeddingSettings,
  input: FileRef,
): Promise<EmbeddingManifest | null> {
  const m = await readJsonIfExists(manifestPath, EmbeddingManifest).catch(() => null);
  if (!m) return null;
  if (JSON.stringify(m.settings) !== JSON.stringify(settings) || m.input.sha256 !== input.sha256) return null;
  return (await verifyFileRef(m.matrix, path.dirname(manifestPath))) ? m : null;
}

interface EmbedJob {
  label: string;
  examples: Example[];
  input: FileRef;
  manifestPath: string;
  matrixPath: string;
  model: LoadedModel;
  cfg: ModelConfig;
  /** Rows are looked up here before embedding, and the ones embedded are added (null: no cache). */
  cache: EmbeddingCache | null;
}

/** A cache segment holds at most this many rows; a longer job commits one and starts the next. */
const SEGMENT_ROWS = 16_384;

/** One checkpoint chunk, prepared while the previous one runs through the model. */
interface Chunk {
  start: number;
  count: number;
  keys: bigint[] | null;
  /** Stored bytes of each row the cache had; null: embed it. */
  hits: (Uint8Array | null)[];
  /** Chunk positions of the misses, in order, and their token sequences. */
  misses: number[];
  seqs: Promise<number[][]>;
}

/**
 * Embed `examples` into a matrix in row order, in chunks of checkpointRows (length-bucketed within
 * a chunk), checkpointing after each chunk so a killed attempt resumes where it stopped and the
 * finished file is byte-identical to an uninterrupted run. Rows the cache holds are copied from it
 * (bit-identical: a row's embedding does not depend on the rows batched with it) and only the
 * misses are tokenized and embedded. The manifest is written last. Callers check isComplete() first.
 */
async function embedToMatrix(job: EmbedJob): Promise<{ rows: number; tokens: number; cacheHits: number }> {
  const rt = activityRuntime();
  const settings = settingsOf(job.model, job.cfg);
  const writer = await EmbeddingMatrixWriter.open({
    matrixPath: job.matrixPath,
    dims: settings.dims,
    dtype: settings.dtype,
    settingsKey: settingsKey({ settings, input: job.input.sha256 }),
  });
  let tokens = typeof writer.extra.tokens === 'number' ? writer.extra.tokens : 0;
  let cacheHits = typeof writer.extra.cacheHits === 'number' ? writer.extra.cacheHits : 0;
  if (writer.rows > 0) rt.log(`${job.label}: resuming at row ${writer.rows} of ${job.examples.length}`);
  const meter = new ProgressMeter(
    `embed ${job.label}`,
    job.examples.length,
    'rows',
    (p) => rt.heartbeat(p),
    writer.rows,
  );
  const tokenizer = new TokenizerWorker(job.model);
  const { cache } = job;
  let segment = cache?.newSegment() ?? null;
  const dims = settings.dims;
  const prepare = (start: number): Chunk => {
    const rows = job.examples.slice(start, start + job.cfg.checkpointRows);
    const texts = rows.map((e) => renderTulu(e.messages, job.model.eos));
    const keys = cache ? texts.map(cacheKey) : null;
    const hits = cache && keys ? cache.lookup(keys) : rows.map(() => null);
    const misses = hits.flatMap((h, i) => (h ? [] : [i]));
    const seqs = misses.length
      ? tokenizer.tokenizeTexts(
          misses.map((i) => texts[i]!),
          job.cfg.maxTokens,
        )
      : Promise.resolve([]);
    return { start, count: rows.length, keys, hits, misses, seqs };
  };
  try {
    // Pipeline: the next chunk is looked up and tokenized (in the worker) while the model runs this one.
    let next = writer.rows < job.examples.length ? prepare(writer.rows) : null;
    while (next) {
      throwIfCancelled(rt.signal);
      const chunk = next;
      const seqs = await chunk.seqs;
      const following = chunk.start + chunk.count;
      next = following < job.examples.length ? prepare(following) : null;
      const chunkHits = chunk.count - chunk.misses.length;
      // Progress per batch, not per checkpoint: a chunk of long rows can take minutes on a CPU.
      let chunkRows = chunkHits;
      let chunkTokens = 0;
      const embedded = await embedSequences(job.model, seqs, {
        pooling: job.cfg.pooling,
        ...batchLimits(job.model.provider, job.cfg),
        signal: rt.signal,
        onBatch: (rows, batchTokens) => {
          chunkRows += rows;
          chunkTokens += batchTokens;
          meter.update(writer.rows + chunkRows, {
            rowsCheckpointed: writer.rows,
            tokens: tokens + chunkTokens,
            cacheHits: cacheHits + chunkHits,
          });
        },
      });
      const vectors = new Float32Array(chunk.count * dims);
      chunk.misses.forEach((pos, j) => vectors.set(embedded.subarray(j * dims, (j + 1) * dims), pos * dims));
      chunk.hits.forEach((bytes, pos) => bytes && decodeRowInto(bytes, settings.dtype, vectors, pos * dims));
      writer.append(vectors);
      tokens += seqs.reduce((a, s) => a + s.length, 0);
      cacheHits += chunkHits;
      if (segment && chunk.keys) {
        for (const pos of chunk.misses)
          segment.add(chunk.keys[pos]!, encodeRows(vectors.subarray(pos * dims, (pos + 1) * dims), settings.dtype));
        if (segment.rows >= SEGMENT_ROWS) {
          await segment.commit();
          segment = cache!.newSegment();
        }
      }
      await writer.checkpoint({ tokens, cacheHits });
      // Every checkpoint is reported (not throttled): what a heartbeat says is durable, a crash keeps.
      meter.update(writer.rows, { rowsCheckpointed: writer.rows, tokens, cacheHits }, true);
    }
    const matrix = await writer.finish();
    const dir = path.dirname(job.manifestPath);
    const manifest: EmbeddingManifest = {
      kind: 'embeddings',
      version: 1,
      settings,
      input: job.input,
      rows: job.examples.length,
      ids: job.examples.map((e) => e.id),
      matrix: { file: path.relative(dir, job.matrixPath), ...matrix },
      tokens,
      ...(cache ? { cacheHits } : {}),
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(job.manifestPath, manifest);
    meter.update(job.examples.length, { tokens, cacheHits }, true);
    return { rows: job.examples.length, tokens, cacheHits };
  } finally {
    // Rows embedded before a cancellation or failure are good embeddings: publish them too.
    await segment?.commit();
    writer.close();
    await tokenizer.close();
  }
}

/**
 * The cache a run's embed activities share, or null when the config turns it off. A cache that
 * cannot be opened is logged and skipped: it only saves work, it must never fail a run.
 */
async function openCache(
  config: EmbeddingCacheConfig = {},
  model: LoadedModel,
  cfg: ModelConfig,
): Promise<EmbeddingCache | null> {
  if (config === false) return null;
  const rt = activityRuntime();
  const root = embeddingCacheRoot(config);
  const ns = cacheNamespace(model.ref.sha256, model.hiddenSize, cfg);
  try {
    return await EmbeddingCache.open(root, ns, { modelId: model.ref.id, log: (m) => rt.log(m) });
  } catch (err) {
    rt.log(`embedding cache at ${root} not used: ${(err as Error).message}`);
    return null;
  }
}

function cacheNamespace(modelSha256: string, dims: number, cfg: ModelConfig): CacheNamespace {
  const { pooling, maxTokens, dtype } = cfg;
  return { model: modelSha256, pooling, maxTokens, dtype, dims, render: RENDER_VERSION };
}

/** The cache namespace a run config's model settings embed into, without loading the model (rds cache gc). */
export async function cacheNamespaceOf(cfg: ModelConfig): Promise<CacheNamespace> {
  return cacheNamespace(await modelChecksum(cfg.dir), await hiddenSizeOf(cfg.dir), cfg);
}

/** Where the cache of `config` lives: its dir, else RDS_EMBEDDING_CACHE_DIR, else <cacheDir()>/embeddings. */
export function embeddingCacheRoot(config: { dir?: string | undefined }, env: NodeJS.ProcessEnv = process.env): string {
  if (config.dir) return path.resolve(config.dir);
  if (env.RDS_EMBEDDING_CACHE_DIR) return path.resolve(env.RDS_EMBEDDING_CACHE_DIR);
  return path.join(cacheDir(env), 'embeddings');
}

function modelFor(cfg: ModelConfig) {
  const rt = activityRuntime();
  return getModel(cfg.dir, {
    ...(cfg.id ? { id: cfg.id } : {}),
    executionProvider: cfg.executionProvider,
    threads: cfg.threads,
    roots: cfg.roots,
    log: (m) => rt.log(m),
  });
}

/** Activity: embed pool shard `shard` of the run (skips when already embedded with these settings). */
export async function embedPoolShard(rawInput: EmbedShardInput): Promise<EmbedShardOutput> {
  const t0 = Date.now();
  const input = parseOrThrow(EmbedShardInput, rawInput, 'embedPoolShard input');
  const layout = runLayout(input.runDir);
  const pool = await readPoolManifest(input.runDir);
  const shardRef = pool.shards[input.shard];
  if (!shardRef) throw new ValidationError(`pool has ${pool.shards.length} shards; there is no shard ${input.shard}`);
  const shardFile = path.resolve(layout.pool.dir, shardRef.file);
  const manifestPath = layout.embeddings.poolManifest(input.shard);
  const model = await modelFor(input.model);
  const inputRef: FileRef = { ...shardRef, file: path.relative(path.dirname(manifestPath), shardFile) };
  // Cheap check first: a finished shard is skipped without reading its examples.
  const done = await isComplete(manifestPath, settingsOf(model, input.model), inputRef);
  if (done) return { skipped: true, shard: input.shard, rows: done.rows, tokens: done.tokens, seconds: 0 };
  if (!(await verifyFileRef(shardRef, layout.pool.dir))) {
    throw new ValidationError(`${shardFile} does not match the checksum in ${layout.pool.manifest}; re-run ingestion`);
  }
  const cache = await openCache(input.cache, model, input.model);
  try {
    const r = await embedToMatrix({
      label: `shard ${input.shard}`,
      examples: await readExamples(shardFile),
      input: inputRef,
      manifestPath,
      matrixPath: layout.embeddings.poolMatrix(input.shard),
      model,
      cfg: input.model,
      cache,
    });
    return {
      skipped: false,
      shard: input.shard,
      rows: r.rows,
      tokens: r.tokens,
      seconds: (Date.now() - t0) / 1000,
      cacheHits: r.cacheHits,
    };
  } finally {
    cache?.close();
  }
}

/** Activity: embed each task's canonical query set, rendered and pooled exactly like the pool. */
export async function embedQueries(rawInput: EmbedQueriesInput): Promise<EmbedQueriesOutput> {
  const input = parseOrThrow(EmbedQueriesInput, rawInput, 'embedQueries input');
  const layout = runLayout(input.runDir);
  const model = await modelFor(input.model);
  let rows = 0;
  let cacheHits = 0;
  let skipped = true;
  let cache: EmbeddingCache | null | undefined; // opened with the first set that needs embedding
  try {
    for (const task of input.tasks) {
      const manifestPath = layout.embeddings.queryManifest(task);
      await fsp.mkdir(path.dirname(manifestPath), { recursive: true });
      const inputRef = await querySetRef(input.runDir, task, path.dirname(manifestPath));
      const done = await isComplete(manifestPath, settingsOf(model, input.model), inputRef);
      if (done) {
        rows += done.rows;
        continue;
      }
      skipped = false;
      cache ??= await openCache(input.cache, model, input.model);
      const r = await embedToMatrix({
        label: `queries ${task}`,
        examples: await readQuerySet(input.runDir, task),
        input: inputRef,
        manifestPath,
        matrixPath: layout.embeddings.queryMatrix(task),
        model,
        cfg: input.model,
        cache,
      });
      rows += r.rows;
      cacheHits += r.cacheHits;
    }
  } finally {
    cache?.close();
  }
  return { skipped, rows, cacheHits };
}
