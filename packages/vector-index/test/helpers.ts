import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddingMatrixWriter, runLayout, writeJsonAtomic } from '@rds/artifacts';
import type { EmbeddingDtype, EmbeddingManifest, PoolManifest } from '@rds/schemas';
import { expect } from 'vitest';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function unitVectors(n: number, d: number, rand: () => number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const v = rand() * 2 - 1;
      out[i * d + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! / norm;
  }
  return out;
}

const SHA = (c: string) => c.repeat(64);

async function writeMatrix(
  matrixPath: string,
  manifestPath: string,
  data: Float32Array,
  d: number,
  dtype: EmbeddingDtype,
  what: string,
): Promise<void> {
  const writer = await EmbeddingMatrixWriter.open({ matrixPath, dims: d, dtype, settingsKey: what });
  writer.append(data);
  const ref = await writer.finish();
  const rows = data.length / d;
  const manifest: EmbeddingManifest = {
    kind: 'embeddings',
    version: 1,
    settings: { model: { id: 'test', sha256: SHA('a') }, pooling: 'weighted-mean', maxTokens: 64, dtype, dims: d },
    input: { file: what, bytes: 1, sha256: SHA('b') },
    rows,
    ids: Array.from({ length: rows }, (_, i) => `${what}-${i}`),
    matrix: { file: path.basename(matrixPath), ...ref },
    tokens: 0,
    createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(manifestPath, manifest);
}

/**
 * A run directory with the artifacts scoring reads: pool manifest, pool embedding shards (the
 * store API, as the encoder writes them) and per-task query embeddings.
 */
export async function makeRun(opts: {
  shardRows: number[];
  d: number;
  queries: Record<string, number>;
  seed: number;
  dtype?: EmbeddingDtype;
  pool?: Float32Array;
}) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rds-vi-'));
  const layout = runLayout(dir);
  const rand = rng(opts.seed);
  const dtype = opts.dtype ?? 'float32';
  const total = opts.shardRows.reduce((a, b) => a + b, 0);
  // Drawn even when a pool is given, so the queries equal those of a run made without it.
  const drawn = unitVectors(total, opts.d, rand);
  const pool = opts.pool ?? drawn;
  let off = 0;
  for (let i = 0; i < opts.shardRows.length; i++) {
    const rows = opts.shardRows[i]!;
    await writeMatrix(
      layout.embeddings.poolMatrix(i),
      layout.embeddings.poolManifest(i),
      pool.subarray(off * opts.d, (off + rows) * opts.d),
      opts.d,
      dtype,
      `pool-${i}`,
    );
    off += rows;
  }
  const manifest: PoolManifest = {
    kind: 'pool',
    version: 1,
    fingerprint: SHA('c'),
    inputs: [],
    counts: { read: total, kept: total, duplicate: 0, rejected: 0 },
    perSource: { s: total },
    shards: opts.shardRows.map((rows, i) => ({ file: `shard-${i}.jsonl`, bytes: 1, sha256: SHA('d'), rows })),
    rejected: null,
    createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(layout.pool.manifest, manifest);
  const queries: Record<string, Float32Array> = {};
  for (const [task, n] of Object.entries(opts.queries)) {
    queries[task] = unitVectors(n, opts.d, rand);
    await writeMatrix(
      layout.embeddings.queryMatrix(task),
      layout.embeddings.queryManifest(task),
      queries[task],
      opts.d,
      dtype,
      `q-${task}`,
    );
  }
  return { dir, layout, pool, queries, total };
}

/** Brute force in float64: per-task max/mean and per-query top-K (score desc, lower row on ties). */
export function reference(pool: Float32Array, q: Float32Array, d: number, k: number) {
  const rows = pool.length / d;
  const nq = q.length / d;
  const sim = new Float64Array(nq * rows);
  for (let j = 0; j < nq; j++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += pool[r * d + i]! * q[j * d + i]!;
      sim[j * rows + r] = s;
    }
  const max = new Float64Array(rows).fill(-Infinity);
  const mean = new Float64Array(rows);
  for (let j = 0; j < nq; j++)
    for (let r = 0; r < rows; r++) {
      max[r] = Math.max(max[r]!, sim[j * rows + r]!);
      mean[r] = mean[r]! + sim[j * rows + r]! / nq;
    }
  const topIds: number[][] = [];
  const topScores: number[][] = [];
  for (let j = 0; j < nq; j++) {
    const order = Array.from({ length: rows }, (_, r) => r).sort(
      (a, b) => sim[j * rows + b]! - sim[j * rows + a]! || a - b,
    );
    const ids = order.slice(0, k);
    topIds.push([...ids, ...Array<number>(Math.max(0, k - ids.length)).fill(-1)]);
    topScores.push([
      ...ids.map((r) => sim[j * rows + r]!),
      ...Array<number>(Math.max(0, k - ids.length)).fill(-Infinity),
    ]);
  }
  return { max, mean, topIds, topScores };
}

export async function readF32(file: string): Promise<Float32Array> {
  const b = await fsp.readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
export async function readI32(file: string): Promise<Int32Array> {
  const b = await fsp.readFile(file);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The stored top-k lists of `task` equal brute force: ids exactly, scores to 1e-5. */
export async function expectTopKLists(
  run: Awaited<ReturnType<typeof makeRun>>,
  task: string,
  d: number,
  k: number,
): Promise<void> {
  const ref = reference(run.pool, run.queries[task]!, d, k);
  const ids = await readI32(run.layout.scores.file(task, 'topk.ids.i32'));
  const scores = await readF32(run.layout.scores.file(task, 'topk.scores.f32'));
  for (let j = 0; j < ref.topIds.length; j++) {
    expect(Array.from(ids.subarray(j * k, (j + 1) * k)), `query ${j}`).toEqual(ref.topIds[j]);
    for (let i = 0; i < k; i++) expect(Math.abs(scores[j * k + i]! - ref.topScores[j]![i]!)).toBeLessThan(1e-5);
  }
}
