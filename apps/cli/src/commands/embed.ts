import { querySetTasks, runLayout, readPoolManifest } from '@rds/artifacts';
import { embedPoolShard, embedQueries } from '@rds/encoder';
import { ModelConfig, parseOrThrow, ValidationError } from '@rds/schemas';
import { existingRunDir, parseFlags, required, type Command } from '../args.js';
import { runInTerminal } from '../terminal.js';

const NAME = 'embed';

function parseShards(spec: string, total: number): number[] {
  if (spec === 'all') return Array.from({ length: total }, (_, i) => i);
  return spec.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n >= total)
      throw new ValidationError(`rds ${NAME}: --shards: "${s}" is not a shard of 0..${total - 1}`);
    return n;
  });
}

const command: Command = {
  name: NAME,
  summary: 'embed the ingested pool shards and query sets of a run directory with an ONNX model',
  usage:
    'rds embed --run <runDir> --model <modelDir> [--ep cpu|cuda|webgpu] [--threads N] [--shards 0,1|all] [--dtype float16|float32] [--pooling weighted-mean|mean|last] [--max-tokens N] [--batch-tokens N] [--cache <dir>|off]',
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      run: { type: 'string' },
      model: { type: 'string' },
      ep: { type: 'string' },
      threads: { type: 'string' },
      shards: { type: 'string', default: 'all' },
      dtype: { type: 'string' },
      pooling: { type: 'string' },
      'max-tokens': { type: 'string' },
      'batch-tokens': { type: 'string' },
      cache: { type: 'string' },
    });
    const runDir = existingRunDir(NAME, values.run);
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const model = parseOrThrow(
      ModelConfig,
      Object.fromEntries(
        Object.entries({
          dir: required(NAME, 'model', values.model),
          executionProvider: values.ep,
          threads: num(values.threads),
          dtype: values.dtype,
          pooling: values.pooling,
          maxTokens: num(values['max-tokens']),
          batchTokens: num(values['batch-tokens']),
        }).filter(([, v]) => v !== undefined),
      ),
      `rds ${NAME} options`,
    );
    // --cache off: no embedding cache; --cache <dir>: that one; left out: the default cache.
    const cache = values.cache === 'off' ? false : values.cache ? { dir: values.cache } : {};
    const layout = runLayout(runDir);
    const pool = await readPoolManifest(runDir);
    const shards = parseShards(values.shards, pool.shards.length);
    const tasks = querySetTasks(runDir);

    const started = Date.now();
    if (tasks.length) {
      const q = await runInTerminal(() => embedQueries({ runDir, tasks, model, cache }));
      console.error(`queries: ${q.rows} rows over ${tasks.length} task(s)${q.skipped ? ' (already embedded)' : ''}`);
    }
    let rows = 0;
    let tokens = 0;
    let fromCache = 0;
    for (const shard of shards) {
      const r = await runInTerminal(() => embedPoolShard({ runDir, shard, model, cache }));
      rows += r.rows;
      tokens += r.tokens;
      fromCache += r.cacheHits ?? 0;
      const hits = r.cacheHits ? `, ${r.cacheHits} from the cache` : '';
      console.error(
        `shard ${shard}: ${r.rows} rows${hits}, ${r.tokens} tokens${r.skipped ? ' (already embedded)' : ` in ${r.seconds.toFixed(1)}s`}`,
      );
    }
    const secs = (Date.now() - started) / 1000;
    console.error(
      `embedded ${rows} pool rows (${fromCache} from the cache, ${tokens} tokens embedded) in ${secs.toFixed(1)}s -> ${layout.embeddings.dir}`,
    );
    return 0;
  },
};
export default command;
