// Helpers shared by the benchmarks: a seeded PRNG (every run generates the same data), the model a bench runs, and this
// machine's float32 matmul throughput, the yardstick the scoring and encoder figures are read against.
import ort from 'onnxruntime-node';
import { DataType, encodeModel } from '@rds/onnx-graph';
import { cpuThreads } from '@rds/common';
import { loadFusedKernel } from '@rds/vector-index';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTestModel } from '@rds/encoder';
import { installedModel, PRETRAINED } from '@rds/models';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** xorshift32 in [0, 1): fast, seeded. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

/**
 * GFLOP/s of an [M,K] x [K,N] float32 MatMul through onnxruntime (MLAS) on all CPU cores, best of `reps`.
 * The product is summed to one number inside the graph, so the time is the MatMul's and not also
 * a copy of its [M,N] output into fresh JS memory (slow to first-touch on some VMs, ~3 ms per MB
 * here). The sum reads the product once (a few % of the MatMul), a slight underestimate.
 */
export async function matmulPeakGflops(
  M = 4096,
  K = 768,
  N = 1024,
  reps = 10,
  provider: 'cpu' | 'cuda' | 'webgpu' = 'cpu',
): Promise<number> {
  const s = await ort.InferenceSession.create(
    encodeModel({
      name: 'peak',
      nodes: [
        { op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] },
        { op: 'ReduceSum', inputs: ['c'], outputs: ['sum'], attrs: { keepdims: 0 } },
      ],
      initializers: [{ name: 'b', dims: [K, N], type: DataType.FLOAT, data: new Float32Array(K * N).fill(0.01) }],
      inputs: [{ name: 'a', type: DataType.FLOAT, shape: [M, K] }],
      outputs: [{ name: 'sum', type: DataType.FLOAT, shape: [] }],
    }),
    // Every core, like the sessions it is the yardstick for (onnxruntime's own default used one here).
    { intraOpNumThreads: cpuThreads(), executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'] },
  );
  const a = new ort.Tensor('float32', new Float32Array(M * K).fill(0.02), [M, K]);
  await s.run({ a });
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await s.run({ a });
    best = Math.min(best, performance.now() - t0);
  }
  await s.release();
  return (2 * M * K * N) / (best / 1000) / 1e9;
}

/**
 * The fused scoring kernel's GEMM alone (its own micro-kernel, every core): `rows` pool rows of
 * K dims against `width` queries, best of `reps`; null when the kernel is not built.
 */
export function fusedGemmPeakGflops(width: number, K: number, rows: number, reps = 10): number | null {
  const k = loadFusedKernel();
  if (!('addon' in k)) return null;
  let best = Infinity;
  for (let i = 0; i < reps; i++) best = Math.min(best, k.addon.gemmSeconds(rows, width, K, cpuThreads()));
  return (2 * rows * K * width) / best / 1e9;
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * A bench's model argument as a directory: `test` (the generated test model, in bench/out), the
 * name of a pretrained model (installed by `rds model fetch`), or a model directory.
 */
export async function benchModelDir(arg: string): Promise<string> {
  if (arg === 'test') return writeTestModel(path.join(repoRoot, 'bench', 'out', 'tiny-test-model'));
  if (arg in PRETRAINED) return (await installedModel(arg)).dir;
  return arg;
}
