import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import type { FileRef } from '@rds/schemas';

/**
 * The row-offset index of one pool shard: `rows + 1` little-endian uint64, the byte offset where
 * each line starts and then the shard's size, so line i is bytes [offset i, offset i+1 - 1) without
 * its newline. Lets a reader fetch one row with a positioned read instead of scanning the shard.
 */
export function encodeRowOffsets(starts: ArrayLike<number>, rows: number, shardBytes: number): Buffer {
  const buf = Buffer.allocUnsafe((rows + 1) * 8);
  const put = (i: number, value: number) => {
    // Two uint32 halves: exact for every size below 2^53 without a BigInt per row.
    buf.writeUInt32LE(value % 0x1_0000_0000, i * 8);
    buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), i * 8 + 4);
  };
  for (let i = 0; i < rows; i++) put(i, starts[i]!);
  put(rows, shardBytes);
  return buf;
}

/** The checksum a FileRef records for an encoded index. */
export function rowOffsetsRef(file: string, encoded: Buffer): FileRef {
  return { file, bytes: encoded.length, sha256: createHash('sha256').update(encoded).digest('hex') };
}

/**
 * The row-offset index of a shard of `rows` rows and `shardBytes` bytes, or null when it is missing
 * or does not match its recorded checksum or the shard (readers then scan the shard instead).
 */
export async function readRowOffsets(
  file: string,
  ref: FileRef,
  rows: number,
  shardBytes: number,
): Promise<Float64Array | null> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch {
    return null;
  }
  if (buf.length !== ref.bytes || buf.length !== (rows + 1) * 8) return null;
  if (createHash('sha256').update(buf).digest('hex') !== ref.sha256) return null;
  const offsets = new Float64Array(rows + 1);
  for (let i = 0; i <= rows; i++) offsets[i] = buf.readUInt32LE(i * 8) + buf.readUInt32LE(i * 8 + 4) * 0x1_0000_0000;
  return offsets[0] === 0 && offsets[rows] === shardBytes ? offsets : null;
}
