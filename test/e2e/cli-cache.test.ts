import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARD_FILE, readJsonFile, runLayout } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import { loadConfigFile } from '@rds/runner';
import { DatasetCard, RunStatus } from '@rds/schemas';
import { EXAMPLES, spawnRds } from './helpers.js';

/**
 * `rds run` twice on the example data in two run directories sharing one embedding cache: the
 * second embeds nothing, says so in its status and dataset card, and selects byte-for-byte what
 * the first selected. Then `rds cache stats` and `rds cache gc` on that cache.
 */
let tmp: string;
let cacheDir: string;
let modelDir: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-e2e-cache-'));
  cacheDir = path.join(tmp, 'cache');
  modelDir = await writeTestModel(path.join(tmp, 'model'));
});
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

async function config(name: string, model: Record<string, unknown> = {}): Promise<string> {
  const example = await loadConfigFile(path.join(EXAMPLES, 'rds.config.json'));
  const file = path.join(tmp, `${name}.config.json`);
  const runDir = path.join(tmp, name);
  const cfg = { ...example, runDir, model: { ...example.model, dir: modelDir, ...model }, cache: { dir: cacheDir } };
  await fs.writeFile(file, JSON.stringify(cfg));
  return file;
}

async function rds(args: string[]) {
  const r = await spawnRds(args).exit;
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('embedding cache across runs', () => {
  it('a second run on the same data reads every row from the cache and selects the same bytes; stats and gc', async () => {
    const a = await config('a');
    const b = await config('b');
    await rds(['run', '--config', a]);
    await rds(['run', '--config', b]);
    const [sa, sb] = await Promise.all(
      ['a', 'b'].map((n) => readJsonFile(runLayout(path.join(tmp, n)).status, RunStatus)),
    );
    expect(sa!.counts).toMatchObject({ rowsFromCache: 0 });
    expect(sb!.counts.rowsFromCache).toBe(sb!.counts.poolRows);
    expect(sb!.counts.poolRows).toBeGreaterThan(0);
    const card = await readJsonFile(path.join(runLayout(path.join(tmp, 'b')).handoff.dir, CARD_FILE), DatasetCard);
    expect(card.embedding).toEqual({ poolRows: sb!.counts.poolRows, fromCache: sb!.counts.poolRows });
    const [selA, selB] = await Promise.all(
      ['a', 'b'].map((n) => fs.readFile(runLayout(path.join(tmp, n)).selection.rows)),
    );
    expect(selB!.equals(selA!)).toBe(true);

    const stats = JSON.parse((await rds(['cache', 'stats', '--dir', cacheDir, '--json'])).stdout) as {
      namespaces: { key: string; rows: number; damaged: unknown[] }[];
    };
    expect(stats.namespaces).toHaveLength(1);
    // Every pool row and every query row, each stored once (run b added nothing).
    expect(stats.namespaces[0]!.rows).toBe(sa!.counts.poolRows! + sa!.counts.queryRows!);

    // A config with the same model settings keeps the namespace; one with another maxTokens does not.
    const kept = await rds(['cache', 'gc', '--dir', cacheDir, '--keep-config', a]);
    expect(kept.stdout).toContain('removed 0 namespace(s) and 0 segment(s)');
    const other = await config('c', { maxTokens: 64 });
    const dropped = await rds(['cache', 'gc', '--dir', cacheDir, '--keep-config', other]);
    expect(dropped.stdout).toMatch(/removed 1 namespace\(s\) and \d+ segment\(s\)/);
    const after = JSON.parse((await rds(['cache', 'stats', '--dir', cacheDir, '--json'])).stdout) as {
      namespaces: unknown[];
    };
    expect(after.namespaces).toEqual([]);
  });
});
