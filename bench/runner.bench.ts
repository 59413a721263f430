// Orchestration cost of the local runner (what `rds run` adds on top of the activities):
//   1. overhead: runLocal over N pool shards with activities that return at once (validate and the
//      status.json writer are real), so every millisecond measured is the runner's: shards/s,
//      status writes, ms per shard, peak RSS.
//   2. end to end: `runLocal` on the example data with the real activities and the generated test
//      model (when every activity and writeTestModel are available): seconds per stage, rows/s.
//
//   node --conditions=@rds/source --import tsx bench/runner.bench.ts [shards=5000]
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunStatus } from '@rds/schemas';
import { loadConfigFile, runLocal, validateConfig } from '@rds/runner';
import { activities as real } from '@rds/runner/activities';
import { writeTestModel } from '@rds/encoder';
import type { RunActivities } from '@rds/workflows/plan';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shards = Number(process.argv[2] ?? 5000);
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-bench-runner-'));
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

try {
  // 1. overhead
  const instant: RunActivities = {
    validateConfig,
    ingestPool: async ({ queries }) => ({
      skipped: true,
      shards,
      rows: shards * 1000,
      rejected: 0,
      duplicate: 0,
      tasks: queries.map((q) => q.task),
    }),
    embedQueries: async () => ({ skipped: true, rows: 100 }),
    embedPoolShard: async ({ shard }) => ({ skipped: true, shard, rows: 1000, tokens: 0, seconds: 0 }),
    scorePool: async ({ tasks }) => ({ skipped: true, tasks, seconds: 0 }),
    selectPool: async ({ selection }) => ({ skipped: true, selected: selection.budget, warnings: [] }),
    handoffSelection: async ({ runDir }) => ({ skipped: true, location: runDir, rows: 0, triggerStatus: 'skipped' }),
  };
  let updates = 0;
  const config = {
    runDir: path.join(tmp, 'overhead'),
    pool: { inputs: ['x'] },
    queries: [{ task: 't', path: 'q' }],
    model: { dir: 'm' },
    selection: { budget: 10 },
  };
  const t0 = performance.now();
  const status = await runLocal(config, { activities: instant, onStatus: () => void updates++ });
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `overhead: ${shards} shards in ${secs.toFixed(2)} s = ${Math.round(shards / secs).toLocaleString('en-US')} shards/s, ${((1000 * secs) / shards).toFixed(3)} ms/shard, ${updates} status updates (${status.state}), peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
  );

  // 2. end to end on the example data
  {
    const modelDir = path.join(tmp, 'model');
    await writeTestModel(modelDir);
    const example = await loadConfigFile(path.join(repo, 'examples/rds.config.json'));
    const stageStart = new Map<string, number>();
    const stageSecs: [string, number][] = [];
    let last: RunStatus | null = null;
    const t1 = performance.now();
    const done = await runLocal(
      { ...example, runDir: path.join(tmp, 'e2e'), model: { ...example.model, dir: modelDir } },
      {
        activities: real,
        onStatus: (s) => {
          if (s.stage && !stageStart.has(s.stage)) {
            if (last?.stage) stageSecs.push([last.stage, (performance.now() - stageStart.get(last.stage)!) / 1000]);
            stageStart.set(s.stage, performance.now());
          }
          last = s;
        },
      },
    );
    const total = (performance.now() - t1) / 1000;
    if (done.stage) stageSecs.push([done.stage, (performance.now() - stageStart.get(done.stage)!) / 1000]);
    console.log(
      `end to end (example, ${done.counts.poolRows} rows, ${done.counts.shards} shards, test model): ${total.toFixed(2)} s, ${Math.round((done.counts.poolRows ?? 0) / total)} rows/s, selected ${done.counts.selected}`,
    );
    console.log(`  per stage: ${stageSecs.map(([s, t]) => `${s} ${t.toFixed(2)}s`).join(', ')}`);
    console.log(`  peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
  }
} finally {
  await fs.rm(tmp, { recursive: true, force: true });
}
