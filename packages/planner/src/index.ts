export { planRun, DEFAULT_CALIBRATE_TOKENS, DEFAULT_SAMPLE_ROWS, type PlanOptions } from './plan.js';
export { forwardFlops, flopsPerToken, matmulParams, modelShape, type ModelShape } from './flops.js';
export { ASSUMED_GPU_UTILISATION, EmbedCalibration, GPU_CLASSES, calibrationFile, readCalibration } from './gpus.js';
export { BottomKSample } from './sample.js';
export { formatPlan } from './format.js';
