// The embedding cache shared by runs, on the shared real data (../shared/data). Three full `rds run`
// pipelines (runLocal) in fresh run directories, one fresh cache:
//   1. a pool of the first N rows of pool.jsonl with the gsm8k query set (cold cache: the yardstick);
//   2. the same N rows plus the next 10% (a grown pool): only the new rows should be embedded, so its
//      embedding time (embed-queries + embed-pool stages) should be at most 15% of run 1's;
//   3. run 2's pool with another query set (general): no pool row should be embedded.
// Prints per run the embedding seconds, pool rows read from the cache and embedded, and run 2's and
// run 3's embedding time as a fraction of run 1's.
//
//   npm run bench:cache -- [model=smollm2-135m] [rows]
//   npm run bench:cache -- index [keys=1000000]: the key index alone at scale: fill a cache with `keys`
//          synthetic rows (16-byte rows, segments of 16,384 as runs commit them), then look up every key and
//          as many absent ones; the yardstick is a JS Map holding the same keys, in the same process.
//   model: smollm2-135m (the installed real model; default 1,000 rows: run 1 embeds for ~2 min on a
//          2-core VM), test (the generated test model; 4,000 rows) or a model directory.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheStats, EmbeddingCache, type CacheNamespace } from '@rds/artifacts';
import { PRETRAINED } from '@rds/models';
import { benchModelDir } from './lib/common.js';
import { runLocal } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import type { RunConfigInput, RunStage, RunStatus } from '@rds/schemas';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(repo, '../shared/data');
const poolFile = path.join(shared, 'pool.jsonl');
if (!fs.existsSync(poolFile)) throw new Error(`bench data missing: ${poolFile}`);
const modelArg = process.argv[2] || 'smollm2-135m';
if (modelArg === 'index') {
  await indexBench(Number(process.argv[3] ?? 1_000_000));
  process.exit(0);
}
const realModel = modelArg in PRETRAINED;
const rows = Number(process.argv[3] ?? (realModel ? 1000 : 4000));
const out = path.join(repo, 'bench', 'out', 'cache', path.basename(modelArg));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const modelDir = await benchModelDir(modelArg);
const lines = fs.readFileSync(poolFile, 'utf8').split('\n').filter(Boolean);
if (Math.ceil(rows * 1.1) > lines.length) throw new Error(`rows: at most ${Math.floor(lines.length / 1.1)}`);
const cacheDir = path.join(out, 'cache');

function poolOf(n: number): string {
  const file = path.join(out, `pool-${n}.jsonl`);
  fs.writeFileSync(file, lines.slice(0, n).join('\n') + '\n');
  return file;
}

const EMBED_STAGES: RunStage[] = ['embed-queries', 'embed-pool'];

