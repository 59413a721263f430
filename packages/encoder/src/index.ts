export * from './test-model.js';
export * from './render.js';
export * from './model.js';
export * from './embed.js';
export * from './activity.js';
