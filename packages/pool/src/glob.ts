import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { ValidationError } from '@rds/schemas';

/**
 * Expand input paths and globs (`*`, `**`, `?`, `{a,b}`) to absolute file paths, sorted per
 * pattern for determinism and without repeats. Plain paths pass through (a missing one is reported
 * by whoever opens it, naming the file); a glob that matches nothing is an error.
 */
export async function expandInputs(patterns: readonly string[], cwd = process.cwd()): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pattern of patterns) {
    let files: string[];
    if (isDynamicPattern(pattern)) {
      const matches = await glob(pattern, {
        cwd,
        absolute: true,
        onlyFiles: true,
        dot: false,
        expandDirectories: false,
      });
      if (matches.length === 0)
        throw new ValidationError(`input glob "${pattern}" matches no files (relative to ${cwd})`);
      files = matches.map((m) => path.resolve(m)).sort();
    } else {
      files = [path.resolve(cwd, pattern)];
    }
    for (const f of files) {
      if (!seen.has(f)) {
        seen.add(f);
        out.push(f);
      }
    }
  }
  return out;
}
