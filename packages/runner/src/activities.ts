import { embedPoolShard, embedQueries } from '@rds/encoder';
import { ingestPool } from '@rds/pool';
import { handoffSelection } from '@rds/handoff';
import { selectPool } from '@rds/selectors';
import { scorePool } from '@rds/vector-index';
import type { RunActivities } from '@rds/workflows/plan';
import { validateConfig } from './validate.js';

/**
 * The one activities object: the worker registers it, the CLI's local runner and LocalBackend call it.
 * WIRING IN PROGRESS: stages whose package has not landed yet are absent (a workflow reaching them
 * fails with "activity not registered"; runLocal refuses to start), see `missingActivities`.
 */
export const activities = { validateConfig, ingestPool, embedQueries, embedPoolShard, scorePool, selectPool, handoffSelection } satisfies Partial<RunActivities>;

const ALL: (keyof RunActivities)[] = ['validateConfig', 'ingestPool', 'embedQueries', 'embedPoolShard', 'scorePool', 'selectPool', 'handoffSelection'];

export function missingActivities(obj: Partial<RunActivities> = activities): (keyof RunActivities)[] {
  return ALL.filter((k) => typeof obj[k] !== 'function');
}

/** The full set, or an error naming what is missing (for runners that need every stage). */
export function completeActivities(obj: Partial<RunActivities> = activities): RunActivities {
  const missing = missingActivities(obj);
  if (missing.length) throw new Error(`this build lacks activities: ${missing.join(', ')}`);
  return obj as RunActivities;
}
