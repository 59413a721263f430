import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLayout, verifyFileRef, writeFileAtomic, writeJsonAtomic } from '@rds/artifacts';
import { ingestPool } from '@rds/pool';
import type { z } from 'zod';
import { PoolManifest, SelectedRow, SelectionSummary, type ScoresManifest, type SelectionConfig } from '@rds/schemas';
import { selectPool } from '../src/index.js';
import { SplitMix32 } from '@rds/common';
import { referenceSelect } from './reference.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');
const POOL_FILE = path.join(DATA, 'pool.jsonl');
const TASKS = ['gsm8k', 'general'];
const QUERIES = 50;
const K = 64;

let dir: string;
let runDir: string;
/** Pool rows in global order, read straight from the shards. */
let poolRows: { id: string; source: string }[];
/** sims[t][q][row] */
let sims: Float32Array[][];

function sha(buf: Uint8Array) {
  return createHash('sha256').update(buf).digest('hex');
}

/** Write one task's score files and manifests exactly as vector-index lays them out. */
async function writeScores(task: string, qs: Float32Array[], rows: number) {
  const layout = runLayout(runDir);
  const manifest = async (aggregate: 'max' | 'mean' | 'topk', files: [string, Uint8Array][], k?: number) => {
    for (const [name, data] of files) await writeFileAtomic(layout.scores.file(task, name), data);
    const m: ScoresManifest = {
      kind: 'scores',
      version: 1,
      task,
      aggregate,
      rows,
      queries: qs.length,
      ...(k ? { k } : {}),
      files: files.map(([name, data]) => ({
        file: path.basename(layout.scores.file(task, name)),
        bytes: data.byteLength,
        sha256: sha(data),
      })),
      embeddingsFingerprint: 'a'.repeat(64),
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(layout.scores.manifest(task, aggregate), m);
  };
  const max = new Float32Array(rows).fill(-Infinity);
  const mean = new Float32Array(rows);
  for (const q of qs)
    for (let r = 0; r < rows; r++) {
      max[r] = Math.max(max[r]!, q[r]!);
      mean[r]! += q[r]! / qs.length;
    }
  const ids = new Int32Array(qs.length * K);
  const scores = new Float32Array(qs.length * K);
  qs.forEach((q, qi) => {
    const order = Array.from({ length: rows }, (_, r) => r)
      .sort((a, b) => q[b]! - q[a]! || a - b)
      .slice(0, K);
    order.forEach((r, i) => {
      ids[qi * K + i] = r;
      scores[qi * K + i] = q[r]!;
    });
  });
  const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await manifest('max', [['max.f32', bytes(max)]]);
  await manifest('mean', [['mean.f32', bytes(mean)]]);
  await manifest(
    'topk',
    [
      ['topk.ids.i32', bytes(ids)],
      ['topk.scores.f32', bytes(scores)],
    ],
    K,
  );
  return { max, mean };
}

let vectors: { max: Float32Array; mean: Float32Array }[];

beforeAll(async () => {
  if (!fs.existsSync(POOL_FILE))
    throw new Error(`test data missing: ${POOL_FILE} (the shared data directory beside the repo)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-select-'));
  runDir = path.join(dir, 'run');
  await ingestPool({
    runDir,
    pool: { inputs: [POOL_FILE], format: 'auto', shardSize: 5000, maxRowBytes: 4 << 20 },
    queries: [],
  });
  const layout = runLayout(runDir);
  const m = PoolManifest.parse(JSON.parse(fs.readFileSync(layout.pool.manifest, 'utf8')));
  expect(m.shards.length).toBeGreaterThan(1); // global rows must span shards
  poolRows = m.shards.flatMap((s) =>
    fs
      .readFileSync(path.join(layout.pool.dir, s.file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string; source: string }),
  );
  const rng = new SplitMix32(2025);
  sims = TASKS.map(() =>
    Array.from({ length: QUERIES }, () =>
      Float32Array.from({ length: poolRows.length }, () => rng.nextUint32() / 2 ** 32),
    ),
  );
  vectors = [];
  for (const [t, task] of TASKS.entries()) vectors.push(await writeScores(task, sims[t]!, poolRows.length));
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function readSelection() {
  const layout = runLayout(runDir);
  const rows = fs
    .readFileSync(layout.selection.rows, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => SelectedRow.parse(JSON.parse(l)));
  const summary = SelectionSummary.parse(JSON.parse(fs.readFileSync(layout.selection.summary, 'utf8')));
  return { rows, summary };
}

const input = (selection: z.input<typeof SelectionConfig>) => ({ runDir, tasks: TASKS, selection });
const sources = () => [...new Set(poolRows.map((r) => r.source))];
const poolSources = () => {
  const names = sources();
  return { rows: poolRows.length, sources: names, sourceOf: Uint8Array.from(poolRows, (r) => names.indexOf(r.source)) };
};

describe('selectPool', () => {
  it('round-robin-tasks over the real pool: reference rows with ids and sources, summary, then skips a re-run', async () => {
    const out = await selectPool(input({ strategy: 'round-robin-tasks', budget: 1500, seed: 1 }));
    expect(out).toEqual({ skipped: false, selected: 1500, warnings: [] });
    const { rows, summary } = readSelection();
    const ref = referenceSelect({
      strategy: 'round-robin-tasks',
      budget: 1500,
      seed: 1,
      pool: poolSources(),
      tasks: TASKS.map((task, t) => ({ task, scores: vectors[t]!.max })),
    });
    expect(rows.map((r) => r.id)).toEqual(ref.picks.map((p) => poolRows[p.row]!.id));
    expect(rows.map((r) => r.source)).toEqual(ref.picks.map((p) => poolRows[p.row]!.source));
    expect(rows.map((r) => r.rank)).toEqual(rows.map((_, i) => i));
    expect(rows.map((r) => r.task)).toEqual(ref.picks.map((p) => TASKS[p.task]));
    expect(rows.map((r) => r.score)).toEqual(ref.picks.map((p) => p.score));
    const perTask = (task: string) => ref.picks.filter((p) => TASKS[p.task] === task).length;
    expect(summary.perTask).toEqual({ gsm8k: perTask('gsm8k'), general: perTask('general') });
    expect(summary.turns).toBe('reference');
    expect(Object.values(summary.perSource).reduce((a, b) => a + b, 0)).toBe(1500);
    expect(summary.poolRows).toBe(poolRows.length);
    const gsmScores = rows
      .filter((r) => r.task === 'gsm8k')
      .map((r) => r.score!)
      .sort((a, b) => a - b);
    expect(summary.scoreQuantiles.gsm8k).toEqual(
      [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => gsmScores[Math.floor(q * (gsmScores.length - 1))]),
    );
    expect(await verifyFileRef(summary.selection, runLayout(runDir).selection.dir)).toBe(true);

    const mtime = fs.statSync(runLayout(runDir).selection.rows).mtimeMs;
    const again = await selectPool(input({ strategy: 'round-robin-tasks', budget: 1500, seed: 1 }));
    expect(again).toEqual({ skipped: true, selected: 1500, warnings: [] });
    expect(fs.statSync(runLayout(runDir).selection.rows).mtimeMs).toBe(mtime);
  });

  it('round-robin-queries records the picking query; a new strategy and budget replace the selection', async () => {
    const out = await selectPool(input({ strategy: 'round-robin-queries', budget: 2000, seed: 1 }));
    expect(out.selected).toBe(2000);
    const deep = sims.map((qs) =>
      qs.map((q) => {
        const ids = Array.from({ length: q.length }, (_, r) => r).sort((a, b) => q[b]! - q[a]! || a - b);
        return { ids, scores: ids.map((r) => q[r]!) };
      }),
    );
    const ref = referenceSelect(
      {
        strategy: 'round-robin-queries',
        budget: 2000,
        seed: 1,
        pool: poolSources(),
        tasks: TASKS.map((task, t) => ({ task, scores: vectors[t]!.max })),
      },
      deep,
    );
    const { rows, summary } = readSelection();
    expect(rows.map((r) => [r.id, r.task, r.query, r.score])).toEqual(
      ref.picks.map((p) => [poolRows[p.row]!.id, TASKS[p.task], p.query, p.score]),
    );
    expect(summary.strategy).toBe('round-robin-queries');

    await selectPool(input({ strategy: 'top-k-mean', budget: 300, seed: 1 }));
    const after = readSelection();
    expect(after.rows).toHaveLength(300);
    expect(after.summary.strategy).toBe('top-k-mean');
    expect(after.rows.every((r) => r.query === null)).toBe(true);
    const bestMean = (row: number) => Math.max(vectors[0]!.mean[row]!, vectors[1]!.mean[row]!);
    const byId = new Map(poolRows.map((r, i) => [r.id, i]));
    const picked = after.rows.map((r) => bestMean(byId.get(r.id)!));
    expect(picked).toEqual([...picked].sort((a, b) => b - a));
    expect(fs.readdirSync(runLayout(runDir).selection.dir).sort()).toEqual(['selection.jsonl', 'summary.json']);
  });

  it('switches the round-robin turn rule on the stored scores: each rule matches its brute force, the other rule is not skipped', async () => {
    const tasks = TASKS.map((task, t) => ({ task, scores: vectors[t]!.max }));
    const deep = sims.map((qs) =>
      qs.map((q) => {
        const ids = Array.from({ length: q.length }, (_, r) => r).sort((a, b) => q[b]! - q[a]! || a - b);
        return { ids, scores: ids.map((r) => q[r]!) };
      }),
    );
    for (const strategy of ['round-robin-tasks', 'round-robin-queries'] as const) {
      const got: Record<string, string[]> = {};
      for (const turns of ['fill', 'reference'] as const) {
        const out = await selectPool(input({ strategy, budget: 1800, seed: 1, turns }));
        expect(out.skipped, `${strategy} ${turns}`).toBe(false);
        const { rows, summary } = readSelection();
        expect(summary.turns).toBe(turns);
        const ref = referenceSelect({ strategy, turns, budget: 1800, seed: 1, pool: poolSources(), tasks }, deep);
        expect(
          rows.map((r) => [r.id, r.task, r.query ?? -1]),
          `${strategy} ${turns}`,
        ).toEqual(ref.picks.map((p) => [poolRows[p.row]!.id, TASKS[p.task], p.query]));
        got[turns] = rows.map((r) => r.id);
      }
      expect(got.fill).not.toEqual(got.reference);
    }
    // The turn rule does not concern other strategies: changing it leaves their selection in place.
    await selectPool(input({ strategy: 'top-k-max', budget: 50, seed: 1, turns: 'fill' }));
    expect(readSelection().summary.turns).toBeNull();
    expect((await selectPool(input({ strategy: 'top-k-max', budget: 50, seed: 1, turns: 'reference' }))).skipped).toBe(
      true,
    );
  });

  it('applies source quotas and minScore, and warns when the budget cannot be met', async () => {
    const names = sources();
    const quotas = Object.fromEntries(names.map((s, i) => [s, i + 1]));
    await selectPool(input({ strategy: 'balanced-random', budget: 600, seed: 7, sourceQuotas: quotas, minScore: 0.5 }));
    const { rows, summary } = readSelection();
    const ref = referenceSelect({
      strategy: 'balanced-random',
      budget: 600,
      seed: 7,
      sourceQuotas: quotas,
      minScore: 0.5,
      pool: poolSources(),
      tasks: TASKS.map((task, t) => ({ task, scores: vectors[t]!.max })),
    });
    expect(rows.map((r) => r.id)).toEqual(ref.picks.map((p) => poolRows[p.row]!.id));
    expect(Object.values(summary.perSource)).toEqual(ref.quota);
    expect(rows.every((r) => r.score! >= 0.5)).toBe(true);

    const out = await selectPool(input({ strategy: 'top-k-max', budget: 100_000, seed: 7, minScore: 0.999 }));
    expect(out.selected).toBeLessThan(poolRows.length);
    expect(out.warnings[0]).toMatch(
      /budget 100000 exceeds the \d+ eligible pool rows \(score >= 0.999\); selecting all/,
    );
    expect(readSelection().summary.warnings).toEqual(out.warnings);
  });

  it('refuses score files that do not match their manifest, naming the file', async () => {
    const file = runLayout(runDir).scores.file('general', 'max.f32');
    const original = fs.readFileSync(file);
    try {
      const bad = Buffer.from(original);
      bad[10] = bad[10]! ^ 0xff;
      fs.writeFileSync(file, bad);
      await expect(selectPool(input({ strategy: 'round-robin-tasks', budget: 10, seed: 3 }))).rejects.toThrow(
        /general\.max\.f32: checksum does not match/,
      );
      fs.writeFileSync(file, original.subarray(0, 400));
      await expect(selectPool(input({ strategy: 'round-robin-tasks', budget: 10, seed: 3 }))).rejects.toThrow(
        /general\.max\.f32: 400 bytes, expected \d+ x 4/,
      );
    } finally {
      fs.writeFileSync(file, original);
    }
  });
});
