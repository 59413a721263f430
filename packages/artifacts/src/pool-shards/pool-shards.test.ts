import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolManifest } from '@rds/schemas';
import { runLayout } from '../layout.js';
import { PoolShardReader, ShardWriter, peekPoolId as peekId, poolLineHead } from './index.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-pool-shards-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const tempDir = () => fs.mkdtempSync(path.join(root, 'd-'));
const head = (id: string) => `{"id":${JSON.stringify(id)},"source":"s","messages":`;
const messages = (text: string) => JSON.stringify([{ role: 'user', content: text }]);

describe('pool lines', () => {
  it('poolLineHead is the prefix of a canonical line', () => {
    expect(poolLineHead('r1', 's')).toBe(head('r1'));
  });

  it('peekId reads plain ids from the prefix and falls back to JSON for escaped ones', () => {
    expect(peekId('{"id":"abc","source":"s","messages":[]}', 'f:1')).toBe('abc');
    expect(peekId('{"id":"a\\"b","source":"s"}', 'f:2')).toBe('a"b');
    expect(peekId('{"source":"s","id":"late"}', 'f:3')).toBe('late');
    expect(() => peekId('{"id":', 'f:4')).toThrow(/f:4: not valid JSON/);
    expect(() => peekId('{"id":3}', 'f:5')).toThrow(/f:5: id/);
  });
});

describe('ShardWriter', () => {
  it('writes rows in order into shards of exactly shardSize rows, with their sizes and checksums', async () => {
    const dir = tempDir();
    const writer = new ShardWriter((i) => path.join(dir, `shard-${i}.jsonl`), 1000, dir);
    const expected: string[] = [];
    // 2,500 rows of ~1-3 KB (several 1 MB buffers per shard), some non-ASCII.
    for (let i = 0; i < 2500; i++) {
      const m = messages(`row ${i} ${i % 7 === 0 ? 'ü☃' : ''}${'w'.repeat((i * 37) % 2000)}`);
      expected.push(`${head(`r${i}`)}${m}}\n`);
      if (writer.addRow(head(`r${i}`), Buffer.from(m))) await writer.flush();
    }
    const shards = await writer.close();
    expect(shards.map((s) => [s.file, s.rows])).toEqual([
      ['shard-0.jsonl', 1000],
      ['shard-1.jsonl', 1000],
      ['shard-2.jsonl', 500],
    ]);
    const texts = shards.map((s) => fs.readFileSync(path.join(dir, s.file)));
    expect(texts.map((t) => t.toString('utf8')).join('')).toBe(expected.join(''));
    for (const [i, s] of shards.entries()) {
      expect(s.bytes).toBe(texts[i]!.length);
      expect(s.sha256).toBe(createHash('sha256').update(texts[i]!).digest('hex'));
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['shard-0.jsonl', 'shard-1.jsonl', 'shard-2.jsonl']);
  });

  it('a commit that fails surfaces on close, and abort leaves no temp file behind', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const writer = new ShardWriter((i) => path.join(out, `shard-${i}.jsonl`), 2, out);
    const row = Buffer.from(messages('x'));
    writer.addRow(head('a'), row);
    // The shard's temp file exists now; removing its directory makes the commit's rename fail.
    expect(writer.addRow(head('b'), row)).toBe(true);
    await writer.flush(); // starts the commit (not awaited)
    writer.addRow(head('c'), row);
    fs.rmSync(out, { recursive: true, force: true });
    await expect(writer.close()).rejects.toThrow(/ENOENT/);
    await writer.abort();
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
  });
});

/** A run directory whose pool has `shardRows` rows per shard, written by ShardWriter (with or without indexes). */
async function writePool(shardRows: number, rows: number, withOffsets: boolean) {
  const runDir = tempDir();
  const layout = runLayout(runDir).pool;
  const writer = new ShardWriter(layout.shard, shardRows, layout.dir, withOffsets ? layout.offsets : undefined);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const m = messages(`row ${i} ☃ ${'w'.repeat((i * 13) % 300)}`);
    lines.push(`${head(`r${i}`)}${m}}`);
    if (writer.addRow(head(`r${i}`), Buffer.from(m))) await writer.flush();
  }
  const shards = await writer.close();
  const manifest: PoolManifest = {
    kind: 'pool',
    version: 1,
    fingerprint: 'a'.repeat(64),
    inputs: [],
    counts: { read: rows, kept: rows, duplicate: 0, rejected: 0 },
    perSource: { s: rows },
    shards,
    rejected: null,
    createdAt: new Date(0).toISOString(),
  };
  fs.writeFileSync(layout.manifest, JSON.stringify(PoolManifest.parse(manifest)));
  return { runDir, lines, shards };
}

describe('row-offset indexes', () => {
  it('ShardWriter writes one per shard, with its checksum; the shards are the same bytes as without', async () => {
    const plain = await writePool(4, 10, false);
    const indexed = await writePool(4, 10, true);
    expect(indexed.shards.map(({ file, bytes, sha256, rows }) => ({ file, bytes, sha256, rows }))).toEqual(
      plain.shards,
    );
    expect(plain.shards.every((s) => s.offsets === undefined)).toBe(true);
    for (const [i, s] of indexed.shards.entries()) {
      const file = path.resolve(runLayout(indexed.runDir).pool.dir, s.offsets!.file);
      expect(file).toBe(runLayout(indexed.runDir).pool.offsets(i));
      const bytes = fs.readFileSync(file);
      expect(bytes.length).toBe((s.rows + 1) * 8);
      expect(s.offsets!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it.each([
    ['with indexes', true],
    ['without indexes (scanning)', false],
  ])('PoolShardReader locates and reads global rows %s', async (_name, withOffsets) => {
    const { runDir, lines } = await writePool(4, 10, withOffsets);
    if (withOffsets) fs.appendFileSync(runLayout(runDir).pool.offsets(2), 'x'); // a damaged index: scanned instead
    const reader = await PoolShardReader.open(runDir);
    const wanted = [9, 0, 5, 3, 4, 42];
    const at = await reader.locateRows(wanted);
    expect([...at.keys()].sort((a, b) => a - b)).toEqual([0, 3, 4, 5, 9]);
    const rows = [...at.keys()];
    expect(await reader.readLines(rows.map((r) => at.get(r)!))).toEqual(rows.map((r) => lines[r]));
  });

  it('PoolShardReader.scan visits every line in pool order and resumes from the cursor it returns', async () => {
    const { runDir, lines } = await writePool(3, 8, false);
    const reader = await PoolShardReader.open(runDir);
    const seen: string[] = [];
    const visit = (buf: Buffer, start: number, end: number) => {
      seen.push(buf.toString('utf8', start, end));
      return seen.length !== 4;
    };
    const cursor = await reader.scan({ shard: 0, offset: 0 }, visit);
    expect(cursor.shard).toBe(1);
    expect(seen).toEqual(lines.slice(0, 4));
    const end = await reader.scan(cursor, visit);
    expect(end).toEqual({ shard: 3, offset: 0 });
    expect(seen).toEqual(lines);
  });
});
