import { createHash } from 'node:crypto';
import type { FileRef } from '@rds/schemas';

/** What every trigger hands the fine-tuning side: where the data is, how much, and its checksums. */
export interface HandoffPayload {
  runId: string;
  idempotencyKey: string;
  /** Directory or s3:// URL of the published files. */
  location: string;
  /** The training file: path or s3:// URL, format, rows, checksum. */
  dataset: { location: string; format: string; rows: number; bytes: number; sha256: string };
  files: FileRef[];
  counts: { perTask: Record<string, number>; perSource: Record<string, number> };
}

/** Same run + same dataset bytes = same key, so receivers (and Temporal) can drop duplicates. */
export function idempotencyKey(runId: string, datasetSha256: string): string {
  return 'rds-' + createHash('sha256').update(`${runId}\n${datasetSha256}`).digest('hex').slice(0, 48);
}

/** Thrown for failures that retrying cannot fix (a 4xx answer); the workflow retry policy lists this name as non-retryable. */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}
