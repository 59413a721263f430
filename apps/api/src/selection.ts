import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {
  PoolShardReader,
  peekPoolId,
  readContaminationReport,
  readQueryMessages,
  readSelectedRows,
  readSelectionSummaryIfExists,
  runLayout,
  type PoolCursor,
  type PoolRowLocation,
  type SelectionTable,
} from '@rds/artifacts';
import { histogram } from '@rds/handoff';
import { Example, ValidationError, parseOrThrow, type Message } from '@rds/schemas';
import type { ContaminationPage, SelectionPage } from './api-schemas.js';

/** Bins of the per-task score histograms the UI draws. */
const HISTOGRAM_BINS = 20;

/**
 * Where each selected example sits in the pool shards, learnt lazily: a page whose ids are not
 * located yet continues one forward scan of the shards from where the last one stopped, recording
 * every selected id it passes, so all pages together cost at most one pass over the pool and a
 * located example is a single positioned read.
 */
interface PoolIndex {
  reader: PoolShardReader;
  /** Per selection position: shard index (-1 = not located yet), byte offset and length of its line. */
  shardOf: Int32Array;
  offsetOf: Float64Array;
  lengthOf: Int32Array;
  /** Next unscanned byte (shard === shards.length: the whole pool was scanned). */
  cursor: PoolCursor;
  /** Scans run one at a time (they share the cursor). */
  busy: Promise<void>;
}

