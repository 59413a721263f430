export * from './float16.js';
export * from './store.js';
