import { createHash } from 'node:crypto';
import type { CacheNamespace } from './cache.js';

/** The namespace the cache tests use: 8 float16 values a row. */
export const TEST_NS: CacheNamespace = {
  model: 'a'.repeat(64),
  pooling: 'weighted-mean',
  maxTokens: 2048,
  dtype: 'float16',
  dims: 8,
  render: 1,
};

/** Row bytes that depend on the key alone (16 bytes: 8 float16 values). */
export function rowFor(key: bigint): Uint8Array {
  return new Uint8Array(createHash('sha256').update(key.toString()).digest().subarray(0, 16));
}
