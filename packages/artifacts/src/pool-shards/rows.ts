import path from 'node:path';
import { z } from 'zod';
import { PoolManifest, ValidationError } from '@rds/schemas';
import { readJsonFile } from '../files.js';
import { readJsonLines } from '../jsonl.js';
import { runLayout } from '../layout.js';
import { throwIfCancelled } from '../runtime.js';

/** Only the fields selection needs; messages are not validated again here (ingest did). */
const PoolRowHead = z.object({ id: z.string().min(1), source: z.string().min(1) });

/**
 * Example ids of every global pool row, packed as UTF-8 bytes + offsets: a few bytes per id instead
 * of a JS string each (5.8M strings would cost hundreds of MB), decoded only for selected rows.
 */
export class IdTable {
  private bytes = Buffer.alloc(1 << 20);
  private used = 0;
  private offsets = new Float64Array(1 << 16);
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(id: string): void {
    const need = Buffer.byteLength(id, 'utf8');
    if (this.used + need > this.bytes.length) {
      const grown = Buffer.alloc(Math.max(2 * this.bytes.length, this.used + need));
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    if (this.count + 2 > this.offsets.length) {
      const grown = new Float64Array(2 * this.offsets.length);
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.used += this.bytes.write(id, this.used, 'utf8');
    this.offsets[++this.count] = this.used;
  }

  get(row: number): string {
    if (row < 0 || row >= this.count) throw new RangeError(`row ${row} outside the pool (${this.count} rows)`);
    return this.bytes.toString('utf8', this.offsets[row]!, this.offsets[row + 1]!);
  }
}

/** Every global pool row's id and source (as an index into `sources`), and the manifest they were read with. */
export interface PoolRows {
  rows: number;
  sourceOf: Uint16Array | Uint32Array;
  sources: string[];
  ids: IdTable;
  manifest: PoolManifest;
}

/** The run's pool manifest (pool/manifest.json), validated: the shards, their row counts and checksums. */
export function readPoolManifest(runDir: string): Promise<PoolManifest> {
  return readJsonFile(runLayout(runDir).pool.manifest, PoolManifest);
}

/**
 * Stream the pool shards once, in shard order (global row = shard 0's rows, then shard 1's, ...),
 * keeping each row's id and its source as a small integer. Row counts are checked against the
 * manifest, so score vectors can be matched to rows by position.
 */
export async function readPoolRows(
  runDir: string,
  signal: AbortSignal,
  onRows?: (rows: number, total: number) => void,
): Promise<PoolRows> {
  const layout = runLayout(runDir);
  const manifest = await readPoolManifest(runDir);
  const total = manifest.shards.reduce((a, s) => a + s.rows, 0);
  let sourceOf: Uint16Array | Uint32Array = new Uint16Array(total);
  const sourceIndex = new Map<string, number>();
  const sources: string[] = [];
  const ids = new IdTable();
  let row = 0;
  for (const shard of manifest.shards) {
    throwIfCancelled(signal);
    const file = path.resolve(path.dirname(layout.pool.manifest), shard.file);
    const start = row;
    for await (const { value: head } of readJsonLines(file, PoolRowHead)) {
      if (row >= total) throw new ValidationError(`${file}: more rows than the pool manifest's ${total}`);
      let s = sourceIndex.get(head.source);
      if (s === undefined) {
        s = sources.length;
        sources.push(head.source);
        sourceIndex.set(head.source, s);
        if (s === 0x10000) sourceOf = Uint32Array.from(sourceOf); // more sources than 16 bits hold
      }
      sourceOf[row++] = s;
      ids.push(head.id);
      if ((row & 0xffff) === 0) {
        throwIfCancelled(signal);
        onRows?.(row, total);
      }
    }
    if (row - start !== shard.rows)
      throw new ValidationError(`${file}: ${row - start} rows, the pool manifest says ${shard.rows}`);
  }
  onRows?.(row, total);
  return { rows: total, sourceOf, sources, ids, manifest };
}

/** Only the message texts: what a pass over the pool's content (e.g. the n-gram check) reads. */
const PoolRowTexts = z.object({ messages: z.array(z.object({ content: z.string() })) });

/**
 * Every pool row's message texts in global row order, from the shards `manifest` names. Checks
 * `signal` every 16k rows.
 */
export async function* eachPoolRowTexts(
  runDir: string,
  manifest: PoolManifest,
  signal?: AbortSignal,
): AsyncGenerator<{ row: number; messages: { content: string }[] }> {
  const layout = runLayout(runDir);
  let row = 0;
  for (const shard of manifest.shards) {
    const file = path.resolve(path.dirname(layout.pool.manifest), shard.file);
    for await (const { value } of readJsonLines(file, PoolRowTexts)) {
      yield { row, messages: value.messages };
      row++;
      if (signal && (row & 0x3fff) === 0) throwIfCancelled(signal);
    }
  }
}
