export * from './strategies/index.js';
export { selectPool } from './activity.js';
export { readPoolRows, IdTable, type PoolRows } from './pool-rows.js';
