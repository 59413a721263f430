// Selection quality on the shared real data (../shared/data): does selecting for queries/gsm8k.jsonl pick
// gsm8k rows, and for queries/general.jsonl alpaca rows? The whole pipeline (ingest, embed, score,
// round-robin-tasks select) runs once per model in its own run directory under bench/out/quality/ (resumable:
// a re-run skips what is finished), then a `random` selection of the same budget is the yardstick.
// Prints, per model, the share of gsm8k rows among the gsm8k task's picks and of alpaca rows among the
// general task's; for random, the shares among all its picks (its task labels carry no meaning).
//
//   npm run bench:quality -- [rows=all] [budget=2000] [models=smollm2-135m,test]
//   rows < 19,023: the first `rows` rows of pool.jsonl (shuffled with seed 42: a fixed random sample); the
//   budget is then scaled by rows / 19,023 unless given.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonLines } from '@rds/artifacts';
import { writeTestModel } from '@rds/encoder';
import { installedModel, PRETRAINED } from '@rds/models';
import { runLocal } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { SelectedRow, type RunConfigInput } from '@rds/schemas';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(repo, '../shared/data');
const poolFile = path.join(shared, 'pool.jsonl');
if (!fs.existsSync(poolFile)) throw new Error(`bench data missing: ${poolFile}`);
const poolLines = fs.readFileSync(poolFile, 'utf8').split('\n').filter(Boolean);
const rowsArg = process.argv[2] && process.argv[2] !== 'all' ? Number(process.argv[2]) : poolLines.length;
const rows = Math.min(rowsArg, poolLines.length);
const budget = Number(process.argv[3] || Math.round((2000 * rows) / poolLines.length));
const models = (process.argv[4] ?? 'smollm2-135m,test').split(',');
const out = path.join(repo, 'bench', 'out', 'quality', rows === poolLines.length ? 'all' : `first-${rows}`);
fs.mkdirSync(out, { recursive: true });

let input = poolFile;
if (rows < poolLines.length) {
  input = path.join(out, 'pool.jsonl');
  fs.writeFileSync(input, poolLines.slice(0, rows).join('\n') + '\n');
}
const count = (d: string) =>
  poolLines.slice(0, rows).filter((l) => (JSON.parse(l) as { dataset: string }).dataset === d).length;
console.log(
  `pool: ${rows} rows (gsm8k ${count('gsm8k')}, alpaca ${count('alpaca')}, code_alpaca ${count('code_alpaca')}); budget ${budget}, round-robin-tasks`,
);

async function modelDir(name: string): Promise<string> {
  if (name === 'test') return writeTestModel(path.join(out, 'test-model'));
  if (name in PRETRAINED) return (await installedModel(name)).dir;
  return name;
}

async function select(name: string, strategy: 'round-robin-tasks' | 'random'): Promise<SelectedRow[]> {
  const runDir = path.join(out, `${path.basename(name)}-${strategy}`);
  const config: RunConfigInput = {
    runDir,
    pool: { inputs: [input], shardSize: 5000 },
    queries: [
      { task: 'gsm8k', path: path.join(shared, 'queries/gsm8k.jsonl') },
      { task: 'general', path: path.join(shared, 'queries/general.jsonl') },
    ],
    model: { dir: await modelDir(name), id: path.basename(name) },
    selection: { strategy, budget, seed: 42 },
  };
  const t0 = performance.now();
  const status = await runLocal(config, { activities, log: () => undefined });
  if (status.state !== 'completed')
    throw new Error(`${name} ${strategy}: run ${status.state}: ${JSON.stringify(status.error)}`);
  const picked: SelectedRow[] = [];
  for await (const { value } of readJsonLines(path.join(runDir, 'selection', 'selection.jsonl'), SelectedRow))
    picked.push(value);
  console.log(
    `  ${name} ${strategy}: ${((performance.now() - t0) / 1000).toFixed(0)} s (0 when already finished), peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
  return picked;
}

const share = (picks: readonly SelectedRow[], source: string) =>
  picks.length ? picks.filter((p) => p.source === source).length / picks.length : NaN;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const results: string[] = [];
for (const name of models) {
  const picks = await select(name, 'round-robin-tasks');
  const g = picks.filter((p) => p.task === 'gsm8k');
  const a = picks.filter((p) => p.task === 'general');
  results.push(
    `${name.padEnd(14)} gsm8k task: ${pct(share(g, 'gsm8k'))} gsm8k of ${g.length}   general task: ${pct(share(a, 'alpaca'))} alpaca of ${a.length}`,
  );
}
const random = await select(models.includes('test') ? 'test' : models[0]!, 'random');
results.push(
  `${'random'.padEnd(14)} all picks:  ${pct(share(random, 'gsm8k'))} gsm8k, ${pct(share(random, 'alpaca'))} alpaca of ${random.length}`,
);
console.log(results.join('\n'));
