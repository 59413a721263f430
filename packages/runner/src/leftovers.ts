import fs from 'node:fs/promises';
import path from 'node:path';
import { holderAlive } from './lock.js';

/**
 * Temp names that embed their writer's pid: `.<name>.<pid>.<hex>.tmp` (atomic writes, the lock's
 * own temp file) and `.scratch-<pid>-<hex>` (handoff ordering scratch).
 */
const TEMP_NAME = /^\.(?:.+\.(\d+)\.[0-9a-f]+\.tmp|scratch-(\d+)-[0-9a-f]+)$/;

/**
 * Remove, anywhere under the run directory, temp files and scratch directories whose writer is no
 * longer running (a process killed mid-write leaves them; a resume would otherwise keep them
 * forever). Called with the run lock held, so no other runner writes there; a live writer's files
 * (say an `rds select` in another shell) are left alone. Returns the paths removed.
 */
export async function removeDeadWritersTemp(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const m = TEMP_NAME.exec(e.name);
      if (m) {
        const pid = Number(m[1] ?? m[2]);
        if (pid !== process.pid && !holderAlive({ pid })) {
          await fs.rm(full, { recursive: true, force: true });
          removed.push(full);
        }
      } else if (e.isDirectory() && depth < 4) {
        await walk(full, depth + 1);
      }
    }
  };
  await walk(path.resolve(runDir), 0);
  return removed;
}
