export * from './cache.js';
export { ENTRY_BYTES } from './entries.js';
