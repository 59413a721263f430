import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cacheStats, readJsonFile, runLayout, runWithRuntime, sha256File } from '@rds/artifacts';
import { ingestPoolFiles } from '@rds/pool';
import { EmbeddingManifest, ModelConfig, type EmbeddingCacheConfig } from '@rds/schemas';
import { embedPoolShard, embedQueries } from '../src/activity.js';
import { writeTestModel } from '../src/test-model.js';
import { sharedPool, tempDir, testModel } from './helpers.js';

/**
 * The embedding cache as runs use it: rows are found by content whatever their id or run, only
 * misses are embedded, and every matrix is byte-identical to the one a run without the cache writes.
 */
const quiet = { heartbeat: () => {}, signal: new AbortController().signal, log: () => {} };
let modelDir: string;
let rows: string[];

beforeAll(async () => {
  modelDir = await testModel();
  rows = fs.readFileSync(sharedPool(), 'utf8').split('\n').filter(Boolean).slice(0, 400);
});

/** A run directory with `lines` ingested as one shard. */
async function run(lines: string[]): Promise<string> {
  const runDir = tempDir('rds-cache-run-');
  const file = path.join(runDir, 'input.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  await ingestPoolFiles(runDir, { inputs: [file], format: 'auto', shardSize: 100_000, maxRowBytes: 1 << 20 });
  return runDir;
}

async function embed(runDir: string, cache: EmbeddingCacheConfig, model: Partial<ModelConfig> = {}) {
  const cfg = ModelConfig.parse({ dir: modelDir, checkpointRows: 64, threads: 1, ...model });
  const out = await runWithRuntime(quiet, () => embedPoolShard({ runDir, shard: 0, model: cfg, cache }));
  const manifest = await readJsonFile(runLayout(runDir).embeddings.poolManifest(0), EmbeddingManifest);
  return { out, manifest, sha256: await sha256File(runLayout(runDir).embeddings.poolMatrix(0)) };
}

/** The same rows under other ids (the content, not the id, is what the cache keys on). */
function renamed(lines: string[]): string[] {
  return lines.map((l) => {
    const row = JSON.parse(l) as { id: string };
    return JSON.stringify({ ...row, id: `copy-of-${row.id}` });
  });
}

describe('embedding cache in the embed activities', () => {
  it('a grown pool under new ids embeds only its new rows, and its matrix is byte-identical to a run without the cache', async () => {
    const cache = { dir: tempDir('rds-cache-') };
    const first = await embed(await run(rows.slice(0, 360)), cache);
    expect(first.out).toMatchObject({ skipped: false, rows: 360, cacheHits: 0 });

    // 360 known rows (renamed, and shuffled among 40 new ones) plus 40 new rows.
    const grown = [...renamed(rows.slice(0, 360)), ...rows.slice(360)];
    const shuffled = grown.map((l, i) => ({ l, k: (i * 7919) % grown.length })).sort((a, b) => a.k - b.k);
    const lines = shuffled.map((x) => x.l);
    const cached = await embed(await run(lines), cache);
    const fresh = await embed(await run(lines), false);
    expect(cached.out).toMatchObject({ rows: 400, cacheHits: 360 });
    expect(fresh.out).toMatchObject({ rows: 400 });
    expect(fresh.manifest.cacheHits).toBeUndefined();
    expect(cached.manifest.cacheHits).toBe(360);
    // Only the 40 new rows were tokenized and embedded.
    expect(cached.out.tokens).toBeLessThan(fresh.out.tokens * 0.25);
    expect(cached.out.tokens).toBeGreaterThan(0);
    expect(cached.sha256).toBe(fresh.sha256);
    expect(cached.manifest.ids).toEqual(fresh.manifest.ids);

    const [stats] = await cacheStats(cache.dir);
    expect(stats).toMatchObject({ rows: 400, segments: 2, damaged: [] });

    // Query sets read the same cache: queries that are pool rows are not embedded again.
    const runDir = await run(rows.slice(0, 10));
    fs.mkdirSync(runLayout(runDir).queries.dir, { recursive: true });
    fs.copyFileSync(runLayout(runDir).pool.shard(0), runLayout(runDir).queries.file('q'));
    const model = ModelConfig.parse({ dir: modelDir, threads: 1 });
    const q = await runWithRuntime(quiet, () => embedQueries({ runDir, tasks: ['q'], model, cache }));
    expect(q).toEqual({ skipped: false, rows: 10, cacheHits: 10 });
  });

  it('any other model file, pooling or maxTokens misses, and cache: false neither reads nor writes it', async () => {
    const cache = { dir: tempDir('rds-cache-') };
    const lines = rows.slice(0, 100);
    await embed(await run(lines), cache);
    expect((await embed(await run(lines), cache)).out.cacheHits).toBe(100); // the control: same settings hit
    const otherModel = await writeTestModel(tempDir('rds-cache-model-'), { seed: 7 });
    for (const change of [{ dir: otherModel }, { pooling: 'mean' as const }, { maxTokens: 64 }]) {
      expect((await embed(await run(lines), cache, change)).out.cacheHits, JSON.stringify(change)).toBe(0);
    }
    const before = await cacheStats(cache.dir);
    expect(before).toHaveLength(4); // one namespace per setting
    const off = await embed(await run(lines), false);
    expect(off.out.cacheHits).toBe(0);
    expect(await cacheStats(cache.dir)).toEqual(before);
  });
});
