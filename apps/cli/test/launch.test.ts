import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LAUNCH = fileURLToPath(new URL('../../../scripts/launch.mjs', import.meta.url));
const LINGER = fileURLToPath(new URL('./fixtures/linger.ts', import.meta.url));

/** State letter of a process (R, S, Z, ...) or null once it is gone. */
function state(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]!;
  } catch {
    return null;
  }
}

describe('scripts/launch.mjs', () => {
  it('kill -9 of the launcher takes the real process with it (no orphan keeps running)', async () => {
    const launcher = spawn(process.execPath, [LAUNCH, LINGER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: launcher.stdout })[Symbol.asyncIterator]();
    const childPid = Number((await lines.next()).value);
    expect(childPid).toBeGreaterThan(0);
    expect(childPid).not.toBe(launcher.pid);
    // stdout closes only when every process holding it has exited: the launcher and its child.
    const closed = new Promise<boolean>((resolve) => launcher.stdout.on('close', () => resolve(true)));
    launcher.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 20_000)));
    try {
      expect(await Promise.race([closed, gaveUp]), 'the child kept running after its launcher was killed').toBe(true);
      expect([null, 'Z']).toContain(state(childPid)); // exited (at most not reaped yet by init)
    } finally {
      clearTimeout(timer);
      if (state(childPid) !== null) process.kill(childPid, 'SIGKILL');
    }
  });

  it('still forwards the exit code of the child', async () => {
    const code = await new Promise<number | null>((resolve) =>
      spawn(process.execPath, [LAUNCH, LINGER, 'exit', '3'], { stdio: 'ignore' }).on('exit', resolve),
    );
    expect(code).toBe(3);
  });
});
