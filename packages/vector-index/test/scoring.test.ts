import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWithRuntime } from '@rds/artifacts';
import { createEngine, ENGINES, scorePool, scoreRun, topKForQueries } from '../src/index.js';
import { expectTopKLists, makeRun, readF32, readI32, reference } from './helpers.js';

const d = 24;
const K = 7;
const SHARDS = [130, 57, 200];
const TASKS = { alpha: 5, beta: 3 };

async function expectMatchesReference(
  dir: string,
  layout: Awaited<ReturnType<typeof makeRun>>['layout'],
  pool: Float32Array,
  queries: Record<string, Float32Array>,
) {
  for (const [task, q] of Object.entries(queries)) {
    const ref = reference(pool, q, d, K);
    const max = await readF32(layout.scores.file(task, 'max.f32'));
    const mean = await readF32(layout.scores.file(task, 'mean.f32'));
    expect(max.length).toBe(ref.max.length);
    for (let r = 0; r < max.length; r++) {
      expect(Math.abs(max[r]! - ref.max[r]!)).toBeLessThan(1e-5);
      expect(Math.abs(mean[r]! - ref.mean[r]!)).toBeLessThan(1e-5);
    }
    const ids = await readI32(layout.scores.file(task, 'topk.ids.i32'));
    const scores = await readF32(layout.scores.file(task, 'topk.scores.f32'));
    expect(ids.length).toBe((q.length / d) * K);
    for (let j = 0; j < q.length / d; j++) {
      expect(Array.from(ids.subarray(j * K, (j + 1) * K))).toEqual(ref.topIds[j]);
      for (let i = 0; i < K; i++) expect(Math.abs(scores[j * K + i]! - ref.topScores[j]![i]!)).toBeLessThan(1e-5);
    }
  }
  void dir;
}

