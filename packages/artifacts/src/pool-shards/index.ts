export * from './line.js';
export * from './offsets.js';
export * from './reader.js';
export * from './rows.js';
export * from './writer.js';
