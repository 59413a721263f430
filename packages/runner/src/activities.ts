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
export const activities: RunActivities = {
  validateConfig,
  ingestPool,
  embedQueries,
  embedPoolShard,
  scorePool,
  selectPool,
  handoffSelection,
};
