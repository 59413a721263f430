import { embedPoolShard, embedQueries } from '@rds/encoder';
import { ingestPool } from '@rds/pool';
import { handoffSelection } from '@rds/handoff';
import { select, selectPool } from '@rds/selectors';
import { pairsAtLeast, scorePool, topKForQueries } from '@rds/vector-index';
import type { RunActivities } from '@rds/workflows/plan';
import { validateConfig } from './validate.js';

/**
 * The one activities object: the worker registers it (cpu/gpu split by name), the CLI's local runner
 * and LocalBackend call it. Typed against the workflow's contract, so a missing or mistyped stage is a
 * compile error, not a run that fails halfway. Stages never import each other: what one needs from
 * another (selection from the vector index, handoff's baselines from the selectors) is bound here.
 */
export const activities: RunActivities = {
  validateConfig,
  ingestPool,
  embedQueries,
  embedPoolShard,
  scorePool,
  selectPool: (input) => selectPool(input, { topKForQueries, pairsAtLeast }),
  handoffSelection: (input) => handoffSelection(input, { selectBaseline: select }),
};
