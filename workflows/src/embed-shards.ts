import * as wf from '@temporalio/workflow';
import type { EmbedShardsInput, EmbedShardsProgress, RunActivities } from './contract.js';
import { activityOptionsFor, addShard, embedProgress, QUERIES, shardBatch, SIGNALS } from './plan.js';

export const pauseSignal = wf.defineSignal(SIGNALS.pause);
export const resumeSignal = wf.defineSignal(SIGNALS.resume);
export const embedProgressQuery = wf.defineQuery<EmbedShardsProgress>(QUERIES.progress);

/**
 * Embed pool shards [from, shards) with at most `parallelism` in flight, then continue as new every
 * `shardsPerRun` shards so the history stays small however large the pool. Pausing stops new shards
 * from starting (running ones finish). Each shard activity skips a finished shard, so a retried or
 * continued run never embeds a shard twice.
 */
export async function embedShards(input: EmbedShardsInput): Promise<EmbedShardsInput['totals']> {
  const { embedPoolShard } = wf.proxyActivities<RunActivities>(
    activityOptionsFor('embed-pool', { cpu: '', gpu: input.gpuQueue }, input.heartbeatTimeout),
  );
  let paused = input.paused;
  let totals = input.totals;
  const inFlight: number[] = [];
  wf.setHandler(pauseSignal, () => void (paused = true));
  wf.setHandler(resumeSignal, () => void (paused = false));
  wf.setHandler(embedProgressQuery, () =>
    embedProgress(totals, input.shards, [...inFlight], paused, input.parallelism),
  );

  const { shards, next } = shardBatch(input.from, input.shards, input.shardsPerRun);
  const queue = [...shards];
  const lane = async (): Promise<void> => {
    for (;;) {
      await wf.condition(() => !paused);
      const shard = queue.shift();
      if (shard === undefined) return;
      inFlight.push(shard);
      try {
        const out = await embedPoolShard({ runDir: input.runDir, shard, model: input.model, cache: input.cache ?? {} });
        totals = addShard(totals, out);
      } finally {
        inFlight.splice(inFlight.indexOf(shard), 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.parallelism, shards.length) }, lane));
  if (next !== null) {
    await wf.condition(() => !paused);
    return wf.continueAsNew<typeof embedShards>({ ...input, from: next, paused, totals });
  }
  return totals;
}
