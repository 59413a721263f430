export { bundleWorkflows, defaultBundlePath, loadWorkflowBundle, writeWorkflowBundle } from './bundle.js';
export { parseWorkerArgs, USAGE, type QueueRole, type WorkerOptions } from './options.js';
export { activitiesFor, startWorkers, withSharedStorageChecks, type StartedWorkers } from './worker.js';
