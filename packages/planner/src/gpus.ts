import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { cacheDir } from '@rds/encoder';
import type { ExecutionProvider } from '@rds/schemas';

/**
 * GPU classes a plan prices embedding on: dense bf16/fp16 tensor-core peaks from the vendors'
 * datasheets (no sparsity). What a real embedding run reaches of it comes from bench:embed.
 */
export const GPU_CLASSES: readonly { name: string; peakFlops: number }[] = [
  { name: 'T4', peakFlops: 65e12 },
  { name: 'L4', peakFlops: 121e12 },
  { name: 'A100', peakFlops: 312e12 },
  { name: 'H100 SXM', peakFlops: 989e12 },
  { name: 'H200', peakFlops: 989e12 },
];

/**
 * Used when no GPU measurement is recorded. Forward passes over length-bucketed batches of a 7B
 * model typically reach a third to a half of the tensor peak; 0.35 is an assumption, not a measurement.
 */
export const ASSUMED_GPU_UTILISATION = 0.35;

/** What bench:embed records after a run: the fraction of the measured matmul peak embedding reached. */
export const EmbedCalibration = z.strictObject({
  provider: z.enum(['cpu', 'cuda', 'webgpu']),
  model: z.string(),
  fractionOfPeak: z.number().positive().max(1),
  peakFlops: z.number().positive(),
  measuredAt: z.string(),
});
export type EmbedCalibration = z.infer<typeof EmbedCalibration>;

export function calibrationFile(provider: ExecutionProvider, cache = cacheDir()): string {
  return path.join(cache, 'calibration', `embed-${provider}.json`);
}

/** The recorded calibration for a provider, or null (missing or unreadable: never trusted half-written). */
export function readCalibration(provider: ExecutionProvider, cache = cacheDir()): EmbedCalibration | null {
  try {
    return EmbedCalibration.parse(JSON.parse(fs.readFileSync(calibrationFile(provider, cache), 'utf8')));
  } catch {
    return null;
  }
}
