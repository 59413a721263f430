import fsp from 'node:fs/promises';
import path from 'node:path';
import { EmbeddingMatrixReader, readJsonFile, runLayout, throwIfCancelled } from '@rds/artifacts';
import { ScoresManifest, ValidationError } from '@rds/schemas';
import { BlockDepth } from './depth.js';
import { autoEngine, createEngine, queryCount, type EngineName, type QuerySet } from './engines/index.js';
import {
  poolBlockBuffer,
  querySubset,
  readPoolEmbeddings,
  readQueries,
  taskFingerprint,
  type PoolEmbeddings,
} from './inputs.js';
import { RunningTopK } from './topk.js';

const DEEPER_BLOCK_ROWS = 16_384;

/**
 * Per-query top-k lists of `task` for the given query indices (queryIndices.length x k, row-major,
 * same order and padding as the stored topk files). Served from the stored lists when k fits,
 * otherwise recomputed by streaming the pool once for just these queries.
 */
export async function topKForQueries(
  runDir: string,
  task: string,
  queryIndices: number[],
  k: number,
): Promise<{ ids: Int32Array; scores: Float32Array }> {
  if (!Number.isInteger(k) || k <= 0)
    throw new ValidationError(`topKForQueries: k must be a positive integer, got ${k}`);
  const layout = runLayout(runDir);
  const manifestPath = layout.scores.manifest(task, 'topk');
  const m = await readJsonFile(manifestPath, ScoresManifest);
  for (const q of queryIndices) {
    if (!Number.isInteger(q) || q < 0 || q >= m.queries)
      throw new ValidationError(`topKForQueries: query ${q} outside 0..${m.queries - 1} of task "${task}"`);
  }
  const pool = await readPoolEmbeddings(runDir);
  const { queries, manifests } = await readQueries(runDir, [task], pool.settings);
  if (taskFingerprint(pool, manifests[0]!, m.k ?? 0) !== m.embeddingsFingerprint) {
    throw new ValidationError(`${manifestPath}: the embeddings changed since scoring; score the run again`);
  }
  const out = {
    ids: new Int32Array(queryIndices.length * k).fill(-1),
    scores: new Float32Array(queryIndices.length * k).fill(-Infinity),
  };
  if (m.k !== undefined && k <= m.k) {
    // Stored lists are deep enough: read just the wanted rows.
    const read = async (name: string, into: Int32Array | Float32Array) => {
      const file = path.resolve(
        path.dirname(manifestPath),
        m.files.find((f) => path.basename(f.file) === `${task}.${name}`)?.file ?? `${task}.${name}`,
      );
      const fh = await fsp.open(file, 'r');
      try {
        for (let i = 0; i < queryIndices.length; i++) {
          const row = new Uint8Array(into.buffer, into.byteOffset + i * k * 4, k * 4);
          const { bytesRead } = await fh.read(row, 0, k * 4, queryIndices[i]! * m.k! * 4);
          if (bytesRead !== k * 4) throw new ValidationError(`${file}: truncated (query ${queryIndices[i]})`);
        }
      } finally {
        await fh.close();
      }
    };
    await read('topk.ids.i32', out.ids);
    await read('topk.scores.f32', out.scores);
    return out;
  }
  return streamTopK(pool, querySubset(queries, queryIndices, task), k, autoEngine(), { blockRows: DEEPER_BLOCK_ROWS });
}

/**
 * Exact per-query top-k lists of `queries` over the whole pool (queries x k, global row ids),
 * streamed block by block with the adaptive per-block depth (BlockDepth), no floors.
 */
export async function streamTopK(
  pool: PoolEmbeddings,
  queries: QuerySet,
  k: number,
  engineName: EngineName,
  options: { blockRows: number; signal?: AbortSignal },
): Promise<{ ids: Int32Array; scores: Float32Array }> {
  const d = queries.dims;
  const running = new RunningTopK(queryCount(queries), k);
  const depth = new BlockDepth();
  const engine = await createEngine(engineName, queries, { vectors: false, topK: k }, pool.settings.dtype);
  const scratch = poolBlockBuffer(pool, options.blockRows);
  try {
    for (const shard of pool.shards) {
      const reader = EmbeddingMatrixReader.open(
        path.resolve(path.dirname(shard.manifestPath), shard.manifest.matrix.file),
        d,
        pool.settings.dtype,
        shard.manifest.rows,
      );
      try {
        for (const block of reader.rawBlocks(options.blockRows, scratch)) {
          if (options.signal) throwIfCancelled(options.signal);
          await depth.scoreBlock(engine, block.data, block.count, shard.rowOffset + block.start, running);
        }
      } finally {
        reader.close();
      }
    }
    depth.settle(engine, running);
  } finally {
    await engine.close();
  }
  return { ids: running.ids, scores: running.scores };
}

/** A pool row and the query (index within its task) it scores at least a bar with. */
export interface ScorePair {
  row: number;
  query: number;
  score: number;
}

/**
 * Every (pool row, query) pair of `task` scoring at least `minScore`, found exactly with per-query
 * top-`k` lists: when `k` is the number of rows whose task max reaches the bar, no query can have
 * more than `k` rows above it. Used by the contamination check for the rows it flagged, so `k` is small.
 * Best first (score desc, row asc).
 */
export async function pairsAtLeast(
  runDir: string,
  task: string,
  minScore: number,
  k: number,
  signal?: AbortSignal,
): Promise<ScorePair[]> {
  if (!Number.isInteger(k) || k <= 0) throw new ValidationError(`pairsAtLeast: k must be a positive integer, got ${k}`);
  const pool = await readPoolEmbeddings(runDir);
  const { queries } = await readQueries(runDir, [task], pool.settings);
  const lists = await streamTopK(pool, queries, Math.min(k, pool.rows), autoEngine(), {
    blockRows: DEEPER_BLOCK_ROWS,
    ...(signal ? { signal } : {}),
  });
  const depth = Math.min(k, pool.rows);
  const pairs: ScorePair[] = [];
  for (let q = 0; q < queryCount(queries); q++) {
    for (let i = 0; i < depth; i++) {
      const row = lists.ids[q * depth + i]!;
      const score = lists.scores[q * depth + i]!;
      if (row < 0 || score < minScore) break; // lists are sorted: the rest are below the bar
      pairs.push({ row, query: q, score });
    }
  }
  return pairs.sort((a, b) => b.score - a.score || a.row - b.row || a.query - b.query);
}
