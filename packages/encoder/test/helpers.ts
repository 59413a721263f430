import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTestModel } from '../src/test-model.js';

/** The generated test model, shared by the tests of a run (generation takes ~1 s). */
export const TEST_MODEL_DIR = path.join(os.tmpdir(), 'rds-encoder-test-model');
export async function testModel(): Promise<string> {
  return writeTestModel(TEST_MODEL_DIR);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const sharedData = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/data');
/** The shared real pool (../shared/data beside the repository). */
export function sharedPool(): string {
  const p = path.join(sharedData, 'pool.jsonl');
  if (!fs.existsSync(p)) throw new Error(`test data missing: ${p} (expected ../shared/data beside the repository)`);
  return p;
}
