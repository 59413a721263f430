import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@rds/schemas';
import { isBroken, readRecords, sourceFromFileName, inputKind } from '../src/readers.js';
import { readAll, tempDir, tulu, writeJsonl, writeTuluParquet } from './helpers.js';

describe('readers', () => {
  it('reads JSONL with 1-based line numbers, skips blank lines, strips CRLF and BOM', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.jsonl');
    fs.writeFileSync(
      file,
      '\ufeff' + JSON.stringify(tulu('q1', 'a1')) + '\r\n\n   \n' + JSON.stringify(tulu('q2', 'a2')),
    );
    const { records } = await readAll(file);
    expect(records.map((r) => r.line)).toEqual([1, 4]);
    expect(records.every((r) => !isBroken(r))).toBe(true);
    expect(
      records.map((r) => (r as { value: { messages: { content: string }[] } }).value.messages[0]!.content),
    ).toEqual(['q1', 'q2']);
  });

  it('reads JSONL.gz the same as JSONL', async () => {
    const dir = tempDir();
    const rows = Array.from({ length: 500 }, (_, i) => tulu(`q${i}`, `a${i}`));
    const plain = await readAll(writeJsonl(path.join(dir, 'p.jsonl'), rows));
    const gz = await readAll(writeJsonl(path.join(dir, 'p.jsonl.gz'), rows, true));
    expect(gz.records).toEqual(plain.records);
    expect(gz.records).toHaveLength(500);
  });

  it('reads Parquet one row group per batch, rows numbered from 1', async () => {
    const dir = tempDir();
    const rows = Array.from({ length: 5 }, (_, i) => ({
      id: `r${i}`,
      dataset: 'pq',
      messages: tulu(`q${i}`, `a${i}`).messages,
    }));
    const file = writeTuluParquet(path.join(dir, 'x.parquet'), rows, 2);
    const { records, batches } = await readAll(file);
    expect(batches).toBe(3);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 4, 5]);
    expect(records.map((r) => (r as { value: unknown }).value)).toEqual(rows);
  });

  it('flags invalid UTF-8, oversized rows (also when they span read chunks) and bad JSON with their lines', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.jsonl');
    const good = Buffer.from(JSON.stringify(tulu('ok', 'ok')) + '\n');
    const huge = Buffer.from(JSON.stringify(tulu('x'.repeat(3 << 20), 'y')) + '\n'); // > 1 MB read chunk
    fs.writeFileSync(
      file,
      Buffer.concat([
        good,
        Buffer.from('{"messages": "\xff\xfe"}\n', 'latin1'),
        huge,
        Buffer.from('{not json\n'),
        good,
      ]),
    );
    const { records } = await readAll(file, 1 << 20);
    expect(records.map((r) => [r.line, isBroken(r) ? r.reason : 'ok'])).toEqual([
      [1, 'ok'],
      [2, 'invalid-utf8'],
      [3, 'too-large'],
      [4, 'bad-json'],
      [5, 'ok'],
    ]);
    const tooLarge = records[2]!;
    expect(isBroken(tooLarge) && tooLarge.raw.length).toBe(1000);
    expect(isBroken(tooLarge) && tooLarge.detail).toContain(`${huge.length - 1} bytes`);
  });

  it('fails with the file name for missing files, non-gzip .gz and non-parquet .parquet', async () => {
    const dir = tempDir();
    const notGz = path.join(dir, 'fake.jsonl.gz');
    fs.writeFileSync(notGz, 'plain text\n');
    const notPq = path.join(dir, 'fake.parquet');
    fs.writeFileSync(notPq, 'not parquet at all');
    for (const file of [path.join(dir, 'missing.jsonl'), notGz, notPq]) {
      const err = await readAll(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toContain(file);
    }
  });

  it('names sources and kinds from file names', () => {
    expect(sourceFromFileName('/a/b/tulu_v2.jsonl.gz')).toBe('tulu_v2');
    expect(inputKind('/x/y.PARQUET')).toBe('parquet');
    expect(inputKind('/x/y.jsonl.gz')).toBe('jsonl.gz');
    expect(inputKind('/x/y.json')).toBe('jsonl');
  });

  it('keeps memory bounded: batches follow read chunks, not the file', async () => {
    const dir = tempDir();
    const rows = Array.from({ length: 20_000 }, (_, i) => tulu(`question ${i} ${'z'.repeat(100)}`, `answer ${i}`));
    const file = writeJsonl(path.join(dir, 'big.jsonl'), rows);
    let batches = 0;
    let maxBatch = 0;
    for await (const b of readRecords(file, { maxRowBytes: 1 << 20 })) {
      batches++;
      maxBatch = Math.max(maxBatch, b.records.length);
    }
    expect(batches).toBeGreaterThan(2);
    expect(maxBatch).toBeLessThan(20_000);
  });
});
