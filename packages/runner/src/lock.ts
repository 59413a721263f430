import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { runLayout } from '@rds/artifacts';
import { RunConflictError } from './errors.js';

const LockFile = z.object({
  pid: z.number().int(),
  host: z.string(),
  runId: z.string(),
  since: z.string(),
  /** The holder's start time in clock ticks since boot (/proc/<pid>/stat), so a reused pid is not taken for the holder. */
  start: z.string().nullable().optional(),
  /** Makes every lock's content unique: a stale lock is removed only while the file still holds exactly it. */
  nonce: z.string().optional(),
});
type LockFile = z.infer<typeof LockFile>;

export function lockPath(runDir: string): string {
  return path.join(runLayout(runDir).root, '.run.lock');
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]; null where there is no /proc entry. */
function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time of `pid` (field 22 of /proc/<pid>/stat), or null off Linux. */
function startTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null;
}

/**
 * Whether the lock's holder still runs. A killed process that its parent has not reaped yet is a
 * zombie (state Z, still in /proc and still answering kill(pid, 0)): it is dead, and so is a pid that
 * now belongs to a process started at another time.
 */
export function holderAlive(held: Pick<LockFile, 'pid' | 'start'>): boolean {
  try {
    process.kill(held.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(held.pid);
  if (stat === null) return process.platform !== 'linux';
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return !held.start || stat[19] === held.start;
}

/**
 * Create `file` with `content` atomically: written in full to a temp file first and hard-linked into
 * place (link fails if the name exists), so the lock never exists empty or half-written. False when
 * the name is taken.
 */
async function linkInto(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, content, { flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** A lock held by a process that still runs, or by another host (whose processes we cannot check). */
const liveHolder = (held: LockFile | null): held is LockFile =>
  held !== null && (held.host !== os.hostname() || holderAlive(held));

const readOrNull = (file: string) =>
  fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));

function parseLock(text: string): LockFile | null {
  try {
    const r = LockFile.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Take `file` for this process; a holder that died (or content nobody could have written, since
 * locks appear only whole) is broken by exactly one process: breaking the stale content C needs the
 * lock `<file>.break-<hash(C)>` first, and its winner removes `file` only while it still holds C.
 * C is unique (nonce), so once removed it never reappears and a late breaker removes nothing.
 * Returns null when taken, else the live holder (or the raw text of a lock a live breaker is breaking).
 */
async function take(file: string, mine: string, depth: number): Promise<{ held: LockFile | null } | null> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await linkInto(file, mine)) return null;
    const text = await readOrNull(file);
    if (text === null) continue; // released meanwhile
    const held = parseLock(text);
    if (liveHolder(held)) return { held };
    if (depth >= 3) return { held };
    const breaker = `${file}.break-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    const blocked = await take(breaker, mine, depth + 1);
    if (blocked === null) {
      try {
        if ((await readOrNull(file)) === text) await fs.rm(file, { force: true });
      } finally {
        await fs.rm(breaker, { force: true });
      }
    } else {
      await sleep(5); // another process is removing this stale lock (two syscalls); then try again
    }
  }
  return { held: null };
}

/**
 * Remove breaker locks (`<file>.break-*`) whose holder is dead: a breaker killed between removing
 * the stale lock and removing its breaker leaves one behind, and since the content it names is gone
 * for good, no later take() would ever look at it again. Live breakers are left to finish.
 */
async function removeDeadBreakers(file: string): Promise<void> {
  const dir = path.dirname(file);
  // Breakers only (nested ones too), never a breaker's half-written temp file (`<breaker>.<pid>.<hex>.tmp`).
  const breakerName = new RegExp(`^${path.basename(file).replace(/\./g, '\\.')}(\\.break-[0-9a-f]{16})+$`);
  for (const name of await fs.readdir(dir)) {
    if (!breakerName.test(name)) continue;
    const breaker = path.join(dir, name);
    const text = await readOrNull(breaker);
    if (text === null) continue;
    if (liveHolder(parseLock(text))) continue;
    if ((await readOrNull(breaker)) === text) await fs.rm(breaker, { force: true });
  }
}

/**
 * Take the run directory for this process, so two local runners never work on one run at once.
 * A lock left by a crashed process (dead or zombie pid on this host) is taken over; a live one is a
 * conflict. Returns the release function.
 */
export async function acquireRunLock(runDir: string, runId: string): Promise<() => Promise<void>> {
  const file = lockPath(runDir);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const mine = JSON.stringify({
    pid: process.pid,
    host: os.hostname(),
    runId,
    since: new Date().toISOString(),
    start: startTime(process.pid),
    nonce: randomBytes(8).toString('hex'),
  });
  const blocked = await take(file, mine, 0);
  if (blocked === null) {
    await removeDeadBreakers(file);
    return async () => {
      if ((await readOrNull(file)) === mine) await fs.rm(file, { force: true });
    };
  }
  const held = blocked.held;
  if (!held) throw new RunConflictError(`could not take the lock ${file}`);
  throw new RunConflictError(
    `run directory ${runDir} is in use by run ${held.runId} (pid ${held.pid} on ${held.host} since ${held.since}); ` +
      `if that process is gone, delete ${file}`,
  );
}
