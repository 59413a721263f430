import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContaminationReport, SelectedRow, SelectionSummary } from '@rds/schemas';
import { runLayout } from './layout.js';
import {
  completedSelection,
  readContaminationReport,
  readSelectedRows,
  readSelectionSummaryIfExists,
  writeContaminationReport,
  writeSelectedRows,
  writeSelectionSummary,
} from './selection.js';

let runDir: string;
beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-selection-'));
});
afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

const FINGERPRINT = 'a'.repeat(64);
const rows: SelectedRow[] = [
  { id: 'r7', rank: 0, task: 'gsm8k', score: 0.9, source: 'gsm8k', query: 3 },
  { id: 'r2', rank: 1, task: 'alpaca', score: 0.8, source: 'alpaca', query: null },
  { id: 'r5', rank: 2, task: null, score: null, source: 'gsm8k' },
];
const report: ContaminationReport = {
  kind: 'contamination',
  version: 1,
  settings: { minSimilarity: 0.995, ngram: 13 },
  sets: [{ task: 'gsm8k', role: 'query', examples: 4 }],
  poolRows: 10,
  flagged: 1,
  excluded: false,
  perSet: { gsm8k: 1 },
  perSource: { gsm8k: 1 },
  rows: [{ row: 7, id: 'r7', source: 'gsm8k', matches: [{ kind: 'ngram', task: 'gsm8k', query: 3, queryId: 'q3' }] }],
};

/** A complete selection as selectPool writes it: report, rows, then the summary vouching for both. */
async function writeSelection(): Promise<SelectionSummary> {
  const contamination = await writeContaminationReport(runDir, report);
  const selection = await writeSelectedRows(runDir, rows.length, (i) => rows[i]!);
  const summary: SelectionSummary = {
    kind: 'selection',
    version: 1,
    strategy: 'round-robin-tasks',
    budget: 3,
    selected: rows.length,
    poolRows: 10,
    seed: 0,
    perTask: { gsm8k: 1, alpaca: 1 },
    perSource: { gsm8k: 2, alpaca: 1 },
    scoreQuantiles: {},
    warnings: [],
    selection,
    contamination,
    contaminated: 1,
    fingerprint: FINGERPRINT,
    createdAt: '2026-12-03T00:00:00.000Z',
  };
  await writeSelectionSummary(runDir, summary);
  return summary;
}

describe('selection artifact', () => {
  it('reads back what was written, as columns in rank order', async () => {
    expect(await readSelectionSummaryIfExists(runDir)).toBeNull();
    const summary = await writeSelection();
    const table = await readSelectedRows(runDir);
    expect(table.ids).toEqual(['r7', 'r2', 'r5']);
    expect(Array.from(table.taskOf).map((t) => (t < 0 ? null : table.tasks[t]))).toEqual(['gsm8k', 'alpaca', null]);
    expect(Array.from(table.score)).toEqual([0.9, 0.8, Number.NaN]);
    expect(table.positionOf.get('r5')).toBe(2);
    expect(summary.selection).toMatchObject({
      file: 'selection.jsonl',
      bytes: fs.statSync(runLayout(runDir).selection.rows).size,
    });
    expect(await readContaminationReport(runDir, summary)).toEqual(report);
  });

  it('counts as done only with the same fingerprint and intact files', async () => {
    await writeSelection();
    expect((await completedSelection(runDir, FINGERPRINT))?.selected).toBe(3);
    expect(await completedSelection(runDir, 'b'.repeat(64))).toBeNull();

    fs.appendFileSync(runLayout(runDir).selection.contamination, ' ');
    expect(await completedSelection(runDir, FINGERPRINT)).toBeNull();
    const summary = (await readSelectionSummaryIfExists(runDir))!;
    await expect(readContaminationReport(runDir, summary)).rejects.toThrow(
      /contamination\.json does not match the checksum/,
    );
  });

  it('refuses a rows file the summary does not vouch for, naming both files', async () => {
    await writeSelection();
    const file = runLayout(runDir).selection.rows;
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"r2"', '"r3"'));
    expect(await completedSelection(runDir, FINGERPRINT)).toBeNull();
    await expect(readSelectedRows(runDir)).rejects.toThrow(
      /selection\.jsonl does not match the checksum in .*summary\.json/,
    );
  });

  it('leaves the previous rows file intact when writing fails midway', async () => {
    await writeSelection();
    const before = fs.readFileSync(runLayout(runDir).selection.rows, 'utf8');
    await expect(
      writeSelectedRows(runDir, 3, (i) => {
        if (i === 2) throw new Error('disk on fire');
        return rows[i]!;
      }),
    ).rejects.toThrow('disk on fire');
    expect(fs.readFileSync(runLayout(runDir).selection.rows, 'utf8')).toBe(before);
    expect(fs.readdirSync(runLayout(runDir).selection.dir).sort()).toEqual([
      'contamination.json',
      'selection.jsonl',
      'summary.json',
    ]);
  });
});
