import {
  type CardBaseline,
  type ContaminationMatch,
  type ContaminationReport,
  type DatasetCard,
  type FileRef,
  type ModelRef,
  type PoolManifest,
  type RunConfig,
  type SelectionSummary,
} from '@rds/schemas';

/** Quantile levels of `scoreQuantiles` (the selection summary uses the same ones). */
export const QUANTILE_LEVELS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1];
/** perTask key for rows selected without a task (e.g. random baselines with no task). */
export const NO_TASK = '(none)';

/** Running tallies of the rows as they are written: counts and scores per task / source. */
export class CardStats {
  readonly perTask = new Map<string, number>();
  readonly perSource = new Map<string, number>();
  readonly scores = new Map<string, number[]>();

  add(task: string | null, source: string, score: number | null): void {
    const t = task ?? NO_TASK;
    this.perTask.set(t, (this.perTask.get(t) ?? 0) + 1);
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    if (score !== null && Number.isFinite(score)) {
      let list = this.scores.get(t);
      if (!list) this.scores.set(t, (list = []));
      list.push(score);
    }
  }
}

/** Nearest-rank-below quantiles, as the selection summary computes them. */
export function quantiles(values: ArrayLike<number>): number[] {
  const v = Float64Array.from(values).sort();
  return v.length ? QUANTILE_LEVELS.map((q) => v[Math.floor(q * (v.length - 1))]!) : [];
}

export interface Histogram {
  bins: number;
  min: number | null;
  max: number | null;
  counts: Record<string, number[]>;
}