describe('scoreRun: streamed over shards, block by block', () => {
  for (const engine of ENGINES) {
    for (const blockRows of [64, 1000]) {
      it(`${engine}, blockRows ${blockRows}: max/mean/topk equal brute force`, async () => {
        const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 11 });
        const out = await scoreRun({
          runDir: run.dir,
          tasks: ['alpha', 'beta'],
          aggregates: ['max', 'mean', 'topk'],
          blockRows,
          topK: K,
          engine,
        });
        expect(out).toMatchObject({ skipped: false, engine, rows: 387, queries: 8, computed: ['alpha', 'beta'] });
        await expectMatchesReference(run.dir, run.layout, run.pool, run.queries);
        const m = JSON.parse(await fsp.readFile(run.layout.scores.manifest('alpha', 'topk'), 'utf8'));
        expect(m).toMatchObject({ kind: 'scores', task: 'alpha', aggregate: 'topk', rows: 387, queries: 5, k: K });
        expect(await fsp.readdir(run.layout.scores.dir)).not.toContain('.partial');
      });
    }
  }

  // The engines that read float16 blocks as stored (the others decode them in JS first).
  it.each(['blocked', 'fused'] as const)(
    '%s: float16 shards score within float16 precision; padding when K exceeds the pool',
    async (engine) => {
      const run = await makeRun({ shardRows: [3, 2], d, queries: { t: 2 }, seed: 3, dtype: 'float16' });
      await scoreRun({ runDir: run.dir, tasks: ['t'], aggregates: ['max', 'topk'], blockRows: 2, topK: 8, engine });
      const ref = reference(run.pool, run.queries.t!, d, 8);
      const max = await readF32(run.layout.scores.file('t', 'max.f32'));
      for (let r = 0; r < 5; r++) expect(Math.abs(max[r]! - ref.max[r]!)).toBeLessThan(3e-3);
      const ids = await readI32(run.layout.scores.file('t', 'topk.ids.i32'));
      const scores = await readF32(run.layout.scores.file('t', 'topk.scores.f32'));
      expect(Array.from(ids.subarray(5, 8))).toEqual([-1, -1, -1]);
      expect(Array.from(scores.subarray(5, 8))).toEqual([-Infinity, -Infinity, -Infinity]);
    },
  );

  describe('shallow per-block top-K depth (BlockDepth) gives the lists of full-depth scoring', () => {
    const bigK = 400;
    const dd = 8;
    const expectLists = (run: Awaited<ReturnType<typeof makeRun>>, task: string) =>
      expectTopKLists(run, task, dd, bigK);
    for (const engine of ENGINES) {
      it(`${engine}: unordered pool, blocks asked for fewer rows than K`, async () => {
        const run = await makeRun({ shardRows: [7000, 5000], d: dd, queries: { t: 6 }, seed: 31 });
        const out = await scoreRun({
          runDir: run.dir,
          tasks: ['t'],
          aggregates: ['topk'],
          blockRows: 1000,
          topK: bigK,
          engine,
        });
        await expectLists(run, 't');
        // Late blocks add ~K/b rows per query: the 1.5x guess holds, nothing is scored twice.
        expect(out.fullDepthRescores).toBe(0);
      });
      it(`${engine}: query 0's best rows all at the end: the shallow block is detected and re-scored`, async () => {
        const base = await makeRun({ shardRows: [12000], d: dd, queries: { t: 3 }, seed: 32 });
        const q0 = base.queries.t!.subarray(0, dd);
        const dot = (r: number) => base.pool.subarray(r * dd, (r + 1) * dd).reduce((s, v, i) => s + v * q0[i]!, 0);
        const best = new Set(
          Array.from({ length: 12000 }, (_, r) => r)
            .sort((a, b) => dot(b) - dot(a))
            .slice(0, 2 * bigK),
        );
        const order = [...Array.from({ length: 12000 }, (_, r) => r).filter((r) => !best.has(r)), ...best];
        const pool = new Float32Array(base.pool.length);
        order.forEach((r, i) => pool.set(base.pool.subarray(r * dd, (r + 1) * dd), i * dd));
        const run = await makeRun({ shardRows: [7000, 5000], d: dd, queries: { t: 3 }, seed: 32, pool });
        const out = await scoreRun({
          runDir: run.dir,
          tasks: ['t'],
          aggregates: ['topk'],
          blockRows: 1000,
          topK: bigK,
          engine,
        });
        // The fused engine merges every row that can enter: it has no depth to guess wrong.
        if (engine === 'fused') expect(out.fullDepthRescores).toBe(0);
        else expect(out.fullDepthRescores).toBeGreaterThan(0);
        await expectLists(run, 't');
      });
    }
  });

  it('ties go to the lower global row, in every engine and across shards', async () => {
    // Pool: the same vector at rows 1, 4 (shard 1) and 6 (shard 2).
    const base = await makeRun({ shardRows: [3, 3, 3], d, queries: { t: 2 }, seed: 5 });
    const pool = base.pool.slice();
    for (const r of [4, 6]) pool.copyWithin(r * d, 1 * d, 2 * d);
    for (const engine of ENGINES) {
      const run = await makeRun({ shardRows: [3, 3, 3], d, queries: { t: 2 }, seed: 5, pool });
      await scoreRun({ runDir: run.dir, tasks: ['t'], aggregates: ['topk'], blockRows: 2, topK: 9, engine });
      const ids = await readI32(run.layout.scores.file('t', 'topk.ids.i32'));
      for (let q = 0; q < 2; q++) {
        const list = Array.from(ids.subarray(q * 9, q * 9 + 9));
        const pos = [1, 4, 6].map((r) => list.indexOf(r));
        expect(pos[1]).toBe(pos[0]! + 1);
        expect(pos[2]).toBe(pos[0]! + 2);
      }
    }
  });

  it.each(['blocked', 'fused'] as const)(
    '%s: streamed equals in-memory (one engine call over the whole pool)',
    async (name) => {
      const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 21 });
      await scoreRun({
        runDir: run.dir,
        tasks: ['alpha', 'beta'],
        aggregates: ['max', 'mean', 'topk'],
        blockRows: 50,
        topK: K,
        engine: name,
      });
      const q = new Float32Array([...run.queries.alpha!, ...run.queries.beta!]);
      const engine = await createEngine(
        name,
        {
          dims: d,
          data: q,
          tasks: [
            { task: 'alpha', start: 0, count: 5 },
            { task: 'beta', start: 5, count: 3 },
          ],
        },
        { vectors: true, topK: K },
      );
      const whole = await engine.score(run.pool, run.total);
      await engine.close();
      expect(await readF32(run.layout.scores.file('beta', 'max.f32'))).toEqual(whole.max[1]);
      expect(await readF32(run.layout.scores.file('alpha', 'mean.f32'))).toEqual(whole.mean[0]);
      expect(await readI32(run.layout.scores.file('beta', 'topk.ids.i32'))).toEqual(whole.topIds.slice(5 * K, 8 * K));
    },
  );

  it.each(['blocked', 'fused'] as const)(
    '%s: resumes after a crash from the last finished shard, with identical results',
    async (engine) => {
      const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 31 });
      const opts = {
        runDir: run.dir,
        tasks: ['alpha', 'beta'],
        aggregates: ['max', 'mean', 'topk'] as ('max' | 'mean' | 'topk')[],
        blockRows: 64,
        topK: K,
        engine,
      };
      await expect(
        scoreRun({
          ...opts,
          checkpointSeconds: 0,
          afterShard: (s) => {
            if (s === 1) throw new Error('killed');
          },
        }),
      ).rejects.toThrow('killed');
      await expect(fsp.access(run.layout.scores.manifest('alpha', 'max'))).rejects.toThrow();
      const seen: number[] = [];
      const out = await scoreRun({ ...opts, onProgress: (_done, _total, { shard }) => seen.push(shard) });
      expect(out.resumedFromShard).toBe(2);
      expect(new Set(seen)).toEqual(new Set([2]));
      await expectMatchesReference(run.dir, run.layout, run.pool, run.queries);
    },
  );

  it('a crash before the first timed checkpoint starts over, with identical results', async () => {
    const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 33 });
    const opts = {
      runDir: run.dir,
      tasks: ['alpha', 'beta'],
      aggregates: ['max', 'mean', 'topk'] as ('max' | 'mean' | 'topk')[],
      blockRows: 64,
      topK: K,
      engine: 'blocked' as const,
    };
    await expect(
      scoreRun({
        ...opts,
        checkpointSeconds: 3600,
        afterShard: (s) => {
          if (s === 1) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const out = await scoreRun(opts);
    expect(out.resumedFromShard).toBe(0);
    await expectMatchesReference(run.dir, run.layout, run.pool, run.queries);
  });

  it('skips when complete for the same embeddings; recomputes when a file or the queries change', async () => {
    const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 41 });
    const opts = {
      runDir: run.dir,
      tasks: ['alpha', 'beta'],
      aggregates: ['max', 'topk'] as ('max' | 'topk')[],
      blockRows: 100,
      topK: K,
      engine: 'faiss' as const,
    };
    expect((await scoreRun(opts)).skipped).toBe(false);
    const again = await scoreRun(opts);
    expect(again).toMatchObject({ skipped: true, computed: [] });
    // A corrupted score file is detected by its checksum and that task alone is recomputed.
    const f = run.layout.scores.file('beta', 'max.f32');
    const buf = await fsp.readFile(f);
    buf[0] = buf[0]! ^ 0xff;
    await fsp.writeFile(f, buf);
    expect((await scoreRun(opts)).computed).toEqual(['beta']);
    // Another K changes the topk fingerprint.
    expect((await scoreRun({ ...opts, topK: K + 1 })).computed).toEqual(['alpha', 'beta']);
  });

  it('topKForQueries: stored lists when deep enough, deeper lists consistent with them', async () => {
    const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 51 });
    await scoreRun({
      runDir: run.dir,
      tasks: ['alpha', 'beta'],
      aggregates: ['topk'],
      blockRows: 64,
      topK: K,
      engine: 'faiss',
    });
    const stored = await readI32(run.layout.scores.file('alpha', 'topk.ids.i32'));
    const shallow = await topKForQueries(run.dir, 'alpha', [3, 1], 4);
    expect(Array.from(shallow.ids)).toEqual([
      ...stored.subarray(3 * K, 3 * K + 4),
      ...stored.subarray(1 * K, 1 * K + 4),
    ]);
    const deep = await topKForQueries(run.dir, 'alpha', [4, 0], 40);
    expect(deep.ids).toBeInstanceOf(Int32Array);
    expect(deep.scores).toBeInstanceOf(Float32Array);
    const ref = reference(run.pool, run.queries.alpha!, d, 40);
    expect(Array.from(deep.ids.subarray(0, 40))).toEqual(ref.topIds[4]);
    expect(Array.from(deep.ids.subarray(0, K))).toEqual(Array.from(stored.subarray(4 * K, 5 * K)));
    expect(Array.from(deep.ids.subarray(40, 40 + K))).toEqual(Array.from(stored.subarray(0, K)));
    await expect(topKForQueries(run.dir, 'alpha', [5], 4)).rejects.toThrow(/query 5 outside 0..4/);
  });

  it('scorePool activity: validated input, heartbeats, cancellation between blocks, skip on re-run', async () => {
    const run = await makeRun({ shardRows: SHARDS, d, queries: TASKS, seed: 61 });
    const beats: { done: number; total: number }[] = [];
    const input = {
      runDir: run.dir,
      tasks: ['alpha', 'beta'],
      scoring: { blockRows: 64, topK: K, engine: 'auto' as const },
      aggregates: ['max' as const],
    };
    const rt = (signal: AbortSignal) => ({
      heartbeat: (p: { done: number; total: number }) => beats.push(p),
      signal,
      log: () => {},
    });
    const abort = new AbortController();
    abort.abort(new Error('cancelled by test'));
    await expect(runWithRuntime(rt(abort.signal), () => scorePool(input))).rejects.toThrow('cancelled by test');
    const out = await runWithRuntime(rt(new AbortController().signal), () => scorePool(input));
    expect(out).toMatchObject({ skipped: false, tasks: ['alpha', 'beta'] });
    expect(beats.at(-1)).toMatchObject({ done: 387, total: 387 });
    expect((await runWithRuntime(rt(new AbortController().signal), () => scorePool(input))).skipped).toBe(true);
    await expect(scorePool({ ...input, tasks: [] })).rejects.toThrow(/tasks/);
    await expect(scorePool({ ...input, tasks: ['gamma'] })).rejects.toThrow(/task "gamma": no usable query embeddings/);
    expect(path.basename(run.layout.scores.file('alpha', 'max.f32'))).toBe('alpha.max.f32');
  });
});
