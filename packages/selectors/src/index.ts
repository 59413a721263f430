export * from './strategies/index.js';
export { selectPool } from './activity.js';
export { readScoreVector, readTopK, readScoresManifest, SCORE_FILES } from './score-files.js';
