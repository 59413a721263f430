import { NativeConnection, Runtime, Worker, DefaultLogger, type Logger } from '@temporalio/worker';
import type { RunActivities } from '@rds/workflows/plan';
import { temporalConnectOptions } from '@rds/artifacts';
import {
  parseRunConfig,
  requireAbsolutePaths,
  requireVisibleRunDir,
  temporalSettingsFromEnv,
  unreachable,
  type TemporalConnectionSettings,
} from '@rds/runner';
import { loadWorkflowBundle } from './bundle.js';
import type { QueueRole, WorkerOptions } from './options.js';

const GPU_ACTIVITIES: (keyof RunActivities)[] = ['embedQueries', 'embedPoolShard'];

/** The activities a role serves: embedding on gpu, everything else on cpu. */
export function activitiesFor(role: QueueRole, all: Partial<RunActivities>): Partial<RunActivities> {
  const entries = Object.entries(all).filter(
    ([name]) => GPU_ACTIVITIES.includes(name as keyof RunActivities) === (role === 'gpu'),
  );
  return Object.fromEntries(entries) as Partial<RunActivities>;
}

/**
 * The checks that only matter when stages run on different machines: validateConfig refuses relative
 * paths (each worker would resolve them against its own cwd), and every later stage first checks that
 * it sees the run directory validateConfig wrote (shared storage at the same path).
 */
export function withSharedStorageChecks(all: Partial<RunActivities>): Partial<RunActivities> {
  const out: Partial<RunActivities> = {};
  for (const [name, fn] of Object.entries(all) as [keyof RunActivities, (input: never) => Promise<unknown>][]) {
    const checked =
      name === 'validateConfig'
        ? async (input: { config: unknown }) => {
            requireAbsolutePaths(parseRunConfig(input.config));
            return fn(input as never);
          }
        : async (input: { runDir: string }) => {
            await requireVisibleRunDir(input.runDir);
            return fn(input as never);
          };
    Object.assign(out, { [name]: checked });
  }
  return out;
}

export interface StartedWorkers {
  workers: { role: QueueRole; taskQueue: string; worker: Worker }[];
  /** Resolves when every worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  shutdown(): void;
}

/**
 * One Temporal worker per role on one connection. The cpu worker also runs the workflows
 * (selectionRun, embedShards); the gpu worker only polls embedding activities.
 */
export async function startWorkers(
  options: WorkerOptions,
  activities: Partial<RunActivities>,
  settings: TemporalConnectionSettings = temporalSettingsFromEnv(),
  logger: Logger = new DefaultLogger('INFO'),
): Promise<StartedWorkers> {
  // Shutdown is ours (below), so SIGTERM lets in-flight activities finish their current checkpoint.
  try {
    Runtime.install({ logger, shutdownSignals: [] });
  } catch {
    // Already installed in this process (tests starting workers twice).
  }
  const connection = await NativeConnection.connect(temporalConnectOptions(settings)).catch((err: unknown) => {
    throw unreachable(settings, err);
  });
  const bundle = options.roles.includes('cpu') ? await loadWorkflowBundle(options.bundle ?? undefined, logger) : null;
  if (bundle) logger.info(`workflow code: ${bundle.source}`);
  const workers: StartedWorkers['workers'] = [];
  for (const role of options.roles) {
    const taskQueue = options.queues[role];
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue,
      activities: activitiesFor(role, withSharedStorageChecks(activities)),
      maxConcurrentActivityTaskExecutions: options.maxActivities[role],
      shutdownGraceTime: options.shutdownGraceMs,
      ...(role === 'cpu' && bundle ? { workflowBundle: { code: bundle.code } } : {}),
    });
    logger.info(`worker polling ${taskQueue} (${role}) on ${settings.address}/${settings.namespace}`);
    workers.push({ role, taskQueue, worker });
  }
  const shutdown = () => {
    for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
  };
  const done = Promise.all(workers.map((w) => w.worker.run())).then(
    async () => void (await connection.close()),
    async (err: unknown) => {
      shutdown();
      await connection.close().catch(() => undefined);
      throw err;
    },
  );
  return { workers, done, shutdown };
}
