// Workflow entry point for the worker's bundle: only workflow functions (and what they need) are exported here.
export { selectionRun, progressQuery } from './selection-run.js';
export { embedShards, pauseSignal, resumeSignal, embedProgressQuery } from './embed-shards.js';
