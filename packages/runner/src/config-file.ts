import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfigInput } from '@rds/schemas';
import { ValidationError } from '@rds/schemas';
import { resolveConfigPaths } from './validate.js';

/**
 * Read a run config file (JSON). Relative paths inside it are resolved against the file's directory.
 * Syntax errors name the file and position; field errors come later from validation.
 */
export async function loadConfigFile(file: string): Promise<RunConfigInput> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return resolveConfigPaths(value, path.dirname(path.resolve(file)));
}
