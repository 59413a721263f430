// Loader and types of the fused scoring kernel (native/fused-kernel.cc); the engine is in engines.ts.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawMatrix } from '@rds/artifacts';

/** The native addon built from native/fused-kernel.cc by scripts/install-native.mjs. */
export interface FusedAddon {
  /** The code paths in use: avx512, avx2 or portable (the best this CPU runs; same bits in all three). */
  kernel(): string;
  /** Switch to another variant this CPU runs (tests, benchmarks); returns the previous one. */
  useKernel(name: 'avx512' | 'avx2' | 'portable'): string;
  /** Seconds for the kernel's GEMM alone over rows x width queries of `dims`, on `threads` threads. */
  gemmSeconds(rows: number, width: number, dims: number, threads: number): number;
  FusedScorer: new (
    q: Float32Array,
    dims: number,
    queries: number,
    taskStarts: Int32Array,
    means: boolean,
    threads: number,
  ) => NativeScorer;
}
export interface NativeScorer {
  scoreBlock(
    pool: RawMatrix,
    rows: number,
    rowOffset: number,
    k: number,
    ids: Int32Array | null,
    scores: Float32Array | null,
    floors: Float32Array | null,
    maxOut: Float32Array | null,
    meanOut: Float32Array | null,
    settle: boolean,
  ): Promise<number>;
  settle(ids: Int32Array, scores: Float32Array, floors: Float32Array, k: number): void;
}

export const FUSED_ADDON_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'native',
  'build',
  'Release',
  'rds_fused.node',
);

const loaded = new Map<string, { addon: FusedAddon } | { error: string }>();

/** The fused kernel, or why it cannot be used (not built, or built for another Node). */
export function loadFusedKernel(addonPath = FUSED_ADDON_PATH): { addon: FusedAddon } | { error: string } {
  let result = loaded.get(addonPath);
  if (!result) {
    try {
      result = { addon: createRequire(import.meta.url)(addonPath) as FusedAddon };
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      result = {
        error: `the fused scoring kernel (${addonPath}) did not load: ${why}. It is built by the project's install step (npm ci, or node scripts/install-native.mjs), which needs g++ and make.`,
      };
    }
    loaded.set(addonPath, result);
  }
  return result;
}
