import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXAMPLES = path.join(REPO, 'examples');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Start the rds CLI as the process doing the work (not through bin/rds.mjs, whose child would
 * survive a SIGKILL of the wrapper), so killing it is a real crash.
 */
export function spawnRds(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; exit: Promise<Exit>; stderrLine: (re: RegExp) => Promise<string> } {
  const child = spawn(
    process.execPath,
    ['--conditions=@rds/source', '--import', 'tsx', path.join(REPO, 'apps/cli/src/entry.ts'), ...args],
    {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const lines = readline.createInterface({ input: child.stderr! });
  /** Resolves with the first stderr line matching `re`; rejects if the process exits first. */
  const stderrLine = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const onLine = (line: string) => re.test(line) && (lines.off('line', onLine), resolve(line));
      lines.on('line', onLine);
      void exit.then((e) =>
        reject(new Error(`rds exited (${e.code ?? e.signal}) before printing ${re}:\n${e.stderr}`)),
      );
    });
  return { child, exit, stderrLine };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 10,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );
