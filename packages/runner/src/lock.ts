import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { runLayout } from '@rds/artifacts';
import { RunConflictError } from './errors.js';

const LockFile = z.object({ pid: z.number().int(), host: z.string(), runId: z.string(), since: z.string() });

export function lockPath(runDir: string): string {
  return path.join(runLayout(runDir).root, '.run.lock');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take the run directory for this process, so two local runners never work on one run at once.
 * A lock left by a crashed process (dead pid on this host) is taken over; a live one is a conflict.
 * Returns the release function.
 */
export async function acquireRunLock(runDir: string, runId: string): Promise<() => Promise<void>> {
  const file = lockPath(runDir);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), runId, since: new Date().toISOString() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, mine, { flag: 'wx' });
      return async () => {
        const now = await fs.readFile(file, 'utf8').catch(() => '');
        if (now === mine) await fs.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = LockFile.safeParse(JSON.parse((await fs.readFile(file, 'utf8').catch(() => 'null')) || 'null'));
    if (held.success && (held.data.host !== os.hostname() || alive(held.data.pid))) {
      throw new RunConflictError(
        `run directory ${runDir} is in use by run ${held.data.runId} (pid ${held.data.pid} on ${held.data.host} since ${held.data.since}); ` +
          `if that process is gone, delete ${file}`,
      );
    }
    // Stale (crashed holder) or unreadable: remove and retry; `wx` settles a race between two takers.
    await fs.rm(file, { force: true });
  }
  throw new RunConflictError(`could not take the lock ${file}`);
}
