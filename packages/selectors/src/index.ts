export * from './strategies/index.js';
export { selectPool, type PairsAtLeastInRun, type SelectPoolDeps, type TopKForQueries } from './activity.js';
export { readScoreVector, readTopK, readScoresManifest, SCORE_FILES } from './score-files.js';
