import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { histogram, peekId, readSelection, type SelectionTable } from '@rds/handoff';
import { Example, PoolManifest, SelectionSummary, parseOrThrow, type Message } from '@rds/schemas';
import type { SelectionPage } from './api-schemas.js';

/** Bins of the per-task score histograms the UI draws. */
const HISTOGRAM_BINS = 20;

interface CachedSelection {
  sha256: string;
  table: SelectionTable;
  histogram: SelectionPage['histogram'];
}

/** Lines of a JSONL file (1-based numbers), stopping early when `visit` returns false. */
async function eachLine(file: string, visit: (line: string, lineNo: number) => boolean | void): Promise<void> {
  const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.length > 0 && visit(line, n) === false) break;
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Pages of a finished selection with the full examples: rows from selection.jsonl (validated and
 * checksum-verified by @rds/handoff's readSelection, cached per selection checksum), the examples'
 * messages looked up in the pool shards, and for rows picked by a query that query's messages.
 */
export class SelectionReader {
  private readonly cache = new Map<string, CachedSelection>();

  /** null when the run has no selection yet. */
  async page(runDir: string, offset: number, limit: number): Promise<SelectionPage | null> {
    const layout = runLayout(runDir);
    if (!fs.existsSync(layout.selection.summary)) return null;
    const summary = await readJsonFile(layout.selection.summary, SelectionSummary);
    const selection = await this.table(runDir, summary.selection.sha256);
    const table = selection.table;
    const end = Math.min(table.count, offset + limit);
    const positions = Array.from({ length: Math.max(0, end - offset) }, (_, i) => offset + i);
    const examples = await this.lookupExamples(runDir, positions.map((p) => table.ids[p]!));
    const queryOf = await this.queryIndexes(runDir, positions);
    const queries = await this.lookupQueries(runDir, positions.map((p) => queryOf.get(p)).filter((q) => q !== undefined));
    return {
      summary: table.summary,
      offset,
      limit,
      total: table.count,
      histogram: selection.histogram,
      examples: positions.map((p) => {
        const id = table.ids[p]!;
        const taskIndex = table.taskOf[p]!;
        const task = taskIndex < 0 ? null : table.tasks[taskIndex]!;
        const score = table.score[p]!;
        const q = queryOf.get(p);
        return {
          rank: p,
          id,
          task,
          score: Number.isNaN(score) ? null : score,
          source: table.sources[table.sourceOf[p]!]!,
          messages: examples.get(id)?.messages ?? null,
          query: q ? { task: q.task, index: q.index, messages: queries.get(`${q.task}\n${q.index}`) ?? null } : null,
        };
      }),
    };
  }

  private async table(runDir: string, sha256: string): Promise<CachedSelection> {
    const key = path.resolve(runDir);
    const hit = this.cache.get(key);
    if (hit?.sha256 === sha256) return hit;
    const table = await readSelection(runDir);
    const scores = new Map<string, number[]>();
    for (let i = 0; i < table.count; i++) {
      const t = table.taskOf[i]!;
      const s = table.score[i]!;
      if (t < 0 || Number.isNaN(s)) continue;
      const task = table.tasks[t]!;
      let list = scores.get(task);
      if (!list) scores.set(task, (list = []));
      list.push(s);
    }
    const entry = { sha256: table.summary.selection.sha256, table, histogram: histogram(scores, HISTOGRAM_BINS) };
    this.cache.set(key, entry);
    return entry;
  }

  /**
   * The `query` field of the page's rows. readSelection keeps only the columns handoff needs, so the
   * page's lines are read again (they are consecutive: one pass up to the last one).
   */
  private async queryIndexes(runDir: string, positions: number[]): Promise<Map<number, { task: string; index: number }>> {
    const out = new Map<number, { task: string; index: number }>();
    if (positions.length === 0) return out;
    const first = positions[0]!;
    const last = positions[positions.length - 1]!;
    const file = runLayout(runDir).selection.rows;
    let position = -1;
    await eachLine(file, (line, lineNo) => {
      position++;
      if (position < first) return;
      const row = JSON.parse(line) as { task?: unknown; query?: unknown };
      if (typeof row.task === 'string' && typeof row.query === 'number' && Number.isInteger(row.query) && row.query >= 0) {
        out.set(position, { task: row.task, index: row.query });
      } else if (row.query !== undefined && row.query !== null) {
        throw new Error(`${file}:${lineNo}: query: expected a non-negative integer`);
      }
      return position < last;
    });
    return out;
  }

  /** Full pool records of `ids`: scans the shards in order, parsing only matching lines, until all are found. */
  private async lookupExamples(runDir: string, ids: string[]): Promise<Map<string, Example>> {
    const found = new Map<string, Example>();
    if (ids.length === 0) return found;
    const wanted = new Set(ids);
    const layout = runLayout(runDir);
    const manifest = await readJsonFile(layout.pool.manifest, PoolManifest);
    for (const shard of manifest.shards) {
      const file = path.resolve(layout.pool.dir, shard.file);
      await eachLine(file, (line, lineNo) => {
        const where = `${file}:${lineNo}`;
        const id = peekId(line, where);
        if (!wanted.has(id) || found.has(id)) return;
        found.set(id, parseOrThrow(Example, JSON.parse(line), where));
        return found.size < wanted.size;
      });
      if (found.size === wanted.size) break;
    }
    return found;
  }

  /** Messages of query `index` of `task` (canonical query set: line i = query i), keyed `task\nindex`. */
  private async lookupQueries(runDir: string, refs: { task: string; index: number }[]): Promise<Map<string, Message[]>> {
    const out = new Map<string, Message[]>();
    const byTask = new Map<string, Set<number>>();
    for (const r of refs) {
      let set = byTask.get(r.task);
      if (!set) byTask.set(r.task, (set = new Set()));
      set.add(r.index);
    }
    for (const [task, indexes] of byTask) {
      const file = runLayout(runDir).queries.file(task);
      if (!fs.existsSync(file)) continue;
      const last = Math.max(...indexes);
      let index = -1;
      await eachLine(file, (line, lineNo) => {
        index++;
        if (indexes.has(index)) out.set(`${task}\n${index}`, parseOrThrow(Example, JSON.parse(line), `${file}:${lineNo}`).messages);
        return index < last;
      });
    }
    return out;
  }
}
