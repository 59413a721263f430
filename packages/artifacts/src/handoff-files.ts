import path from 'node:path';
import { DatasetCard, HandoffReceipt, parseOrThrow } from '@rds/schemas';
import { readJsonIfExists, verifyFileRef, writeJsonAtomic } from './files.js';
import { runLayout } from './layout.js';

/**
 * The handoff's own files. The dataset directory (handoff/ or handoff.destination.dir) holds the
 * training file, baselines, README.md, scores.svg and card.json, which vouches for the rest by
 * checksum and is written last; the run directory keeps receipt.json (what was sent and announced).
 */

export const CARD_FILE = 'card.json';
export const README_FILE = 'README.md';
export const HISTOGRAM_FILE = 'scores.svg';

/** Validate and write `dir`/card.json: the last write of a dataset. */
export async function writeDatasetCard(dir: string, card: DatasetCard): Promise<void> {
  await writeJsonAtomic(path.join(dir, CARD_FILE), parseOrThrow(DatasetCard, card, 'dataset card'));
}

/** The card in `dir` if it has this fingerprint and every file it vouches for still verifies; else null. */
export async function finishedDatasetCard(dir: string, fingerprint: string): Promise<DatasetCard | null> {
  const card = await readJsonIfExists(path.join(dir, CARD_FILE), DatasetCard).catch(() => null);
  if (card?.fingerprint !== fingerprint) return null;
  for (const ref of [card.dataset, ...card.files, ...card.baselines.map((b) => b.dataset)])
    if (!(await verifyFileRef(ref, dir))) return null;
  return card;
}

/** The run's handoff receipt; null when nothing was handed off yet or the file does not validate. */
export function readHandoffReceipt(runDir: string): Promise<HandoffReceipt | null> {
  return readJsonIfExists(runLayout(runDir).handoff.receipt, HandoffReceipt).catch(() => null);
}

/** Validate and write the run's handoff receipt. */
export async function writeHandoffReceipt(runDir: string, receipt: HandoffReceipt): Promise<void> {
  await writeJsonAtomic(runLayout(runDir).handoff.receipt, parseOrThrow(HandoffReceipt, receipt, 'handoff receipt'));
}
