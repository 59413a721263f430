import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddings, runLayout, runWithRuntime, type Progress } from '@rds/artifacts';
import { ingestPoolFiles } from '@rds/pool';
import { EmbeddingManifest, ModelConfig } from '@rds/schemas';
import { embedPoolShard, embedQueries } from '../src/activity.js';
import { sharedPool, tempDir, testModel } from './helpers.js';

const here = path.dirname(new URL(import.meta.url).pathname);
let modelDir: string;
let poolFile: string;

/** A run directory with the first 400 rows of the shared pool ingested as one shard. */
async function ingestedRun(): Promise<string> {
  const runDir = tempDir('rds-embed-run-');
  await ingestPoolFiles(runDir, { inputs: [poolFile], format: 'auto', shardSize: 100_000, maxRowBytes: 1 << 20 });
  return runDir;
}

beforeAll(async () => {
  modelDir = await testModel();
  const dir = tempDir('rds-embed-pool-');
  poolFile = path.join(dir, 'pool.jsonl');
  const lines = fs.readFileSync(sharedPool(), 'utf8').split('\n').slice(0, 400);
  fs.writeFileSync(poolFile, lines.join('\n') + '\n');
});

function quietRuntime(beats: Progress[] = [], signal = new AbortController().signal) {
  return { heartbeat: (p: Progress) => beats.push(p), signal, log: () => {} };
}

