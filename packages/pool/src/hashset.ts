/**
 * A set of 64-bit hashes (two uint32 halves) in one open-addressing typed array.
 * 8 bytes per slot and a load factor <= 0.5: 10M distinct rows cost ~256 MB at worst, ~160 MB
 * typically, against ~100 bytes per entry for a Set of strings or bigints.
 */
export class Hash64Set {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1 << 16) {
    let capacity = 1 << 4;
    while (capacity < expected * 2) capacity *= 2;
    this.slots = new Uint32Array(capacity * 2);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table (for memory reports). */
  get byteLength(): number {
    return this.slots.byteLength;
  }

  /** Add the hash `hi:lo`; returns false when it was already present. */
  add(hi: number, lo: number): boolean {
    // (0, 0) marks an empty slot; fold it onto (0, 1). A 2^-64 merge, irrelevant for dedup.
    if (hi === 0 && lo === 0) lo = 1;
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const inserted = Hash64Set.insert(this.slots, this.mask, hi >>> 0, lo >>> 0);
    if (inserted) this.count++;
    return inserted;
  }

  /** Add the first 8 bytes of a digest (sha256 bits need no further mixing); false when present. */
  addDigest(digest: Uint8Array): boolean {
    const v = new DataView(digest.buffer, digest.byteOffset, 8);
    return this.add(v.getUint32(0), v.getUint32(4));
  }

  has(hi: number, lo: number): boolean {
    if (hi === 0 && lo === 0) lo = 1;
    hi >>>= 0;
    lo >>>= 0;
    const slots = this.slots;
    let i = (lo ^ hi) & this.mask;
    while (true) {
      const h = slots[2 * i]!;
      const l = slots[2 * i + 1]!;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
      i = (i + 1) & this.mask;
    }
  }

  private static insert(slots: Uint32Array, mask: number, hi: number, lo: number): boolean {
    // The inputs are cryptographic hash bits, so the low bits index well without mixing.
    let i = (lo ^ hi) & mask;
    while (true) {
      const h = slots[2 * i]!;
      const l = slots[2 * i + 1]!;
      if (h === 0 && l === 0) {
        slots[2 * i] = hi;
        slots[2 * i + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    const slots = new Uint32Array(capacity * 2);
    const mask = capacity - 1;
    for (let i = 0; i < old.length; i += 2) {
      const h = old[i]!;
      const l = old[i + 1]!;
      if (h !== 0 || l !== 0) Hash64Set.insert(slots, mask, h, l);
    }
    this.slots = slots;
    this.mask = mask;
  }
}