interface CachedSelection {
  sha256: string;
  table: SelectionTable;
  histogram: SelectionPage['histogram'];
  pool: PoolIndex;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${where}: not valid JSON (${(err as Error).message})`);
  }
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
 * checksum-verified by @rds/artifacts' readSelectedRows, cached per selection checksum), the examples'
 * messages looked up in the pool shards, and for rows picked by a query that query's messages.
 */
export class SelectionReader {
  private readonly cache = new Map<string, CachedSelection>();

  /** null when the run has no selection yet. */
  async page(runDir: string, offset: number, limit: number): Promise<SelectionPage | null> {
    const summary = await readSelectionSummaryIfExists(runDir);
    if (!summary) return null;
    const selection = await this.table(runDir, summary.selection.sha256);
    const table = selection.table;
    const end = Math.min(table.count, offset + limit);
    const positions = Array.from({ length: Math.max(0, end - offset) }, (_, i) => offset + i);
    const examples = await this.lookupExamples(runDir, selection, positions);
    const queryOf = await this.queryIndexes(runDir, positions);
    const queries = await this.lookupQueries(
      runDir,
      positions.map((p) => queryOf.get(p)).filter((q) => q !== undefined),
    );
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
    const table = await readSelectedRows(runDir);
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
    const count = table.count;
    const pool: PoolIndex = {
      reader: await PoolShardReader.open(runDir),
      shardOf: new Int32Array(count).fill(-1),
      offsetOf: new Float64Array(count),
      lengthOf: new Int32Array(count),
      cursor: { shard: 0, offset: 0 },
      busy: Promise.resolve(),
    };
    const entry = { sha256: table.summary.selection.sha256, table, histogram: histogram(scores, HISTOGRAM_BINS), pool };
    this.cache.set(key, entry);
    return entry;
  }

  /**
   * The `query` field of the page's rows. readSelectedRows keeps only the columns handoff needs, so the
   * page's lines are read again (they are consecutive: one pass up to the last one).
   */
  private async queryIndexes(
    runDir: string,
    positions: number[],
  ): Promise<Map<number, { task: string; index: number }>> {
    const out = new Map<number, { task: string; index: number }>();
    if (positions.length === 0) return out;
    const first = positions[0]!;
    const last = positions[positions.length - 1]!;
    const file = runLayout(runDir).selection.rows;
    let position = -1;
    await eachLine(file, (line, lineNo) => {
      position++;
      if (position < first) return;
      const row = parseJson(line, `${file}:${lineNo}`) as { task?: unknown; query?: unknown };
      if (
        typeof row.task === 'string' &&
        typeof row.query === 'number' &&
        Number.isInteger(row.query) &&
        row.query >= 0
      ) {
        out.set(position, { task: row.task, index: row.query });
      } else if (row.query !== undefined && row.query !== null) {
        throw new Error(`${file}:${lineNo}: query: expected a non-negative integer`);
      }
      return position < last;
    });
    return out;
  }

  /** Full pool records at selection `positions`, keyed by id (see PoolIndex). */
  private async lookupExamples(
    runDir: string,
    selection: CachedSelection,
    positions: number[],
  ): Promise<Map<string, Example>> {
    const { table, pool } = selection;
    if (positions.some((p) => pool.shardOf[p] === -1)) {
      const scan = pool.busy.then(() => this.scanUntilLocated(pool, table, positions));
      pool.busy = scan.catch(() => {});
      await scan;
    }
    // Positions not in the pool any more stay unlocated: reported as messages null.
    const located = positions.filter((p) => pool.shardOf[p]! >= 0);
    const at = located.map((p) => ({ shard: pool.shardOf[p]!, offset: pool.offsetOf[p]!, length: pool.lengthOf[p]! }));
    const lines = await pool.reader.readLines(at);
    const found = new Map<string, Example>();
    for (const [i, p] of located.entries()) {
      const where = pool.reader.where(at[i]!);
      const example = parseOrThrow(Example, parseJson(lines[i]!, where), where);
      if (example.id !== table.ids[p])
        throw new Error(`${where}: expected id ${table.ids[p]}, found ${example.id} (pool changed?)`);
      found.set(example.id, example);
    }
    return found;
  }

  /** Continue the forward scan until every position is located or the pool ends, recording each selected id passed. */
  private async scanUntilLocated(pool: PoolIndex, table: SelectionTable, positions: number[]): Promise<void> {
    const wanted = new Set(positions.filter((p) => pool.shardOf[p] === -1));
    let missing = wanted.size;
    if (missing === 0) return;
    pool.cursor = await pool.reader.scan(pool.cursor, (buf, start, end, at: PoolRowLocation) => {
      const where = pool.reader.where(at);
      const position = table.positionOf.get(peekPoolId(buf.toString('utf8', start, end), where));
      if (position !== undefined && pool.shardOf[position] === -1) {
        pool.shardOf[position] = at.shard;
        pool.offsetOf[position] = at.offset;
        pool.lengthOf[position] = at.length;
        if (wanted.has(position)) missing--;
      }
      return missing > 0;
    });
  }

  /**
   * A page of the run's contamination report (selection/contamination.json, checked against the
   * selection summary), each flagged row with its pool messages and each match with the example's.
   * null when the run has no report (not selected yet, or selected before the check existed).
   */
  async contamination(runDir: string, offset: number, limit: number): Promise<ContaminationPage | null> {
    const summary = await readSelectionSummaryIfExists(runDir);
    const contamination = summary && (await readContaminationReport(runDir, summary));
    if (!contamination) return null;
    const { rows, ...report } = contamination;
    const page = rows.slice(offset, offset + limit);
    const messages = await this.poolMessages(
      runDir,
      page.map((r) => r.row),
    );
    const examples = await this.lookupQueries(
      runDir,
      page.flatMap((r) => r.matches.map((m) => ({ task: m.task, index: m.query }))),
    );
    return {
      ...report,
      offset,
      limit,
      total: rows.length,
      rows: page.map((r) => ({
        ...r,
        messages: messages.get(r.row) ?? null,
        matches: r.matches.map((m) => ({ ...m, example: examples.get(`${m.task}\n${m.query}`) ?? null })),
      })),
    };
  }

  /** Messages of global pool rows (shard order), each read on its own (see PoolShardReader.locateRows). */
  private async poolMessages(runDir: string, rows: number[]): Promise<Map<number, Message[]>> {
    const reader = await PoolShardReader.open(runDir);
    const located = [...(await reader.locateRows(rows))];
    const lines = await reader.readLines(located.map(([, at]) => at));
    const out = new Map<number, Message[]>();
    for (const [i, [row, at]] of located.entries()) {
      const where = reader.where(at);
      out.set(row, parseOrThrow(Example, parseJson(lines[i]!, where), where).messages);
    }
    return out;
  }

  /** Messages of query `index` of `task` (canonical query set: line i = query i), keyed `task\nindex`. */
  private async lookupQueries(
    runDir: string,
    refs: { task: string; index: number }[],
  ): Promise<Map<string, Message[]>> {
    const out = new Map<string, Message[]>();
    const byTask = new Map<string, Set<number>>();
    for (const r of refs) {
      let set = byTask.get(r.task);
      if (!set) byTask.set(r.task, (set = new Set()));
      set.add(r.index);
    }
    for (const [task, indexes] of byTask) {
      for (const [index, messages] of await readQueryMessages(runDir, task, indexes))
        out.set(`${task}\n${index}`, messages);
    }
    return out;
  }
}
