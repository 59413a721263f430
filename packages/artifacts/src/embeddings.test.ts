import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from './float16.js';
import { EmbeddingMatrixReader, EmbeddingMatrixWriter } from './embeddings.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-store-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function randomRows(n: number, d: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

describe('float16', () => {
  it('matches known bit patterns and rounds to nearest even', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(0)).toBe(0);
    // 1 + 2^-11 is exactly halfway between 1 and 1+2^-10: ties go to the even mantissa (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(fromFloat16Bits(0x3555)).toBeCloseTo(0.333251953125, 12);
  });

  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x7c00; h++) {
      expect(toFloat16Bits(fromFloat16Bits(h))).toBe(h);
      expect(toFloat16Bits(fromFloat16Bits(h | 0x8000))).toBe(h | 0x8000);
    }
  });

  it('keeps relative error under 2^-11 for normal values', () => {
    const x = randomRows(1000, 1, 7);
    const y = float16ToFloat32(float32ToFloat16(x));
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]!) > 1e-4) expect(Math.abs(y[i]! - x[i]!) / Math.abs(x[i]!)).toBeLessThanOrEqual(2 ** -11);
    }
  });
});

describe('EmbeddingMatrixWriter / Reader', () => {
  for (const dtype of ['float16', 'float32'] as const) {
    it(`writes ${dtype} rows that read back in blocks`, async () => {
      const d = 8;
      const rows = randomRows(10, d, 1);
      const matrixPath = path.join(dir, 'm.bin');
      const w = await EmbeddingMatrixWriter.open({ matrixPath, dims: d, dtype, settingsKey: 'k' });
      w.append(rows.subarray(0, 4 * d));
      await w.checkpoint();
      w.append(rows.subarray(4 * d));
      const { bytes } = await w.finish();
      expect(bytes).toBe(10 * d * (dtype === 'float16' ? 2 : 4));
      const r = EmbeddingMatrixReader.open(matrixPath, d, dtype, 10);
      const seen: number[] = [];
      for (const b of r.blocks(3)) {
        seen.push(b.count);
        for (let i = 0; i < b.count * d; i++) {
          expect(b.data[i]).toBeCloseTo(rows[b.start * d + i]!, dtype === 'float16' ? 3 : 7);
        }
      }
      r.close();
      expect(seen).toEqual([3, 3, 3, 1]);
      expect(fs.existsSync(EmbeddingMatrixWriter.partialPath(matrixPath))).toBe(false);
    });
  }

  it('resumes from the last checkpoint, dropping torn rows, to a byte-identical file', async () => {
    const d = 4;
    const rows = randomRows(9, d, 3);
    const once = path.join(dir, 'once.bin');
    const w1 = await EmbeddingMatrixWriter.open({ matrixPath: once, dims: d, dtype: 'float16', settingsKey: 'k' });
    w1.append(rows);
    await w1.finish();

    const resumed = path.join(dir, 'resumed.bin');
    const a = await EmbeddingMatrixWriter.open({ matrixPath: resumed, dims: d, dtype: 'float16', settingsKey: 'k' });
    a.append(rows.subarray(0, 3 * d));
    await a.checkpoint({ tokens: 42 });
    a.append(randomRows(2, d, 99)); // garbage after the checkpoint: a crash mid-batch
    a.close();

    const b = await EmbeddingMatrixWriter.open({ matrixPath: resumed, dims: d, dtype: 'float16', settingsKey: 'k' });
    expect(b.rows).toBe(3);
    expect(b.extra).toEqual({ tokens: 42 });
    b.append(rows.subarray(3 * d));
    await b.finish();
    expect(fs.readFileSync(resumed).equals(fs.readFileSync(once))).toBe(true);
  });

  it('does not resume a partial file written under other settings', async () => {
    const d = 2;
    const p = path.join(dir, 'x.bin');
    const a = await EmbeddingMatrixWriter.open({ matrixPath: p, dims: d, dtype: 'float32', settingsKey: 'old' });
    a.append(randomRows(2, d, 1));
    await a.checkpoint();
    a.close();
    const b = await EmbeddingMatrixWriter.open({ matrixPath: p, dims: d, dtype: 'float32', settingsKey: 'new' });
    expect(b.rows).toBe(0);
    b.close();
  });
});
