import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShardWriter, Utf8Scratch } from '../src/writers.js';
import { tempDir } from './helpers.js';

const head = (id: string) => `{"id":${JSON.stringify(id)},"source":"s","messages":`;
const messages = (text: string) => JSON.stringify([{ role: 'user', content: text }]);

describe('Utf8Scratch', () => {
  it('encodes like Buffer.from, including multi-byte text longer than its buffer', () => {
    const scratch = new Utf8Scratch();
    for (const text of ['plain', 'naïve ☃ 𝄞 ' + 'é'.repeat(40_000), '', 'x'.repeat(70_000)]) {
      expect(Buffer.compare(scratch.encode(text), Buffer.from(text, 'utf8'))).toBe(0);
    }
  });
});

describe('ShardWriter', () => {
  it('writes rows in order into shards of exactly shardSize rows, with their sizes and checksums', async () => {
    const dir = tempDir();
    const writer = new ShardWriter((i) => path.join(dir, `shard-${i}.jsonl`), 1000, dir);
    const scratch = new Utf8Scratch();
    const expected: string[] = [];
    // 2,500 rows of ~1-3 KB (several 1 MB buffers per shard), some non-ASCII.
    for (let i = 0; i < 2500; i++) {
      const m = messages(`row ${i} ${i % 7 === 0 ? 'ü☃' : ''}${'w'.repeat((i * 37) % 2000)}`);
      expected.push(`${head(`r${i}`)}${m}}\n`);
      if (writer.addRow(head(`r${i}`), scratch.encode(m))) await writer.flush();
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
