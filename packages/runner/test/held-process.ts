/**
 * A process whose only pending work is one held activity call (hold.test.ts spawns it). It is
 * released by an unref'd timer, which cannot keep the process alive by itself: if nothing else
 * does while the call is held, the event loop drains first and the process reports it.
 */
import type { RunActivities } from '@rds/workflows/plan';
import { HoldController } from '../src/index.js';

const holds = new HoldController({ embedPoolShard: async () => 'ran' } as unknown as RunActivities);
const h = holds.hold('embedPoolShard');
let held = true;
process.on('beforeExit', () => {
  if (held) process.stdout.write('drained while held\n');
});
void h.reached.then(() => setTimeout(() => h.release(), 100).unref());
const result = await holds.activities.embedPoolShard({} as never);
held = false;
process.stdout.write(`${String(result)}\n`);
