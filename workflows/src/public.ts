// What Node code (runner, worker, CLI, API) imports from @rds/workflows: pure plan, pipeline and contract types.
export * from './plan.js';
export * from './pipeline.js';
export type * from './contract.js';
