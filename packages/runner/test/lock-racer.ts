// A process racing for run locks, driven line by line on stdin (see lock.test.ts):
//   take <dir>     -> "won <dir>" or "lost <dir>"
//   release <dir>  -> "released <dir>"
import { createInterface } from 'node:readline';
import { acquireRunLock } from '../src/lock.js';

const held = new Map<string, () => Promise<void>>();
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, dir] = line.split(' ') as [string, string];
  if (cmd === 'take') {
    try {
      held.set(dir, await acquireRunLock(dir, `racer-${process.pid}`));
      process.stdout.write(`won ${dir}\n`);
    } catch (err) {
      process.stdout.write(`lost ${dir} ${(err as Error).name}\n`);
    }
  } else if (cmd === 'release') {
    await held.get(dir)?.();
    held.delete(dir);
    process.stdout.write(`released ${dir}\n`);
  }
}
