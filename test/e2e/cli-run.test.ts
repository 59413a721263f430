import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { EmbeddingManifest, RunStatus, SelectedRow } from '@rds/schemas';
import { loadConfigFile } from '@rds/runner';
import { writeTestModel } from '@rds/encoder';
import { EXAMPLES, exists, spawnRds } from './helpers.js';

/**
 * `rds run` end to end on the committed example data: an uninterrupted run, and a run SIGKILLed in
 * the middle of pool embedding then re-run, which must resume (finished shards not recomputed) and
 * select exactly what the uninterrupted run selected.
 */
/** Holds `rds run` just before its second pool shard (see RDS_HOLD_BEFORE): shard 0 is embedded, the rest is not. */
const HOLD = { RDS_HOLD_BEFORE: 'embedPoolShard:1' };
const HELD = /held before embedPoolShard call 1/;

let tmp: string;
beforeAll(async () => void (tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-e2e-'))));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

/** The example config with its run directory (and model) moved under the test's temp dir. */
async function exampleConfig(runDir: string, modelDir: string): Promise<string> {
  const config = await loadConfigFile(path.join(EXAMPLES, 'rds.config.json')); // example data paths made absolute
  const file = path.join(tmp, `${path.basename(runDir)}.config.json`);
  await fs.writeFile(file, JSON.stringify({ ...config, runDir, model: { ...config.model, dir: modelDir } }));
  return file;
}

async function selection(runDir: string) {
  const text = await fs.readFile(runLayout(runDir).selection.rows, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => SelectedRow.parse(JSON.parse(l)));
}

describe('rds run: bad config', () => {
  it('exits 2 naming every bad field, and writes nothing', async () => {
    const runDir = path.join(tmp ?? os.tmpdir(), 'bad');
    const file = path.join(os.tmpdir(), `rds-bad-${process.pid}.json`);
    await fs.writeFile(
      file,
      JSON.stringify({
        runDir,
        pool: { inputs: [] },
        queries: [{ task: 'Bad Name', path: 'q' }],
        model: {},
        selection: { budget: 0 },
      }),
    );
    const { exit } = spawnRds(['run', '--config', file]);
    const r = await exit;
    await fs.rm(file, { force: true });
    expect(r.code).toBe(2);
    for (const field of ['pool.inputs', 'queries[0].task', 'model.dir', 'selection.budget'])
      expect(r.stderr).toContain(field);
    expect(await exists(runDir)).toBe(false);
  });
});

describe('rds run on the example data', () => {
  let modelDir: string;
  beforeAll(async () => {
    modelDir = path.join(tmp, 'model');
    await writeTestModel(modelDir);
  });

  it('is killed mid-embedding, resumes without recomputing finished shards, and selects what an uninterrupted run selects', async () => {
    const straightDir = path.join(tmp, 'straight');
    const straightCfg = await exampleConfig(straightDir, modelDir);
    const straight = await spawnRds(['run', '--config', straightCfg]).exit;
    expect(straight.code, straight.stderr).toBe(0);
    const expected = await selection(straightDir);
    expect(expected.length).toBeGreaterThan(0);
    const status = await readJsonFile(runLayout(straightDir).status, RunStatus);
    expect(status).toMatchObject({ state: 'completed', backend: 'local' });
    const shards = status.counts.shards!;
    expect(shards).toBeGreaterThanOrEqual(3);

    const crashDir = path.join(tmp, 'crash');
    const crashCfg = await exampleConfig(crashDir, modelDir);
    const first = spawnRds(['run', '--config', crashCfg], HOLD);
    const shard0 = runLayout(crashDir).embeddings.poolManifest(0);
    const shard1 = runLayout(crashDir).embeddings.poolManifest(1);
    await first.stderrLine(HELD);
    expect(await exists(shard0)).toBe(true);
    expect(await exists(shard1)).toBe(false);
    first.child.kill('SIGKILL');
    const killed = await first.exit;
    expect(killed.signal).toBe('SIGKILL');
    const before = await readJsonFile(shard0, EmbeddingManifest);
    const crashed = await readJsonFile(runLayout(crashDir).status, RunStatus);
    expect(crashed.state).toBe('running'); // what a crash leaves behind

    const resumed = await spawnRds(['run', '--config', crashCfg]).exit;
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = await readJsonFile(shard0, EmbeddingManifest);
    expect(after.createdAt).toBe(before.createdAt); // shard 0 was skipped, not recomputed
    const final = await readJsonFile(runLayout(crashDir).status, RunStatus);
    expect(final).toMatchObject({ state: 'completed', runId: crashed.runId });
    const got = await selection(crashDir);
    expect(got.map((r) => [r.id, r.rank, r.task])).toEqual(expected.map((r) => [r.id, r.rank, r.task]));
    for (const [i, r] of got.entries()) expect(r.score ?? 0).toBeCloseTo(expected[i]!.score ?? 0, 6);

    const st = await spawnRds(['status', '--run-dir', crashDir]).exit;
    expect(st.code).toBe(0);
    expect(st.stdout).toContain(`run ${crashed.runId} (local): completed`);
  });

  it('stops cleanly on SIGINT (exit 130, status cancelled) and completes when run again', async () => {
    const runDir = path.join(tmp, 'sigint');
    const cfg = await exampleConfig(runDir, modelDir);
    const run = spawnRds(['run', '--config', cfg], HOLD);
    await run.stderrLine(HELD); // in pool embedding, with shards left to do
    run.child.kill('SIGINT');
    const r = await run.exit;
    expect(r.code, r.stderr).toBe(130);
    const cancelled = await readJsonFile(runLayout(runDir).status, RunStatus);
    expect(cancelled).toMatchObject({ state: 'cancelled', error: { message: 'interrupted (SIGINT)' } });
    const again = await spawnRds(['run', '--config', cfg]).exit;
    expect(again.code, again.stderr).toBe(0);
    expect((await readJsonFile(runLayout(runDir).status, RunStatus)).state).toBe('completed');
  });
});
