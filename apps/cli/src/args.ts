import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValidationError } from '@rds/schemas';

/** One `rds` sub-command. Each lives in its own file under commands/ and is listed in main.ts. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** parseArgs with errors that say which command and flag were wrong. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new ValidationError(`rds ${command}: ${(err as Error).message}`);
  }
}

/** Require a flag's value, naming it in the error. */
export function required<T>(command: string, flag: string, value: T | undefined): T {
  if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) {
    throw new ValidationError(`rds ${command}: --${flag} is required`);
  }
  return value;
}

/** --run <runDir> of a run that exists (a typo otherwise surfaced as a missing file deep inside the run). */
export function existingRunDir(command: string, value: string | undefined): string {
  const dir = required(command, 'run', value);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ValidationError(
      `rds ${command}: --run ${dir}: no such run directory (rds ingest --out <runDir> or rds run creates one)`,
    );
  }
  return dir;
}
