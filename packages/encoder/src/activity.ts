import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  activityRuntime,
  EmbeddingMatrixWriter,
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
  type FileRef,
  type ModelConfig,
} from '@rds/schemas';
import { batchLimits, embedSequences } from './embed.js';
import { getModel, type LoadedModel } from './model.js';
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
}

/**
 * Embed `examples` into a matrix in row order, in chunks of checkpointRows (length-bucketed within
 * a chunk), checkpointing after each chunk so a killed attempt resumes where it stopped and the
 * finished file is byte-identical to an uninterrupted run. The manifest is written last.
 * Callers check isComplete() first.
 */
async function embedToMatrix(job: EmbedJob): Promise<{ rows: number; tokens: number }> {
  const rt = activityRuntime();
  const settings = settingsOf(job.model, job.cfg);
  const writer = await EmbeddingMatrixWriter.open({
    matrixPath: job.matrixPath,
    dims: settings.dims,
    dtype: settings.dtype,
    settingsKey: settingsKey({ settings, input: job.input.sha256 }),
  });
  let tokens = typeof writer.extra.tokens === 'number' ? writer.extra.tokens : 0;
  if (writer.rows > 0) rt.log(`${job.label}: resuming at row ${writer.rows} of ${job.examples.length}`);
  const meter = new ProgressMeter(
    `embed ${job.label}`,
    job.examples.length,
    'rows',
    (p) => rt.heartbeat(p),
    writer.rows,
  );
  const tokenizer = new TokenizerWorker(job.model);
  const chunkAt = (start: number) => job.examples.slice(start, start + job.cfg.checkpointRows).map((e) => e.messages);
  try {
    // Pipeline: the worker tokenizes the next chunk while the model runs the current one.
    let next = writer.rows < job.examples.length ? tokenizer.tokenize(chunkAt(writer.rows), job.cfg.maxTokens) : null;
    for (let start = writer.rows; start < job.examples.length; start += job.cfg.checkpointRows) {
      throwIfCancelled(rt.signal);
      const seqs = await next!;
      const following = start + job.cfg.checkpointRows;
      next = following < job.examples.length ? tokenizer.tokenize(chunkAt(following), job.cfg.maxTokens) : null;
      // Progress per batch, not per checkpoint: a chunk of long rows can take minutes on a CPU.
      let chunkRows = 0;
      let chunkTokens = 0;
      const vectors = await embedSequences(job.model, seqs, {
        pooling: job.cfg.pooling,
        ...batchLimits(job.model.provider, job.cfg),
        signal: rt.signal,
        onBatch: (rows, batchTokens) => {
          chunkRows += rows;
          chunkTokens += batchTokens;
          meter.update(writer.rows + chunkRows, { rowsCheckpointed: writer.rows, tokens: tokens + chunkTokens });
        },
      });
      writer.append(vectors);
      tokens += seqs.reduce((a, s) => a + s.length, 0);
      await writer.checkpoint({ tokens });
      // Every checkpoint is reported (not throttled): what a heartbeat says is durable, a crash keeps.
      meter.update(writer.rows, { rowsCheckpointed: writer.rows, tokens }, true);
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
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(job.manifestPath, manifest);
    meter.update(job.examples.length, { tokens }, true);
    return { rows: job.examples.length, tokens };
  } finally {
    writer.close();
    await tokenizer.close();
  }
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
  const r = await embedToMatrix({
    label: `shard ${input.shard}`,
    examples: await readExamples(shardFile),
    input: inputRef,
    manifestPath,
    matrixPath: layout.embeddings.poolMatrix(input.shard),
    model,
    cfg: input.model,
  });
  return { skipped: false, shard: input.shard, rows: r.rows, tokens: r.tokens, seconds: (Date.now() - t0) / 1000 };
}

/** Activity: embed each task's canonical query set, rendered and pooled exactly like the pool. */
export async function embedQueries(rawInput: EmbedQueriesInput): Promise<EmbedQueriesOutput> {
  const input = parseOrThrow(EmbedQueriesInput, rawInput, 'embedQueries input');
  const layout = runLayout(input.runDir);
  const model = await modelFor(input.model);
  let rows = 0;
  let skipped = true;
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
    const r = await embedToMatrix({
      label: `queries ${task}`,
      examples: await readQuerySet(input.runDir, task),
      input: inputRef,
      manifestPath,
      matrixPath: layout.embeddings.queryMatrix(task),
      model,
      cfg: input.model,
    });
    rows += r.rows;
  }
  return { skipped, rows };
}
