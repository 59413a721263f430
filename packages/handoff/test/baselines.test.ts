import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { DatasetCard, HandoffReceipt } from '@rds/schemas';
import { select } from '@rds/selectors';
import { idempotencyKey, runHandoff as runHandoffWith, shellQuote, type HandoffOptions } from '../src/index.js';
import { readJsonl, tempDir, writeRun } from './fixtures.js';

/** Baselines drawn by the selectors' own strategies, as the runner wires them. */
const runHandoff = (raw: Parameters<typeof runHandoffWith>[0], options: HandoffOptions = {}) =>
  runHandoffWith(raw, { selectBaseline: select, ...options });

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

/** 200 rows, skewed 140 / 40 / 20 over three sources, so an equal share per source differs from a uniform sample. */
const skewed = (i: number) => (i % 10 < 7 ? 'alpaca' : i % 10 < 9 ? 'code_alpaca' : 'gsm8k');
const input = (runDir: string, over: Record<string, unknown> = {}) =>
  ({
    runDir,
    runId: 'run-ab',
    handoff: {
      format: 'tulu',
      order: 'selection',
      includeMetadata: false,
      destination: { kind: 'local' },
      trigger: { kind: 'none' },
      ...over,
    },
  }) as never;

async function run(opts: Parameters<typeof writeRun>[0] = {}) {
  const f = await writeRun({ rows: 200, budget: 45, sourceOf: skewed, ...opts });
  dirs.push(f.runDir);
  return f;
}

function countBy<T>(list: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of list) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

