import fsp from 'node:fs/promises';
import { z } from 'zod';
import { readJsonIfExists, readSelectionSummary, runLayout } from '@rds/artifacts';
import { selectPool } from '@rds/selectors';
import { pairsAtLeast, topKForQueries } from '@rds/vector-index';
import {
  ContaminationConfig,
  RoundRobinTurns,
  SelectionConfig,
  SelectionStrategy,
  SelectionSummary,
  ValidationError,
  parseOrThrow,
} from '@rds/schemas';
import { runInTerminal } from '../terminal.js';
import { existingRunDir, parseFlags, required, type Command } from '../args.js';

const NAME = 'select';

/** Task order of the run: the config's query sets if the run has one, else the score manifests found (sorted). */
async function tasksOf(runDir: string): Promise<string[]> {
  const layout = runLayout(runDir);
  const config = await readJsonIfExists(
    layout.config,
    z.object({ queries: z.array(z.object({ task: z.string() })) }).loose(),
  );
  if (config) return config.queries.map((q) => q.task);
  const names = await fsp.readdir(layout.scores.dir).catch(() => [] as string[]);
  const tasks = new Set(
    names.map((n) => /^(.+)\.(max|mean|topk)\.manifest\.json$/.exec(n)?.[1]).filter((t): t is string => !!t),
  );
  if (tasks.size === 0)
    throw new ValidationError(`rds ${NAME}: no score manifests under ${layout.scores.dir}; run scoring first`);
  return [...tasks].sort();
}

/** The run config's contamination check (settings and decontamination set names), if the run has a config. */
async function contaminationOf(runDir: string): Promise<{ contamination?: ContaminationConfig; checkTasks: string[] }> {
  const config = await readJsonIfExists(
    runLayout(runDir).config,
    z
      .object({
        contamination: ContaminationConfig.optional(),
        decontaminate: z.array(z.object({ name: z.string() })).optional(),
      })
      .loose(),
  );
  if (!config?.contamination) return { checkTasks: [] };
  return { contamination: config.contamination, checkTasks: (config.decontaminate ?? []).map((d) => d.name) };
}

function parseQuota(spec: string): [string, number] {
  const eq = spec.lastIndexOf('=');
  const weight = Number(spec.slice(eq + 1));
  if (eq <= 0 || spec.slice(eq + 1).trim() === '' || !Number.isFinite(weight) || weight < 0) {
    throw new ValidationError(`rds ${NAME}: --quota expects source=weight (weight >= 0), got "${spec}"`);
  }
  return [spec.slice(0, eq), weight];
}

function report(s: SelectionSummary, skipped: boolean, seconds: number, rowsFile: string): string {
  const table = (title: string, counts: Record<string, number>) => {
    const width = Math.max(8, ...Object.keys(counts).map((k) => k.length));
    return [
      `  ${title}`,
      ...Object.entries(counts).map(
        ([k, n]) =>
          `    ${k.padEnd(width)} ${String(n).padStart(10)}  ${((100 * n) / Math.max(1, s.selected)).toFixed(1).padStart(5)}%`,
      ),
    ];
  };
  const quantiles = Object.entries(s.scoreQuantiles).map(
    ([t, q]) =>
      `    ${t}: ${q.length ? `min ${q[0]!.toFixed(4)}  median ${q[3]!.toFixed(4)}  max ${q[6]!.toFixed(4)}` : 'none selected'}`,
  );
  return [
    skipped
      ? `selection already up to date (same strategy, turns, budget, seed and inputs); nothing to do`
      : `selected ${s.selected} of ${s.poolRows} pool rows in ${seconds.toFixed(1)}s`,
    `  strategy ${s.strategy}${s.turns ? ` (turns ${s.turns})` : ''}, budget ${s.budget}, seed ${s.seed}${s.minScore != null ? `, min score ${s.minScore}` : ''}${s.sourceQuotas ? `, quotas ${JSON.stringify(s.sourceQuotas)}` : ''}`,
    ...table('per task', s.perTask),
    ...table('per source', s.perSource),
    '  scores per task',
    ...quantiles,
    ...s.warnings.map((w) => `warning: ${w}`),
    `rows: ${rowsFile}`,
  ].join('\n');
}

const command: Command = {
  name: NAME,
  summary: 're-select from stored scores (no recomputation) with any strategy, turn rule, budget, seed, quotas',
  usage: `rds select --run <runDir> --strategy ${SelectionStrategy.options.join('|')} --budget N [--turns ${RoundRobinTurns.options.join('|')}] [--seed S] [--min-score x] [--quota source=weight ...] [--task t ...] [--exclude-contaminated]`,
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      run: { type: 'string' },
      strategy: { type: 'string', default: 'round-robin-tasks' },
      turns: { type: 'string' },
      budget: { type: 'string' },
      seed: { type: 'string' },
      'min-score': { type: 'string' },
      quota: { type: 'string', multiple: true },
      task: { type: 'string', multiple: true },
      'exclude-contaminated': { type: 'boolean' },
    });
    const runDir = existingRunDir(NAME, values.run);
    const num = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n))
        throw new ValidationError(`rds ${NAME}: --${flag} expects a number, got "${v}"`);
      return n;
    };
    const quotas = values.quota?.map(parseQuota);
    const selection = parseOrThrow(
      SelectionConfig,
      {
        strategy: values.strategy,
        budget: num('budget', required(NAME, 'budget', values.budget)),
        ...(values.turns !== undefined ? { turns: values.turns } : {}),
        ...(values.seed !== undefined ? { seed: num('seed', values.seed) } : {}),
        ...(values['min-score'] !== undefined ? { minScore: num('min-score', values['min-score']) } : {}),
        ...(quotas ? { sourceQuotas: Object.fromEntries(quotas) } : {}),
        ...(values['exclude-contaminated'] ? { excludeContaminated: true } : {}),
      },
      `rds ${NAME} options`,
    );
    const tasks = values.task?.length ? values.task : await tasksOf(runDir);

    const started = Date.now();
    // The run's contamination check (from its config.json) runs again with the new selection.
    const check = await contaminationOf(runDir);
    const out = await runInTerminal(() =>
      selectPool({ runDir, tasks, selection, ...check }, { topKForQueries, pairsAtLeast }),
    );
    const summary = await readSelectionSummary(runDir);
    console.error(report(summary, out.skipped, (Date.now() - started) / 1000, runLayout(runDir).selection.rows));
    return 0;
  },
};
export default command;
