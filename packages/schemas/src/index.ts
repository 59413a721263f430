export * from './example.js';
export * from './config.js';
export * from './manifests.js';
export * from './errors.js';
export * from './activities.js';
export * from './run.js';
export * from './text.js';
export * from './plan.js';