/** Every file under `dir`, as paths relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('matched baselines', () => {
  it('one file per (strategy, seed): exactly B full pool rows, different by seed, byte-identical for the same seed elsewhere', async () => {
    const f = await run();
    const res = await runHandoff(
      input(f.runDir, { baselines: { strategies: ['random', 'balanced-random'], seeds: [1, 2, 3] } }),
    );
    const out = res.location;
    const B = f.selected.length;
    expect(B).toBe(45);
    expect(res.card.baselines.map((b) => b.name)).toEqual([
      'random-seed1',
      'random-seed2',
      'random-seed3',
      'balanced-random-seed1',
      'balanced-random-seed2',
      'balanced-random-seed3',
    ]);

    const byId = new Map(f.pool.map((e) => [e.id, e]));
    const ids: Record<string, string[]> = {};
    for (const b of res.card.baselines) {
      expect(b.dataset.file).toBe(`baselines/${b.name}/train.jsonl`);
      const rows = await readJsonl(path.join(out, b.dataset.file));
      expect(rows, b.name).toHaveLength(B);
      expect(b.dataset.rows).toBe(B);
      // Full pool records, each pool row at most once.
      for (const r of rows) expect(r).toEqual({ id: r.id, messages: byId.get(r.id as string)!.messages });
      ids[b.name] = rows.map((r) => r.id as string);
      expect(new Set(ids[b.name]).size).toBe(B);
      // The card's per-source counts are the file's.
      const perSource = countBy(ids[b.name]!, (id) => byId.get(id)!.source);
      for (const [s, c] of Object.entries(b.counts.perSource))
        expect(c.selected, `${b.name} ${s}`).toBe(perSource[s] ?? 0);
    }
    // Different seeds draw different rows (not just another order), and differ from the selection.
    const asSet = (name: string) => [...ids[name]!].sort().join('\n');
    for (const strategy of ['random', 'balanced-random']) {
      expect(new Set([1, 2, 3].map((s) => asSet(`${strategy}-seed${s}`))).size).toBe(3);
    }
    expect(ids['random-seed1']).not.toEqual(f.selected.map((r) => r.id));

    // balanced-random: an equal share per source (45 = 15 + 15 + 15) for every seed; random follows the pool's skew.
    for (const s of [1, 2, 3]) {
      expect(countBy(ids[`balanced-random-seed${s}`]!, (id) => byId.get(id)!.source)).toEqual({
        alpaca: 15,
        code_alpaca: 15,
        gsm8k: 15,
      });
    }
    const randomAlpaca = [1, 2, 3].map(
      (s) => ids[`random-seed${s}`]!.filter((id) => byId.get(id)!.source === 'alpaca').length,
    );
    expect(randomAlpaca.reduce((a, b) => a + b, 0)).toBeGreaterThan(3 * 15);

    // Same pool and seed in another run directory: the same bytes.
    const g = await writeRun({ rows: 200, budget: 45, sourceOf: skewed, runDir: await tempDir() });
    dirs.push(g.runDir);
    const again = await runHandoff(
      input(g.runDir, { baselines: { strategies: ['balanced-random', 'random'], seeds: [3] } }),
    );
    for (const b of again.card.baselines) {
      const first = res.card.baselines.find((x) => x.name === b.name)!;
      expect(b.dataset.sha256).toBe(first.dataset.sha256);
      expect(await fsp.readFile(path.join(again.location, b.dataset.file))).toEqual(
        await fsp.readFile(path.join(out, first.dataset.file)),
      );
    }

    // Card, README and receipt: a section and an entry per baseline; the directory holds exactly the receipt's files.
    const card = await readJsonFile(path.join(out, 'card.json'), DatasetCard);
    expect(card.baselines).toEqual(res.card.baselines);
    const readme = await fsp.readFile(path.join(out, 'README.md'), 'utf8');
    expect(readme).toContain('## Matched random baselines');
    for (const b of card.baselines)
      expect(readme).toContain(`| ${b.name} | ${b.strategy} | ${b.seed} | \`${b.dataset.file}\` | ${B} |`);
    expect(readme).toContain('| gsm8k | 20 | ');
    const receipt = await readJsonFile(runLayout(f.runDir).handoff.receipt, HandoffReceipt);
    expect(receipt.baselines!.map((b) => [b.name, b.rows, b.file.sha256, b.dataset, b.trigger.idempotencyKey])).toEqual(
      card.baselines.map((b) => [
        b.name,
        B,
        b.dataset.sha256,
        path.join(out, b.dataset.file),
        idempotencyKey('run-ab', b.dataset.sha256, b.name),
      ]),
    );
    expect((await listFiles(out)).filter((n) => n !== 'receipt.json')).toEqual(receipt.files.map((x) => x.file).sort());
  });

  it('balanced-random gives a source too small for its equal share all its rows and the rest to the others', async () => {
    const f = await run({ budget: 75 });
    const res = await runHandoff(
      input(f.runDir, {
        baselines: { strategies: ['balanced-random'], seeds: [7] },
        format: 'parquet',
        includeMetadata: true,
      }),
    );
    const [b] = res.card.baselines;
    expect(b).toMatchObject({
      name: 'balanced-random-seed7',
      dataset: { file: 'baselines/balanced-random-seed7/train.parquet', rows: 75 },
    });
    // 25 each, but gsm8k has 20: its 5 go to the others (27.5 each; the tie to the source first in the pool).
    expect(Object.fromEntries(Object.entries(b!.counts.perSource).map(([s, c]) => [s, c.selected]))).toEqual({
      alpaca: 28,
      code_alpaca: 27,
      gsm8k: 20,
    });
  });

  it('re-running sends nothing twice: each file fires once, a failed one alone is retried, a new seed alone is added', async () => {
    const f = await run();
    const log = path.join(f.runDir, 'launched.log');
    const marker = path.join(f.runDir, 'fail-random-seed2');
    await fsp.writeFile(marker, '');
    // Appends "<name> <rows> <dataset>" per launch; fails for random-seed2 while the marker exists.
    const script = `const [log, marker, name, rows, dataset] = process.argv.slice(1); const fs = require('fs'); fs.appendFileSync(log, [name, rows, dataset].join(' ') + '\\n'); if (name === 'random-seed2' && fs.existsSync(marker)) process.exit(3);`;
    const template = `node -e ${shellQuote(script)} ${shellQuote(log)} ${shellQuote(marker)} {{name}} {{rows}} {{dataset}}`;
    const cfg = (seeds: number[]) =>
      input(f.runDir, {
        trigger: { kind: 'command', template, run: true },
        baselines: { strategies: ['random', 'balanced-random'], seeds },
      });
    const lines = async () => (await fsp.readFile(log, 'utf8')).trim().split('\n');

    const err = (await runHandoff(cfg([1, 2])).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited with code 3/);
    const out = runLayout(f.runDir).handoff.dir;
    expect(await lines()).toEqual([
      `selection 45 ${path.join(out, 'train.jsonl')}`,
      ...['random-seed1', 'random-seed2', 'balanced-random-seed1', 'balanced-random-seed2'].map(
        (n) => `${n} 45 ${path.join(out, 'baselines', n, 'train.jsonl')}`,
      ),
    ]);
    const failed = await readJsonFile(runLayout(f.runDir).handoff.receipt, HandoffReceipt);
    expect(failed.trigger.status).toBe('ran');
    expect(failed.baselines!.map((b) => [b.name, b.trigger.status])).toEqual([
      ['random-seed1', 'ran'],
      ['random-seed2', 'failed'],
      ['balanced-random-seed1', 'ran'],
      ['balanced-random-seed2', 'ran'],
    ]);

    await fsp.rm(marker);
    await fsp.rm(log);
    const retried = await runHandoff(cfg([1, 2]));
    expect(retried).toMatchObject({ skipped: false, materialised: false });
    expect(await lines()).toEqual([`random-seed2 45 ${path.join(out, 'baselines/random-seed2/train.jsonl')}`]);
    expect(retried.receipt.baselines!.every((b) => b.trigger.status === 'ran')).toBe(true);

    await fsp.rm(log);
    const again = await runHandoff(cfg([1, 2]));
    expect(again).toMatchObject({ skipped: true, materialised: false });
    await expect(fsp.access(log)).rejects.toThrow();

    // Another seed rewrites the files (same bytes for the old ones) and launches only the new seed's.
    const more = await runHandoff(cfg([1, 2, 3]));
    expect(more.materialised).toBe(true);
    expect(await lines()).toEqual(
      ['random-seed3', 'balanced-random-seed3'].map((n) => `${n} 45 ${path.join(out, 'baselines', n, 'train.jsonl')}`),
    );
    expect(more.receipt.baselines).toHaveLength(6);
    // Dropping the baselines removes their files; the receipt no longer lists them, and nothing is launched.
    await fsp.rm(log);
    const none = await runHandoff(input(f.runDir, { trigger: { kind: 'command', template, run: true } }));
    expect(none.receipt.baselines).toBeUndefined();
    await expect(fsp.access(path.join(out, 'baselines'))).rejects.toThrow();
    await expect(fsp.access(log)).rejects.toThrow();
  });
});
