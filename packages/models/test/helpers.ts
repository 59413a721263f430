import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existingPythonEnv, PYTHON_DIR, run } from '../src/index.js';

export const SHARED = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
export const MODEL = 'smollm2-135m';

export interface Row {
  id: string;
  dataset: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
}

export function readRows(file: string): Row[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);
}

/** python/reference.py in the exporter's virtualenv: texts in, one JSON object per text out. */
export async function reference<T>(args: string[], texts: readonly string[]): Promise<T[]> {
  const env = await existingPythonEnv();
  const out = await run(env.python, [path.join(PYTHON_DIR, 'reference.py'), ...args], {
    input: texts.map((text) => JSON.stringify({ text })).join('\n') + '\n',
  });
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
