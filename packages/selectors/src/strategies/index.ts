export { select } from './select.js';
export { computeQuotas } from './quotas.js';
export { SortedStream } from './sorted-stream.js';
export { descKey } from './keys.js';
export type { FetchMore, PoolSources, QueryList, QueryLists, Selection, SelectParams, TaskScores } from './types.js';
