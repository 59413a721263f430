import type { RunConfigInput, RunDetail, RunSummary } from '@rds/schemas';

/**
 * How the CLI and the HTTP API start and steer runs, whichever engine executes them:
 * LocalBackend (in-process, the embedded default) or TemporalBackend (durable workflows).
 *
 * Errors: `start` throws ValidationError (from @rds/schemas, with field `issues`) for a bad config;
 * pause/resume/cancel throw RunNotFoundError for an unknown id and RunConflictError when the run
 * cannot take the request (e.g. it already finished); LocalBackend.start throws RunConflictError when
 * busy and configured to reject.
 */
export interface RunBackend {
  readonly kind: 'local' | 'temporal';
  start(config: RunConfigInput): Promise<{ runId: string }>;
  list(): Promise<RunSummary[]>;
  get(runId: string): Promise<RunDetail | null>;
  pause(runId: string): Promise<void>;
  resume(runId: string): Promise<void>;
  cancel(runId: string): Promise<void>;
}
