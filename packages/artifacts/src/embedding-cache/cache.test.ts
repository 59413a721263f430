import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, cacheStats, EmbeddingCache, gcCache, namespaceKey, type CacheNamespace } from './cache.js';
import { rowFor, TEST_NS } from './test-rows.js';

let root: string;
beforeEach(async () => void (root = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-cache-'))));
afterEach(() => fs.rm(root, { recursive: true, force: true }));

/** Commit one segment holding `keys` (rows from rowFor). */
async function fill(keys: bigint[], ns: CacheNamespace = TEST_NS): Promise<void> {
  const cache = await EmbeddingCache.open(root, ns);
  const seg = cache.newSegment();
  for (const k of keys) seg.add(k, rowFor(k));
  await seg.commit();
  cache.close();
}

/** Look `keys` up in a freshly opened cache; the log lines it printed come back too. */
async function look(keys: bigint[], ns: CacheNamespace = TEST_NS) {
  const log: string[] = [];
  const cache = await EmbeddingCache.open(root, ns, { log: (m) => log.push(m) });
  try {
    return { got: cache.lookup(keys), log };
  } finally {
    cache.close();
  }
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(from + i));

describe('embedding cache', () => {
  it('keys on the rendered text only, and keeps settings apart', async () => {
    expect(cacheKey('<|user|>\nhi')).toBe(cacheKey('<|user|>\nhi'));
    expect(cacheKey('<|user|>\nhi')).not.toBe(cacheKey('<|user|>\nhi!'));
    await fill([cacheKey('a'), cacheKey('b')]);
    const { got } = await look([cacheKey('b'), cacheKey('c'), cacheKey('a')]);
    expect(got.map((g) => (g ? Buffer.from(g).toString('hex') : null))).toEqual([
      Buffer.from(rowFor(cacheKey('b'))).toString('hex'),
      null,
      Buffer.from(rowFor(cacheKey('a'))).toString('hex'),
    ]);
    // Any other model file, pooling, maxTokens, dtype or rendering is another namespace: all misses.
    for (const change of [{ model: 'b'.repeat(64) }, { pooling: 'mean' as const }, { maxTokens: 512 }, { render: 2 }]) {
      const ns = { ...TEST_NS, ...change };
      expect(namespaceKey(ns)).not.toBe(namespaceKey(TEST_NS));
      expect((await look([cacheKey('a')], ns)).got).toEqual([null]);
    }
  });

  it('merges many segments into one index without losing or changing a row', async () => {
    for (let s = 0; s < 11; s++) await fill(range(s * 500, 500));
    const [stats] = await cacheStats(root);
    expect(stats).toMatchObject({ segments: 11, rows: 5500, damaged: [] });
    expect(stats!.indexedSegments).toBeGreaterThanOrEqual(8); // merged when the 8th loose one landed
    const keys = [...range(0, 5500), ...range(900_000, 50)];
    const { got } = await look(keys);
    for (const [i, k] of keys.entries()) {
      if (i < 5500) expect(Buffer.from(got[i]!).equals(rowFor(k)), `key ${k}`).toBe(true);
      else expect(got[i]).toBeNull();
    }
  });

  it('ignores a truncated segment and a row whose bytes were damaged, never returning wrong bytes', async () => {
    await fill(range(0, 100));
    await fill(range(100, 100));
    const segDir = path.join(root, namespaceKey(TEST_NS), 'segments');
    const bins = (await fs.readdir(segDir)).filter((f) => f.endsWith('.bin')).sort();
    // The first segment loses its tail (a crash of the disk, not of the writer: its record stays).
    const first = path.join(segDir, bins[0]!);
    await fs.truncate(first, 50 * 16);
    // One row of the second segment gets a flipped byte.
    const second = path.join(segDir, bins[1]!);
    const bytes = await fs.readFile(second);
    bytes[0]! ^= 0xff; // row 0 of the segment: the first key added (100)
    await fs.writeFile(second, bytes);
    const { got, log } = await look(range(0, 200));
    expect(got.slice(0, 100).every((g) => g === null)).toBe(true);
    expect(got[100]).toBeNull(); // the damaged row is a miss
    expect(log.join('\n')).toMatch(/rows file holds 800 bytes, the record says 1600/);
    expect(log.join('\n')).toMatch(/is damaged \(row 0 fails its checksum\)/);
    const [stats] = await cacheStats(root);
    expect(stats!.damaged).toHaveLength(1);
  });

  it('two processes filling one cache at once: every row readable and correct, no damaged segment', async () => {
    const script = fileURLToPath(new URL('./cache-writer.ts', import.meta.url));
    const writers = [1, 2].map(
      (w) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['--conditions=@rds/source', '--import', 'tsx', script, root, String(w), '12', '300'],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer ${w} exited ${code}`))));
        }),
    );
    expect(await Promise.all(writers)).toEqual(['done\n', 'done\n']);
    const keys: bigint[] = [];
    for (let n = 0; n < 12 * 300; n++) {
      if ((n % 300) % 4 === 0) keys.push(BigInt(n));
      else keys.push(BigInt(1_000_000 + n), BigInt(2_000_000 + n));
    }
    const { got, log } = await look(keys);
    expect(log).toEqual([]);
    const wrong = keys.filter((k, i) => !got[i] || !Buffer.from(got[i]).equals(rowFor(k)));
    expect(wrong).toEqual([]);
    const [stats] = await cacheStats(root);
    expect(stats).toMatchObject({ segments: 24, damaged: [] });
  });

  it('gc drops namespaces no config names and segments older than a date, and keeps the rest readable', async () => {
    const other = { ...TEST_NS, maxTokens: 512 };
    await fill(range(0, 10), other);
    await fill(range(0, 100));
    // Age the first segment by its record (what gc reads), not by waiting.
    const segDir = path.join(root, namespaceKey(TEST_NS), 'segments');
    const [record] = (await fs.readdir(segDir)).filter((f) => f.endsWith('.json'));
    const rec = JSON.parse(await fs.readFile(path.join(segDir, record!), 'utf8')) as { createdAt: string };
    await fs.writeFile(path.join(segDir, record!), JSON.stringify({ ...rec, createdAt: '2020-01-01T00:00:00.000Z' }));
    const cutoff = new Date('2021-01-01T00:00:00.000Z');
    for (let s = 1; s < 10; s++) await fill(range(s * 100, 100));
    const kept = await gcCache(root, { keep: new Set([namespaceKey(TEST_NS)]) });
    expect(kept).toMatchObject({ namespacesRemoved: 1, rowsRemoved: 10 });
    expect((await cacheStats(root)).map((s) => s.key)).toEqual([namespaceKey(TEST_NS)]);
    const old = await gcCache(root, { olderThan: cutoff });
    expect(old).toMatchObject({ namespacesRemoved: 0, segmentsRemoved: 1, rowsRemoved: 100 });
    const [stats] = await cacheStats(root);
    expect(stats).toMatchObject({ segments: 9, rows: 900, indexedSegments: 9 });
    const { got } = await look(range(0, 1000));
    expect(got.slice(0, 100).every((g) => g === null)).toBe(true);
    expect(got.slice(100).every((g, i) => g && Buffer.from(g).equals(rowFor(BigInt(100 + i))))).toBe(true);
  });
});
