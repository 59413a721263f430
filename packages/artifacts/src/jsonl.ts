import fs from 'node:fs';
import readline from 'node:readline';
import type { z } from 'zod';
import { parseOrThrow, ValidationError } from '@rds/schemas';

/**
 * Stream the rows of a JSONL file, each parsed and validated with `schema`; every error names
 * `file:line`. Blank lines are skipped. Breaking out of the loop closes the file.
 */
export async function* readJsonLines<S extends z.ZodType>(
  file: string,
  schema: S,
): AsyncGenerator<{ value: z.infer<S>; line: number }> {
  const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      if (text.length === 0) continue;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new ValidationError(`${file}:${line}: not valid JSON (${(err as Error).message})`);
      }
      yield { value: parseOrThrow(schema, raw, `${file}:${line}`), line };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}
