import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, lockPath } from '../src/lock.js';
import { RunConflictError } from '../src/index.js';

const RACER = fileURLToPath(new URL('./lock-racer.ts', import.meta.url));

let dir: string;
beforeEach(async () => void (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-lock-'))));
afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

/** A pid that no longer exists (a child that ran and was reaped). */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

class Racer {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
  async answer(): Promise<string> {
    const next = await this.lines.next();
    if (next.done) throw new Error(`racer ${this.child.pid} exited`);
    return next.value;
  }
}

const racers: Racer[] = [];
afterAll(() => {
  for (const r of racers) r.child.kill();
});

describe('run lock', () => {
  it('4 processes racing for a free or a stale lock: exactly one holds it, every trial', async () => {
    for (let i = 0; i < 4; i++) {
      racers.push(
        new Racer(
          spawn(process.execPath, ['--conditions=@rds/source', '--import', 'tsx', RACER], {
            stdio: ['pipe', 'pipe', 'inherit'],
          }),
        ),
      );
    }
    const stale = deadPid();
    const outcomes: string[] = [];
    for (let trial = 0; trial < 30; trial++) {
      const runDir = path.join(dir, `t${trial}`);
      await fs.mkdir(runDir);
      // Even trials: a lock left by a crashed runner; odd ones: no lock at all.
      if (trial % 2 === 0)
        await fs.writeFile(
          lockPath(runDir),
          JSON.stringify({ pid: stale, host: os.hostname(), runId: 'crashed', since: 'x' }),
        );
      for (const r of racers) r.send(`take ${runDir}`);
      const answers = await Promise.all(racers.map((r) => r.answer()));
      const winners = racers.filter((_, i) => answers[i]!.startsWith('won'));
      outcomes.push(`${trial}:${winners.length}`);
      expect(
        answers.filter((a) => a.startsWith('lost')).every((a) => a.endsWith('RunConflictError')),
        answers.join('; '),
      ).toBe(true);
      for (const w of winners) w.send(`release ${runDir}`);
      await Promise.all(winners.map((w) => w.answer()));
      // Only the lock itself is ever created there: no temp or breaker files stay behind.
      expect(await fs.readdir(runDir)).toEqual([]);
    }
    expect(outcomes).toEqual(Array.from({ length: 30 }, (_, t) => `${t}:1`));
  });

  it('a killed holder that is not reaped yet (a zombie) does not block the next run', async () => {
    // sh starts a subshell that waits for a line on fd 3, then becomes `sleep`, which never reaps it;
    // the subshell is let go only once sh has become sleep, so it is left a zombie every time.
    const parent = spawn('sh', ['-c', '(read x <&3; exit 0) & echo $!; exec sleep 1000 3<&-'], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    });
    try {
      const zombie = Number((await createInterface({ input: parent.stdout! })[Symbol.asyncIterator]().next()).value);
      const comm = () => readFileSync(`/proc/${parent.pid}/comm`, 'utf8').trim();
      const state = () => readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]![0];
      while (comm() !== 'sleep') await new Promise((r) => setImmediate(r));
      (parent.stdio[3] as Writable).write('go\n');
      while (state() !== 'Z') await new Promise((r) => setImmediate(r)); // its exit, waited for
      process.kill(zombie, 0); // still "exists" for kill(0)
      await fs.writeFile(
        lockPath(dir),
        JSON.stringify({ pid: zombie, host: os.hostname(), runId: 'killed', since: 'x' }),
      );
      const release = await acquireRunLock(dir, 'next');
      expect(JSON.parse(await fs.readFile(lockPath(dir), 'utf8'))).toMatchObject({ pid: process.pid, runId: 'next' });
      await release();
    } finally {
      parent.kill();
    }
  });

  it('a pid now used by another process (different start time) is not the holder; a live holder is a conflict', async () => {
    await fs.writeFile(
      lockPath(dir),
      JSON.stringify({ pid: process.pid, host: os.hostname(), runId: 'reused', since: 'x', start: '1' }),
    );
    const release = await acquireRunLock(dir, 'mine');
    await expect(acquireRunLock(dir, 'second')).rejects.toBeInstanceOf(RunConflictError);
    await release();
    await expect(fs.stat(lockPath(dir))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a breaker lock left by a process killed mid-break is removed by the next holder; a live breaker is not', async () => {
    const lock = (pid: number) =>
      JSON.stringify({ pid, host: os.hostname(), runId: 'old', since: 'x', nonce: String(pid) });
    // Killed after removing the stale lock but before its breaker: only the breaker is left.
    const dead = `${lockPath(dir)}.break-00000000000000aa`;
    const live = `${lockPath(dir)}.break-00000000000000bb`;
    await fs.writeFile(dead, lock(deadPid()));
    await fs.writeFile(live, lock(process.pid));
    const release = await acquireRunLock(dir, 'mine');
    expect((await fs.readdir(dir)).sort()).toEqual(['.run.lock', '.run.lock.break-00000000000000bb']);
    await release();
  });
});
