// The gpu worker that bench/temporal.bench.ts SIGKILLs: a separate process (a kill must be a real crash),
// polling `taskQueue` with an embedPoolShard that takes `shardMs` and heartbeats every 100 ms. It prints
// one JSON line when it polls and one when a shard attempt starts, which the bench times.
//   node --conditions=@rds/source --import tsx bench/temporal-kill-worker.ts <address> <taskQueue> <shardMs>
import { Context } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { EmbedShardInput, EmbedShardOutput } from '@rds/schemas';

const [address, taskQueue, shardMsArg] = process.argv.slice(2);
const shardMs = Number(shardMsArg);
if (!address || !taskQueue || !Number.isFinite(shardMs) || shardMs <= 0) {
  console.error('usage: temporal-kill-worker.ts <address> <taskQueue> <shardMs>');
  process.exit(2);
}
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  maxConcurrentActivityTaskExecutions: 1,
  activities: {
    async embedPoolShard({ shard }: EmbedShardInput): Promise<EmbedShardOutput> {
      const ctx = Context.current();
      say({ event: 'start', shard, attempt: ctx.info.attempt });
      const t0 = Date.now();
      while (Date.now() - t0 < shardMs) {
        ctx.heartbeat({ done: Date.now() - t0, total: shardMs, unit: 'ms', ratePerSec: 0, etaSec: null });
        await ctx.sleep(100);
      }
      return { skipped: false, shard, rows: 1, tokens: 1, seconds: shardMs / 1000 };
    },
  },
});
say({ event: 'ready', pid: process.pid });
await worker.run();
