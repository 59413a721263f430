import { spawn } from 'node:child_process';
import { ValidationError } from '@rds/schemas';

export interface CommandValues {
  dataset: string;
  runId: string;
  rows: number;
  format: string;
  /** `selection`, or the baseline's `<strategy>-seed<seed>` (e.g. for a per-file output directory). */
  name: string;
}

/** POSIX single-quoting: the value reaches the command as one literal word, whatever it contains. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Fill {{dataset}}, {{runId}}, {{rows}}, {{format}}, {{name}} (shell-quoted); any other placeholder is an error. */
export function renderCommand(template: string, values: CommandValues): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_, name: string) => {
    if (!Object.hasOwn(values, name))
      throw new ValidationError(
        `handoff.trigger.template: unknown placeholder {{${name}}} (use {{dataset}}, {{runId}}, {{rows}}, {{format}}, {{name}})`,
      );
    return shellQuote(String(values[name as keyof CommandValues]));
  });
}

export interface CommandResult {
  exitCode: number | null;
  /** Last bytes of stdout and stderr, interleaved as they arrived. */
  outputTail: string;
}

/** Run through the shell; output is kept as a bounded tail so a chatty job cannot fill memory. */
export function runCommand(
  command: string,
  signal: AbortSignal,
  tailBytes = 4096,
  cwd?: string,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'pipe', 'pipe'], signal, cwd });
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > 2 * tailBytes) tail = tail.subarray(tail.length - tailBytes);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      const text = tail.subarray(Math.max(0, tail.length - tailBytes)).toString('utf8');
      resolve({ exitCode: code ?? (sig ? 128 : null), outputTail: text });
    });
  });
}
