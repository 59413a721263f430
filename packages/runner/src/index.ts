export type { RunBackend } from './backend.js';
export { RunConflictError, RunNotFoundError } from './errors.js';
export { LocalBackend, type LocalBackendOptions } from './local-backend.js';
export { TemporalBackend, type TemporalBackendOptions } from './temporal-backend.js';
export { runLocal, newRunId, type RunLocalOptions } from './local.js';
export { PauseGate } from './pause-gate.js';
export { HoldController, holdsFromEnv, parseHoldSpec, type Hold, type HoldPoint } from './hold.js';
export { readRunStatus, StatusFileWriter } from '@rds/artifacts';
export {
  parseRunConfig,
  requireAbsolutePaths,
  requireVisibleRunDir,
  resolveConfigPaths,
  validateConfig,
} from './validate.js';
export { temporalSettingsFromEnv, type TemporalConnectionSettings, type TemporalTls } from '@rds/artifacts';
export { connectTemporalClient, unreachable } from './temporal-client.js';
export { loadConfigFile } from './config-file.js';
