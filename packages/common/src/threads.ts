import os from 'node:os';

/**
 * Threads for CPU compute (an onnxruntime session's intra-op pool, the native scoring kernel):
 * `configured` when > 0, else one per CPU the process may use. Always explicit: left to itself,
 * onnxruntime-node 1.30 ran one thread on this project's 2-core CI VM (its physical-core
 * detection), half the machine (MatMul 167 -> 321 GFLOP/s).
 */
export function cpuThreads(configured = 0): number {
  return configured > 0 ? configured : os.availableParallelism();
}
