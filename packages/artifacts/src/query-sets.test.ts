import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runLayout } from './layout.js';
import { querySetChecksum, querySetTasks, readQueryMessages, readQuerySet, writeQuerySet } from './query-sets.js';

let runDir: string;
beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-queries-'));
});
afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

describe('query sets artifact', () => {
  const line = (id: string, text: string) =>
    JSON.stringify({
      id,
      source: 'gsm8k',
      messages: [
        { role: 'user', content: text },
        { role: 'assistant', content: 'answer' },
      ],
    }) + '\n';

  it('rewrites a set only when its content changed, and keeps rejects beside it only while there are any', async () => {
    const lines = [line('q0', 'one'), line('q1', 'two'), line('q2', 'three')];
    expect(await writeQuerySet(runDir, 'gsm8k', lines, ['{"reason":"empty"}\n'])).toEqual({
      written: true,
      rejectedFile: runLayout(runDir).queries.rejected('gsm8k'),
    });
    expect(querySetTasks(runDir)).toEqual(['gsm8k']);
    const checksum = await querySetChecksum(runDir, 'gsm8k');
    expect(await writeQuerySet(runDir, 'gsm8k', lines, [])).toEqual({ written: false, rejectedFile: null });
    expect(fs.existsSync(runLayout(runDir).queries.rejected('gsm8k'))).toBe(false);
    expect(await querySetChecksum(runDir, 'gsm8k')).toBe(checksum);

    expect((await readQuerySet(runDir, 'gsm8k')).map((e) => e.id)).toEqual(['q0', 'q1', 'q2']);
    const some = await readQueryMessages(runDir, 'gsm8k', new Set([2, 0, 9]));
    expect([...some.entries()].map(([i, m]) => [i, m[0]!.content])).toEqual([
      [0, 'one'],
      [2, 'three'],
    ]);
  });

  it('says which task is missing and what to run', async () => {
    await expect(readQuerySet(runDir, 'mmlu')).rejects.toThrow(
      /query set for task "mmlu" not found at .*mmlu\.jsonl; run ingestion first/,
    );
    await expect(querySetChecksum(runDir, 'mmlu')).rejects.toThrow(/run ingestion first/);
    expect((await readQueryMessages(runDir, 'mmlu', new Set([0]))).size).toBe(0);
  });

  it('names the file and line of a row that does not validate', async () => {
    await writeQuerySet(runDir, 'gsm8k', [line('q0', 'one'), '{"id":"q1","messages":"nope"}\n'], []);
    await expect(readQuerySet(runDir, 'gsm8k')).rejects.toThrow(/gsm8k\.jsonl:2/);
  });
});