/** Per-task counts over shared bins (one x axis for every task, so panels compare at a glance). */
export function histogram(scores: Map<string, number[]>, bins = 24): Histogram {
  let min = Infinity;
  let max = -Infinity;
  for (const list of scores.values())
    for (const s of list) {
      if (s < min) min = s;
      if (s > max) max = s;
    }
  if (min > max) return { bins, min: null, max: null, counts: {} };
  const width = max - min || 1;
  const counts: Record<string, number[]> = {};
  for (const [task, list] of [...scores.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const c = new Array<number>(bins).fill(0);
    for (const s of list) c[Math.min(bins - 1, Math.floor(((s - min) / width) * bins))]!++;
    counts[task] = c;
  }
  return { bins, min, max, counts };
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Hand-written SVG: one bar panel per task over the shared score axis. */
export function histogramSvg(h: Histogram): string {
  const width = 640;
  const panel = 110;
  const left = 40;
  const plotW = width - left - 20;
  const tasks = Object.keys(h.counts);
  const height = Math.max(1, tasks.length) * (panel + 30) + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  if (tasks.length === 0 || h.min === null || h.max === null) {
    parts.push(`<text x="${left}" y="20">no scored rows</text>`, '</svg>');
    return parts.join('\n') + '\n';
  }
  const barW = plotW / h.bins;
  tasks.forEach((task, ti) => {
    const counts = h.counts[task]!;
    const top = 10 + ti * (panel + 30);
    const peak = Math.max(1, ...counts);
    const total = counts.reduce((a, b) => a + b, 0);
    parts.push(
      `<text x="${left}" y="${top + 10}" font-weight="bold">${xml(task)} (${total} scored rows, peak ${peak})</text>`,
    );
    const base = top + 15 + panel - 20;
    counts.forEach((n, b) => {
      const hgt = ((panel - 20) * n) / peak;
      parts.push(
        `<rect x="${(left + b * barW).toFixed(1)}" y="${(base - hgt).toFixed(1)}" width="${Math.max(0.5, barW - 1).toFixed(1)}" height="${hgt.toFixed(1)}" fill="#4c78a8"><title>${n}</title></rect>`,
      );
    });
    parts.push(`<line x1="${left}" y1="${base}" x2="${left + plotW}" y2="${base}" stroke="#333"/>`);
    parts.push(`<text x="${left}" y="${base + 13}">${h.min!.toFixed(4)}</text>`);
    parts.push(`<text x="${left + plotW}" y="${base + 13}" text-anchor="end">${h.max!.toFixed(4)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export interface CardInputs {
  runId: string;
  fingerprint: string;
  dataset: DatasetCard['dataset'];
  histogramFile: FileRef;
  histogram: Histogram;
  stats: CardStats;
  summary: SelectionSummary;
  pool: PoolManifest;
  model: ModelRef | null;
  /** Pool rows embedded, and how many of them were read from the embedding cache. */
  embedding?: { poolRows: number; fromCache: number };
  config: RunConfig | null;
  configPath: string;
  trigger: DatasetCard['trigger'];
  baselines?: CardBaseline[];
  contamination: ContaminationReport | null;
  /** Ids of the dataset's rows (to count flagged rows that were selected). */
  selectedIds: ReadonlySet<string> | null;
}

/** Flagged rows shown in the card (the full list is selection/contamination.json). */
const CARD_CONTAMINATION_EXAMPLES = 20;

function cardContamination(
  report: ContaminationReport | null,
  selectedIds: ReadonlySet<string> | null,
): DatasetCard['contamination'] {
  if (!report) return null;
  return {
    flagged: report.flagged,
    excluded: report.excluded,
    inDataset: selectedIds ? report.rows.filter((r) => selectedIds.has(r.id)).length : 0,
    minSimilarity: report.settings.minSimilarity,
    ngram: report.settings.ngram,
    sets: report.sets.map((s) => ({ ...s, flagged: report.perSet[s.task] ?? 0 })),
    examples: report.rows
      .slice(0, CARD_CONTAMINATION_EXAMPLES)
      .map((r) => ({ id: r.id, source: r.source, matches: r.matches })),
  };
}

const pct = (n: number, total: number) => (total > 0 ? Math.round((1e4 * n) / total) / 100 : 0);

/** Selected vs pool rows per source (every pool source listed, sorted by name). */
export function perSourceCounts(
  pool: PoolManifest,
  stats: CardStats,
  rows: number,
): DatasetCard['counts']['perSource'] {
  const poolRows = pool.shards.reduce((a, s) => a + s.rows, 0);
  const sources = [...new Set([...Object.keys(pool.perSource), ...stats.perSource.keys()])].sort();
  const perSource: DatasetCard['counts']['perSource'] = {};
  for (const s of sources) {
    const selected = stats.perSource.get(s) ?? 0;
    const inPool = pool.perSource[s] ?? 0;
    perSource[s] = { selected, pool: inPool, selectedPct: pct(selected, rows), poolPct: pct(inPool, poolRows) };
  }
  return perSource;
}

export function buildCard(c: CardInputs): DatasetCard {
  const poolRows = c.pool.shards.reduce((a, s) => a + s.rows, 0);
  const perSource = perSourceCounts(c.pool, c.stats, c.dataset.rows);
  const tasks = [...(c.summary.tasks ?? []), ...[...c.stats.perTask.keys()].sort()].filter(
    (t, i, all) => all.indexOf(t) === i,
  );
  return {
    kind: 'dataset-card',
    version: 1,
    runId: c.runId,
    fingerprint: c.fingerprint,
    dataset: c.dataset,
    files: [c.histogramFile],
    selection: {
      strategy: c.summary.strategy,
      turns: c.summary.turns ?? null,
      budget: c.summary.budget,
      seed: c.summary.seed,
      selected: c.summary.selected,
      poolRows: c.summary.poolRows,
      selectionSha256: c.summary.selection.sha256,
      fingerprint: c.summary.fingerprint ?? null,
      warnings: c.summary.warnings,
    },
    pool: {
      fingerprint: c.pool.fingerprint,
      rows: poolRows,
      shards: c.pool.shards.map((s) => ({ file: s.file, rows: s.rows, sha256: s.sha256 })),
    },
    model: c.model,
    ...(c.embedding ? { embedding: c.embedding } : {}),
    counts: { perTask: Object.fromEntries(tasks.map((t) => [t, c.stats.perTask.get(t) ?? 0])), perSource },
    quantileLevels: QUANTILE_LEVELS,
    scoreQuantiles: Object.fromEntries(tasks.map((t) => [t, quantiles(c.stats.scores.get(t) ?? [])])),
    histogram: { file: c.histogramFile.file, ...c.histogram },
    trigger: c.trigger,
    contamination: cardContamination(c.contamination, c.selectedIds),
    baselines: c.baselines ?? [],
    reproduce: `rds run --config ${c.configPath}`,
    config: c.config,
    createdAt: new Date().toISOString(),
  };
}

const fmt = (x: number) => x.toFixed(4);

/** README.md for humans (and dataset hubs): the same numbers as card.json. */
export function cardMarkdown(card: DatasetCard): string {
  const d = card.dataset;
  const lines = [
    `# RDS+ selected dataset (${card.runId})`,
    '',
    `${d.rows.toLocaleString('en-US')} examples selected with \`${card.selection.strategy}\`${card.selection.turns ? ` (${card.selection.turns} turns)` : ''} (budget ${card.selection.budget}, seed ${card.selection.seed}) from a pool of ${card.pool.rows.toLocaleString('en-US')}.`,
    '',
    '| file | format | rows | bytes | sha256 |',
    '|---|---|---|---|---|',
    `| \`${d.file}\` | ${d.format}${d.includeMetadata ? ' + metadata' : ''}, ${d.order} order | ${d.rows} | ${d.bytes} | \`${d.sha256}\` |`,
    '',
    '## Per task',
    '',
    '| task | rows | q0 | q10 | q25 | median | q75 | q90 | q100 |',
    '|---|---|---|---|---|---|---|---|---|',
    ...Object.entries(card.counts.perTask).map(([t, n]) => {
      const q = card.scoreQuantiles[t] ?? [];
      return `| ${t} | ${n} | ${q.length ? q.map(fmt).join(' | ') : Array(7).fill('–').join(' | ')} |`;
    }),
    '',
    `![score histogram per task](${card.histogram.file})`,
    '',
    '## Per source (selected vs pool)',
    '',
    '| source | selected | % of selected | pool | % of pool |',
    '|---|---|---|---|---|',
    ...Object.entries(card.counts.perSource).map(
      ([s, c]) => `| ${s} | ${c.selected} | ${c.selectedPct}% | ${c.pool} | ${c.poolPct}% |`,
    ),
    '',
    ...contaminationLines(card.contamination),
    '## Provenance',
    '',
    `- model: ${card.model ? `\`${card.model.id}\` (sha256 \`${card.model.sha256}\`)` : 'unknown (no embedding manifest found)'}`,
    ...(card.embedding
      ? [
          `- embeddings: ${card.embedding.poolRows} pool rows, ${card.embedding.fromCache} of them read from the embedding cache`,
        ]
      : []),
    `- pool fingerprint: \`${card.pool.fingerprint}\``,
    ...card.pool.shards.map((s) => `- pool shard \`${s.file}\`: ${s.rows} rows, sha256 \`${s.sha256}\``),
    `- selection file sha256: \`${card.selection.selectionSha256}\``,
    ...card.selection.warnings.map((w) => `- selection warning: ${w}`),
    '',
    '## Reproduce',
    '',
    '```sh',
    card.reproduce,
    '```',
  ];
  if (card.baselines.length) lines.push('', ...baselinesMarkdown(card));
  if (card.trigger.command) lines.push('', '## Fine-tuning command', '', '```sh', card.trigger.command, '```');
  const commands = card.baselines.filter((b) => b.command);
  if (card.trigger.command && commands.length)
    lines.push('', 'Baselines:', '', '```sh', ...commands.map((b) => b.command!), '```');
  if (card.config) lines.push('', '## Run config', '', '```json', JSON.stringify(card.config, null, 2), '```');
  return lines.join('\n') + '\n';
}

function contaminationLines(c: DatasetCard['contamination']): string[] {
  if (!c) return [];
  const tests = [
    c.minSimilarity !== null ? `RDS+ score >= ${c.minSimilarity}` : null,
    c.ngram > 0 ? `a shared run of ${c.ngram} words` : null,
  ].filter(Boolean);
  const match = (m: ContaminationMatch) =>
    `${m.task} \`${m.queryId}\` (${m.kind === 'similarity' ? `score ${m.score!.toFixed(4)}` : `"${m.ngram!.length > 80 ? m.ngram!.slice(0, 77) + '...' : m.ngram}"`})`;
  return [
    '## Contamination check',
    '',
    `${c.flagged} pool rows are near-copies of query or evaluation examples (${tests.join(' or ')}); ` +
      (c.excluded
        ? 'they were excluded before selecting.'
        : `${c.inDataset} of them are in this dataset (set \`selection.excludeContaminated\` to drop them).`),
    '',
    '| set | role | examples | flagged pool rows |',
    '|---|---|---|---|',
    ...c.sets.map((s) => `| ${s.task} | ${s.role} | ${s.examples} | ${s.flagged} |`),
    ...(c.examples.length
      ? [
          '',
          `First ${c.examples.length} (all in \`selection/contamination.json\`):`,
          '',
          ...c.examples.map((e) => `- \`${e.id}\` (${e.source}): ${e.matches.map(match).join('; ')}`),
        ]
      : []),
    '',
  ];
}

/** The card's baselines section: one row per file, then selection vs each baseline per source. */
function baselinesMarkdown(card: DatasetCard): string[] {
  const names = card.baselines.map((b) => b.name);
  const sources = Object.keys(card.counts.perSource);
  return [
    '## Matched random baselines',
    '',
    `${card.baselines.length} training files of ${card.dataset.rows} rows each (the selection's size), drawn from the same pool with the seeded \`random\` / \`balanced-random\` (equal share per source) strategies, for A/B fine-tuning against this selection.`,
    '',
    '| name | strategy | seed | file | rows | bytes | sha256 |',
    '|---|---|---|---|---|---|---|',
    ...card.baselines.map(
      (b) =>
        `| ${b.name} | ${b.strategy} | ${b.seed} | \`${b.dataset.file}\` | ${b.dataset.rows} | ${b.dataset.bytes} | \`${b.dataset.sha256}\` |`,
    ),
    '',
    '### Rows per source: selection vs baselines',
    '',
    `| source | pool | selection | ${names.join(' | ')} |`,
    `|---|---|---|${names.map(() => '---|').join('')}`,
    ...sources.map((s) => {
      const c = card.counts.perSource[s]!;
      return `| ${s} | ${c.pool} | ${c.selected} | ${card.baselines.map((b) => b.counts.perSource[s]?.selected ?? 0).join(' | ')} |`;
    }),
  ];
}
