// HTTP API latency on the real data (../shared/data: 19k-row pool, gsm8k + general query sets): runs a
// selection through the API on a LocalBackend (real ingest, select and handoff; word-overlap scores in
// place of the model stages, as in the API tests), then times over loopback:
//  - authenticated GET /v1/runs/:id (requests/s, sequential),
//  - GET /v1/runs/:id/selection pages: the first request (reads and verifies selection.jsonl, builds
//    the histogram) and warm pages at the start, middle and end of the selection (pool shards are
//    scanned for the page's ids, so late pages in big pools cost more),
//  - peak RSS.
//
//   node --conditions=@rds/source --import tsx bench/api.bench.ts [budget=5000] [limit=200]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalBackend } from '@rds/runner';
import { PathPolicy, TokenSet, buildServer } from '../apps/api/src/index.js';
import { pipelineActivities } from '../apps/api/test/pipeline.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const budget = Number(process.argv[2] ?? 5000);
const limit = Number(process.argv[3] ?? 200);
const TOKEN = 'bench-token';

if (!fs.existsSync(path.join(DATA, 'pool.jsonl')))
  throw new Error(`missing ${DATA}pool.jsonl (the shared data directory beside the repo)`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-bench-'));
fs.mkdirSync(path.join(tmp, 'model'));
const paths = await PathPolicy.create([DATA, tmp], path.join(tmp, 'runs'));
const backend = new LocalBackend({ activities: pipelineActivities({ shardMs: 0 }) });
const app = await buildServer({ backend, tokens: new TokenSet([TOKEN]), paths });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function get(url: string): Promise<unknown> {
  const res = await fetch(base + url, { headers });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

try {
  const config = {
    runDir: 'bench',
    pool: { inputs: ['pool.jsonl'], shardSize: 5000 },
    queries: [
      { task: 'gsm8k', path: 'queries/gsm8k.jsonl' },
      { task: 'general', path: 'queries/general.jsonl' },
    ],
    model: { dir: path.join(tmp, 'model') },
    selection: { strategy: 'round-robin-queries', budget },
  };
  let t = performance.now();
  const start = await fetch(`${base}/v1/runs`, { method: 'POST', headers, body: JSON.stringify(config) });
  const { runId } = (await start.json()) as { runId: string };
  for (;;) {
    const d = (await get(`/v1/runs/${runId}`)) as { state: string; status: { error: unknown } | null };
    if (d.state === 'completed') break;
    if (d.state === 'failed' || d.state === 'cancelled')
      throw new Error(`run ${d.state}: ${JSON.stringify(d.status?.error)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(
    `run through the API (ingest, word-overlap scores, select ${budget}, handoff): ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const n = 2000;
  t = performance.now();
  for (let i = 0; i < n; i++) await get(`/v1/runs/${runId}`);
  const perSec = n / ((performance.now() - t) / 1000);
  console.log(`GET /v1/runs/:id (auth + status + artifact stats), sequential: ${perSec.toFixed(0)} req/s`);

  const timePage = async (offset: number, reps: number) => {
    const t0 = performance.now();
    let page: { examples: unknown[] } | undefined;
    for (let i = 0; i < reps; i++)
      page = (await get(`/v1/runs/${runId}/selection?offset=${offset}&limit=${limit}`)) as { examples: unknown[] };
    return { ms: (performance.now() - t0) / reps, rows: page!.examples.length };
  };
  const cold = await timePage(0, 1);
  console.log(
    `selection page, first request (read + verify ${budget} rows, histogram, page of ${cold.rows}): ${cold.ms.toFixed(1)} ms`,
  );
  for (const [label, offset] of [
    ['start', 0],
    ['middle', Math.floor(budget / 2)],
    ['end', Math.max(0, budget - limit)],
  ] as const) {
    const warm = await timePage(offset, 20);
    console.log(
      `selection page (${label}, offset ${offset}, ${warm.rows} examples with messages + queries), warm: ${warm.ms.toFixed(1)} ms`,
    );
  }
  console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  await app.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
