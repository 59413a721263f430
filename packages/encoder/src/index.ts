export * from './float16.js';
export * from './store.js';
export * from './onnx-builder.js';
export * from './test-model.js';
