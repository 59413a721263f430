/**
 * Order helpers shared by the score-based strategies.
 *
 * Every ranking in this package is "score descending, then row index ascending". To rank millions
 * of rows fast we map each float32 score to a uint32 "descending key" (smaller key = better score),
 * so ties and order are decided on integers, and sort (key, row) pairs natively as uint64.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Descending key of a float32 score: a < b as keys iff score a > score b. -0 and +0 would get different
 * keys in the raw bit map, so -0 is folded onto +0 first.
 */
export function descKeyFromBits(bits: number): number {
  if (bits === 0x80000000) bits = 0; // -0 ranks with +0
  // Standard order-preserving float->uint map (flip all bits of negatives, the sign bit of positives), inverted.
  const asc = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
  return ~asc >>> 0;
}

export function descKey(score: number): number {
  f32[0] = score;
  return descKeyFromBits(u32[0]!);
}

/** A uint32 view of a float32 vector's bits (no copy). */
export function bitsOf(scores: Float32Array): Uint32Array {
  return new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
}

/**
 * Sort rows by (key ascending, row ascending) in place of a fresh array and return the rows in that
 * order. Packs (key << 32 | row) into a BigUint64Array through a uint32 view and uses the native
 * typed-array sort: no comparator calls, no BigInt allocation.
 */
export function sortRowsByKey(rows: Int32Array | Uint32Array, keyOf: (row: number) => number): Uint32Array {
  const n = rows.length;
  const packed = new BigUint64Array(n);
  const words = new Uint32Array(packed.buffer);
  // Little-endian: the low word (row) comes first.
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    words[2 * i] = row;
    words[2 * i + 1] = keyOf(row);
  }
  packed.sort();
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = words[2 * i]!;
  return out;
}
