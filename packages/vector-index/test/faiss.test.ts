import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VectorIndex, indexDescriptor } from '../src/index.js';
import { reference, rng, unitVectors } from './helpers.js';

const d = 32;

describe('VectorIndex (real faiss)', () => {
  const rand = rng(7);
  const base = unitVectors(2000, d, rand);
  const queries = unitVectors(5, d, rand);
  const ref = reference(base, queries, d, 10);

  it('flat: typed add/search returns typed arrays equal to brute force', () => {
    const ix = VectorIndex.flat(d);
    ix.add(base);
    expect(ix.size).toBe(2000);
    const res = ix.search(queries, 10);
    expect(res.labels).toBeInstanceOf(Int32Array);
    expect(res.distances).toBeInstanceOf(Float32Array);
    for (let q = 0; q < 5; q++) {
      expect(Array.from(res.labels.subarray(q * 10, q * 10 + 10))).toEqual(ref.topIds[q]);
      for (let j = 0; j < 10; j++) expect(res.distances[q * 10 + j]).toBeCloseTo(ref.topScores[q]![j]!, 5);
    }
  });

  it('pads with -1 / -Infinity when k exceeds the index size', () => {
    const ix = VectorIndex.flat(d);
    ix.add(base.subarray(0, 3 * d));
    const res = ix.search(queries.subarray(0, d), 5);
    expect(Array.from(res.labels.subarray(3))).toEqual([-1, -1]);
    expect(Array.from(res.distances.subarray(3))).toEqual([-Infinity, -Infinity]);
  });

  it('rejects input that is not a whole number of rows', () => {
    const ix = VectorIndex.flat(d);
    expect(() => ix.add(new Float32Array(d + 1))).toThrow(/not a multiple of dims 32/);
  });

  it('saves atomically and loads an identical index', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rds-faiss-'));
    const ix = VectorIndex.flat(d);
    ix.add(base);
    const file = path.join(dir, 'index', 'pool.faiss');
    const ref1 = await ix.save(file);
    expect(ref1.bytes).toBe(fs.statSync(file).size);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['pool.faiss']); // no temp file left
    const back = VectorIndex.load(file);
    expect(back.size).toBe(2000);
    expect(back.dims).toBe(d);
    expect(back.search(queries, 10)).toEqual(ix.search(queries, 10));
    expect(() => VectorIndex.load(path.join(dir, 'missing.faiss'))).toThrow(/cannot read faiss index/);
  });

  it('approximate IVF (trained) finds the exact top-1 for most queries, and HNSW builds', () => {
    const desc = indexDescriptor('ivf', undefined, 2000);
    expect(desc).toBe('IVF45,Flat');
    const ivf = VectorIndex.fromFactory(d, desc);
    expect(ivf.isTrained).toBe(false);
    expect(() => ivf.add(base)).toThrow(/must be trained/);
    ivf.train(base);
    ivf.add(base);
    // Queries that are pool rows: their own row is the best match, found in their own list.
    const probes = base.subarray(0, 50 * d);
    const res = ivf.search(probes, 1);
    let hits = 0;
    for (let q = 0; q < 50; q++) if (res.labels[q] === q) hits++;
    expect(hits).toBe(50);
    const hnsw = VectorIndex.fromFactory(d, indexDescriptor('hnsw', undefined, 2000));
    hnsw.add(base);
    const h = hnsw.search(probes, 1);
    expect(Array.from(h.labels).filter((l, q) => l === q).length).toBeGreaterThanOrEqual(48);
    expect(() => VectorIndex.fromFactory(d, 'NotAnIndex')).toThrow(/index_factory\("NotAnIndex"\) failed/);
  });
});
