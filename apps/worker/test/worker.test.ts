import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '@rds/schemas';
import type { RunActivities } from '@rds/workflows/plan';
import {
  activitiesFor,
  loadWorkflowBundle,
  parseWorkerArgs,
  startWorkers,
  withSharedStorageChecks,
  writeWorkflowBundle,
} from '../src/index.js';

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-worker-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

describe('worker options', () => {
  it('defaults to both roles on the cpu/gpu queues, one embedding at a time', () => {
    expect(parseWorkerArgs([], {})).toEqual({
      roles: ['cpu', 'gpu'],
      queues: { cpu: 'cpu', gpu: 'gpu' },
      maxActivities: { cpu: 2, gpu: 1 },
      shutdownGraceMs: 10_000,
    });
  });

  it('takes roles, queue names (flag over env) and limits', () => {
    const o = parseWorkerArgs(
      [
        '--queues',
        'gpu',
        '--gpu-queue',
        'a100',
        '--max-gpu-activities',
        '2',
        '--bundle',
        'fresh',
        '--grace-seconds',
        '0.5',
      ],
      { RDS_GPU_QUEUE: 'x', RDS_CPU_QUEUE: 'c1' },
    );
    expect(o).toEqual({
      roles: ['gpu'],
      queues: { cpu: 'c1', gpu: 'a100' },
      maxActivities: { cpu: 2, gpu: 2 },
      shutdownGraceMs: 500,
      bundle: 'fresh',
    });
  });

  it('rejects unknown roles and flags with the field that is wrong', () => {
    const err = (() => {
      try {
        parseWorkerArgs(['--queues', 'cpu,tpu', '--max-cpu-activities', '0'], {});
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect(err?.issues.map((i) => i.path).sort()).toEqual(['maxActivities.cpu', 'roles[1]']);
    expect(() => parseWorkerArgs(['--nope'], {})).toThrow(/Unknown option '--nope'/);
  });
});

describe('activities per role', () => {
  it('serves embedding on gpu and everything else on cpu', () => {
    const fn = async () => ({}) as never;
    const all: RunActivities = {
      validateConfig: fn,
      ingestPool: fn,
      embedQueries: fn,
      embedPoolShard: fn,
      scorePool: fn,
      selectPool: fn,
      handoffSelection: fn,
    };
    expect(Object.keys(activitiesFor('gpu', all)).sort()).toEqual(['embedPoolShard', 'embedQueries']);
    expect(Object.keys(activitiesFor('cpu', all)).sort()).toEqual([
      'handoffSelection',
      'ingestPool',
      'scorePool',
      'selectPool',
      'validateConfig',
    ]);
  });
});

describe('shared storage checks', () => {
  const config = {
    runDir: path.join(tmp, 'run'),
    pool: { inputs: ['/data/pool.jsonl'] },
    queries: [{ task: 't', path: '/data/q.jsonl' }],
    model: { dir: '/models/m' },
    selection: { budget: 1 },
  };
  const called: string[] = [];
  const fn = (name: string) => async () => {
    called.push(name);
    return {} as never;
  };
  const all = withSharedStorageChecks({
    validateConfig: fn('validate'),
    ingestPool: fn('ingest'),
  } as Partial<RunActivities>) as RunActivities;

  it('validateConfig refuses relative paths, naming each field (workers resolve them against their own cwd)', async () => {
    const err = await all
      .validateConfig({ config: { ...config, runDir: 'runs/x', model: { dir: 'model' } }, runId: 'r' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['runDir', 'model.dir']);
    await all.validateConfig({ config, runId: 'r' });
    expect(called).toEqual(['validate']);
  });

  it('a later stage on a worker that cannot see the run directory fails saying so, and runs once it can', async () => {
    const input = { runDir: config.runDir, pool: config.pool, queries: config.queries } as never;
    await expect(all.ingestPool(input)).rejects.toThrow(
      /run directory .* is not visible on this worker .*shared storage/,
    );
    expect(called).toEqual(['validate']);
    await fs.mkdir(config.runDir, { recursive: true });
    await fs.writeFile(path.join(config.runDir, 'config.json'), '{}');
    await all.ingestPool(input);
    expect(called).toEqual(['validate', 'ingest']);
  });
});

describe('workflow bundle', () => {
  it('writes a prebuilt bundle and prefers it over bundling at start', async () => {
    const file = path.join(tmp, 'bundle.js');
    const written = await writeWorkflowBundle(file);
    expect(written.bytes).toBeGreaterThan(100_000);
    const loaded = await loadWorkflowBundle(file);
    expect(loaded.source).toBe(`prebuilt ${file}`);
    expect(loaded.code).toContain('function selectionRun(');
    const fresh = await loadWorkflowBundle(path.join(tmp, 'missing.js'));
    expect(fresh.source).toBe('bundled at start');
    expect(fresh.code).toContain('function embedShards(');
  });
});

describe('connection', () => {
  it('says where it tried when the server cannot be reached', async () => {
    const options = parseWorkerArgs(['--queues', 'cpu'], {});
    await expect(startWorkers(options, {}, { address: '127.0.0.1:1', namespace: 'ns' })).rejects.toThrow(
      /cannot reach Temporal at 127\.0\.0\.1:1 \(namespace ns; set TEMPORAL_ADDRESS/,
    );
  });
});
