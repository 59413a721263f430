/**
 * Small seeded PRNG (splitmix32): the random baselines must give the same rows for the same seed on
 * every machine and Node version, so we never use Math.random.
 */
export class SplitMix32 {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so nearby seeds (1, 2, 3) start far apart.
    this.state = (Math.imul(seed >>> 0, 0x9e3779b9) ^ 0x85ebca6b) >>> 0;
  }

  /** Next uint32. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /**
   * Uniform integer in [0, n) for n <= 2^32, without modulo bias (rejection on the short tail).
   */
  nextBelow(n: number): number {
    if (n <= 1) return 0;
    const limit = 0x100000000 - (0x100000000 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }
}