describe('embedPoolShard', () => {
  it('writes a manifest with ids in row order and unit-norm rows, heartbeats progress, then skips on re-run', async () => {
    const runDir = await ingestedRun();
    const model = ModelConfig.parse({ dir: modelDir, checkpointRows: 128, threads: 1 });
    const beats: Progress[] = [];
    const r = await runWithRuntime(quietRuntime(beats), () => embedPoolShard({ runDir, shard: 0, model }));
    expect(r).toMatchObject({ skipped: false, shard: 0, rows: 400 });
    expect(r.tokens).toBeGreaterThan(400 * 10);
    expect(beats.at(-1)).toMatchObject({ done: 400, total: 400, unit: 'rows' });

    const { manifest, reader } = await openEmbeddings(runLayout(runDir).embeddings.poolManifest(0));
    const shardIds = fs
      .readFileSync(runLayout(runDir).pool.shard(0), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(manifest.ids).toEqual(shardIds);
    expect(manifest.settings).toMatchObject({ pooling: 'weighted-mean', maxTokens: 2048, dtype: 'float16', dims: 64 });
    const block = reader.read(0, 400);
    for (let i = 0; i < 400; i += 37) expect(Math.hypot(...block.subarray(i * 64, (i + 1) * 64))).toBeCloseTo(1, 2);
    reader.close();

    const again = await runWithRuntime(quietRuntime(), () => embedPoolShard({ runDir, shard: 0, model }));
    expect(again.skipped).toBe(true);
    // Other settings are a different artifact: not skipped.
    const other = await runWithRuntime(quietRuntime(), () =>
      embedPoolShard({ runDir, shard: 0, model: { ...model, pooling: 'mean' } }),
    );
    expect(other.skipped).toBe(false);
  });

  it('resumes after a SIGKILL mid-shard and produces a byte-identical matrix', async () => {
    const model = ModelConfig.parse({ dir: modelDir, checkpointRows: 40, threads: 1 });
    const clean = await ingestedRun();
    await runWithRuntime(quietRuntime(), () => embedPoolShard({ runDir: clean, shard: 0, model }));

    const killed = await ingestedRun();
    const matrix = runLayout(killed).embeddings.poolMatrix(0);
    const checkpoint = `${matrix}.checkpoint.json`;
    // The child crashes itself at the first heartbeat reporting a durable checkpoint (every checkpoint
    // is reported: 40 rows), long before the shard is done.
    const child = spawn(
      process.execPath,
      [
        '--conditions=@rds/source',
        '--import',
        'tsx',
        path.join(here, 'fixtures', 'embed-child.ts'),
        killed,
        modelDir,
        '40',
        '40',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal, stderr).toBe('SIGKILL');
    expect(fs.existsSync(runLayout(killed).embeddings.poolManifest(0))).toBe(false);
    const cp = JSON.parse(fs.readFileSync(checkpoint, 'utf8')) as { rows: number };
    const crashedAt = Number(/crash at (\d+)/.exec(stderr)?.[1]);
    expect(crashedAt).toBe(40);
    expect(cp.rows).toBe(40); // the last durable checkpoint is the one the crash followed

    const r = await runWithRuntime(quietRuntime(), () => embedPoolShard({ runDir: killed, shard: 0, model }));
    expect(r.skipped).toBe(false);
    expect(fs.readFileSync(matrix).equals(fs.readFileSync(runLayout(clean).embeddings.poolMatrix(0)))).toBe(true);
    expect(fs.existsSync(checkpoint)).toBe(false);
  });

  it('stops cleanly on cancellation, keeping the checkpoint for a resume', async () => {
    const runDir = await ingestedRun();
    const model = ModelConfig.parse({ dir: modelDir, checkpointRows: 40, threads: 1 });
    const ac = new AbortController();
    // Cancel as soon as the first checkpoint is reported: the next chunk must not get far.
    const rt = {
      ...quietRuntime([], ac.signal),
      heartbeat: (p: { detail?: Record<string, unknown> }) =>
        void (Number(p.detail?.rowsCheckpointed ?? 0) >= 40 && ac.abort(new Error('cancelled by test'))),
    };
    await expect(runWithRuntime(rt, () => embedPoolShard({ runDir, shard: 0, model }))).rejects.toThrow(
      /cancelled by test/,
    );
    const cp = JSON.parse(fs.readFileSync(`${runLayout(runDir).embeddings.poolMatrix(0)}.checkpoint.json`, 'utf8')) as {
      rows: number;
    };
    expect(cp.rows).toBe(40);
    expect(fs.existsSync(runLayout(runDir).embeddings.poolManifest(0))).toBe(false);
    const r = await runWithRuntime(quietRuntime(), () => embedPoolShard({ runDir, shard: 0, model }));
    expect(r.rows).toBe(400);
  });
});

describe('embedQueries', () => {
  it('embeds each task query set like the pool and skips when done', async () => {
    const runDir = tempDir('rds-embed-q-');
    await ingestPoolFiles(runDir, { inputs: [poolFile], format: 'auto', shardSize: 100_000, maxRowBytes: 1 << 20 });
    fs.mkdirSync(path.dirname(runLayout(runDir).queries.file('t')), { recursive: true });
    // Canonical query file: the same shape the pool shards have.
    fs.writeFileSync(
      runLayout(runDir).queries.file('t'),
      fs.readFileSync(runLayout(runDir).pool.shard(0), 'utf8').split('\n').slice(0, 5).join('\n') + '\n',
    );
    const model = ModelConfig.parse({ dir: modelDir, threads: 1 });
    const cache = { dir: tempDir('rds-embed-q-cache-') }; // empty: earlier tests embedded these rows
    const r = await runWithRuntime(quietRuntime(), () => embedQueries({ runDir, tasks: ['t'], model, cache }));
    expect(r).toEqual({ skipped: false, rows: 5, cacheHits: 0 });
    const m = EmbeddingManifest.parse(
      JSON.parse(fs.readFileSync(runLayout(runDir).embeddings.queryManifest('t'), 'utf8')),
    );
    expect(m.rows).toBe(5);
    // A query identical to pool row 0 gets the identical embedding (same rendering and pooling):
    // computed again, not read from the cache the queries filled.
    await runWithRuntime(quietRuntime(), () => embedPoolShard({ runDir, shard: 0, model, cache: false }));
    const qe = (await openEmbeddings(runLayout(runDir).embeddings.queryManifest('t'))).reader.read(0, 1);
    const pe = (await openEmbeddings(runLayout(runDir).embeddings.poolManifest(0))).reader.read(0, 1);
    expect(Array.from(qe)).toEqual(Array.from(pe));
    expect(await runWithRuntime(quietRuntime(), () => embedQueries({ runDir, tasks: ['t'], model, cache }))).toEqual({
      skipped: true,
      rows: 5,
      cacheHits: 0,
    });
  });
});
