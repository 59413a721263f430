import fs from 'node:fs';
import path from 'node:path';
import { PoolManifest } from '@rds/schemas';
import { readJsonFile } from '../files.js';
import { runLayout } from '../layout.js';
import { readRowOffsets } from './offsets.js';

/** Where one pool row's line lies: its shard, byte offset and length (without the newline). */
export interface PoolRowLocation {
  shard: number;
  offset: number;
  length: number;
}

/** A byte position in the pool: shard and offset (shard === shards.length: past the end). */
export interface PoolCursor {
  shard: number;
  offset: number;
}

/**
 * Reads rows of one pool (as its manifest lists them) without reading whole shards: global rows are
 * located through each shard's row-offset index, or, for pools ingested without one (or whose index
 * does not verify), by scanning the shard up to the last row wanted; located rows are positioned reads.
 */
export class PoolShardReader {
  private readonly offsets = new Map<number, Promise<Float64Array | null>>();
  /** Resolved once: scans name a shard for every line they visit. */
  private readonly files: string[];

  private constructor(
    readonly manifest: PoolManifest,
    private readonly manifestDir: string,
  ) {
    this.files = manifest.shards.map((s) => path.resolve(manifestDir, s.file));
  }

  static async open(runDir: string): Promise<PoolShardReader> {
    const file = runLayout(runDir).pool.manifest;
    return new PoolShardReader(await readJsonFile(file, PoolManifest), path.dirname(file));
  }

  shardFile(shard: number): string {
    return this.files[shard]!;
  }

  /** How a location is named in errors. */
  where(at: PoolRowLocation): string {
    return `${this.shardFile(at.shard)} (byte ${at.offset})`;
  }

  /** Locations of global pool rows (shard 0's rows, then shard 1's, ...); rows outside the pool are left out. */
  async locateRows(rows: readonly number[]): Promise<Map<number, PoolRowLocation>> {
    const out = new Map<number, PoolRowLocation>();
    let first = 0;
    for (const [shard, ref] of this.manifest.shards.entries()) {
      const mine = rows.filter((r) => r >= first && r < first + ref.rows);
      if (mine.length > 0) {
        const offsets = await this.rowOffsets(shard);
        if (offsets) {
          for (const r of mine) {
            const offset = offsets[r - first]!;
            out.set(r, { shard, offset, length: offsets[r - first + 1]! - offset - 1 });
          }
        } else {
          const wanted = new Set(mine);
          const last = Math.max(...mine);
          let row = first - 1;
          await this.scan({ shard, offset: 0 }, (_buf, _start, _end, at) => {
            if (at.shard !== shard) return false;
            row++;
            if (wanted.has(row)) out.set(row, at);
            return row < last;
          });
        }
      }
      first += ref.rows;
    }
    return out;
  }

  /**
   * Visit every non-empty line from `from` on (a line is `buf[start, end)`) until `visit` returns
   * false or the pool ends; returns the cursor after the last line visited, where a later scan can go on.
   */
  async scan(
    from: PoolCursor,
    visit: (buf: Buffer, start: number, end: number, at: PoolRowLocation) => boolean | void,
  ): Promise<PoolCursor> {
    let cursor = { ...from };
    while (cursor.shard < this.manifest.shards.length) {
      const shard = cursor.shard;
      const input = fs.createReadStream(this.shardFile(shard), { start: cursor.offset, highWaterMark: 1 << 20 });
      let carry: Buffer = Buffer.alloc(0);
      let base = cursor.offset; // file offset of carry[0]
      const line = (buf: Buffer, start: number, end: number): boolean => {
        const go =
          end <= start || visit(buf, start, end, { shard, offset: base + start, length: end - start }) !== false;
        cursor.offset = base + end + 1;
        return go;
      };
      try {
        for await (const chunk of input as AsyncIterable<Buffer>) {
          const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
          let start = 0;
          for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
            if (!line(buf, start, nl)) return cursor;
            start = nl + 1;
          }
          carry = buf.subarray(start);
          base += start;
        }
        if (carry.length > 0 && !line(carry, 0, carry.length)) return cursor;
      } finally {
        input.destroy();
      }
      cursor = { shard: shard + 1, offset: 0 };
    }
    return cursor;
  }

  /** The text of each line at `locations` (same order), one open file per shard. */
  async readLines(locations: readonly PoolRowLocation[]): Promise<string[]> {
    const out = new Array<string>(locations.length);
    const byShard = new Map<number, number[]>();
    for (const [i, at] of locations.entries()) {
      let list = byShard.get(at.shard);
      if (!list) byShard.set(at.shard, (list = []));
      list.push(i);
    }
    for (const [shard, list] of byShard) {
      const handle = await fs.promises.open(this.shardFile(shard), 'r');
      try {
        for (const i of list) {
          const at = locations[i]!;
          const buf = Buffer.alloc(at.length);
          await handle.read(buf, 0, buf.length, at.offset);
          out[i] = buf.toString('utf8');
        }
      } finally {
        await handle.close();
      }
    }
    return out;
  }

  private rowOffsets(shard: number): Promise<Float64Array | null> {
    let offsets = this.offsets.get(shard);
    if (!offsets) {
      const ref = this.manifest.shards[shard]!;
      offsets = ref.offsets
        ? readRowOffsets(path.resolve(this.manifestDir, ref.offsets.file), ref.offsets, ref.rows, ref.bytes)
        : Promise.resolve(null);
      this.offsets.set(shard, offsets);
    }
    return offsets;
  }
}
