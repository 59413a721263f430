import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import { ContaminationReport, SelectionSummary, ValidationError, type RunConfigInput } from '@rds/schemas';
import { activities } from '../src/activities.js';
import { runLocal } from '../src/index.js';

/**
 * The contamination check through the real pipeline (real activities, the test model) on real rows
 * of the shared pool, with near-copies of query and evaluation examples planted in it.
 */
const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');
let dir: string;
let poolFile: string;
let queryFile: string;
let evalFile: string;
type Row = { id: string; dataset: string; messages: { role: string; content: string }[] };
let queries: Row[];
let evals: Row[];

const lines = async (file: string, n: number): Promise<Row[]> =>
  (await fs.readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .slice(0, n)
    .map((l) => JSON.parse(l) as Row);
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const words = (text: string) => text.split(/\s+/).filter(Boolean);

beforeAll(async () => {
  await fs.access(path.join(DATA, 'pool.jsonl')).catch(() => {
    throw new Error(
      `test data missing: ${DATA} (the shared data set is expected at ../shared/data relative to the repo root)`,
    );
  });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-contamination-'));
  const pool = await lines(path.join(DATA, 'pool.jsonl'), 400);
  queries = await lines(path.join(DATA, 'queries/gsm8k.jsonl'), 10);
  evals = await lines(path.join(DATA, 'queries/general.jsonl'), 10);
  const q7 = words(queries[7]!.messages[0]!.content);
  const q5 = words(queries[5]!.messages[0]!.content);
  const e4 = evals[4]!.messages.map((m) => m.content).join('\n');
  const planted: Row[] = [
    // The same example under another id: identical embedding, and every n-gram shared.
    { id: 'plant-exact', dataset: 'planted', messages: queries[2]!.messages },
    // An evaluation example shouted and re-punctuated: the n-gram test normalises case and punctuation.
    {
      id: 'plant-eval-shouted',
      dataset: 'planted',
      messages: [
        { role: 'user', content: e4.toUpperCase().replace(/ /g, ' , ') },
        { role: 'assistant', content: 'OK.' },
      ],
    },
    // 13 words of a query inside unrelated text: flagged by the n-gram test alone.
    {
      id: 'plant-13-words',
      dataset: 'planted',
      messages: [
        {
          role: 'user',
          content: `Consider this: ${q7.slice(2, 15).join(' ')} and then write a poem about autumn leaves.`,
        },
        { role: 'assistant', content: 'Leaves fall.' },
      ],
    },
    // 12 words: one short of the n-gram length, so not flagged.
    {
      id: 'near-miss-12-words',
      dataset: 'planted',
      messages: [
        {
          role: 'user',
          content: `Consider this: ${q5.slice(1, 13).join(' ')} and then write a poem about spring rain.`,
        },
        { role: 'assistant', content: 'Rain falls.' },
      ],
    },
  ];
  expect(q7.length).toBeGreaterThanOrEqual(15);
  expect(q5.length).toBeGreaterThanOrEqual(13);
  poolFile = path.join(dir, 'pool.jsonl');
  queryFile = path.join(dir, 'gsm8k-queries.jsonl');
  evalFile = path.join(dir, 'general-eval.jsonl');
  await fs.writeFile(poolFile, jsonl([...pool.slice(0, 150), ...planted, ...pool.slice(150)]));
  await fs.writeFile(queryFile, jsonl(queries));
  await fs.writeFile(evalFile, jsonl(evals));
  await writeTestModel(path.join(dir, 'model'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const config = (
  runDir: string,
  over: { excludeContaminated?: boolean; minSimilarity?: number | null; budget?: number } = {},
): RunConfigInput => ({
  runDir: path.join(dir, runDir),
  pool: { inputs: [poolFile], shardSize: 128 },
  queries: [{ task: 'gsm8k', path: queryFile }],
  decontaminate: [{ name: 'general-eval', path: evalFile }],
  // The test model is randomly initialised: its embeddings of distinct texts are far more alike than a
  // trained model's, so only a bar this close to 1 separates copies from the rest.
  contamination: { minSimilarity: over.minSimilarity === undefined ? 0.999 : over.minSimilarity, ngram: 13 },
  model: { dir: path.join(dir, 'model'), maxTokens: 256 },
  selection: { budget: over.budget ?? 40, excludeContaminated: over.excludeContaminated ?? false },
  handoff: { baselines: { strategies: ['random'], seeds: [1, 2] } },
});

const PLANTED = ['plant-exact', 'plant-eval-shouted', 'plant-13-words'];

describe('contamination check', () => {
  it('flags the planted near-copies with the matching examples, reports them in the card, and leaves the selection alone unless asked', async () => {
    const status = await runLocal(config('report'), { activities });
    expect(status.state).toBe('completed');
    const layout = runLayout(path.join(dir, 'report'));
    const report = await readJsonFile(layout.selection.contamination, ContaminationReport);
    expect(report.rows.map((r) => r.id).sort()).toEqual([...PLANTED].sort());
    const byId = new Map(report.rows.map((r) => [r.id, r]));
    const exact = byId.get('plant-exact')!;
    expect(exact.matches).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'similarity', task: 'gsm8k', query: 2 }),
        expect.objectContaining({ kind: 'ngram', task: 'gsm8k', query: 2 }),
      ]),
    );
    expect(exact.matches.find((m) => m.kind === 'similarity')!.score).toBeGreaterThan(0.999);
    expect(byId.get('plant-eval-shouted')!.matches).toEqual([
      expect.objectContaining({ kind: 'ngram', task: 'general-eval', query: 4, queryId: expect.any(String) }),
    ]);
    const thirteen = byId.get('plant-13-words')!.matches;
    expect(thirteen).toEqual([expect.objectContaining({ kind: 'ngram', task: 'gsm8k', query: 7 })]);
    expect(words(thirteen[0]!.ngram!)).toHaveLength(13);
    expect(report).toMatchObject({
      flagged: 3,
      excluded: false,
      poolRows: 404,
      perSet: { gsm8k: 2, 'general-eval': 1 },
      perSource: { planted: 3 },
      sets: [
        { task: 'gsm8k', role: 'query', examples: 10 },
        { task: 'general-eval', role: 'evaluation', examples: 10 },
      ],
    });

    // The evaluation set is scored but never steers the selection.
    const summary = await readJsonFile(layout.selection.summary, SelectionSummary);
    expect(summary.tasks).toEqual(['gsm8k']);
    expect(summary.contaminated).toBe(3);
    const selected = (await fs.readFile(layout.selection.rows, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string });
    expect(selected).toHaveLength(40);
    expect(selected[0]!.id).toBe('plant-exact'); // a copy of a query scores highest: why contamination matters

    const card = JSON.parse(await fs.readFile(path.join(layout.handoff.dir, 'card.json'), 'utf8'));
    expect(card.contamination).toMatchObject({
      flagged: 3,
      excluded: false,
      inDataset: selected.filter((r) => PLANTED.includes(r.id)).length,
      ngram: 13,
    });
    const readme = await fs.readFile(path.join(layout.handoff.dir, 'README.md'), 'utf8');
    expect(readme).toContain('## Contamination check');
    expect(readme).toContain('`plant-exact` (planted)');
  });

  it('excludeContaminated drops the flagged rows before selecting and still fills the budget', async () => {
    // 380 of the 401 clean rows: a selection or baseline that ignored the exclusion would hardly miss all three.
    const status = await runLocal(config('excluded', { excludeContaminated: true, budget: 380 }), { activities });
    expect(status.state).toBe('completed');
    const layout = runLayout(path.join(dir, 'excluded'));
    const selected = (await fs.readFile(layout.selection.rows, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string });
    expect(selected).toHaveLength(380);
    expect(selected.filter((r) => PLANTED.includes(r.id))).toEqual([]);
    const report = await readJsonFile(layout.selection.contamination, ContaminationReport);
    expect(report).toMatchObject({ flagged: 3, excluded: true });
    const card = JSON.parse(await fs.readFile(path.join(layout.handoff.dir, 'card.json'), 'utf8'));
    expect(card.contamination).toMatchObject({ flagged: 3, excluded: true, inDataset: 0 });
    // Matched baselines draw from the same rows the selection could: none of the excluded ones.
    expect(card.baselines).toHaveLength(2);
    for (const b of card.baselines as { dataset: { file: string; rows: number } }[]) {
      const ids = (await fs.readFile(path.join(layout.handoff.dir, b.dataset.file), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id);
      expect(ids).toHaveLength(380);
      expect(ids.filter((id) => PLANTED.includes(id))).toEqual([]);
    }

    // Turning the check's similarity test off is a new selection (fingerprint), not a skipped one:
    // the exact copy is still caught by its n-grams.
    const again = await runLocal(config('excluded', { excludeContaminated: true, minSimilarity: null, budget: 380 }), {
      activities,
    });
    expect(again.state).toBe('completed');
    const report2 = await readJsonFile(layout.selection.contamination, ContaminationReport);
    expect(report2.settings.minSimilarity).toBeNull();
    expect(report2.rows.map((r) => r.id).sort()).toEqual([...PLANTED].sort());
    expect(report2.rows.find((r) => r.id === 'plant-exact')!.matches.map((m) => m.kind)).toEqual(['ngram']);
  });

  it('rejects a decontamination set named like a query set, naming the field', async () => {
    const bad = { ...config('bad'), decontaminate: [{ name: 'gsm8k', path: evalFile }] };
    const err = await runLocal(bad, { activities }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['decontaminate[0].name']);
  });
});
