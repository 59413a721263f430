import { runLayout, runWithRuntime, type Progress, readPoolManifest } from '@rds/artifacts';
import { ingestPool } from '@rds/pool';
import { PoolConfig, PoolFormat, PoolManifest, ValidationError, parseOrThrow, type QuerySetConfig } from '@rds/schemas';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'ingest';

/** One progress line: on a TTY it rewrites itself (\r), otherwise one plain line per report. */
function progressLine(p: Progress, started: number): string {
  const secs = Math.max((Date.now() - started) / 1000, 1e-3);
  const rows = typeof p.detail?.rows === 'number' ? p.detail.rows : 0;
  const pct = p.total > 0 ? ((100 * p.done) / p.total).toFixed(1) : '?';
  const mbps = (p.done / secs / 1e6).toFixed(1);
  const eta = p.etaSec === null ? '' : `, eta ${p.etaSec}s`;
  return `ingest ${pct}%  ${rows.toLocaleString('en-US')} rows  ${Math.round(rows / secs).toLocaleString('en-US')} rows/s  ${mbps} MB/s${eta}`;
}

function parseQuery(spec: string): QuerySetConfig {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1)
    throw new ValidationError(`rds ${NAME}: --query expects task=path, got "${spec}"`);
  return { task: spec.slice(0, eq), path: spec.slice(eq + 1), format: 'auto' };
}

function summary(m: PoolManifest, seconds: number, skipped: boolean): string {
  const rows = Object.entries(
    m.sources ??
      Object.fromEntries(
        Object.entries(m.perSource).map(([k, kept]) => [k, { read: kept, kept, duplicate: 0, rejected: 0 }]),
      ),
  );
  const width = Math.max(6, ...rows.map(([k]) => k.length));
  const fmt = (name: string, c: { read: number; kept: number; duplicate: number; rejected: number }) =>
    `  ${name.padEnd(width)} ${[c.read, c.kept, c.duplicate, c.rejected].map((n) => String(n).padStart(10)).join('')}`;
  return [
    skipped
      ? `pool already ingested (same inputs and options); nothing to do`
      : `ingested ${m.inputs.length} file(s) in ${seconds.toFixed(1)}s`,
    `  ${'source'.padEnd(width)} ${['read', 'kept', 'duplicate', 'rejected'].map((h) => h.padStart(10)).join('')}`,
    ...rows.map(([k, c]) => fmt(k, c)),
    fmt('total', m.counts),
    `${m.shards.length} shard(s)${m.rejected ? `; rejected rows in ${m.rejected.file}` : ''}`,
  ].join('\n');
}

const command: Command = {
  name: NAME,
  summary: 'validate, normalise, dedup and shard pool files into a run directory',
  usage:
    'rds ingest --input <files/globs...> --out <runDir> [--format auto|tulu|alpaca|sharegpt] [--shard-size N] [--max-row-bytes N] [--query task=path ...]',
  async run(argv) {
    const { values, positionals } = parseFlags(
      NAME,
      argv,
      {
        input: { type: 'string', multiple: true },
        out: { type: 'string' },
        format: { type: 'string', default: 'auto' },
        'shard-size': { type: 'string' },
        'max-row-bytes': { type: 'string' },
        query: { type: 'string', multiple: true },
      },
      true, // `--input a.jsonl b.jsonl` (shell-expanded globs) leaves the rest as positionals
    );
    const inputs = [...required(NAME, 'input', values.input), ...positionals];
    const runDir = required(NAME, 'out', values.out);
    const pool = parseOrThrow(
      PoolConfig,
      {
        inputs,
        format: parseOrThrow(PoolFormat, values.format, '--format'),
        ...(values['shard-size'] ? { shardSize: Number(values['shard-size']) } : {}),
        ...(values['max-row-bytes'] ? { maxRowBytes: Number(values['max-row-bytes']) } : {}),
      },
      `rds ${NAME} options`,
    );
    const queries = (values.query ?? []).map(parseQuery);

    const tty = process.stderr.isTTY === true;
    const started = Date.now();
    const abort = new AbortController();
    const onSigint = () => abort.abort(new Error('interrupted (SIGINT)'));
    process.once('SIGINT', onSigint);
    let printed = false;
    try {
      const out = await runWithRuntime(
        {
          heartbeat: (p) => {
            printed = true;
            process.stderr.write(tty ? `\r${progressLine(p, started)}\x1b[K` : `${progressLine(p, started)}\n`);
          },
          signal: abort.signal,
          log: (m) => process.stderr.write(`${tty && printed ? '\n' : ''}${m}\n`),
        },
        () => ingestPool({ runDir, pool, queries }),
      );
      if (tty && printed) process.stderr.write('\n');
      const manifest = await readPoolManifest(runDir);
      console.error(summary(manifest, (Date.now() - started) / 1000, out.skipped));
      for (const [task, q] of Object.entries(out.queries ?? {})) {
        console.error(
          `query set ${task}: ${q.rows} rows${q.rejected ? `, ${q.rejected} rejected` : ''} -> ${runLayout(runDir).queries.file(task)}`,
        );
      }
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
export default command;
