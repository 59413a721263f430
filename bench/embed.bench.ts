// Encoder throughput on 2,000 real examples of mixed length (../shared/data/pool.jsonl):
//   (a) batch size 1, as the reference code embeds, vs (b) this encoder's length-bucketed batches,
//   in the same process on the same pre-tokenized rows; tokenization measured separately (it runs
//   in a worker thread, overlapped with the model, in the activity), and the whole activity end to end.
// Also prints the model's FLOPs per token and the achieved fraction of this machine's measured
// float32 matmul throughput (a large MatMul through onnxruntime itself).
//
//   node --conditions=@rds/source --import tsx bench/embed.bench.ts [modelDir] [rows=2000]
//   (default model: the generated test model, written to bench/out/tiny-test-model)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchLimits, embedSequences, loadModel, tokenizeMessages, writeTestModel } from '@rds/encoder';
import type { Message } from '@rds/schemas';
import { matmulPeakGflops } from './lib/common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const modelArg = process.argv[2] || undefined;
const rows = Number(process.argv[3] ?? 2000);
const modelDir = modelArg ?? (await writeTestModel(path.join(root, 'bench', 'out', 'tiny-test-model')));
const poolFile = path.resolve(root, '../shared/data/pool.jsonl');
if (!fs.existsSync(poolFile)) throw new Error(`bench data missing: ${poolFile}`);

const examples = fs
  .readFileSync(poolFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, rows)
  .map((l) => (JSON.parse(l) as { messages: Message[] }).messages);

const model = await loadModel(modelDir, { executionProvider: (process.env.RDS_EP as 'cpu' | 'cuda' | 'webgpu') ?? 'cpu' });
console.log(`model ${model.ref.id} (hidden ${model.hiddenSize}) on ${model.provider}; ${rows} examples`);

const t = performance.now();
const seqs = examples.map((m) => tokenizeMessages(model, m, 2048));
const tokSecs = (performance.now() - t) / 1000;
const tokens = seqs.reduce((a, s) => a + s.length, 0);
const lens = seqs.map((s) => s.length).sort((a, b) => a - b);
console.log(`tokens: ${tokens} (median ${lens[lens.length >> 1]}, max ${lens.at(-1)}); tokenization ${(tokens / tokSecs).toFixed(0)} tokens/s on one thread`);

async function timed(label: string, batchTokens: number, maxBatchSize: number, rowsIn = seqs): Promise<number> {
  await embedSequences(model, rowsIn.slice(0, 32), { pooling: 'weighted-mean', batchTokens, maxBatchSize }); // warm-up
  const t0 = performance.now();
  await embedSequences(model, rowsIn, { pooling: 'weighted-mean', batchTokens, maxBatchSize });
  const secs = (performance.now() - t0) / 1000;
  const rate = rowsIn.reduce((x, s) => x + s.length, 0) / secs;
  console.log(`${label.padEnd(34)} ${secs.toFixed(2).padStart(7)} s  ${rate.toFixed(0).padStart(9)} tokens/s`);
  return rate;
}
const a = await timed('(a) batch size 1 (reference)', 1, 1);
const lim = batchLimits(model.provider, {});
const b = await timed(`(b) bucketed, ${lim.batchTokens} tok / ${lim.maxBatchSize} rows`, lim.batchTokens, lim.maxBatchSize);
console.log(`speed-up (b)/(a): ${(b / a).toFixed(2)}x  (target >= 3x)`);
if (model.provider === 'cpu') {
  const g = batchLimits('cuda', {});
  const big = await timed(`    GPU-sized, ${g.batchTokens} tok / ${g.maxBatchSize} rows`, g.batchTokens, g.maxBatchSize);
  console.log(`    (GPU-sized batches on this CPU: ${(big / a).toFixed(2)}x of (a))`);
}
// Short rows (query-like, <= 32 tokens): here per-call overhead and skinny matmuls dominate batch size 1.
const short = seqs.map((s) => s.slice(0, 32));
const as = await timed('(a) batch size 1, rows <= 32 tokens', 1, 1, short);
const bs = await timed('(b) bucketed, rows <= 32 tokens', lim.batchTokens, Math.max(lim.maxBatchSize, Math.floor(lim.batchTokens / 32)), short);
console.log(`speed-up on short rows (b)/(a): ${(bs / as).toFixed(2)}x`);

// FLOPs per token of a decoder layer stack: 2 x (4 H^2 attention projections + 2 H F MLP) per layer,
// plus attention scores and mixing 2 x 2 x T x H per layer at the mean sequence length T.
const c = model.config as Record<string, number | undefined>;
const H = model.hiddenSize;
const L = c.num_hidden_layers ?? c.n_layer ?? 1;
const F = c.intermediate_size ?? 4 * H;
const meanT = tokens / seqs.length;
const flopsPerToken = L * (2 * (4 * H * H + 2 * H * F) + 4 * meanT * H);
console.log(`FLOPs per token: ${(flopsPerToken / 1e6).toFixed(3)} M (H=${H}, layers=${L}, ffn=${F}, mean length ${meanT.toFixed(0)})`);

const M = 2048, K = 1024, N = 1024;
const peak = (await matmulPeakGflops(M, K, N)) * 1e9;
console.log(`measured matmul throughput: ${(peak / 1e9).toFixed(1)} GFLOP/s (${M}x${K} x ${K}x${N}, onnxruntime cpu)`);
for (const [label, rate] of [['(a)', a], ['(b)', b]] as const) {
  console.log(`${label} achieved ${((rate * flopsPerToken) / 1e9).toFixed(2)} GFLOP/s = ${((100 * rate * flopsPerToken) / peak).toFixed(1)}% of measured matmul peak`);
}
// (a) already runs at a good fraction of the peak, which bounds what any batching can gain here.
console.log(`ceiling for (b)/(a) on this machine: ${(peak / (a * flopsPerToken)).toFixed(2)}x (if (b) ran at 100% of the measured matmul peak)`);
