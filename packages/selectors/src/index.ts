export * from './strategies/index.js';
export { selectPool, type PairsAtLeastInRun, type SelectPoolDeps, type TopKForQueries } from './activity.js';
