import ort from 'onnxruntime-node';
import type { ExecutionProvider, Message, Pooling } from '@rds/schemas';
import type { LoadedModel } from './model.js';
import { renderTulu } from './render.js';

/** Render in the Tulu format, tokenize with the model's special tokens (BOS), truncate to maxTokens. */
export function tokenizeMessages(model: LoadedModel, messages: readonly Message[], maxTokens: number): number[] {
  const ids = model.tokenizer.encode(renderTulu(messages, model.eos)).ids;
  return ids.length > maxTokens ? ids.slice(0, maxTokens) : ids;
}

/**
 * Group row indices into batches of similar length: sort by length, then fill each batch while
 * rows x longest-length stays within the token budget. Padding stays small and the batch size
 * adapts (many short rows, few long ones).
 */
export function planBatches(lengths: readonly number[], batchTokens: number, maxBatchSize: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    const len = Math.max(1, lengths[i]!);
    if (cur.length > 0 && ((cur.length + 1) * len > batchTokens || cur.length >= maxBatchSize)) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length) batches.push(cur);
  return batches;
}

/**
 * Pool one row of hidden states [T, H] (only its first `n` positions are real tokens) into `out`.
 * weighted-mean (RDS+/SGPT): w_t = t / sum_{s=1..n} s for t = 1..n; mean: 1/n; last: position n.
 * The result is L2-normalised.
 */
export function poolRow(
  hidden: Float32Array,
  offset: number,
  n: number,
  dims: number,
  pooling: Pooling,
  out: Float32Array,
  outOffset: number,
): void {
  out.fill(0, outOffset, outOffset + dims);
  if (pooling === 'last') {
    out.set(hidden.subarray(offset + (n - 1) * dims, offset + n * dims), outOffset);
  } else {
    const denom = pooling === 'mean' ? n : (n * (n + 1)) / 2;
    for (let t = 0; t < n; t++) {
      const w = (pooling === 'mean' ? 1 : t + 1) / denom;
      const base = offset + t * dims;
      for (let d = 0; d < dims; d++) out[outOffset + d]! += w * hidden[base + d]!;
    }
  }
  let norm = 0;
  for (let d = 0; d < dims; d++) norm += out[outOffset + d]! ** 2;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let d = 0; d < dims; d++) out[outOffset + d]! /= norm;
}

/** Run one padded batch (right padding) and pool every row into `out` at the rows' positions. */
async function runBatch(
  model: LoadedModel,
  seqs: readonly (readonly number[])[],
  rows: readonly number[],
  pooling: Pooling,
  out: Float32Array,
): Promise<void> {
  const B = rows.length;
  const T = Math.max(1, ...rows.map((r) => seqs[r]!.length));
  const ids = new BigInt64Array(B * T);
  const mask = new BigInt64Array(B * T);
  rows.forEach((r, b) => {
    const s = seqs[r]!;
    for (let t = 0; t < s.length; t++) {
      ids[b * T + t] = BigInt(s[t]!);
      mask[b * T + t] = 1n;
    }
  });
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    attention_mask: new ort.Tensor('int64', mask, [B, T]),
  };
  if (model.inputNames.includes('position_ids')) {
    const pos = new BigInt64Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = BigInt(t);
    feeds.position_ids = new ort.Tensor('int64', pos, [B, T]);
  }
  if (model.inputNames.includes('token_type_ids'))
    feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]);
  const result = await model.session.run(feeds, ['last_hidden_state']);
  const hidden = result.last_hidden_state!;
  const H = hidden.dims[2]!;
  if (H !== model.hiddenSize) throw new Error(`model returned hidden size ${H}, config.json says ${model.hiddenSize}`);
  const data = hidden.data as Float32Array;
  rows.forEach((r, b) => poolRow(data, b * T * H, Math.max(1, seqs[r]!.length), H, pooling, out, r * H));
  hidden.dispose();
}

/**
 * Batch limits where the config leaves them out, by the provider that actually runs. On CPU a
 * batch of ~1k tokens already keeps the matmuls efficient, and larger ones were slower in
 * bench:embed (the [rows, heads, T, T] attention tensors leave the cache); GPUs want large batches.
 */
export function batchLimits(
  provider: ExecutionProvider,
  cfg: { batchTokens?: number | undefined; maxBatchSize?: number | undefined },
): { batchTokens: number; maxBatchSize: number } {
  const cpu = provider === 'cpu';
  return { batchTokens: cfg.batchTokens ?? (cpu ? 1024 : 16_384), maxBatchSize: cfg.maxBatchSize ?? (cpu ? 8 : 64) };
}

export interface EmbedOptions {
  pooling: Pooling;
  batchTokens: number;
  maxBatchSize: number;
  /** Called after each batch with the number of rows and tokens it held. */
  onBatch?: (rows: number, tokens: number) => void;
  signal?: AbortSignal;
}

/**
 * Embed token sequences (rows x hiddenSize, row order preserved). Length-bucketed batches; each row's
 * embedding does not depend on its batch (right padding, attention mask, pooling over real tokens).
 */
export async function embedSequences(
  model: LoadedModel,
  seqs: readonly (readonly number[])[],
  opts: EmbedOptions,
): Promise<Float32Array> {
  const out = new Float32Array(seqs.length * model.hiddenSize);
  for (const batch of planBatches(
    seqs.map((s) => s.length),
    opts.batchTokens,
    opts.maxBatchSize,
  )) {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('cancelled');
    await runBatch(model, seqs, batch, opts.pooling, out);
    opts.onBatch?.(
      batch.length,
      batch.reduce((a, r) => a + seqs[r]!.length, 0),
    );
  }
  return out;
}
