// Encoder throughput on real examples of mixed length (../shared/data/pool.jsonl, the first N rows: the
// file is shuffled with seed 42, so they are a fixed random sample):
//   (a) batch size 1, as the reference code embeds, vs (b) this encoder's length-bucketed batches,
//   in the same process on the same pre-tokenized rows; tokenization measured separately (it runs
//   in a worker thread, overlapped with the model, in the activity), and the whole activity end to end.
// Also prints the model's FLOPs per token and the achieved fraction of this machine's measured
// float32 matmul throughput (a large MatMul through onnxruntime itself).
//
// On CPU it also tries a few batch limits for (b) and names the fastest.
//
//   npm run bench:embed -- [model=smollm2-135m] [rows]
//   model: smollm2-135m (the installed real model, `rds model fetch smollm2-135m`; default, 256 rows),
//          test (the generated test model, written to bench/out/tiny-test-model; 2,000 rows) or a model directory.
//   rows = all: the whole pool once with the default batch limits, tokenization included: wall time,
//          rows/s and peak RSS (about an hour of CPU for smollm2-135m on a 2-core VM).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchLimits, embedSequences, loadModel, tokenizeMessages } from '@rds/encoder';
import { PRETRAINED } from '@rds/models';
import type { Message } from '@rds/schemas';
import { writeJsonAtomic } from '@rds/artifacts';
import { calibrationFile, EmbedCalibration, flopsPerToken as tokenFlops, modelShape } from '@rds/planner';
import { benchModelDir, matmulPeakGflops } from './lib/common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const modelArg = process.argv[2] || 'smollm2-135m';
const realModel = modelArg in PRETRAINED;
const wholePool = process.argv[3] === 'all';
const rows = wholePool ? Infinity : Number(process.argv[3] ?? (realModel ? 256 : 2000));
const modelDir = await benchModelDir(modelArg);
const poolFile = path.resolve(root, '../shared/data/pool.jsonl');
if (!fs.existsSync(poolFile)) throw new Error(`bench data missing: ${poolFile}`);

const examples = fs
  .readFileSync(poolFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, rows)
  .map((l) => (JSON.parse(l) as { messages: Message[] }).messages);

const model = await loadModel(modelDir, {
  executionProvider: (process.env.RDS_EP as 'cpu' | 'cuda' | 'webgpu') ?? 'cpu',
});
console.log(
  `model ${model.ref.id} (hidden ${model.hiddenSize}, sha256 ${model.ref.sha256.slice(0, 12)}…) on ${model.provider}; ${examples.length} examples`,
);

