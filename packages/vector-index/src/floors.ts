import path from 'node:path';
import { EmbeddingMatrixReader, type RawMatrix } from '@rds/artifacts';
import type { ScoreEngine } from './engines/index.js';
import type { PoolEmbeddings } from './inputs.js';

/** Rows per sampled chunk: contiguous reads, spread evenly over the pool. */
const CHUNK_ROWS = 256;

export interface SampleChunk {
  shard: number;
  start: number;
  count: number;
}

/**
 * Where to sample about `sampleRows` rows of a pool with these shard sizes: chunks of up to 256
 * contiguous rows at evenly spaced global positions (a pool is often ordered by source, so one
 * contiguous sample would see only a few sources). Chunks never cross a shard end.
 */
export function samplePlan(shardRows: readonly number[], sampleRows: number): SampleChunk[] {
  const total = shardRows.reduce((a, b) => a + b, 0);
  const chunks = Math.ceil(Math.min(sampleRows, total) / CHUNK_ROWS);
  const plan: SampleChunk[] = [];
  let shard = 0;
  let offset = 0;
  let end = 0; // global row after the last chunk
  let rows = 0;
  for (let i = 0; i < chunks && rows < sampleRows; i++) {
    const at = Math.max(Math.floor((i * total) / chunks), end);
    while (shard < shardRows.length && at >= offset + shardRows[shard]!) offset += shardRows[shard++]!;
    if (shard === shardRows.length) break;
    const start = at - offset;
    const count = Math.min(CHUNK_ROWS, shardRows[shard]! - start, sampleRows - rows);
    plan.push({ shard, start, count });
    end = at + count;
    rows += count;
  }
  return plan;
}

export interface Floors {
  /** Per query: its sampled floor (-Infinity: none). */
  floors: Float32Array;
  /** Expected rows at or above a query's floor per pool row (for the first block's depth). */
  perRow: number;
  sampleRows: number;
}

/**
 * Per-query score floors from a sample of the pool, for top-K lists that need only rows at or
 * above them (RunningTopK). A floor is the sample's k_s-th best score with k_s chosen so that the
 * pool's K-th best is very likely above it: the sample holds on average mu = K * S / N of the
 * pool's top K rows, and k_s = mu + 4 sqrt(mu) + 8 (at least K: then the floor is safe by
 * construction). With floors, every block adds only about k_s / S rows per pool row to a list,
 * instead of K / b at the b-th block; a floor that was too high is caught at the end
 * (RunningTopK.unfilled) and that query is rescanned without it, so results never depend on it.
 * `scratch` holds the sample (at most its capacity in rows).
 */
export async function sampleFloors(
  pool: PoolEmbeddings,
  engine: ScoreEngine,
  k: number,
  sampleRows: number,
  scratch: RawMatrix,
): Promise<Floors> {
  const d = pool.settings.dims;
  const plan = samplePlan(
    pool.shards.map((s) => s.manifest.rows),
    Math.min(sampleRows, Math.floor(scratch.length / d)),
  );
  let rows = 0;
  // Chunks come in shard order: each shard's file is opened once.
  let open = -1;
  let reader: EmbeddingMatrixReader | undefined;
  try {
    for (const chunk of plan) {
      if (chunk.shard !== open) {
        reader?.close();
        reader = undefined;
        const shard = pool.shards[chunk.shard]!;
        reader = EmbeddingMatrixReader.open(
          path.resolve(path.dirname(shard.manifestPath), shard.manifest.matrix.file),
          d,
          pool.settings.dtype,
          shard.manifest.rows,
        );
        open = chunk.shard;
      }
      reader!.readRaw(chunk.start, chunk.count, scratch.subarray(rows * d, (rows + chunk.count) * d));
      rows += chunk.count;
    }
  } finally {
    reader?.close();
  }
  const mu = (k * rows) / pool.rows;
  const ks = Math.min(rows, k, Math.ceil(mu + 4 * Math.sqrt(mu) + 8));
  const out = await engine.score(scratch, rows, ks);
  const nq = out.topIds.length / out.kb;
  const floors = new Float32Array(nq);
  for (let q = 0; q < nq; q++) {
    const last = q * out.kb + out.kb - 1;
    floors[q] = out.kb > 0 && out.topIds[last]! >= 0 ? out.topScores[last]! : -Infinity;
  }
  return { floors, perRow: ks / rows, sampleRows: rows };
}
