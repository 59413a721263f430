/**
 * Per-source quotas (SelectionConfig.sourceQuotas).
 *
 * Weights are normalised to shares of the target T = min(B, eligible rows of weighted sources).
 * Sources not named get weight 0 (never selected). A source cannot take more than it has
 * (its eligible rows, `capacity`); what it cannot take is redistributed to the others in proportion
 * to their weights, repeatedly, until everything is placed (water-filling). Shares are made integers
 * by largest remainder, ties to the lower source index, so quotas always sum to T exactly.
 */
export function computeQuotas(capacity: ArrayLike<number>, weights: ArrayLike<number>, budget: number): Int32Array {
  const n = capacity.length;
  const quota = new Int32Array(n);
  let total = 0;
  for (let s = 0; s < n; s++) if (weights[s]! > 0) total += capacity[s]!;
  let left = Math.min(budget, total);
  // Sources still able to take more rows.
  const open = new Set<number>();
  for (let s = 0; s < n; s++) if (weights[s]! > 0 && capacity[s]! > 0) open.add(s);

  while (left > 0 && open.size > 0) {
    let weightSum = 0;
    for (const s of open) weightSum += weights[s]!;
    // Any source whose proportional share reaches its remaining room is filled and closed; repeat.
    let saturated = false;
    for (const s of [...open]) {
      const room = capacity[s]! - quota[s]!;
      if ((left * weights[s]!) / weightSum >= room) {
        quota[s]! += room;
        left -= room;
        open.delete(s);
        saturated = true;
      }
    }
    if (saturated) continue;
    // No source saturates: split `left` proportionally, floors first, then largest remainders.
    const members = [...open];
    const exact = members.map((s) => (left * weights[s]!) / weightSum);
    let given = 0;
    members.forEach((s, i) => {
      const whole = Math.floor(exact[i]!);
      quota[s]! += whole;
      given += whole;
    });
    const byRemainder = members
      .map((s, i) => ({ s, rem: exact[i]! - Math.floor(exact[i]!) }))
      .sort((a, b) => b.rem - a.rem || a.s - b.s);
    for (let i = 0; i < left - given; i++) quota[byRemainder[i]!.s]!++;
    left = 0;
  }
  return quota;
}

/**
 * Tracks how many rows each source has taken against its quota (no quotas: unlimited), and which rows
 * are excluded outright (contamination): every strategy skips a row this does not allow for free.
 */
export class QuotaTracker {
  readonly taken: Int32Array;

  constructor(
    private readonly sourceOf: ArrayLike<number>,
    sources: number,
    private readonly quota: Int32Array | null,
    private readonly excluded: Uint8Array | null = null,
  ) {
    this.taken = new Int32Array(sources);
  }

  /** Whether `row` may be taken: not excluded, and its source can take another row. */
  allows(row: number): boolean {
    if (this.excluded && this.excluded[row]) return false;
    if (!this.quota) return true;
    const s = this.sourceOf[row]!;
    return this.taken[s]! < this.quota[s]!;
  }

  take(row: number): void {
    this.taken[this.sourceOf[row]!]!++;
  }
}
