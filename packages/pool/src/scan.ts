import { throwIfCancelled } from '@rds/artifacts';
import type { Message, PoolConfig } from '@rds/schemas';
import { Hash64Set } from './hashset.js';
import { contentDigest, FileNormaliser, statInputs, type IngestProgress } from './ingest.js';
import { readRecords } from './readers.js';

export interface PoolScanCounts {
  files: number;
  bytes: number;
  read: number;
  kept: number;
  duplicate: number;
  rejected: number;
}

export interface PoolScanOptions {
  cwd?: string;
  /** Drop exact duplicates as pool ingestion does (default). Query sets keep every row. */
  dedup?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
  /**
   * Every row ingest would keep, in pool order, with its 0-based index among the kept rows and `key`,
   * 32 bits of its content hash (uniform: a deterministic sampling key).
   */
  onRow: (row: { index: number; key: number; source: string; messages: Message[] }) => void;
}

const neverAborted = new AbortController().signal;

/**
 * Read a pool the way ingest does — same readers, validation, normalisation and exact dedup — but
 * write nothing: for estimates made before a run (`rds plan`). Streams, so memory is the dedup set.
 */
export async function scanPool(config: PoolConfig, options: PoolScanOptions): Promise<PoolScanCounts> {
  const inputs = await statInputs(config.inputs, options.cwd);
  const seen = new Hash64Set(1 << 16);
  const counts: PoolScanCounts = {
    files: inputs.length,
    bytes: inputs.reduce((n, f) => n + f.bytes, 0),
    read: 0,
    kept: 0,
    duplicate: 0,
    rejected: 0,
  };
  let bytesBefore = 0;
  for (const input of inputs) {
    const normaliser = new FileNormaliser(input.path, config.format);
    for await (const batch of readRecords(input.path, { maxRowBytes: config.maxRowBytes, roots: config.roots })) {
      throwIfCancelled(options.signal ?? neverAborted);
      for (const rec of batch.records) {
        counts.read++;
        const out = normaliser.normalise(rec);
        if (!out.ok) {
          counts.rejected++;
          continue;
        }
        const digest = contentDigest(out, out.messagesJson);
        if (options.dedup !== false && !seen.addDigest(digest)) {
          counts.duplicate++;
          continue;
        }
        options.onRow({
          index: counts.kept++,
          key: digest.readUInt32BE(8),
          source: out.source,
          messages: out.messages,
        });
      }
      options.onProgress?.({
        bytesDone: bytesBefore + batch.bytesRead,
        bytesTotal: counts.bytes,
        rows: counts.read,
        kept: counts.kept,
        file: input.path,
      });
    }
    bytesBefore += input.bytes;
  }
  return counts;
}