/** One full run; returns the seconds its embedding stages took and its final status. */
async function run(name: string, pool: string, task: 'gsm8k' | 'general') {
  const config: RunConfigInput = {
    runDir: path.join(out, name),
    pool: { inputs: [pool], shardSize: 500 },
    queries: [{ task, path: path.join(shared, 'queries', `${task}.jsonl`) }],
    model: { dir: modelDir, id: path.basename(modelArg) },
    cache: { dir: cacheDir },
    selection: { strategy: 'round-robin-tasks', budget: 100, seed: 42 },
  };
  const stageStart = new Map<string, number>();
  let embedSecs = 0;
  let current: string | null = null;
  const onStatus = (s: RunStatus) => {
    if (s.stage === current) return;
    const now = performance.now();
    if (current && EMBED_STAGES.includes(current as RunStage)) embedSecs += (now - stageStart.get(current)!) / 1000;
    current = s.stage;
    if (current) stageStart.set(current, now);
  };
  const t0 = performance.now();
  const status = await runLocal(config, { activities, onStatus, log: () => undefined });
  onStatus({ ...status, stage: null });
  if (status.state !== 'completed') throw new Error(`${name}: run ${status.state}: ${JSON.stringify(status.error)}`);
  const poolRows = status.counts.poolRows ?? 0;
  const fromCache = status.counts.rowsFromCache ?? 0;
  console.log(
    `  ${name}: ${poolRows} pool rows (${fromCache} from the cache, ${poolRows - fromCache} embedded), ` +
      `queries ${task}; embedding ${embedSecs.toFixed(1)} s, whole run ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { embedSecs, poolRows, fromCache };
}

console.log(
  `model ${path.basename(modelArg)}; pool: the first ${rows} rows of pool.jsonl, then ${Math.ceil(rows * 1.1)}`,
);
const first = await run('1-cold', poolOf(rows), 'gsm8k');
const grownPool = poolOf(Math.ceil(rows * 1.1));
const grown = await run('2-grown-pool', grownPool, 'gsm8k');
const newQueries = await run('3-new-query-set', grownPool, 'general');
const [stats] = await cacheStats(cacheDir);
console.log(
  `  cache: ${stats?.rows ?? 0} rows in ${stats?.segments ?? 0} segments (${stats?.indexedSegments ?? 0} indexed), ${((stats?.bytes ?? 0) / 1e6).toFixed(1)} MB`,
);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(
  `grown pool (+10% rows): embedding time ${pct(grown.embedSecs / first.embedSecs)} of the cold run's (target <= 15%); ` +
    `${grown.poolRows - grown.fromCache} of ${grown.poolRows} pool rows embedded`,
);
console.log(
  `new query set: embedding time ${pct(newQueries.embedSecs / first.embedSecs)} of the cold run's; ` +
    `${newQueries.poolRows - newQueries.fromCache} pool rows embedded (target 0)`,
);

/** Key index throughput and memory at scale, beside an in-heap Map of the same keys. */
async function indexBench(n: number): Promise<void> {
  const dir = path.join(repo, 'bench', 'out', 'cache', 'index');
  fs.rmSync(dir, { recursive: true, force: true });
  const ns: CacheNamespace = {
    model: 'c'.repeat(64),
    pooling: 'weighted-mean',
    maxTokens: 2048,
    dtype: 'float16',
    dims: 8,
    render: 1,
  };
  const keyBytes = randomBytes(8 * n);
  const keys = Array.from({ length: n }, (_, i) => keyBytes.readBigUInt64BE(8 * i));
  const row = new Uint8Array(16);
  let t0 = performance.now();
  for (let start = 0; start < n; start += 16_384) {
    const cache = await EmbeddingCache.open(dir, ns);
    const seg = cache.newSegment();
    for (let i = start; i < Math.min(n, start + 16_384); i++) seg.add(keys[i]!, row);
    await seg.commit();
    cache.close();
  }
  const fillSecs = (performance.now() - t0) / 1000;
  const [stats] = await cacheStats(dir);
  const absent = Array.from({ length: n }, (_, i) => keys[i]! ^ 0x5555_5555_5555_5555n);
  t0 = performance.now();
  const cache = await EmbeddingCache.open(dir, ns);
  const openMs = performance.now() - t0;
  const indexBytes = cache.memoryBytes;
  t0 = performance.now();
  let hits = 0;
  for (let i = 0; i < n; i += 1024) hits += cache.lookup(keys.slice(i, i + 1024)).filter(Boolean).length;
  const hitSecs = (performance.now() - t0) / 1000;
  t0 = performance.now();
  let wrong = 0;
  for (let i = 0; i < n; i += 1024) wrong += cache.lookup(absent.slice(i, i + 1024)).filter(Boolean).length;
  const missSecs = (performance.now() - t0) / 1000;
  cache.close();
  // The yardstick's memory: JS heap before and after building it, each after a full GC when the
  // process runs with --expose-gc (NODE_OPTIONS=--expose-gc npm run bench:cache -- index).
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => (gc?.(), process.memoryUsage().heapUsed);
  const heap1 = heap();
  const map = new Map<bigint, number>();
  t0 = performance.now();
  keys.forEach((k, i) => map.set(k, i));
  const mapBuild = (performance.now() - t0) / 1000;
  const mapHeap = heap() - heap1;
  t0 = performance.now();
  let mapHits = 0;
  for (const k of keys) if (map.has(k)) mapHits++;
  const mapSecs = (performance.now() - t0) / 1000;
  const rate = (k: number, s: number) => `${Math.round(k / s).toLocaleString('en-US')}/s`;
  console.log(
    `index: ${n.toLocaleString('en-US')} keys in ${stats!.segments} segments (${stats!.indexedSegments} merged into the index), ` +
      `filled in ${fillSecs.toFixed(1)} s (commits and merges), ${(stats!.bytes / 1e6).toFixed(0)} MB on disk`,
  );
  console.log(
    `  open ${openMs.toFixed(0)} ms, ${(indexBytes / 1e3).toFixed(0)} KB held for lookups; lookups: hits ${rate(n, hitSecs)} (${hits} found), ` +
      `misses ${rate(n, missSecs)} (${wrong} wrongly found)`,
  );
  console.log(
    `  yardstick, a Map of the same keys: ${(mapHeap / 1e6).toFixed(0)} MB of heap${gc ? '' : ' (without --expose-gc: approximate)'}, built in ${mapBuild.toFixed(1)} s, ${rate(mapHits, mapSecs)}; ` +
      `the index holds ${((100 * indexBytes) / mapHeap).toFixed(2)}% of its memory at ${((100 * (n / hitSecs)) / (n / mapSecs)).toFixed(2)}% of its hit rate`,
  );
}
