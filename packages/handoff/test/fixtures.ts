import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileRef, runLayout, writeFileAtomic, writeJsonAtomic } from '@rds/artifacts';
import type { Example, PoolManifest, SelectedRow, SelectionSummary } from '@rds/schemas';

export interface Fixture {
  runDir: string;
  pool: Example[];
  selected: SelectedRow[];
  summary: SelectionSummary;
}

/** Deterministic pseudo-random numbers for fixtures (tests must not depend on Math.random). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

export async function tempDir(prefix = 'rds-handoff-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * A finished run directory as ingest + select leave it: pool shards of canonical rows, the pool
 * manifest (checksummed), selection.jsonl in rank order and summary.json vouching for it.
 */
export async function writeRun(
  opts: {
    rows?: number;
    shardSize?: number;
    budget?: number;
    tasks?: string[];
    seed?: number;
    config?: boolean;
    runDir?: string;
    sourceOf?: (row: number) => string;
  } = {},
): Promise<Fixture> {
  const rows = opts.rows ?? 120;
  const shardSize = opts.shardSize ?? 50;
  const budget = opts.budget ?? 40;
  const tasks = opts.tasks ?? ['gsm8k', 'general'];
  const runDir = opts.runDir ?? (await tempDir());
  const layout = runLayout(runDir);
  const rand = lcg(7);
  const sources = ['alpaca', 'code_alpaca', 'gsm8k'];
  const pool: Example[] = [];
  for (let i = 0; i < rows; i++) {
    const source = opts.sourceOf ? opts.sourceOf(i) : sources[i % 3]!;
    const messages: Example['messages'] =
      i % 10 === 9
        ? [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: `first question ${i}` },
            { role: 'assistant', content: `first answer ${i}` },
            { role: 'user', content: `follow-up ${i} with "quotes" and 'apostrophes'` },
            { role: 'assistant', content: `second answer ${i}` },
          ]
        : [
            { role: 'user', content: `question ${i}: ünïcödé ${'x'.repeat(i % 7)}` },
            { role: 'assistant', content: `answer ${i}` },
          ];
    // One id with a character JSON escapes, so the fast id path's fallback is exercised.
    pool.push({ id: i === 5 ? `row"${i}` : `${source}_${i}`, source, messages });
  }
  const shards: PoolManifest['shards'] = [];
  for (let s = 0; s * shardSize < rows; s++) {
    const file = layout.pool.shard(s);
    const chunk = pool.slice(s * shardSize, (s + 1) * shardSize);
    await writeFileAtomic(
      file,
      chunk
        .map(
          (e) =>
            `{"id":${JSON.stringify(e.id)},"source":${JSON.stringify(e.source)},"messages":${JSON.stringify(e.messages)}}\n`,
        )
        .join(''),
    );
    shards.push({ ...(await fileRef(file, layout.pool.dir)), rows: chunk.length });
  }
  const perSource: Record<string, number> = {};
  for (const e of pool) perSource[e.source] = (perSource[e.source] ?? 0) + 1;
  const manifest: PoolManifest = {
    kind: 'pool',
    version: 1,
    fingerprint: 'a'.repeat(64),
    inputs: [{ path: '/data/pool.jsonl', bytes: 1, format: 'jsonl' }],
    counts: { read: rows, kept: rows, duplicate: 0, rejected: 0 },
    perSource,
    shards,
    rejected: null,
    createdAt: new Date(0).toISOString(),
  };
  await writeJsonAtomic(layout.pool.manifest, manifest);

  // Selection: a seeded sample of pool rows, round-robin over tasks, with descending scores per task.
  const order = pool.map((_, i) => i).sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101) || a - b);
  const selected: SelectedRow[] = order.slice(0, budget).map((row, rank) => ({
    id: pool[row]!.id,
    rank,
    task: tasks[rank % tasks.length]!,
    score: rank % 13 === 12 ? null : Math.round((0.9 - rank * 0.005 + rand() * 0.01) * 1e6) / 1e6,
    source: pool[row]!.source,
    query: rank % 5,
  }));
  await writeFileAtomic(layout.selection.rows, selected.map((r) => JSON.stringify(r) + '\n').join(''));
  const perTask: Record<string, number> = {};
  const selPerSource: Record<string, number> = {};
  for (const r of selected) {
    perTask[r.task!] = (perTask[r.task!] ?? 0) + 1;
    selPerSource[r.source] = (selPerSource[r.source] ?? 0) + 1;
  }
  const summary: SelectionSummary = {
    kind: 'selection',
    version: 1,
    strategy: 'round-robin-tasks',
    turns: 'reference',
    budget,
    selected: selected.length,
    poolRows: rows,
    seed: opts.seed ?? 42,
    perTask,
    perSource: selPerSource,
    scoreQuantiles: {},
    warnings: [],
    selection: await fileRef(layout.selection.rows, layout.selection.dir),
    tasks,
    createdAt: new Date(0).toISOString(),
  };
  await writeJsonAtomic(layout.selection.summary, summary);
  if (opts.config !== false) {
    await writeJsonAtomic(layout.config, {
      runDir,
      pool: { inputs: ['/data/pool.jsonl'] },
      queries: tasks.map((task) => ({ task, path: `/data/queries/${task}.jsonl` })),
      model: { dir: '/models/tiny', id: 'tiny-llama' },
      selection: { budget, seed: opts.seed ?? 42 },
    });
  }
  return { runDir, pool, selected, summary };
}

export async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  const text = await fsp.readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
