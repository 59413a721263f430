import { SplitMix32 } from '@rds/common';

/**
 * Output slot of every selected row (index = position in the selection file).
 * `selection` keeps rank order; `shuffled` is a seeded Fisher-Yates permutation, so the same run
 * seed gives the same file on every machine (trainers that do not shuffle still see mixed tasks).
 */
export function outputSlots(count: number, order: 'selection' | 'shuffled', seed: number): Uint32Array {
  const slots = new Uint32Array(count);
  for (let i = 0; i < count; i++) slots[i] = i;
  if (order === 'shuffled') {
    const rng = new SplitMix32(seed);
    for (let i = count - 1; i > 0; i--) {
      const j = rng.nextBelow(i + 1);
      const t = slots[i]!;
      slots[i] = slots[j]!;
      slots[j] = t;
    }
  }
  return slots;
}
