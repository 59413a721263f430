import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import { loadConfigFile } from '@rds/runner';
import { PoolManifest, SelectedRow, SelectionSummary } from '@rds/schemas';
import { topKForQueries } from '@rds/vector-index';
import { EXAMPLES, spawnRds } from './helpers.js';

/**
 * `rds select` on a finished run switches the round-robin turn rule (reference / fill) from the
 * stored scores alone: scores and embeddings are not touched, and every selection equals a brute
 * force over the run's full rankings. The run stores top-4 lists only, so round-robin-queries must
 * fetch deeper lists from the pool embeddings as it goes.
 */
const TOP_K = 4;
const BUDGET = 150;
/** The example's math and code rankings only meet near the bottom: tasks select close to the whole pool. */
const TASK_BUDGET = 280;

let tmp: string;
let runDir: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-e2e-select-'));
  runDir = path.join(tmp, 'run');
  const modelDir = path.join(tmp, 'model');
  await writeTestModel(modelDir);
  const config = await loadConfigFile(path.join(EXAMPLES, 'rds.config.json'));
  const file = path.join(tmp, 'config.json');
  await fs.writeFile(
    file,
    JSON.stringify({
      ...config,
      runDir,
      model: { ...config.model, dir: modelDir },
      scoring: { topK: TOP_K },
      selection: { strategy: 'round-robin-queries', budget: BUDGET },
    }),
  );
  const run = await spawnRds(['run', '--config', file]).exit;
  expect(run.code, run.stderr).toBe(0);
}, 300_000);
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

/** Round-robin over rankings, written from its description: one pop per turn (reference), or pop until a row is added (fill). */
function roundRobin(rankings: number[][], budget: number, turns: 'reference' | 'fill') {
  const chosen = new Set<number>();
  const picks: { row: number; ranker: number; depth: number }[] = [];
  const pos = rankings.map(() => 0);
  while (picks.length < budget && rankings.some((r, i) => pos[i]! < r.length)) {
    for (const [i, r] of rankings.entries()) {
      if (picks.length >= budget) break;
      if (turns === 'fill') while (pos[i]! < r.length && chosen.has(r[pos[i]!]!)) pos[i]!++;
      if (pos[i]! >= r.length) continue;
      const row = r[pos[i]!++]!;
      if (chosen.has(row)) continue; // reference: the turn is spent
      chosen.add(row);
      picks.push({ row, ranker: i, depth: pos[i]! });
    }
  }
  return picks;
}

async function poolIds(): Promise<string[]> {
  const layout = runLayout(runDir);
  const m = await readJsonFile(layout.pool.manifest, PoolManifest);
  const ids: string[] = [];
  for (const s of m.shards) {
    for (const line of (await fs.readFile(path.join(layout.pool.dir, s.file), 'utf8')).split('\n').filter(Boolean))
      ids.push((JSON.parse(line) as { id: string }).id);
  }
  return ids;
}

/** mtime of every file under scores/ and embeddings/. */
async function stamps(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const dir of [runLayout(runDir).scores.dir, path.join(runDir, 'embeddings')]) {
    for (const name of await fs.readdir(dir, { recursive: true })) {
      const file = path.join(dir, name);
      const st = await fs.stat(file);
      if (st.isFile()) out[file] = st.mtimeMs;
    }
  }
  return out;
}

async function select(strategy: string, turns: string, budget: number) {
  const r = await spawnRds([
    'select',
    '--run',
    runDir,
    '--strategy',
    strategy,
    '--turns',
    turns,
    '--budget',
    String(budget),
  ]).exit;
  expect(r.code, r.stderr).toBe(0);
  const rows = (await fs.readFile(runLayout(runDir).selection.rows, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => SelectedRow.parse(JSON.parse(l)));
  const summary = await readJsonFile(runLayout(runDir).selection.summary, SelectionSummary);
  return { rows, summary, stderr: r.stderr };
}

describe('rds select on a finished run', () => {
  it('switches round-robin turn rules without recomputing scores; each rule equals its brute force, deeper lists fetched on the way', async () => {
    const ids = await poolIds();
    const tasks = ['math', 'code'];
    const before = await stamps();
    expect(Object.keys(before).some((f) => f.endsWith('.topk.manifest.json'))).toBe(true);

    // Full-depth per-query rankings of the run, task order then query order.
    const queryRankings: { task: string; query: number; rows: number[] }[] = [];
    for (const task of tasks) {
      const m = JSON.parse(await fs.readFile(runLayout(runDir).scores.manifest(task, 'topk'), 'utf8')) as {
        queries: number;
        k: number;
      };
      expect(m.k).toBe(TOP_K);
      const full = await topKForQueries(
        runDir,
        task,
        Array.from({ length: m.queries }, (_, q) => q),
        ids.length,
      );
      for (let q = 0; q < m.queries; q++)
        queryRankings.push({
          task,
          query: q,
          rows: Array.from(full.ids.subarray(q * ids.length, (q + 1) * ids.length)),
        });
    }
    // Per-task rankings by the stored max vectors: score desc, row asc.
    const taskRankings: number[][] = [];
    for (const task of tasks) {
      const buf = await fs.readFile(runLayout(runDir).scores.file(task, 'max.f32'));
      const max = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      taskRankings.push(Array.from({ length: max.length }, (_, r) => r).sort((a, b) => max[b]! - max[a]! || a - b));
    }

    const selected: Record<string, string[]> = {};
    for (const turns of ['fill', 'reference'] as const) {
      const q = await select('round-robin-queries', turns, BUDGET);
      const want = roundRobin(
        queryRankings.map((r) => r.rows),
        BUDGET,
        turns,
      );
      expect(
        q.rows.map((r) => [r.id, r.task, r.query]),
        `round-robin-queries ${turns}`,
      ).toEqual(want.map((p) => [ids[p.row], queryRankings[p.ranker]!.task, queryRankings[p.ranker]!.query]));
      expect(q.summary).toMatchObject({ strategy: 'round-robin-queries', turns, selected: BUDGET });
      expect(q.stderr).toContain(`strategy round-robin-queries (turns ${turns})`);
      expect(Math.max(...want.map((p) => p.depth))).toBeGreaterThan(TOP_K); // rows came from deeper lists
      selected[`queries-${turns}`] = q.rows.map((r) => r.id);

      const t = await select('round-robin-tasks', turns, TASK_BUDGET);
      const wantT = roundRobin(taskRankings, TASK_BUDGET, turns);
      expect(
        t.rows.map((r) => [r.id, r.task]),
        `round-robin-tasks ${turns}`,
      ).toEqual(wantT.map((p) => [ids[p.row], tasks[p.ranker]]));
      expect(t.summary.turns).toBe(turns);
      selected[`tasks-${turns}`] = t.rows.map((r) => r.id);
    }
    expect(selected['queries-fill']).not.toEqual(selected['queries-reference']);
    expect(selected['tasks-fill']).not.toEqual(selected['tasks-reference']);

    const again = await select('round-robin-tasks', 'reference', TASK_BUDGET);
    expect(again.stderr).toContain('selection already up to date');
    expect(await stamps()).toEqual(before); // no score or embedding file was rewritten
  });
});
