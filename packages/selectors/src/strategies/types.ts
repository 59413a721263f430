import type { TopKLists } from '@rds/artifacts';
import type { RoundRobinTurns, SelectionStrategy } from '@rds/schemas';

/** What the strategies know about the pool: its size and each row's source as a small integer. */
export interface PoolSources {
  rows: number;
  /** Source index (into `sources`) of every global pool row. */
  sourceOf: Uint8Array | Uint16Array | Uint32Array;
  sources: string[];
}

/** One task's score per pool row: the max (or mean) of the row's similarity over the task's queries. */
export interface TaskScores {
  task: string;
  scores: Float32Array;
}

/** Per-query ranked lists of one task, as the scores' top-K files hold them (see TopKLists). */
export type QueryLists = TopKLists;

/** Deeper lists for some queries: queries.length x k row-major, same order and padding rules. */
export interface QueryList {
  ids: Int32Array;
  scores: Float32Array;
}

/**
 * Deeper top-k lists for the given queries of task index `task` (one call may serve several
 * queries: computing deeper lists streams the whole pool once, whatever the number of queries);
 * each list's first entries must match its shallower list.
 */
export type FetchMore = (task: number, queries: number[], k: number) => QueryList | Promise<QueryList>;

export interface SelectParams {
  strategy: SelectionStrategy;
  budget: number;
  seed: number;
  /**
   * Round-robin turn rule (default `reference`): on its turn a query/task pops the next row of its
   * ranking once and adds nothing if that row is already selected; `fill` keeps popping until it adds one.
   */
  turns?: RoundRobinTurns | undefined;
  /** Weights per source name, normalised to shares of the budget (see quotas.ts). */
  sourceQuotas?: Record<string, number> | undefined;
  /** Rows whose score is below this are never selected. */
  minScore?: number | undefined;
  /**
   * excluded[row] = 1: the row is dropped before selecting (not eligible, not counted in quotas'
   * capacity, skipped for free by every ranking), e.g. rows the contamination check flagged.
   */
  excluded?: Uint8Array | undefined;
  pool: PoolSources;
  /** Per task score vectors, in task order (max vectors; mean vectors for top-k-mean). */
  tasks: TaskScores[];
  /** round-robin-queries: the stored per-query lists of each task, aligned with `tasks`. */
  queryLists?: QueryLists[] | undefined;
  /** round-robin-queries: deeper lists on demand when a query runs out of its stored list. */
  fetchMore?: FetchMore | undefined;
  /** Called now and then with the number of rows selected so far; may throw to cancel. */
  onProgress?: ((selected: number, target: number) => void) | undefined;
}

/** The selected rows in rank order (index i = rank i). */
export interface Selection {
  count: number;
  rows: Uint32Array;
  /** Task index per selected row (into params.tasks). */
  task: Int32Array;
  score: Float32Array;
  /** Query index within the task (round-robin-queries), else -1 (unknown). */
  query: Int32Array;
  /** Rows the selection aimed for: min(budget, eligible rows), less when quotas cannot be met. */
  target: number;
  /** Eligible rows in the pool (score >= minScore, any task). */
  eligible: number;
  warnings: string[];
}
