import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { readJsonFile, realpathConfined, writeJsonAtomic } from '@rds/artifacts';
import { cpuThreads } from '@rds/common';
import { ValidationError, type ExecutionProvider, type ModelRef } from '@rds/schemas';

/**
 * A model directory in the layout Hugging Face exports use (optimum feature-extraction):
 * model.onnx (+ model.onnx_data), tokenizer.json, tokenizer_config.json, config.json.
 */
const ModelConfigJson = z
  .object({
    hidden_size: z.number().int().positive().optional(),
    d_model: z.number().int().positive().optional(),
    n_embd: z.number().int().positive().optional(),
    max_position_embeddings: z.number().int().positive().optional(),
    n_positions: z.number().int().positive().optional(),
    num_hidden_layers: z.number().int().positive().optional(),
    n_layer: z.number().int().positive().optional(),
    intermediate_size: z.number().int().positive().optional(),
    vocab_size: z.number().int().positive().optional(),
  })
  .loose()
  .refine((c) => (c.hidden_size ?? c.d_model ?? c.n_embd) !== undefined, {
    message: 'config.json needs hidden_size (or d_model / n_embd)',
  });

const TokenizerConfigJson = z
  .object({
    add_bos_token: z.boolean().optional(),
    add_eos_token: z.boolean().optional(),
    bos_token: z.union([z.string(), z.object({ content: z.string() }).loose(), z.null()]).optional(),
    eos_token: z.union([z.string(), z.object({ content: z.string() }).loose(), z.null()]).optional(),
  })
  .loose();

function tokenText(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && 'content' in t) return String((t as { content: unknown }).content);
  return undefined;
}

export interface LoadedModel {
  dir: string;
  ref: ModelRef;
  tokenizer: Tokenizer;
  /** End-of-sequence token text appended after assistant turns (`</s>` for Llama). */
  eos: string;
  hiddenSize: number;
  /** Parameter count estimate from config.json, for FLOPs figures. */
  config: z.infer<typeof ModelConfigJson>;
  session: ort.InferenceSession;
  provider: ExecutionProvider;
  inputNames: readonly string[];
}

