// rds-worker: the Temporal worker process. `--queues cpu,gpu` picks the roles it serves.
import { ValidationError } from '@rds/schemas';
import { activities } from '@rds/runner/activities';
import { parseWorkerArgs, USAGE } from './options.js';
import { startWorkers } from './worker.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const options = parseWorkerArgs(argv);
  const started = await startWorkers(options, activities);
  let stopping = false;
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.error(`rds-worker: ${sig}: shutting down (in-flight activities get their grace period)`);
    started.shutdown();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await started.done;
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(
    err instanceof ValidationError
      ? err.message
      : `rds-worker failed: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exitCode = err instanceof ValidationError ? 2 : 1;
}
