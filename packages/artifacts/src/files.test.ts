import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AtomicFileWriter, cleanTempFiles, fileRef, readJsonFile, verifyFileRef, writeJsonAtomic } from './files.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-artifacts-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('AtomicFileWriter', () => {
  it('shows nothing under the target name until commit, then the whole file with its checksum', async () => {
    const target = path.join(dir, 'shard.jsonl');
    const w = new AtomicFileWriter(target);
    await w.write('{"a":1}\n');
    await w.write(Buffer.from('{"a":2}\n'));
    expect(fs.existsSync(target)).toBe(false);
    const { bytes, sha256 } = await w.commit();
    const content = fs.readFileSync(target);
    expect(content.toString()).toBe('{"a":1}\n{"a":2}\n');
    expect(bytes).toBe(content.length);
    expect(sha256).toBe(createHash('sha256').update(content).digest('hex'));
  });

  it('abort leaves the previous file intact and no temp file', async () => {
    const target = path.join(dir, 'x.bin');
    fs.writeFileSync(target, 'old');
    const w = new AtomicFileWriter(target);
    await w.write('new and partial');
    await w.abort();
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
    expect(fs.readdirSync(dir)).toEqual(['x.bin']);
  });

  it('cleanTempFiles removes what a crashed writer left', async () => {
    const w = new AtomicFileWriter(path.join(dir, 'y.bin'));
    await w.write('partial');
    expect(await cleanTempFiles(dir)).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('file refs and validated JSON', () => {
  it('verifyFileRef detects a changed file', async () => {
    const f = path.join(dir, 'm.bin');
    fs.writeFileSync(f, 'abc');
    const ref = await fileRef(f, dir);
    expect(ref.file).toBe('m.bin');
    expect(await verifyFileRef(ref, dir)).toBe(true);
    fs.writeFileSync(f, 'abd');
    expect(await verifyFileRef(ref, dir)).toBe(false);
  });

  it('readJsonFile names the file and field on bad content', async () => {
    const f = path.join(dir, 'manifest.json');
    await writeJsonAtomic(f, { rows: 'many' });
    await expect(readJsonFile(f, z.object({ rows: z.number() }))).rejects.toThrow(/manifest\.json[\s\S]*rows/);
    fs.writeFileSync(f, '{not json');
    await expect(readJsonFile(f, z.object({}))).rejects.toThrow(/manifest\.json is not valid JSON/);
  });
});

describe('readJsonLines', () => {
  it('yields validated rows with line numbers and names file:line on bad rows', async () => {
    const { readJsonLines } = await import('./jsonl.js');
    const f = path.join(dir, 'rows.jsonl');
    fs.writeFileSync(f, '{"n":1}\n\n{"n":2}\n{"n":"x"}\n');
    const seen: [number, number][] = [];
    await expect(
      (async () => {
        for await (const { value, line } of readJsonLines(f, z.object({ n: z.number() }))) seen.push([value.n, line]);
      })(),
    ).rejects.toThrow(/rows\.jsonl:4[\s\S]*n/);
    expect(seen).toEqual([
      [1, 1],
      [2, 3],
    ]);
    fs.writeFileSync(f, '{"n":1}\n{oops\n');
    const it = readJsonLines(f, z.object({ n: z.number() }));
    expect((await it.next()).value).toEqual({ value: { n: 1 }, line: 1 });
    await expect(it.next()).rejects.toThrow(/rows\.jsonl:2: not valid JSON/);
  });
});
