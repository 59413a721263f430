import { ProgressMeter, activityRuntime, cleanTempFiles, runLayout } from '@rds/artifacts';
import { ScoreInput, parseOrThrow, type ScoreOutput } from '@rds/schemas';
import { scoreRun } from './scoring.js';

/**
 * scorePool activity: per task max/mean vectors and/or per-query top-K lists of every pool row,
 * streamed over the pool's embedding shards. Resumes after the last finished shard; skips tasks
 * whose scores are complete for the same embeddings and settings.
 */
export async function scorePool(raw: ScoreInput): Promise<ScoreOutput> {
  const input = parseOrThrow(ScoreInput, raw, 'scorePool input');
  const rt = activityRuntime();
  await cleanTempFiles(runLayout(input.runDir).scores.dir);
  let meter: ProgressMeter | undefined;
  const out = await scoreRun({
    runDir: input.runDir,
    tasks: input.tasks,
    aggregates: input.aggregates,
    blockRows: input.scoring.blockRows,
    topK: input.scoring.topK,
    engine: input.scoring.engine,
    signal: rt.signal,
    log: (m) => rt.log(m),
    onProgress: (done, total, detail) => {
      meter ??= new ProgressMeter('score', total, 'rows', (p) => rt.heartbeat(p), done);
      meter.update(done, detail, done === total);
    },
  });
  return { skipped: out.skipped, tasks: out.computed.length ? out.computed : input.tasks, seconds: out.seconds };
}
