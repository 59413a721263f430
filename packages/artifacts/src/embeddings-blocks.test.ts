import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { EmbeddingMatrixReader, EmbeddingMatrixWriter } from './embeddings.js';

const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

const dims = 5;
const rows = 23;
const values = Float32Array.from({ length: rows * dims }, (_, i) => Math.sin(i) * 0.7);

async function writeMatrix(dtype: 'float16' | 'float32'): Promise<string> {
  const matrixPath = path.join(tempDir('rds-store-'), `m.${dtype}`);
  const writer = await EmbeddingMatrixWriter.open({ matrixPath, dims, dtype, settingsKey: 'test' });
  writer.append(values);
  await writer.finish();
  return matrixPath;
}

describe('EmbeddingMatrixReader blocks', () => {
  it('float16: raw blocks are the stored bits, and decode to what blocks() returns', async () => {
    const reader = EmbeddingMatrixReader.open(await writeMatrix('float16'), dims, 'float16', rows);
    const decoded = Array.from(reader.blocks(10), (b) => ({ start: b.start, count: b.count, data: b.data.slice() }));
    const raw = Array.from(reader.rawBlocks(10), (b) => ({ start: b.start, count: b.count, data: b.data.slice() }));
    expect(raw.map((b) => [b.start, b.count])).toEqual([
      [0, 10],
      [10, 10],
      [20, 3],
    ]);
    raw.forEach((b, i) => {
      expect(b.data).toBeInstanceOf(Uint16Array);
      expect(Array.from(b.data)).toEqual(
        Array.from(float32ToFloat16(values.subarray(b.start * dims, (b.start + b.count) * dims))),
      );
      expect(Array.from(float16ToFloat32(b.data as Uint16Array))).toEqual(Array.from(decoded[i]!.data));
    });
    expect(() => reader.readRaw(0, 2, new Float32Array(10))).toThrow(/need a Uint16Array/);
    expect(() => reader.readRaw(20, 4)).toThrow(/rows 20\.\.24 out of 0\.\.23/);
    reader.close();
  });

  it('float32: raw blocks equal the written values', async () => {
    const reader = EmbeddingMatrixReader.open(await writeMatrix('float32'), dims, 'float32', rows);
    const all = Array.from(reader.rawBlocks(7), (b) => Array.from(b.data)).flat();
    expect(all).toEqual(Array.from(values));
    reader.close();
  });
});
