import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { cpuThreads, SplitMix32 } from '../src/index.js';

describe('cpuThreads', () => {
  it('uses every CPU unless a thread count is configured (onnxruntime alone chose 1 of 2 cores on CI)', () => {
    expect(cpuThreads()).toBe(os.availableParallelism());
    expect(cpuThreads(0)).toBe(os.availableParallelism());
    expect(cpuThreads(3)).toBe(3);
  });
});

describe('SplitMix32', () => {
  it('gives the same stream for a seed on every machine (baselines and seeded strategies depend on it)', () => {
    const a = new SplitMix32(42);
    const b = new SplitMix32(42);
    const first = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(first);
    // Pinned: a change to the generator would silently change every seeded selection and baseline.
    expect(first).toEqual([3884629102, 83214574, 586993452, 1247935386, 3508639280]);
    expect(new SplitMix32(43).nextUint32()).not.toBe(first[0]);
  });

  it('nextBelow stays in range and covers it evenly', () => {
    const rng = new SplitMix32(7);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[rng.nextBelow(10)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(rng.nextBelow(1)).toBe(0);
    expect(rng.nextBelow(0)).toBe(0);
  });
});
