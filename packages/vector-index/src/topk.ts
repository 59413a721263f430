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
export function selectTopK(
  n: number,
  k: number,
  score: (i: number) => number,
  outIds: Int32Array,
  outScores: Float32Array,
  offset = 0,
): void {
  const m = Math.min(n, k);
  const hs = new Float64Array(m);
  const hi = new Int32Array(m);
  let size = 0;
  // Heap root = the worst kept candidate (lowest score, then highest id).
  const worse = (a: number, b: number) => hs[a]! < hs[b]! || (hs[a] === hs[b] && hi[a]! > hi[b]!);
  const swap = (a: number, b: number) => {
    const s = hs[a]!,
      i = hi[a]!;
    hs[a] = hs[b]!;
    hi[a] = hi[b]!;
    hs[b] = s;
    hi[b] = i;
  };
  const down = (p: number) => {
    for (;;) {
      const l = 2 * p + 1,
        r = l + 1;
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
    const s = scores[j]!,
      id = ids[j]!;
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
 *
 * Optional per-query floors (see sampleFloors): only rows scoring >= the floor may enter. A floor
 * at or below the query's final K-th best score changes nothing in the result and lets blocks be
 * asked for far fewer rows; a query whose list is not full at the end (`unfilled`) had a floor
 * that was too high and must be rescanned without it.
 */
export class RunningTopK {
  readonly ids: Int32Array;
  readonly scores: Float32Array;
  /** Per query; -Infinity = no floor. */
  readonly floors: Float32Array;
  /** merge(): where each block entry lands (one slot per entry of a block list). */
  private positions = new Int32Array(0);

  constructor(
    readonly queries: number,
    readonly k: number,
    init?: { ids: Int32Array; scores: Float32Array },
    floors?: Float32Array,
  ) {
    this.ids = init ? init.ids : new Int32Array(queries * k).fill(-1);
    this.scores = init ? init.scores : new Float32Array(queries * k).fill(-Infinity);
    this.floors = floors ?? new Float32Array(queries).fill(-Infinity);
    if (this.floors.length !== queries)
      throw new RangeError(`RunningTopK: ${this.floors.length} floors for ${queries} queries`);
  }

  /**
   * Could a block's kb-long lists (kb below the block's rows and K) have been cut short, i.e. could
   * rows beyond them still enter some query's running list? Only if a list's last entry would enter:
   * it reaches the query's floor and beats the current worst, or the list is not full yet. (On an
   * equal score the running entry wins: it has the lower row.)
   */
  cutShort(blockIds: Int32Array, blockScores: Float32Array, kb: number): boolean {
    const { k } = this;
    if (kb === 0) return false;
    for (let q = 0; q < this.queries; q++) {
      const last = q * kb + kb - 1;
      if (blockIds[last]! < 0 || blockScores[last]! < this.floors[q]!) continue;
      if (this.ids[q * k + k - 1]! < 0 || blockScores[last]! > this.scores[q * k + k - 1]!) return true;
    }
    return false;
  }

  /**
   * Merge a block's sorted lists (queries x kb, block-local ids) whose rows start at `rowOffset`.
   * Returns the most entries any one query took from the block.
   */
  merge(blockIds: Int32Array, blockScores: Float32Array, kb: number, rowOffset: number): number {
    const { k, ids, scores } = this;
    if (this.positions.length < kb) this.positions = new Int32Array(kb);
    let mostTaken = 0;
    for (let q = 0; q < this.queries; q++) {
      const base = q * k;
      const bbase = q * kb;
      const full = ids[base + k - 1]! >= 0;
      const worst = scores[base + k - 1]!;
      // The block's entries that may enter (a prefix: the list is sorted): valid, at or above the
      // floor, and above the worst of a full list (on an equal score the running entry wins).
      const floor = this.floors[q]!;
      let nb = 0;
      while (
        nb < kb &&
        blockIds[bbase + nb]! >= 0 &&
        blockScores[bbase + nb]! >= floor &&
        (!full || blockScores[bbase + nb]! > worst)
      )
        nb++;
      if (nb === 0) continue;
      // In place, no scratch: where block entry j lands is j + r[j], r[j] = the running entries
      // ranking before it (binary search, r non-decreasing); the t entries that land inside the
      // list push its last t entries out. Then, from the back, each run of running entries moves
      // right by the number of block entries before it (copyWithin, a memmove) and the block
      // entries go into the gaps. A block adds a few entries to a list of thousands, so moving
      // runs whole beat merging element by element (bench:score: merging 1.0 s against 1.7-1.85 s).
      const r = this.positions;
      let t = 0;
      for (let j = 0, from = 0; j < nb; j++) {
        from = this.firstBelow(base, from, blockScores[bbase + j]!);
        if (from + j >= k) break;
        r[j] = from;
        t++;
      }
      for (let j = t - 1, hi = k - t; j >= 0; j--) {
        const lo = r[j]!;
        ids.copyWithin(base + lo + j + 1, base + lo, base + hi);
        scores.copyWithin(base + lo + j + 1, base + lo, base + hi);
        ids[base + lo + j] = blockIds[bbase + j]! + rowOffset;
        scores[base + lo + j] = blockScores[bbase + j]!;
        hi = lo;
      }
      if (t > mostTaken) mostTaken = t;
    }
    return mostTaken;
  }

  /**
   * In the list at `base`, the first position >= from whose entry ranks after a new entry of score
   * `s` (a lower score, or empty), or k. Entries with an equal score stay before it (lower rows).
   */
  private firstBelow(base: number, from: number, s: number): number {
    let lo = from;
    let hi = this.k;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[base + mid]! >= 0 && this.scores[base + mid]! >= s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Per query, the lowest score a new row needs to enter: its floor, or the list's worst once the
   * list is full (a row must beat it; an equal score loses to the lower row). Into `out`.
   */
  bars(out: Float32Array): Float32Array {
    const { k } = this;
    for (let q = 0; q < this.queries; q++) {
      const worst = this.ids[q * k + k - 1]! >= 0 ? this.scores[q * k + k - 1]! : -Infinity;
      out[q] = Math.max(this.floors[q]!, worst);
    }
    return out;
  }

  /** Queries with a floor whose lists are not full: fewer than K rows reached the floor. */
  unfilled(): number[] {
    const out: number[] = [];
    for (let q = 0; q < this.queries; q++) {
      if (this.floors[q]! > -Infinity && this.ids[q * this.k + this.k - 1]! < 0) out.push(q);
    }
    return out;
  }

  /** Replace query `q`'s list (k entries, sorted) and drop its floor. */
  setList(q: number, ids: Int32Array, scores: Float32Array): void {
    this.ids.set(ids.subarray(0, this.k), q * this.k);
    this.scores.set(scores.subarray(0, this.k), q * this.k);
    this.floors[q] = -Infinity;
  }

  /** The lists of queries [start, start+count). */
  slice(start: number, count: number): { ids: Int32Array; scores: Float32Array } {
    return {
      ids: this.ids.slice(start * this.k, (start + count) * this.k),
      scores: this.scores.slice(start * this.k, (start + count) * this.k),
    };
  }
}
