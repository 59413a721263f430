import { createHash } from 'node:crypto';
import {
  openEmbeddings,
  rawMatrix,
  readJsonFile,
  runLayout,
  type EmbeddingMatrixReader,
  type RawMatrix,
  readPoolManifest,
} from '@rds/artifacts';
import { EmbeddingManifest, ValidationError, type EmbeddingSettings } from '@rds/schemas';
import type { QuerySet } from './engines/index.js';

/** The pool's embedding shards (manifests only; matrices are opened one at a time while scoring). */
export interface PoolEmbeddings {
  settings: EmbeddingSettings;
  shards: { manifestPath: string; manifest: EmbeddingManifest; rowOffset: number }[];
  rows: number;
}

function sameSettings(a: EmbeddingSettings, b: EmbeddingSettings): boolean {
  return (
    a.model.sha256 === b.model.sha256 && a.pooling === b.pooling && a.dims === b.dims && a.maxTokens === b.maxTokens
  );
}

/** Validate every pool embedding manifest against the pool manifest and each other. */
/**
 * One read buffer for blocks of up to `blockRows` rows of any of the pool's shards, to pass to
 * every shard's rawBlocks (first-touching fresh memory per shard is slow on some VMs).
 */
export function poolBlockBuffer(pool: PoolEmbeddings, blockRows: number): RawMatrix {
  const largest = Math.max(...pool.shards.map((s) => s.manifest.rows));
  return rawMatrix(pool.settings.dtype, Math.min(blockRows, largest) * pool.settings.dims);
}

/** The queries at `indices` of `queries`, as one task named `task` (for lists of a few queries). */
export function querySubset(queries: QuerySet, indices: readonly number[], task: string): QuerySet {
  const d = queries.dims;
  const data = new Float32Array(indices.length * d);
  indices.forEach((q, i) => data.set(queries.data.subarray(q * d, (q + 1) * d), i * d));
  return { dims: d, data, tasks: [{ task, start: 0, count: indices.length }] };
}

export async function readPoolEmbeddings(runDir: string): Promise<PoolEmbeddings> {
  const layout = runLayout(runDir);
  const pool = await readPoolManifest(runDir);
  const shards: PoolEmbeddings['shards'] = [];
  let rows = 0;
  let settings: EmbeddingSettings | undefined;
  for (let i = 0; i < pool.shards.length; i++) {
    const manifestPath = layout.embeddings.poolManifest(i);
    const manifest = await readJsonFile(manifestPath, EmbeddingManifest);
    if (manifest.rows !== pool.shards[i]!.rows) {
      throw new ValidationError(
        `${manifestPath}: rows ${manifest.rows}, but pool shard ${i} has ${pool.shards[i]!.rows} rows`,
      );
    }
    if (settings && !sameSettings(settings, manifest.settings)) {
      throw new ValidationError(
        `${manifestPath}: settings differ from shard 0 (model/pooling/dims/maxTokens); re-embed the pool`,
      );
    }
    settings ??= manifest.settings;
    shards.push({ manifestPath, manifest, rowOffset: rows });
    rows += manifest.rows;
  }
  if (!settings) throw new ValidationError(`${layout.pool.manifest}: the pool has no shards`);
  return { settings, shards, rows };
}

/** Load the query embeddings of `tasks` (small: a few hundred rows per task) as one QuerySet. */
export async function readQueries(
  runDir: string,
  tasks: string[],
  pool: EmbeddingSettings,
): Promise<{ queries: QuerySet; manifests: EmbeddingManifest[] }> {
  const layout = runLayout(runDir);
  const parts: Float32Array[] = [];
  const manifests: EmbeddingManifest[] = [];
  const set: QuerySet['tasks'] = [];
  let start = 0;
  for (const task of tasks) {
    const file = layout.embeddings.queryManifest(task);
    let opened: { manifest: EmbeddingManifest; reader: EmbeddingMatrixReader };
    try {
      opened = await openEmbeddings(file);
    } catch (err) {
      throw new ValidationError(
        `task "${task}": no usable query embeddings (${(err as Error).message}); run embedding first`,
      );
    }
    const { manifest, reader } = opened;
    try {
      if (!sameSettings(manifest.settings, pool)) {
        throw new ValidationError(`${file}: embedded with other settings than the pool (model/pooling/dims/maxTokens)`);
      }
      if (manifest.rows === 0) throw new ValidationError(`${file}: task "${task}" has no query rows`);
      parts.push(reader.read(0, manifest.rows));
    } finally {
      reader.close();
    }
    manifests.push(manifest);
    set.push({ task, start, count: manifest.rows });
    start += manifest.rows;
  }
  const data = new Float32Array(start * pool.dims);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { queries: { dims: pool.dims, data, tasks: set }, manifests };
}

/**
 * What a task's scores are computed from: the pool matrices, the task's query matrix and the
 * settings that change results. Same fingerprint = same scores (engine and block size only change
 * float rounding, so they are not part of it).
 */
export function taskFingerprint(pool: PoolEmbeddings, query: EmbeddingManifest, topK: number | null): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        pool: pool.shards.map((s) => s.manifest.matrix.sha256),
        query: query.matrix.sha256,
        topK,
        index: 'flat',
      }),
    )
    .digest('hex');
}
