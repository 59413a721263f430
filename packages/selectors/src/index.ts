export * from './strategies/index.js';