if (wholePool) {
  // The whole pool as the activity does it: tokenize, then length-bucketed batches with the defaults.
  const lim = batchLimits(model.provider, {});
  const t0 = performance.now();
  const all = examples.map((m) => tokenizeMessages(model, m, 2048));
  const tokSecs = (performance.now() - t0) / 1000;
  const n = all.reduce((x, s) => x + s.length, 0);
  let done = 0;
  let next = 0.1;
  await embedSequences(model, all, {
    pooling: 'weighted-mean',
    ...lim,
    onBatch: (r) => {
      done += r;
      if (done >= next * all.length) {
        console.log(`  ${done} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        next += 0.1;
      }
    },
  });
  const secs = (performance.now() - t0) / 1000;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(
    `whole pool: ${all.length} rows, ${n} tokens, ${lim.batchTokens} tok / ${lim.maxBatchSize} rows: ${secs.toFixed(0)} s wall (tokenization ${tokSecs.toFixed(1)} s), ${(all.length / secs).toFixed(2)} rows/s, ${(n / secs).toFixed(0)} tokens/s, peak RSS ${rss.toFixed(0)} MB`,
  );
  process.exit(0);
}

const t = performance.now();
const seqs = examples.map((m) => tokenizeMessages(model, m, 2048));
const tokSecs = (performance.now() - t) / 1000;
const tokens = seqs.reduce((a, s) => a + s.length, 0);
const lens = seqs.map((s) => s.length).sort((a, b) => a - b);
console.log(
  `tokens: ${tokens} (median ${lens[lens.length >> 1]}, max ${lens.at(-1)}); tokenization ${(tokens / tokSecs).toFixed(0)} tokens/s on one thread`,
);

async function timed(label: string, batchTokens: number, maxBatchSize: number, rowsIn = seqs): Promise<number> {
  await embedSequences(model, rowsIn.slice(0, 32), { pooling: 'weighted-mean', batchTokens, maxBatchSize }); // warm-up
  const t0 = performance.now();
  await embedSequences(model, rowsIn, { pooling: 'weighted-mean', batchTokens, maxBatchSize });
  const secs = (performance.now() - t0) / 1000;
  const rate = rowsIn.reduce((x, s) => x + s.length, 0) / secs;
  console.log(
    `${label.padEnd(40)} ${secs.toFixed(2).padStart(7)} s  ${rate.toFixed(0).padStart(9)} tokens/s  ${(rowsIn.length / secs).toFixed(1).padStart(7)} rows/s`,
  );
  return rate;
}
const a = await timed('(a) batch size 1 (reference)', 1, 1);
const lim = batchLimits(model.provider, {});
const b = await timed(
  `(b) bucketed, ${lim.batchTokens} tok / ${lim.maxBatchSize} rows`,
  lim.batchTokens,
  lim.maxBatchSize,
);
console.log(`speed-up (b)/(a): ${(b / a).toFixed(2)}x  (target >= 1.5x)`);
if (model.provider === 'cpu' && realModel) {
  // Which limits suit this model on this CPU (the defaults come from this sweep).
  const sweep: [number, number][] = [
    [512, 4],
    [2048, 16],
    [4096, 32],
  ];
  let best = { rate: b, limits: [lim.batchTokens, lim.maxBatchSize] };
  for (const [bt, mb] of sweep) {
    const r = await timed(`    sweep: ${bt} tok / ${mb} rows`, bt, mb);
    if (r > best.rate) best = { rate: r, limits: [bt, mb] };
  }
  console.log(
    `    fastest limits here: ${best.limits[0]} tok / ${best.limits[1]} rows (${(best.rate / a).toFixed(2)}x of (a))`,
  );
}
if (model.provider === 'cpu') {
  const g = batchLimits('cuda', {});
  const big = await timed(
    `    GPU-sized, ${g.batchTokens} tok / ${g.maxBatchSize} rows`,
    g.batchTokens,
    g.maxBatchSize,
  );
  console.log(`    (GPU-sized batches on this CPU: ${(big / a).toFixed(2)}x of (a))`);
}
// Short rows (query-like, <= 32 tokens): here per-call overhead and skinny matmuls dominate batch size 1.
const short = seqs.map((s) => s.slice(0, 32));
const as = await timed('(a) batch size 1, rows <= 32 tokens', 1, 1, short);
const bs = await timed(
  '(b) bucketed, rows <= 32 tokens',
  lim.batchTokens,
  Math.max(lim.maxBatchSize, Math.floor(lim.batchTokens / 32)),
  short,
);
console.log(`speed-up on short rows (b)/(a): ${(bs / as).toFixed(2)}x`);

// FLOPs per token at the mean length of these rows: the planner's formula (packages/planner/src/flops.ts),
// the same one `rds plan` prices runs with.
const shape = modelShape(model.config, model.hiddenSize);
const meanT = tokens / seqs.length;
const flopsPerToken = tokenFlops(shape, meanT);
console.log(
  `FLOPs per token: ${(flopsPerToken / 1e6).toFixed(3)} M (H=${shape.hiddenSize}, kv heads ${shape.kvHeads}/${shape.heads}, layers=${shape.layers}, ffn=${shape.intermediateSize}${shape.gated ? ' gated' : ''}, mean length ${meanT.toFixed(0)})`,
);

const M = 2048,
  K = 1024,
  N = 1024;
const peak = (await matmulPeakGflops(M, K, N, 10, model.provider)) * 1e9;
console.log(
  `measured matmul throughput: ${(peak / 1e9).toFixed(1)} GFLOP/s (${M}x${K} x ${K}x${N}, onnxruntime ${model.provider})`,
);
for (const [label, rate] of [
  ['(a)', a],
  ['(b)', b],
] as const) {
  console.log(
    `${label} achieved ${((rate * flopsPerToken) / 1e9).toFixed(2)} GFLOP/s = ${((100 * rate * flopsPerToken) / peak).toFixed(1)}% of measured matmul peak`,
  );
}
// (a) already runs at a good fraction of the peak, which bounds what any batching can gain here.
console.log(
  `ceiling for (b)/(a) on this machine: ${(peak / (a * flopsPerToken)).toFixed(2)}x (if (b) ran at 100% of the measured matmul peak)`,
);

// Recorded for `rds plan`: on a GPU provider, the fraction of the matmul peak that (b) reached is the
// utilisation the plan prices GPU classes with (instead of its assumed default).
const record = EmbedCalibration.parse({
  provider: model.provider,
  model: model.ref.id,
  fractionOfPeak: Math.min(1, (b * flopsPerToken) / peak),
  peakFlops: peak,
  measuredAt: new Date().toISOString(),
});
await writeJsonAtomic(calibrationFile(model.provider), record);
console.log(
  `recorded ${(100 * record.fractionOfPeak).toFixed(1)}% of peak on ${model.provider} in ${calibrationFile(model.provider)} (rds plan reads the cuda one)`,
);
