export * from './files.js';
export * from './layout.js';
export * from './runtime.js';
export * from './jsonl.js';
export * from './confine.js';
export * from './temporal-env.js';
export * from './pool-shards/index.js';