const REQUIRED_FILES = ['model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'config.json'];

/**
 * Where caches live: RDS_CACHE_DIR, else $XDG_CACHE_HOME/rds-select, else ~/.cache/rds-select. Never
 * inside a model directory: those lie in data roots, which the server only reads.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RDS_CACHE_DIR) return path.resolve(env.RDS_CACHE_DIR);
  return path.join(
    env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'),
    'rds-select',
  );
}

/** sha256 of model.onnx (+ external data), cached in the cache dir (by the model's real path), keyed by size and mtime. */
export async function modelChecksum(dir: string, cache = cacheDir()): Promise<string> {
  const files = ['model.onnx', 'model.onnx_data', 'model.onnx.data']
    .map((f) => path.join(dir, f))
    .filter((f) => fs.existsSync(f));
  const key = files.map((f) => {
    const st = fs.statSync(f);
    return `${path.basename(f)}:${st.size}:${st.mtimeMs}`;
  });
  const real = await fsp.realpath(dir);
  const sidecar = path.join(
    cache,
    'model-checksums',
    `${createHash('sha256').update(real).digest('hex').slice(0, 32)}.json`,
  );
  const Sidecar = z.object({ key: z.array(z.string()), sha256: z.string() });
  try {
    const cached = await readJsonFile(sidecar, Sidecar);
    if (JSON.stringify(cached.key) === JSON.stringify(key)) return cached.sha256;
  } catch {
    // no or stale sidecar: recompute
  }
  const hash = createHash('sha256');
  for (const f of files) {
    for await (const chunk of fs.createReadStream(f, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  }
  const sha256 = hash.digest('hex');
  // An unwritable cache dir is fine: the checksum is then recomputed each time.
  await writeJsonAtomic(sidecar, { key, sha256 }).catch(() => undefined);
  return sha256;
}

function sessionOptions(provider: ExecutionProvider, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: cpuThreads(threads),
    interOpNumThreads: 1,
  };
}

/** onnxruntime-node loads CUDA from libonnxruntime_providers_cuda.so beside its binding, fetched at install time. */
function cudaProviderInstalled(): boolean {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin');
  const found = (dir: string): boolean =>
    fs.existsSync(dir) &&
    fs
      .readdirSync(dir, { withFileTypes: true })
      .some((e) =>
        e.isDirectory() ? found(path.join(dir, e.name)) : e.name.startsWith('libonnxruntime_providers_cuda'),
      );
  return found(bin);
}

/**
 * Create the session on the requested execution provider; if it cannot start there (no GPU, no
 * CUDA libraries), say so once and fall back to CPU.
 */
async function createSession(
  file: string,
  provider: ExecutionProvider,
  threads: number,
  log: (m: string) => void,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider }> {
  if (provider === 'cuda' && !cudaProviderInstalled()) {
    log(
      'execution provider "cuda" is unavailable (onnxruntime-node\'s CUDA libraries are not installed: its install step skips that download offline); falling back to cpu',
    );
    provider = 'cpu';
  }
  if (provider !== 'cpu') {
    try {
      // Probe quietly (severity 4 = fatal only): an unavailable provider is expected and reported below.
      const session = await ort.InferenceSession.create(file, {
        ...sessionOptions(provider, threads),
        executionProviders: [provider],
        logSeverityLevel: 4,
      });
      return { session, provider };
    } catch (err) {
      log(
        `execution provider "${provider}" is unavailable (${(err as Error).message.split('\n')[0]}); falling back to cpu`,
      );
    }
  }
  return { session: await ort.InferenceSession.create(file, sessionOptions('cpu', threads)), provider: 'cpu' };
}

export interface LoadOptions {
  id?: string;
  executionProvider?: ExecutionProvider;
  threads?: number;
  /** When given, the directory and each file loaded from it must really lie inside one of these (checked right before loading). */
  roots?: readonly string[] | undefined;
  log?: (m: string) => void;
}

/** Hidden size from a model directory's config.json, without loading the model. */
export async function hiddenSizeOf(dir: string): Promise<number> {
  const config = await readJsonFile(path.join(path.resolve(dir), 'config.json'), ModelConfigJson);
  return (config.hidden_size ?? config.d_model ?? config.n_embd)!;
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const given = path.resolve(dir);
  if (!fs.existsSync(given)) throw new ValidationError(`model directory ${given} does not exist`);
  if (!fs.statSync(given).isDirectory())
    throw new ValidationError(
      `model directory ${given} is not a directory (model.dir names the folder holding ${REQUIRED_FILES.join(', ')})`,
    );
  // Loaded from the real path, each file checked against the roots just before it is read.
  const abs = opts.roots?.length ? await realpathConfined(given, opts.roots) : given;
  const missing = REQUIRED_FILES.filter((f) => !fs.existsSync(path.join(abs, f)));
  if (missing.length) {
    throw new ValidationError(
      `model directory ${abs} is missing ${missing.join(', ')} (expected the Hugging Face export layout: ${REQUIRED_FILES.join(', ')}; see README "Bring your own model")`,
    );
  }
  if (opts.roots?.length)
    for (const f of [...REQUIRED_FILES, 'model.onnx_data', 'model.onnx.data'])
      if (fs.existsSync(path.join(abs, f))) await realpathConfined(path.join(abs, f), opts.roots);
  const config = await readJsonFile(path.join(abs, 'config.json'), ModelConfigJson);
  const tokConfig = await readJsonFile(path.join(abs, 'tokenizer_config.json'), TokenizerConfigJson);
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(await fsp.readFile(path.join(abs, 'tokenizer.json'), 'utf8'));
  } catch (err) {
    throw new ValidationError(`${path.join(abs, 'tokenizer.json')} is not valid JSON: ${(err as Error).message}`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson as object, tokConfig);
  } catch (err) {
    throw new ValidationError(
      `${path.join(abs, 'tokenizer.json')} could not be loaded as a tokenizer: ${(err as Error).message}`,
    );
  }
  const eos = tokenText(tokConfig.eos_token) ?? '';
  if (eos && tokenizer.token_to_id(eos) === undefined) {
    throw new ValidationError(
      `tokenizer_config.json: eos_token ${JSON.stringify(eos)} is not in the tokenizer vocabulary`,
    );
  }

  let created: { session: ort.InferenceSession; provider: ExecutionProvider };
  try {
    created = await createSession(
      path.join(abs, 'model.onnx'),
      opts.executionProvider ?? 'cpu',
      opts.threads ?? 0,
      log,
    );
  } catch (err) {
    throw new ValidationError(
      `${path.join(abs, 'model.onnx')} could not be loaded by onnxruntime: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  const { session } = created;
  const inputs = session.inputNames;
  const problems: string[] = [];
  if (!inputs.includes('input_ids')) problems.push('an input named input_ids');
  if (!inputs.includes('attention_mask')) problems.push('an input named attention_mask');
  const unknown = inputs.filter((n) => !['input_ids', 'attention_mask', 'position_ids', 'token_type_ids'].includes(n));
  if (unknown.length)
    problems.push(
      `no inputs other than input_ids/attention_mask/position_ids/token_type_ids (found ${unknown.join(', ')}; past_key_values means it was exported with --task text-generation-with-past: export with --task feature-extraction)`,
    );
  if (!session.outputNames.includes('last_hidden_state'))
    problems.push(`an output named last_hidden_state (found ${session.outputNames.join(', ')})`);
  if (problems.length) {
    await session.release();
    throw new ValidationError(`${path.join(abs, 'model.onnx')} does not fit: the graph needs ${problems.join('; ')}`);
  }
  return {
    dir: abs,
    ref: { id: opts.id ?? path.basename(given), sha256: await modelChecksum(abs) },
    tokenizer,
    eos,
    hiddenSize: (config.hidden_size ?? config.d_model ?? config.n_embd)!,
    config,
    session,
    provider: created.provider,
    inputNames: inputs,
  };
}

/** One loaded model per (dir, provider, threads) per process: activities run many times in one worker. */
const cache = new Map<string, Promise<LoadedModel>>();
export function getModel(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const key = JSON.stringify([
    path.resolve(dir),
    opts.id,
    opts.executionProvider ?? 'cpu',
    opts.threads ?? 0,
    opts.roots ?? null,
  ]);
  let p = cache.get(key);
  if (!p) {
    p = loadModel(dir, opts);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}
