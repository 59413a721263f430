export { SplitMix32 } from './prng.js';
export { cpuThreads } from './threads.js';
