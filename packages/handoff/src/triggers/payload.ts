import { createHash } from 'node:crypto';
import type { FileRef } from '@rds/schemas';

/** What every trigger hands the fine-tuning side: where the data is, how much, and its checksums. */
export interface HandoffPayload {
  runId: string;
  /** `selection` for the main training file, `<strategy>-seed<seed>` for a matched baseline. */
  name: string;
  /** Set for a matched baseline: how it was drawn and the main dataset it is matched to. */
  baseline: { strategy: string; seed: number; selectionSha256: string } | null;
  idempotencyKey: string;
  /** Directory or s3:// URL of the published files. */
  location: string;
  /** The training file: path or s3:// URL, format, rows, checksum. */
  dataset: { location: string; format: string; rows: number; bytes: number; sha256: string };
  files: FileRef[];
  counts: { perTask: Record<string, number>; perSource: Record<string, number> };
}

/**
 * Same run + same dataset bytes = same key, so receivers (and Temporal) can drop duplicates. A
 * baseline's key also names it, so it never collides with the main file's (a `random` selection
 * with the baseline's seed has the same bytes).
 */
export function idempotencyKey(runId: string, datasetSha256: string, baseline?: string): string {
  return (
    'rds-' +
    createHash('sha256')
      .update(`${runId}\n${datasetSha256}${baseline ? `\nbaseline:${baseline}` : ''}`)
      .digest('hex')
      .slice(0, 48)
  );
}

/** Thrown for failures that retrying cannot fix (a 4xx answer); the workflow retry policy lists this name as non-retryable. */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}
