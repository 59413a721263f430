import { bitsOf, descKeyFromBits, sortRowsByKey } from './keys.js';

/**
 * Rows of one score vector in ranking order (score descending, row ascending), produced lazily.
 *
 * Sorting a 5.8M-row vector per task to take a few hundred thousand rows would waste most of the
 * work, so each batch is a partial selection: a radix select (two histogram passes over the 16-bit
 * halves of the descending key) finds the score threshold of the next `size` rows, one more pass
 * gathers them and only those are sorted. When a batch is used up the next one continues after the
 * last row handed out, twice as large.
 *
 * `isExcluded(row)` lets the caller drop rows for good while building later batches (already
 * selected, source quota full): it must be monotone (once excluded, always excluded), which keeps
 * "everything after the cursor" well defined. Rows scoring below `minKey`'s score are never emitted.
 */
export class SortedStream {
  private readonly bits: Uint32Array;
  private batch: Uint32Array = new Uint32Array(0);
  private pos = 0;
  /** Last emitted (key, row); rows at or before it in ranking order are done. */
  private lastKey = -1;
  private lastRow = -1;
  private exhausted = false;
  private nextSize: number;
  /** Batches built so far (tests use it to check the lazy path really extended). */
  batches = 0;

  constructor(
    scores: Float32Array,
    initialSize: number,
    /** Largest eligible descending key (= lowest eligible score), 0xFFFFFFFF for none. */
    private readonly maxKey = 0xffffffff,
    private readonly isExcluded: (row: number) => boolean = () => false,
  ) {
    this.bits = bitsOf(scores);
    this.nextSize = Math.max(1, Math.ceil(initialSize));
  }

  /** Next row in ranking order, or -1 when no eligible row is left. */
  next(): number {
    for (;;) {
      if (this.pos < this.batch.length) {
        const row = this.batch[this.pos++]!;
        this.lastRow = row;
        this.lastKey = descKeyFromBits(this.bits[row]!);
        return row;
      }
      if (this.exhausted) return -1;
      this.fill();
    }
  }

  /** Whether `row` is still to come (after the cursor in ranking order). */
  private afterCursor(key: number, row: number): boolean {
    return key > this.lastKey || (key === this.lastKey && row > this.lastRow);
  }

  private fill(): void {
    const size = this.nextSize;
    this.nextSize = Math.min(2 * size, 0x3fffffff);
    this.batches++;
    const bits = this.bits;
    const n = bits.length;
    const maxKey = this.maxKey;

    // Pass 1: histogram of the high 16 bits of the keys of the rows still to come.
    const hist = new Uint32Array(65536);
    let remaining = 0;
    for (let r = 0; r < n; r++) {
      const k = descKeyFromBits(bits[r]!);
      if (k > maxKey || !this.afterCursor(k, r) || this.isExcluded(r)) continue;
      hist[k >>> 16]!++;
      remaining++;
    }
    if (remaining <= size) {
      this.exhausted = true;
      this.batch = this.gather(0xffffffff, remaining, remaining);
      this.pos = 0;
      return;
    }
    let hi = 0;
    let before = 0;
    while (before + hist[hi]! < size) before += hist[hi++]!;

    // Pass 2: within that bucket, histogram of the low 16 bits to find the exact threshold key.
    hist.fill(0);
    for (let r = 0; r < n; r++) {
      const k = descKeyFromBits(bits[r]!);
      if (k >>> 16 !== hi || k > maxKey || !this.afterCursor(k, r) || this.isExcluded(r)) continue;
      hist[k & 0xffff]!++;
    }
    let lo = 0;
    while (before + hist[lo]! < size) before += hist[lo++]!;
    const threshold = ((hi << 16) | lo) >>> 0;
    // Rows strictly better than the threshold all go in; ties at it fill up to `size` by row order.
    this.batch = this.gather(threshold, size - before, size);
    this.pos = 0;
  }

  /** Pass 3: rows with key < threshold, plus the first `tiesWanted` rows with key == threshold; sorted. */
  private gather(threshold: number, tiesWanted: number, expected: number): Uint32Array {
    const bits = this.bits;
    const n = bits.length;
    const rows = new Uint32Array(expected);
    let count = 0;
    let ties = 0;
    for (let r = 0; r < n && count < expected; r++) {
      const k = descKeyFromBits(bits[r]!);
      if (k > threshold || k > this.maxKey || !this.afterCursor(k, r) || this.isExcluded(r)) continue;
      if (k === threshold) {
        if (ties >= tiesWanted) continue;
        ties++;
      }
      rows[count++] = r;
    }
    return sortRowsByKey(rows.subarray(0, count), (row) => descKeyFromBits(bits[row]!));
  }
}
