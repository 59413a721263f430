// Pool ingestion throughput: generates a ~1 GB, 1M-row pool (tulu / alpaca / sharegpt files, varied
// lengths, ~2% exact duplicates, ~0.5% bad rows), then ingests it in a child process so its peak RSS
// is ingestion's alone. Prints rows/s, MB/s and peak RSS. Target: >= 50k rows/s on one core, RSS < 1 GB.
//
//   node --conditions=@rds/source --import tsx bench/ingest.bench.ts [rows=1000000] [--keep]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ingestPoolFiles } from '@rds/pool';
import { rng } from './lib/common.js';

const self = fileURLToPath(import.meta.url);

async function generate(
  dir: string,
  rows: number,
): Promise<{ files: string[]; bytes: number; bad: number; dups: number }> {
  const rand = rng(42);
  const words =
    'the of and to in is that for it as with was on be by this are from at or an which have not data model train loss token query pool select task code math answer question function return value number'.split(
      ' ',
    );
  // A corpus to slice contents from: cheap varied text without building every string word by word.
  let corpus = '';
  while (corpus.length < 1 << 20) corpus += words[Math.floor(rand() * words.length)] + (rand() < 0.08 ? '.\n' : ' ');
  const text = (min: number, max: number) => {
    const len = min + Math.floor(rand() * (max - min));
    const start = Math.floor(rand() * (corpus.length - len));
    return corpus.slice(start, start + len);
  };
  const shapes = [
    { name: 'tulu', share: 0.6 },
    { name: 'alpaca', share: 0.2 },
    { name: 'sharegpt', share: 0.2 },
  ];
  const files: string[] = [];
  let bytes = 0;
  let bad = 0;
  let dups = 0;
  let n = 0;
  for (const shape of shapes) {
    const file = path.join(dir, `bench-${shape.name}.jsonl`);
    files.push(file);
    const out = fs.createWriteStream(file, { highWaterMark: 1 << 22 });
    const count = Math.round(rows * shape.share);
    let buf: string[] = [];
    let recent: string[] = [];
    for (let i = 0; i < count; i++, n++) {
      let line: string;
      const r = rand();
      if (r < 0.005 && i > 0) {
        bad++;
        line =
          rand() < 0.5
            ? `{"broken": ${n}`
            : JSON.stringify({ messages: [{ role: 'user', content: text(10, 100) }], dataset: 'bad' });
      } else if (r < 0.025 && recent.length > 0) {
        dups++;
        line = recent[Math.floor(rand() * recent.length)]!;
      } else {
        const user = `#${n} ${text(50, 500)}`;
        const answer = text(100, 1200);
        const source = `src${n % 5}`;
        if (shape.name === 'tulu') {
          const messages = [
            { role: 'user', content: user },
            { role: 'assistant', content: answer },
          ];
          if (rand() < 0.2) messages.unshift({ role: 'system', content: text(20, 100) });
          line = JSON.stringify({ id: `t${n}`, dataset: source, messages });
        } else if (shape.name === 'alpaca') {
          line = JSON.stringify({
            instruction: user,
            input: rand() < 0.5 ? text(10, 200) : '',
            output: answer,
            source,
          });
        } else {
          line = JSON.stringify({
            id: `s${n}`,
            conversations: [
              { from: 'human', value: user },
              { from: 'gpt', value: answer },
            ],
            source,
          });
        }
        if (recent.length < 1000) recent.push(line);
        else recent[Math.floor(rand() * 1000)] = line;
      }
      buf.push(line);
      if (buf.length === 2000) {
        const chunk = buf.join('\n') + '\n';
        bytes += Buffer.byteLength(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        buf = [];
      }
    }
    const chunk = buf.length ? buf.join('\n') + '\n' : '';
    bytes += Buffer.byteLength(chunk);
    out.end(chunk);
    await new Promise<void>((r) => out.on('close', () => r()));
    recent = [];
  }
  return { files, bytes, bad, dups };
}

async function ingestChild(runDir: string, files: string[]): Promise<void> {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const { manifest } = await ingestPoolFiles(runDir, {
    inputs: files,
    format: 'auto',
    shardSize: 50_000,
    maxRowBytes: 4 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const bytes = manifest.inputs.reduce((n, f) => n + f.bytes, 0);
  process.stdout.write(
    JSON.stringify({
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      bytes,
      counts: manifest.counts,
      shards: manifest.shards.length,
      maxRssKb: process.resourceUsage().maxRSS,
    }) + '\n',
  );
}

const args = process.argv.slice(2);
if (args[0] === '--ingest-child') {
  await ingestChild(args[1]!, args.slice(2));
} else {
  const rows = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
  const keep = args.includes('--keep');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-ingest-bench-'));
  try {
    const tg = Date.now();
    const gen = await generate(dir, rows);
    console.log(
      `generated ${rows.toLocaleString('en-US')} rows, ${(gen.bytes / 1e6).toFixed(0)} MB (${gen.dups} dup, ${gen.bad} bad) in ${((Date.now() - tg) / 1000).toFixed(1)}s -> ${dir}`,
    );
    const child = spawnSync(
      process.execPath,
      ['--conditions=@rds/source', '--import', 'tsx', self, '--ingest-child', path.join(dir, 'run'), ...gen.files],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    if (child.status !== 0) throw new Error(`ingest child failed (${child.status})`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
      seconds: number;
      cpuSeconds: number;
      bytes: number;
      shards: number;
      maxRssKb: number;
      counts: { read: number; kept: number; duplicate: number; rejected: number };
    };
    console.log(
      `counts: read ${r.counts.read}, kept ${r.counts.kept}, duplicate ${r.counts.duplicate}, rejected ${r.counts.rejected}; ${r.shards} shards`,
    );
    console.log(
      `ingest: ${r.seconds.toFixed(2)}s wall, ${r.cpuSeconds.toFixed(2)}s cpu | ${Math.round(r.counts.read / r.seconds).toLocaleString('en-US')} rows/s | ` +
        `${(r.bytes / 1e6 / r.seconds).toFixed(1)} MB/s | peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MB`,
    );
    if (r.counts.duplicate < gen.dups || r.counts.rejected !== gen.bad)
      console.log('WARNING: counts differ from what was generated');
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}
