export type { RunBackend } from './backend.js';
export { RunConflictError, RunNotFoundError } from './errors.js';
export { LocalBackend, type LocalBackendOptions } from './local-backend.js';
export { TemporalBackend, type TemporalBackendOptions } from './temporal-backend.js';
export { runLocal, newRunId, type RunLocalOptions } from './local.js';
export { PauseGate } from './pause-gate.js';
export { readRunStatus, StatusFileWriter } from './status.js';
export { parseRunConfig, resolveConfigPaths, validateConfig } from './validate.js';
