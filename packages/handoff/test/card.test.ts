import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout, writeJsonAtomic } from '@rds/artifacts';
import { DatasetCard } from '@rds/schemas';
import { runHandoff } from '../src/index.js';
import { writeRun } from './fixtures.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});
const input = (runDir: string, over: Record<string, unknown> = {}) =>
  ({
    runDir,
    runId: 'run-card',
    handoff: {
      format: 'tulu',
      order: 'selection',
      includeMetadata: false,
      destination: { kind: 'local' },
      trigger: { kind: 'none' },
      ...over,
    },
  }) as never;

/** Independent reference: nearest-rank-below quantiles of the finite scores. */
function refQuantiles(scores: number[]): number[] {
  const v = [...scores].sort((a, b) => a - b);
  return [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => v[Math.floor(q * (v.length - 1))]!);
}

describe('dataset card', () => {
  it('counts, shares, quantiles and provenance match the selection and the pool', async () => {
    const f = await writeRun({ rows: 150, budget: 53, tasks: ['gsm8k', 'general', 'code'] });
    dirs.push(f.runDir);
    const layout = runLayout(f.runDir);
    const model = { id: 'tiny-llama', sha256: 'b'.repeat(64) };
    await writeJsonAtomic(layout.embeddings.poolManifest(0), {
      kind: 'embeddings',
      settings: { model, pooling: 'weighted-mean', maxTokens: 2048, dtype: 'float16', dims: 8 },
      rows: 150,
      cacheHits: 40,
    });
    const res = await runHandoff(input(f.runDir));
    const card = await readJsonFile(path.join(res.location, 'card.json'), DatasetCard);

    expect(card.dataset).toMatchObject({
      file: 'train.jsonl',
      rows: 53,
      format: 'tulu',
      sha256: res.receipt.datasetSha256,
    });
    expect(card.counts.perTask).toEqual(f.summary.perTask);
    expect(Object.keys(card.counts.perTask)).toEqual(['gsm8k', 'general', 'code']); // the strategy's task order
    for (const [source, c] of Object.entries(card.counts.perSource)) {
      expect(c.selected).toBe(f.summary.perSource[source] ?? 0);
      expect(c.pool).toBe(f.pool.filter((e) => e.source === source).length);
      expect(c.poolPct).toBeCloseTo((100 * c.pool) / 150, 2);
      expect(c.selectedPct).toBeCloseTo((100 * c.selected) / 53, 2);
    }
    for (const task of ['gsm8k', 'general', 'code']) {
      const scores = f.selected.filter((s) => s.task === task && s.score !== null).map((s) => s.score!);
      expect(card.scoreQuantiles[task]).toEqual(refQuantiles(scores));
      expect(card.histogram.counts[task]!.reduce((a, b) => a + b, 0)).toBe(scores.length);
    }
    expect(card.model).toEqual(model);
    expect(card.embedding).toEqual({ poolRows: 150, fromCache: 40 });
    expect(await fsp.readFile(path.join(res.location, 'README.md'), 'utf8')).toContain(
      '- embeddings: 150 pool rows, 40 of them read from the embedding cache',
    );
    expect(card.pool.shards.map((s) => s.sha256)).toEqual(
      (JSON.parse(await fsp.readFile(layout.pool.manifest, 'utf8')) as { shards: { sha256: string }[] }).shards.map(
        (s) => s.sha256,
      ),
    );
    expect(card.selection).toMatchObject({
      strategy: 'round-robin-tasks',
      turns: 'reference',
      budget: 53,
      seed: 42,
      selectionSha256: f.summary.selection.sha256,
    });
    expect(card.reproduce).toBe(`rds run --config ${layout.config}`);
    expect((card.config as { model: { id: string } }).model.id).toBe('tiny-llama');

    const svg = await fsp.readFile(path.join(res.location, 'scores.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/font-weight="bold"/g)).toHaveLength(3);
    expect(svg.match(/<rect x=/g)).toHaveLength(3 * card.histogram.bins);
    const readme = await fsp.readFile(path.join(res.location, 'README.md'), 'utf8');
    expect(readme).toContain(`rds run --config ${layout.config}`);
    expect(readme).toContain('selected with `round-robin-tasks` (reference turns) (budget 53, seed 42)');
    expect(readme).toContain(
      `| gsm8k | ${f.summary.perTask.gsm8k} | ${card.scoreQuantiles.gsm8k!.map((q) => q.toFixed(4)).join(' | ')} |`,
    );
    expect(readme).toContain('`tiny-llama` (sha256 `' + 'b'.repeat(64) + '`)');
  });

  it('re-runs reuse finished files; other settings or a damaged file rewrite them', async () => {
    const f = await writeRun({ config: false });
    dirs.push(f.runDir);
    const first = await runHandoff(input(f.runDir));
    expect(first).toMatchObject({ skipped: false, materialised: true, triggerStatus: 'skipped' });
    expect(first.card.model).toBeNull();
    expect(first.card.config).toBeNull();
    const again = await runHandoff(input(f.runDir));
    expect(again).toMatchObject({ skipped: true, materialised: false });
    const withMeta = await runHandoff(input(f.runDir, { includeMetadata: true }));
    expect(withMeta.materialised).toBe(true);
    expect(withMeta.card.dataset.sha256).not.toBe(first.card.dataset.sha256);
    await fsp.appendFile(path.join(withMeta.location, 'train.jsonl'), 'garbage\n');
    const repaired = await runHandoff(input(f.runDir, { includeMetadata: true }));
    expect(repaired.materialised).toBe(true);
    expect(repaired.card.dataset.sha256).toBe(withMeta.card.dataset.sha256);
  });
});

describe('switching the handoff format', () => {
  it('removes the old training file: the directory holds exactly the files the receipt names', async () => {
    const f = await writeRun({ rows: 40, budget: 10 });
    dirs.push(f.runDir);
    await runHandoff(input(f.runDir));
    const out = path.join(f.runDir, 'handoff');
    expect(await fsp.readdir(out)).toContain('train.jsonl');
    for (const format of ['parquet', 'alpaca', 'tulu']) {
      const res = await runHandoff(input(f.runDir, { format }));
      const names = res.receipt.files.map((x) => x.file);
      expect(names[0]).toBe(
        format === 'parquet' ? 'train.parquet' : format === 'alpaca' ? 'train.alpaca.jsonl' : 'train.jsonl',
      );
      expect((await fsp.readdir(out)).filter((n) => n !== 'receipt.json').sort(), format).toEqual([...names].sort());
    }
  });
});
