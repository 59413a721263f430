export * from './faiss.js';
export * from './engines.js';
export * from './topk.js';
export * from './inputs.js';
export * from './scoring.js';
export * from './deeper.js';
export * from './activity.js';
