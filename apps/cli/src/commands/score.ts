import fsp from 'node:fs/promises';
import { runWithRuntime, runLayout } from '@rds/artifacts';
import { ScoringConfig, ValidationError, parseOrThrow } from '@rds/schemas';
import { scoreRun } from '@rds/vector-index';
import { existingRunDir, parseFlags, type Command } from '../args.js';

const NAME = 'score';

/** Tasks with query embeddings in the run, sorted. */
async function embeddedTasks(runDir: string): Promise<string[]> {
  const dir = runLayout(runDir)
    .embeddings.queryManifest('x')
    .replace(/x\.manifest\.json$/, '');
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const tasks = names
    .map((n) => /^(.+)\.manifest\.json$/.exec(n)?.[1])
    .filter((t): t is string => !!t)
    .sort();
  if (tasks.length === 0)
    throw new ValidationError(`rds ${NAME}: no query embeddings under ${dir}; run rds embed first`);
  return tasks;
}

const command: Command = {
  name: NAME,
  summary: 'score the pool against the query sets: per-task max/mean vectors and per-query top-K lists (resumable)',
  usage:
    'rds score --run <runDir> [--engine auto|fused|blocked|faiss|js] [--block-rows N] [--topk K] [--tasks a,b] [--aggregates max,mean,topk]',
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      run: { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      'block-rows': { type: 'string' },
      topk: { type: 'string' },
      tasks: { type: 'string' },
      aggregates: { type: 'string', default: 'max,mean,topk' },
    });
    const runDir = existingRunDir(NAME, values.run);
    const num = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n))
        throw new ValidationError(`rds ${NAME}: --${flag} expects an integer, got "${v}"`);
      return n;
    };
    // 'js' (the baseline) is accepted here for comparisons; the run config offers auto/faiss/blocked.
    const engine =
      values.engine === 'js' ? 'js' : parseOrThrow(ScoringConfig.shape.engine, values.engine, `rds ${NAME} --engine`);
    const scoring = parseOrThrow(
      ScoringConfig,
      {
        ...(values['block-rows'] !== undefined ? { blockRows: num('block-rows', values['block-rows']) } : {}),
        ...(values.topk !== undefined ? { topK: num('topk', values.topk) } : {}),
      },
      `rds ${NAME} options`,
    );
    const aggregates = values.aggregates.split(',').map((a) => a.trim());
    for (const a of aggregates)
      if (a !== 'max' && a !== 'mean' && a !== 'topk')
        throw new ValidationError(`rds ${NAME}: --aggregates takes max, mean, topk; got "${a}"`);
    const tasks = values.tasks
      ? values.tasks
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : await embeddedTasks(runDir);

    const abort = new AbortController();
    const onSigint = () => abort.abort(new Error('interrupted (SIGINT); run again to resume'));
    process.once('SIGINT', onSigint);
    try {
      const out = await runWithRuntime(
        { heartbeat: () => {}, signal: abort.signal, log: (m) => process.stderr.write(`${m}\n`) },
        () =>
          scoreRun({
            runDir,
            tasks,
            aggregates: aggregates as ('max' | 'mean' | 'topk')[],
            blockRows: scoring.blockRows,
            topK: scoring.topK,
            engine,
            signal: abort.signal,
            log: (m) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${m}\n`),
            onProgress: (done, total, d) => {
              if (process.stderr.isTTY)
                process.stderr.write(
                  `\rscore [${d.engine}] shard ${d.shard} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} rows\x1b[K`,
                );
            },
          }),
      );
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      console.error(
        out.skipped
          ? `scores up to date for ${tasks.join(', ')}; nothing to do`
          : `scored ${out.rows.toLocaleString('en-US')} pool rows x ${out.queries} queries (${out.computed.join(', ')}) with ${out.engine} in ${out.seconds.toFixed(1)}s${out.resumedFromShard ? `, resumed at shard ${out.resumedFromShard}` : ''}\nscores: ${runLayout(runDir).scores.dir}`,
      );
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
export default command;
