import fsp from 'node:fs/promises';
import path from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { afterEach, describe, expect, it } from 'vitest';
import { runLayout } from '@rds/artifacts';
import { outputSlots, runHandoff, toAlpaca } from '../src/index.js';
import { readJsonl, writeRun, type Fixture } from './fixtures.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});
async function run(opts?: Parameters<typeof writeRun>[0]): Promise<Fixture> {
  const f = await writeRun(opts);
  dirs.push(f.runDir);
  return f;
}
const byId = (f: Fixture) => new Map(f.pool.map((e) => [e.id, e]));
const handoff = (over: Record<string, unknown> = {}) =>
  ({
    format: 'tulu',
    order: 'selection',
    includeMetadata: false,
    destination: { kind: 'local' },
    trigger: { kind: 'none' },
    ...over,
  }) as never;

describe('training files', () => {
  it('tulu JSONL: the selected pool records, full and in rank order, without metadata by default', async () => {
    const f = await run();
    const res = await runHandoff({ runDir: f.runDir, runId: 'r1', handoff: handoff() }, { bucketRows: 7 });
    expect(res.stats?.buckets).toBe(Math.ceil(f.selected.length / 7)); // spilled to bucket files
    const rows = await readJsonl(path.join(runLayout(f.runDir).handoff.dir, 'train.jsonl'));
    const pool = byId(f);
    expect(rows).toEqual(f.selected.map((s) => ({ id: s.id, messages: pool.get(s.id)!.messages })));
    expect(rows.some((r) => r.id === 'row"5')).toBe(f.selected.some((s) => s.id === 'row"5'));
    // Scratch bucket files are gone.
    expect((await fsp.readdir(runLayout(f.runDir).handoff.dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('shuffled order: a seeded permutation, the same in memory and spilled, different for another seed', async () => {
    const f = await run({ budget: 60 });
    const a = await runHandoff(
      { runDir: f.runDir, runId: 'r1', handoff: handoff({ order: 'shuffled', includeMetadata: true }) },
      { bucketRows: 1_000 },
    );
    const rowsA = await readJsonl(path.join(a.location, 'train.jsonl'));
    await fsp.rm(a.location, { recursive: true });
    const b = await runHandoff(
      { runDir: f.runDir, runId: 'r1', handoff: handoff({ order: 'shuffled', includeMetadata: true }) },
      { bucketRows: 9 },
    );
    const rowsB = await readJsonl(path.join(b.location, 'train.jsonl'));
    expect(rowsB).toEqual(rowsA);
    const ranks = rowsA.map((r) => r.rank as number);
    expect([...ranks].sort((x, y) => x - y)).toEqual(f.selected.map((s) => s.rank));
    expect(ranks).not.toEqual(f.selected.map((s) => s.rank));
    const slots = outputSlots(60, 'shuffled', 42);
    ranks.forEach((rank, slot) => expect(slots[rank]).toBe(slot));
    expect(outputSlots(60, 'shuffled', 43)).not.toEqual(slots);
    // Metadata fields come from the selection.
    for (const r of rowsA) {
      const s = f.selected[r.rank as number]!;
      expect(r).toMatchObject({ id: s.id, source: s.source, task: s.task, score: s.score });
    }
  });

  it('parquet: id + messages list<struct> (+ metadata) read back with hyparquet', async () => {
    const f = await run({ budget: 40 });
    const res = await runHandoff({
      runDir: f.runDir,
      runId: 'r1',
      handoff: handoff({ format: 'parquet', includeMetadata: true }),
    });
    const file = await asyncBufferFromFile(path.join(res.location, 'train.parquet'));
    const rows = await parquetReadObjects({ file });
    const pool = byId(f);
    expect(rows.length).toBe(40);
    rows.forEach((r, i) => {
      const s = f.selected[i]!;
      expect(r.id).toBe(s.id);
      expect(r.messages).toEqual(pool.get(s.id)!.messages);
      expect(r.source).toBe(s.source);
      expect(r.task).toBe(s.task);
      expect(r.score).toBe(s.score);
      expect(Number(r.rank)).toBe(i);
    });
    const plain = await runHandoff({
      runDir: f.runDir,
      runId: 'r1',
      handoff: handoff({ format: 'parquet', destination: { kind: 'local', dir: path.join(f.runDir, 'plain') } }),
    });
    const plainRows = await parquetReadObjects({
      file: await asyncBufferFromFile(path.join(plain.location, 'train.parquet')),
    });
    expect(Object.keys(plainRows[0]!).sort()).toEqual(['id', 'messages']);
  });

  it('alpaca: single-turn rows map 1:1, multi-turn rows flatten history into input', async () => {
    expect(
      toAlpaca([
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'A' },
      ]),
    ).toEqual({ instruction: 'Q', input: '', output: 'A' });
    expect(
      toAlpaca([
        { role: 'system', content: 'S' },
        { role: 'user', content: 'Q1' },
        { role: 'assistant', content: 'A1' },
        { role: 'user', content: 'Q2' },
        { role: 'assistant', content: 'A2a' },
        { role: 'assistant', content: 'A2b' },
        { role: 'user', content: 'unanswered' },
      ]),
    ).toEqual({ instruction: 'S\n\nQ2', input: 'User: Q1\n\nAssistant: A1', output: 'A2a\n\nA2b' });
    const f = await run();
    const res = await runHandoff({ runDir: f.runDir, runId: 'r1', handoff: handoff({ format: 'alpaca' }) });
    const rows = await readJsonl(path.join(res.location, 'train.alpaca.jsonl'));
    const pool = byId(f);
    expect(rows).toEqual(f.selected.map((s) => toAlpaca(pool.get(s.id)!.messages)));
    expect(Object.keys(rows[0]!).sort()).toEqual(['input', 'instruction', 'output']);
  });

  it('refuses a selection that does not belong to the pool, and a pool shard changed since ingestion', async () => {
    const f = await run();
    const layout = runLayout(f.runDir);
    const shard = layout.pool.shard(1);
    const original = await fsp.readFile(shard, 'utf8');
    await fsp.writeFile(shard, original.replace('answer 60', 'answer 6O'));
    await expect(runHandoff({ runDir: f.runDir, runId: 'r1', handoff: handoff() })).rejects.toThrow(/checksum differs/);
    await fsp.writeFile(shard, original);
    // Drop a selected row from its shard (and fix the manifest), so the id is missing.
    const victim = f.selected.find((s) => f.pool.findIndex((e) => e.id === s.id) < 50)!;
    const s0 = layout.pool.shard(0);
    const kept = (await fsp.readFile(s0, 'utf8'))
      .split('\n')
      .filter((l) => l && !l.includes(`"id":${JSON.stringify(victim.id)}`));
    await fsp.writeFile(s0, kept.join('\n') + '\n');
    const { fileRef } = await import('@rds/artifacts');
    const manifest = JSON.parse(await fsp.readFile(layout.pool.manifest, 'utf8'));
    manifest.shards[0] = { ...(await fileRef(s0, layout.pool.dir)), rows: kept.length };
    await fsp.writeFile(layout.pool.manifest, JSON.stringify(manifest));
    await expect(runHandoff({ runDir: f.runDir, runId: 'r1', handoff: handoff() })).rejects.toThrow(
      new RegExp(`1 selected ids are not in the pool .*${victim.id}`),
    );
    // A selection file that no longer matches its summary is never handed off.
    await fsp.appendFile(layout.selection.rows, '\n');
    await expect(runHandoff({ runDir: f.runDir, runId: 'r1', handoff: handoff() })).rejects.toThrow(
      /does not match the checksum/,
    );
  });
});
