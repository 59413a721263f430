import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@rds/schemas';
import { expandInputs } from '../src/glob.js';
import { tempDir } from './helpers.js';

describe('expandInputs', () => {
  it('expands *, ** and ? sorted, relative to cwd, without repeats', async () => {
    const dir = tempDir();
    for (const f of ['b.jsonl', 'a.jsonl', 'c.parquet', 'sub/d.jsonl', 'sub/deep/e.jsonl', 'x1.jsonl', 'x22.jsonl']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), '');
    }
    const abs = (...fs: string[]) => fs.map((f) => path.join(dir, f));
    expect(await expandInputs(['*.jsonl'], dir)).toEqual(abs('a.jsonl', 'b.jsonl', 'x1.jsonl', 'x22.jsonl'));
    expect(await expandInputs(['**/*.jsonl'], dir)).toEqual(
      abs('a.jsonl', 'b.jsonl', 'sub/d.jsonl', 'sub/deep/e.jsonl', 'x1.jsonl', 'x22.jsonl'),
    );
    expect(await expandInputs(['x?.jsonl'], dir)).toEqual(abs('x1.jsonl'));
    // order of patterns is kept, repeats dropped, plain paths pass through even if missing
    expect(await expandInputs(['c.parquet', '*.jsonl', 'a.jsonl', 'missing.jsonl'], dir)).toEqual(
      abs('c.parquet', 'a.jsonl', 'b.jsonl', 'x1.jsonl', 'x22.jsonl', 'missing.jsonl'),
    );
  });

  it('rejects a glob that matches nothing, naming it', async () => {
    const dir = tempDir();
    await expect(expandInputs(['nothing-*.jsonl'], dir)).rejects.toThrow(ValidationError);
    await expect(expandInputs(['nothing-*.jsonl'], dir)).rejects.toThrow(/nothing-\*\.jsonl/);
  });
});
