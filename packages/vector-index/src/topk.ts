/**
 * Top-K bookkeeping shared by every engine. Order everywhere: score descending, ties to the lower
 * row index; missing entries are id -1 / score -Infinity at the end.
 */

/** True when (sa, ia) ranks before (sb, ib). */
export function ranksBefore(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa > sb || (sa === sb && ia < ib && ia >= 0) || (ib < 0 && ia >= 0);
}

/**
 * The k best of `n` candidates read through `score(i)` (ids 0..n-1), written sorted into
 * outIds/outScores at `offset` (k slots, padded). A bounded min-heap: O(n log k) worst case,
 * and most candidates are rejected by one comparison against the heap's worst.
 */
export function selectTopK(n: number, k: number, score: (i: number) => number, outIds: Int32Array, outScores: Float32Array, offset = 0): void {
  const m = Math.min(n, k);
  const hs = new Float64Array(m);
  const hi = new Int32Array(m);
  let size = 0;
  // Heap root = the worst kept candidate (lowest score, then highest id).
  const worse = (a: number, b: number) => hs[a]! < hs[b]! || (hs[a] === hs[b] && hi[a]! > hi[b]!);
  const swap = (a: number, b: number) => {
    const s = hs[a]!, i = hi[a]!;
    hs[a] = hs[b]!; hi[a] = hi[b]!; hs[b] = s; hi[b] = i;
  };
  const down = (p: number) => {
    for (;;) {
      const l = 2 * p + 1, r = l + 1;
      let w = p;
      if (l < size && worse(l, w)) w = l;
      if (r < size && worse(r, w)) w = r;
      if (w === p) return;
      swap(p, w);
      p = w;
    }
  };
  for (let i = 0; i < n; i++) {
    const s = score(i);
    if (size < m) {
      hs[size] = s;
      hi[size] = i;
      let c = size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(c, p)) break;
        swap(c, p);
        c = p;
      }
    } else if (m > 0 && s > hs[0]!) {
      // Equal scores never replace: the kept one has the lower id.
      hs[0] = s;
      hi[0] = i;
      down(0);
    }
  }
  // Pop worst-first into the tail.
  for (let j = size - 1; j >= 0; j--) {
    outIds[offset + j] = hi[0]!;
    outScores[offset + j] = hs[0]!;
    hs[0] = hs[size - 1]!;
    hi[0] = hi[size - 1]!;
    size--;
    down(0);
  }
  for (let j = m; j < k; j++) {
    outIds[offset + j] = -1;
    outScores[offset + j] = -Infinity;
  }
}

/** Restore the tie order (lower id first) inside runs of equal scores of one sorted list. */
export function fixTieOrder(ids: Int32Array, scores: Float32Array, offset: number, k: number): void {
  for (let j = offset + 1; j < offset + k; j++) {
    const s = scores[j]!, id = ids[j]!;
    let p = j - 1;
    while (p >= offset && scores[p] === s && ids[p]! > id && id >= 0) {
      ids[p + 1] = ids[p]!;
      p--;
    }
    ids[p + 1] = id;
  }
}

/**
 * Running per-query top-K lists (queries x k, global row ids), merged block by block. Blocks come
 * in global row order, so on equal scores the running entry (lower id) wins.
 */
export class RunningTopK {
  readonly ids: Int32Array;
  readonly scores: Float32Array;
  private readonly scratchIds: Int32Array;
  private readonly scratchScores: Float32Array;

  constructor(
    readonly queries: number,
    readonly k: number,
    init?: { ids: Int32Array; scores: Float32Array },
  ) {
    this.ids = init ? init.ids : new Int32Array(queries * k).fill(-1);
    this.scores = init ? init.scores : new Float32Array(queries * k).fill(-Infinity);
    this.scratchIds = new Int32Array(k);
    this.scratchScores = new Float32Array(k);
  }

  /**
   * Could a block's kb-long lists (kb below the block's rows and K) have been cut short, i.e. could
   * rows beyond them still enter some query's running list? Only if a list's last entry would enter:
   * it beats the query's current worst, or the list is not full yet. (On an equal score the running
   * entry wins: it has the lower row.)
   */
  cutShort(blockIds: Int32Array, blockScores: Float32Array, kb: number): boolean {
    const { k } = this;
    if (kb === 0) return false;
    for (let q = 0; q < this.queries; q++) {
      const last = q * kb + kb - 1;
      if (blockIds[last]! < 0) continue;
      if (this.ids[q * k + k - 1]! < 0 || blockScores[last]! > this.scores[q * k + k - 1]!) return true;
    }
    return false;
  }

  /**
   * Merge a block's sorted lists (queries x kb, block-local ids) whose rows start at `rowOffset`.
   * Returns the most entries any one query took from the block.
   */
  merge(blockIds: Int32Array, blockScores: Float32Array, kb: number, rowOffset: number): number {
    const { k } = this;
    let mostTaken = 0;
    for (let q = 0; q < this.queries; q++) {
      const base = q * k;
      const bbase = q * kb;
      // Fast path: the block's best does not beat the current worst.
      const worst = this.scores[base + k - 1]!;
      if (kb === 0 || blockIds[bbase]! < 0 || (this.ids[base + k - 1]! >= 0 && !(blockScores[bbase]! > worst))) continue;
      let a = 0, b = 0;
      for (let o = 0; o < k; o++) {
        const sa = a < k ? this.scores[base + a]! : -Infinity;
        const ia = a < k ? this.ids[base + a]! : -1;
        const bi = b < kb ? blockIds[bbase + b]! : -1;
        const sb = bi >= 0 ? blockScores[bbase + b]! : -Infinity;
        if (bi >= 0 && (ia < 0 || sb > sa)) {
          this.scratchIds[o] = bi + rowOffset;
          this.scratchScores[o] = sb;
          b++;
        } else {
          this.scratchIds[o] = ia;
          this.scratchScores[o] = sa;
          a++;
        }
      }
      this.ids.set(this.scratchIds, base);
      this.scores.set(this.scratchScores, base);
      if (b > mostTaken) mostTaken = b;
    }
    return mostTaken;
  }

  /** The lists of queries [start, start+count). */
  slice(start: number, count: number): { ids: Int32Array; scores: Float32Array } {
    return { ids: this.ids.slice(start * this.k, (start + count) * this.k), scores: this.scores.slice(start * this.k, (start + count) * this.k) };
  }
}

/**
 * How deep to ask a block of `rows` rows for its per-query lists, given the most entries any query
 * took from the previous block (null: unknown, e.g. first block or after a resume). A block only
 * adds rows that beat a query's current worst, about K/b of them at the b-th block of an unordered
 * pool, and asking onnxruntime's TopK for all K rows of every block was most of scoring's time
 * (at large k it partitions the whole row instead of keeping a heap). The guess scales the
 * previous block's take per row with 25% slack; scoreRun checks it with RunningTopK.cutShort and
 * re-scores the block at full depth when it was too shallow, so the lists are exactly those of
 * full-depth scoring.
 */
export function nextBlockK(k: number, rows: number, last: { taken: number; rows: number } | null): number {
  if (last === null || last.rows === 0) return Math.min(k, rows);
  return Math.min(k, rows, Math.ceil((last.taken / last.rows) * rows * 1.25) + 32);
}
