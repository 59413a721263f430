import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseOrThrow, ValidationError } from '@rds/schemas';
import { DEFAULT_QUEUES } from '@rds/workflows/plan';

const Role = z.enum(['cpu', 'gpu']);
export type QueueRole = z.infer<typeof Role>;

const WorkerOptions = z.object({
  /** Which roles this process serves: cpu (workflows + ingest/score/select/handoff), gpu (embedding). */
  roles: z.array(Role).min(1),
  queues: z.object({ cpu: z.string().min(1), gpu: z.string().min(1) }),
  /** Activities at once per role: embedding holds one ONNX session per slot, so gpu defaults to 1. */
  maxActivities: z.object({ cpu: z.number().int().positive(), gpu: z.number().int().positive() }),
  /** On SIGTERM, how long running activities may go on before they are cancelled (they stop at their next checkpoint). */
  shutdownGraceMs: z.number().int().nonnegative(),
  /** Prebuilt workflow bundle path, or "fresh" to bundle at start. */
  bundle: z.string().min(1).optional(),
});
export type WorkerOptions = z.infer<typeof WorkerOptions>;

export const USAGE = `usage: rds-worker [--queues cpu,gpu] [--cpu-queue NAME] [--gpu-queue NAME] [--max-cpu-activities N] [--max-gpu-activities N] [--bundle PATH|fresh]
  connection from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY/TEMPORAL_TLS_CA`;

export function parseWorkerArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): WorkerOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        queues: { type: 'string', default: 'cpu,gpu' },
        'cpu-queue': { type: 'string' },
        'gpu-queue': { type: 'string' },
        'max-cpu-activities': { type: 'string', default: '2' },
        'max-gpu-activities': { type: 'string', default: '1' },
        bundle: { type: 'string' },
        'grace-seconds': { type: 'string', default: '10' },
      },
    }));
  } catch (err) {
    throw new ValidationError(`rds-worker: ${(err as Error).message}\n${USAGE}`);
  }
  return parseOrThrow(
    WorkerOptions,
    {
      roles: [
        ...new Set(
          values.queues
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ],
      queues: {
        cpu: values['cpu-queue'] ?? env.RDS_CPU_QUEUE ?? DEFAULT_QUEUES.cpu,
        gpu: values['gpu-queue'] ?? env.RDS_GPU_QUEUE ?? DEFAULT_QUEUES.gpu,
      },
      maxActivities: { cpu: Number(values['max-cpu-activities']), gpu: Number(values['max-gpu-activities']) },
      shutdownGraceMs: Math.round(Number(values['grace-seconds']) * 1000),
      ...(values.bundle ? { bundle: values.bundle } : {}),
    },
    'rds-worker options',
  );
}
