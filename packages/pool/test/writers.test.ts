import { describe, expect, it } from 'vitest';
import { Utf8Scratch } from '../src/writers.js';

describe('Utf8Scratch', () => {
  it('encodes like Buffer.from, including multi-byte text longer than its buffer', () => {
    const scratch = new Utf8Scratch();
    for (const text of ['plain', 'naïve ☃ 𝄞 ' + 'é'.repeat(40_000), '', 'x'.repeat(70_000)]) {
      expect(Buffer.compare(scratch.encode(text), Buffer.from(text, 'utf8'))).toBe(0);
    }
  });
});
