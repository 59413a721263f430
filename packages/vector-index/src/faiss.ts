import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import faiss from 'faiss-node';
import './faiss-node-typed.js';
import type { Index, TypedSearchResult } from 'faiss-node';
import { sha256File, tempPathFor } from '@rds/artifacts';

export type { TypedSearchResult } from 'faiss-node';

/**
 * Thin wrapper over faiss-node: inner-product indexes (exact or approximate) fed with
 * Float32Array (the patched binding reads them in place) and searched with typed results.
 */
export class VectorIndex {
  private constructor(
    readonly index: Index,
    readonly dims: number,
    /** faiss index_factory descriptor ("Flat" for the exact index). */
    readonly descriptor: string,
  ) {}

  /** Exact inner product (IndexFlatIP): RDS+ as published. */
  static flat(dims: number): VectorIndex {
    return new VectorIndex(new faiss.IndexFlatIP(dims), dims, 'Flat');
  }

  /** Any index_factory descriptor ("IVF256,Flat", "HNSW32", ...) over inner product; train() it if needed. */
  static fromFactory(dims: number, descriptor: string): VectorIndex {
    try {
      return new VectorIndex(
        faiss.Index.fromFactory(dims, descriptor, faiss.MetricType.METRIC_INNER_PRODUCT),
        dims,
        descriptor,
      );
    } catch (err) {
      throw new Error(`faiss index_factory("${descriptor}") failed: ${(err as Error).message}`);
    }
  }

  get size(): number {
    return this.index.ntotal();
  }
  get isTrained(): boolean {
    return this.index.isTrained();
  }

  private checkRows(x: Float32Array, what: string): number {
    if (x.length % this.dims !== 0)
      throw new Error(`${what}: ${x.length} values is not a multiple of dims ${this.dims}`);
    return x.length / this.dims;
  }

  train(x: Float32Array): void {
    this.checkRows(x, 'train');
    this.index.train(x);
  }

  /** Append rows (labels continue from the current size). */
  add(x: Float32Array): void {
    this.checkRows(x, 'add');
    if (!this.index.isTrained()) throw new Error(`add: index "${this.descriptor}" must be trained first`);
    this.index.add(x);
  }

  /** k best rows per query (n x k row-major, best first); -1 / -Infinity pad when fewer exist. */
  search(queries: Float32Array, k: number): TypedSearchResult {
    this.checkRows(queries, 'search');
    if (!Number.isInteger(k) || k <= 0) throw new Error(`search: k must be a positive integer, got ${k}`);
    const n = queries.length / this.dims;
    // The binding refuses k > ntotal: search what exists and pad the rest ourselves.
    const kk = Math.min(k, this.index.ntotal());
    const res: TypedSearchResult =
      kk > 0 ? this.index.search(queries, kk) : { distances: new Float32Array(0), labels: new Int32Array(0) };
    if (kk === k) {
      for (let i = 0; i < res.labels.length; i++) if (res.labels[i] === -1) res.distances[i] = -Infinity;
      return res;
    }
    const out: TypedSearchResult = {
      distances: new Float32Array(n * k).fill(-Infinity),
      labels: new Int32Array(n * k).fill(-1),
    };
    for (let q = 0; q < n; q++) {
      for (let j = 0; j < kk; j++) {
        const label = res.labels[q * kk + j]!;
        out.labels[q * k + j] = label;
        out.distances[q * k + j] = label === -1 ? -Infinity : res.distances[q * kk + j]!;
      }
    }
    return out;
  }

  /** Write to `file` atomically (temp name + rename); returns size and checksum. */
  async save(file: string): Promise<{ bytes: number; sha256: string }> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = tempPathFor(file);
    try {
      this.index.write(tmp);
      const fd = fs.openSync(tmp, 'r+');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { bytes: (await fsp.stat(file)).size, sha256: await sha256File(file) };
  }

  static load(file: string, descriptor = 'Flat'): VectorIndex {
    let index: Index;
    try {
      index = faiss.Index.read(file);
    } catch (err) {
      throw new Error(`cannot read faiss index ${file}: ${(err as Error).message}`);
    }
    return new VectorIndex(index, index.getDimension(), descriptor);
  }
}

/** The descriptor for an IndexConfig: an explicit factory string wins, else flat/ivf/hnsw defaults. */
export function indexDescriptor(kind: 'flat' | 'ivf' | 'hnsw', factory: string | undefined, rows: number): string {
  if (factory) return factory;
  if (kind === 'flat') return 'Flat';
  if (kind === 'hnsw') return 'HNSW32';
  // faiss guidance: ~sqrt(N) lists, at least 39 training points per list.
  const lists = Math.max(1, Math.min(Math.round(Math.sqrt(rows)), Math.floor(rows / 39)));
  return `IVF${lists},Flat`;
}
