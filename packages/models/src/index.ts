export * from './cache.js';
export * from './registry.js';
export * from './python-env.js';
export * from './fetch.js';
