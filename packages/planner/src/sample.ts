/**
 * A uniform sample of at most `size` items from a stream of unknown length, chosen by a per-item
 * key that is uniform and independent of order (bits of the content hash): the items with the
 * smallest keys. Deterministic — the same pool always gives the same sample — and needs no PRNG.
 * Amortised O(1) per item: keys above the current cut are dropped at once, the buffer is cut back
 * to `size` whenever it doubles.
 */
export class BottomKSample<T> {
  private items: { key: number; value: T }[] = [];
  private cut = Infinity;
  seen = 0;

  constructor(readonly size: number) {}

  add(key: number, value: T): void {
    this.seen++;
    if (key >= this.cut) return;
    this.items.push({ key, value });
    if (this.items.length >= 2 * this.size) this.shrink();
  }

  /** The sample, in the order the items arrived. */
  values(): T[] {
    this.shrink();
    return this.items.map((i) => i.value);
  }

  /** True when every item seen is in the sample. */
  get complete(): boolean {
    return this.seen <= this.size;
  }

  private shrink(): void {
    if (this.items.length <= this.size) return;
    const byKey = [...this.items].sort((a, b) => a.key - b.key);
    this.cut = byKey[this.size]!.key;
    const keep = new Set(byKey.slice(0, this.size));
    this.items = this.items.filter((i) => keep.has(i));
  }
}
