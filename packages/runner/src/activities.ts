import { embedPoolShard, embedQueries } from '@rds/encoder';
import { ingestPool } from '@rds/pool';
import { handoffSelection } from '@rds/handoff';
import { selectPool } from '@rds/selectors';
import { scorePool } from '@rds/vector-index';
import type { RunActivities } from '@rds/workflows/plan';
import { validateConfig } from './validate.js';

/**
 * The one activities object: the worker registers it (cpu/gpu split by name), the CLI's local runner
 * and LocalBackend call it. Typed against the workflow's contract, so a missing or mistyped stage is a
 * compile error, not a run that fails halfway.
 */
export const activities: RunActivities = { validateConfig, ingestPool, embedQueries, embedPoolShard, scorePool, selectPool, handoffSelection };

const ALL: (keyof RunActivities)[] = ['validateConfig', 'ingestPool', 'embedQueries', 'embedPoolShard', 'scorePool', 'selectPool', 'handoffSelection'];

/** Names absent from `obj` (for runners handed a partial set, e.g. a worker built without a stage). */
export function missingActivities(obj: Partial<RunActivities> = activities): (keyof RunActivities)[] {
  return ALL.filter((k) => typeof obj[k] !== 'function');
}

/** The full set, or an error naming what is missing (for runners that need every stage). */
export function completeActivities(obj: Partial<RunActivities> = activities): RunActivities {
  const missing = missingActivities(obj);
  if (missing.length) throw new Error(`this build lacks activities: ${missing.join(', ')}`);
  return obj as RunActivities;
}
