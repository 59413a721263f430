import { throwIfCancelled } from '@rds/artifacts';
import type { BaselineStrategy, BaselinesConfig, HandoffConfig } from '@rds/schemas';
import { datasetFileName } from './formats.js';
import type { RowTable } from '@rds/artifacts';

/** What a baseline is drawn from: the pool's size and each row's source (and id, to write it). */
export interface BaselinePool {
  rows: number;
  sourceOf: Uint8Array | Uint16Array | Uint32Array;
  sources: string[];
}

/**
 * Draws `budget` rows of `pool` with a selection strategy: @rds/selectors' `select`, passed in by
 * the composition root (@rds/runner, the CLI), so a baseline is exactly what `rds select` would pick.
 */
export type SelectBaseline = (params: {
  strategy: BaselineStrategy;
  budget: number;
  seed: number;
  pool: BaselinePool;
  tasks: { task: string; scores: Float32Array }[];
  excluded?: Uint8Array | undefined;
  onProgress?: () => void;
}) => Promise<{ count: number; rows: ArrayLike<number>; warnings: string[] }>;

/** Directory (under the handoff directory) holding one sub-directory per baseline. */
export const BASELINES_DIR = 'baselines';

export interface BaselineSpec {
  /** `<strategy>-seed<seed>`: the baseline's directory and its name in the card, receipt and triggers. */
  name: string;
  strategy: BaselineStrategy;
  seed: number;
}

/** Every (strategy, seed) pair, strategies in the given order, seeds within each. */
export function baselineSpecs(config: BaselinesConfig | undefined): BaselineSpec[] {
  if (!config) return [];
  return config.strategies.flatMap((strategy) =>
    config.seeds.map((seed) => ({ name: `${strategy}-seed${seed}`, strategy, seed })),
  );
}

/** The baseline's training file, relative to the handoff directory (also its S3 key under the prefix). */
export function baselineFile(spec: BaselineSpec, format: HandoffConfig['format']): string {
  return `${BASELINES_DIR}/${spec.name}/${datasetFileName(format)}`;
}

/**
 * A matched baseline: `rows` pool rows drawn by the selectors' own `random` / `balanced-random`
 * strategy (same seed -> same rows as `rds select --strategy <s> --seed <seed> --budget <rows>`
 * over the whole pool). The paper's baselines ignore scores, minScore and quotas: the strategies get
 * one flat score vector, so every row is eligible and `rows` (<= pool rows, as the main selection
 * came from this pool) are always found. Rows carry no task and no score.
 */
export async function baselineSelection(
  pool: BaselinePool & { ids: { get(row: number): string } },
  spec: BaselineSpec,
  rows: number,
  selectBaseline: SelectBaseline,
  signal: AbortSignal,
  /** Rows the selection excluded (contamination): a matched baseline draws from the same rows. */
  excluded?: Uint8Array,
): Promise<RowTable> {
  const ids: string[] = [];
  const sourceOf = new Int32Array(rows);
  if (rows > 0) {
    const picked = await selectBaseline({
      strategy: spec.strategy,
      budget: rows,
      seed: spec.seed,
      pool,
      tasks: [{ task: '(baseline)', scores: new Float32Array(pool.rows) }],
      excluded,
      onProgress: () => throwIfCancelled(signal),
    });
    if (picked.count !== rows)
      throw new Error(
        `baseline ${spec.name}: drew ${picked.count} rows, expected ${rows} (${picked.warnings.join('; ')})`,
      );
    for (let i = 0; i < rows; i++) {
      const row = picked.rows[i]!;
      ids.push(pool.ids.get(row));
      sourceOf[i] = pool.sourceOf[row]!;
    }
  }
  const positionOf = new Map<string, number>();
  ids.forEach((id, i) => positionOf.set(id, i));
  return {
    count: rows,
    ids,
    taskOf: new Int32Array(rows).fill(-1),
    tasks: [],
    score: new Float64Array(rows).fill(Number.NaN),
    sourceOf,
    sources: pool.sources,
    positionOf,
  };
}
