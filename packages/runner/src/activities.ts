import { ingestPool } from '@rds/pool';
import type { RunActivities } from '@rds/workflows/plan';
import { validateConfig } from './validate.js';

/**
 * The one activities object: the worker registers it, the CLI's local runner and LocalBackend call it.
 * WIRING IN PROGRESS: stages whose package has not landed yet are absent (a workflow reaching them
 * fails with "activity not registered"; runLocal refuses to start), see `missingActivities`.
 */
export const activities = { validateConfig, ingestPool } satisfies Partial<RunActivities>;

const ALL: (keyof RunActivities)[] = ['validateConfig', 'ingestPool', 'embedQueries', 'embedPoolShard', 'scorePool', 'selectPool', 'handoffSelection'];

export function missingActivities(obj: Partial<RunActivities> = activities): (keyof RunActivities)[] {
  return ALL.filter((k) => typeof obj[k] !== 'function');
}
