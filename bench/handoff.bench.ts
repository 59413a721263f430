// Handoff throughput: writes a synthetic pool (canonical shards + manifest, default 500k rows, ~300 MB)
// and a 20% selection in rank order, then runs the handoff once per format (shuffled order, metadata)
// in a child process so each peak RSS is the handoff's alone. Prints pool rows scanned/s, selected
// rows written/s, MB/s of pool read, and peak RSS. Memory should stay flat as the pool grows (the pool
// is streamed; only selected ids and one 16k-row bucket are held).
//
//   node --conditions=@rds/source --import tsx bench/handoff.bench.ts [rows=500000] [selectPct=20] [--keep]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLayout } from '@rds/artifacts';
import { runHandoff } from '@rds/handoff';
import { rng } from './lib/common.js';

const self = fileURLToPath(import.meta.url);
const SHARD_ROWS = 50_000;

function writeFixture(runDir: string, rows: number, selectPct: number): { poolBytes: number; selected: number } {
  const layout = runLayout(runDir);
  fs.mkdirSync(layout.pool.dir, { recursive: true });
  fs.mkdirSync(layout.selection.dir, { recursive: true });
  const rand = rng(42);
  let corpus = '';
  const words =
    'the of and to in is that for it as with data model train loss token query pool select task code math answer'.split(
      ' ',
    );
  while (corpus.length < 1 << 20) corpus += words[Math.floor(rand() * words.length)] + ' ';
  const text = (min: number, max: number) => {
    const len = min + Math.floor(rand() * (max - min));
    const start = Math.floor(rand() * (corpus.length - len));
    return corpus.slice(start, start + len);
  };
  const sources = ['alpaca', 'code_alpaca', 'gsm8k', 'flan', 'oasst'];
  const perSource: Record<string, number> = {};
  const shards = [];
  const selection: string[] = [];
  let poolBytes = 0;
  for (let s = 0; s * SHARD_ROWS < rows; s++) {
    const lines: string[] = [];
    for (let i = s * SHARD_ROWS; i < Math.min(rows, (s + 1) * SHARD_ROWS); i++) {
      const source = sources[i % sources.length]!;
      perSource[source] = (perSource[source] ?? 0) + 1;
      const id = `${source}_${i}`;
      const messages = [
        { role: 'user', content: text(40, 400) },
        { role: 'assistant', content: text(60, 700) },
      ];
      lines.push(
        `{"id":${JSON.stringify(id)},"source":${JSON.stringify(source)},"messages":${JSON.stringify(messages)}}\n`,
      );
      if (rand() * 100 < selectPct) selection.push(id + '\t' + source);
    }
    const body = lines.join('');
    const file = layout.pool.shard(s);
    fs.writeFileSync(file, body);
    poolBytes += Buffer.byteLength(body);
    shards.push({
      file: path.basename(file),
      bytes: Buffer.byteLength(body),
      sha256: createHash('sha256').update(body).digest('hex'),
      rows: lines.length,
    });
  }
  fs.writeFileSync(
    layout.pool.manifest,
    JSON.stringify({
      kind: 'pool',
      version: 1,
      fingerprint: '0'.repeat(64),
      inputs: [],
      counts: { read: rows, kept: rows, duplicate: 0, rejected: 0 },
      perSource,
      shards,
      rejected: null,
      createdAt: new Date().toISOString(),
    }),
  );
  // Selection in a random rank order (as RDS+ would give), scores descending.
  for (let i = selection.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [selection[i], selection[j]] = [selection[j]!, selection[i]!];
  }
  const tasks = ['gsm8k', 'general'];
  const perTask: Record<string, number> = { gsm8k: 0, general: 0 };
  const selPerSource: Record<string, number> = {};
  const body = selection
    .map((entry, rank) => {
      const [id, source] = entry.split('\t') as [string, string];
      const task = tasks[rank % 2]!;
      perTask[task]!++;
      selPerSource[source] = (selPerSource[source] ?? 0) + 1;
      return (
        JSON.stringify({ id, rank, task, score: 0.9 - rank / selection.length / 2, source, query: rank % 50 }) + '\n'
      );
    })
    .join('');
  fs.writeFileSync(layout.selection.rows, body);
  fs.writeFileSync(
    layout.selection.summary,
    JSON.stringify({
      kind: 'selection',
      version: 1,
      strategy: 'round-robin-tasks',
      budget: selection.length,
      selected: selection.length,
      poolRows: rows,
      seed: 42,
      perTask,
      perSource: selPerSource,
      scoreQuantiles: {},
      warnings: [],
      selection: {
        file: 'selection.jsonl',
        bytes: Buffer.byteLength(body),
        sha256: createHash('sha256').update(body).digest('hex'),
      },
      tasks,
      createdAt: new Date().toISOString(),
    }),
  );
  return { poolBytes, selected: selection.length };
}

async function child(runDir: string, format: 'tulu' | 'parquet' | 'alpaca') {
  const started = process.hrtime.bigint();
  const res = await runHandoff({
    runDir,
    runId: 'bench',
    handoff: {
      format,
      order: 'shuffled',
      includeMetadata: true,
      destination: { kind: 'local', dir: path.join(runDir, `out-${format}`) },
      trigger: { kind: 'none' },
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    JSON.stringify({
      seconds,
      rows: res.rows,
      bytes: res.card.dataset.bytes,
      scanned: res.stats?.poolRowsScanned,
      buckets: res.stats?.buckets,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, process.argv[4] as 'tulu');
} else {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const rows = Number(args[0] ?? 500_000);
  const pct = Number(args[1] ?? 20);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-handoff-bench-'));
  try {
    const t0 = Date.now();
    const { poolBytes, selected } = writeFixture(runDir, rows, pct);
    console.log(
      `pool ${rows.toLocaleString('en-US')} rows, ${(poolBytes / 1e6).toFixed(0)} MB in ${Math.ceil(rows / SHARD_ROWS)} shards; selected ${selected.toLocaleString('en-US')} (${pct}%), generated in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    console.log('format   seconds  pool rows/s  pool MB/s  selected rows/s  out MB  buckets  peak RSS MB');
    for (const format of ['tulu', 'alpaca', 'parquet'] as const) {
      const out = spawnSync(process.execPath, [...process.execArgv, self, '--child', runDir, format], {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (out.status !== 0) throw new Error(`child ${format} failed:\n${out.stderr}`);
      const r = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as {
        seconds: number;
        rows: number;
        bytes: number;
        scanned: number;
        buckets: number;
        maxRssMb: number;
      };
      console.log(
        `${format.padEnd(8)} ${r.seconds.toFixed(2).padStart(7)}  ${Math.round(r.scanned / r.seconds)
          .toLocaleString('en-US')
          .padStart(11)}  ${(poolBytes / 1e6 / r.seconds).toFixed(0).padStart(9)}  ${Math.round(r.rows / r.seconds)
          .toLocaleString('en-US')
          .padStart(
            15,
          )}  ${(r.bytes / 1e6).toFixed(0).padStart(6)}  ${String(r.buckets).padStart(7)}  ${r.maxRssMb.toFixed(0).padStart(11)}`,
      );
    }
  } finally {
    if (!process.argv.includes('--keep')) fs.rmSync(runDir, { recursive: true, force: true });
    else console.log(`kept ${runDir}`);
  }
}
