import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { writeTestModel } from '@rds/encoder';
import { LocalBackend } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { ComputePlan } from '@rds/schemas';
import { PathPolicy, TokenSet, buildServer } from '../src/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const RW = 'plan-rw-token';
const RO = 'plan-ro-token';
let tmp: string;
let app: FastifyInstance;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-plan-'));
  const dataRoot = path.join(tmp, 'data');
  fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
  await writeTestModel(path.join(dataRoot, 'model'));
  const paths = await PathPolicy.create([dataRoot], path.join(tmp, 'runs'));
  app = await buildServer({ backend: new LocalBackend({ activities }), tokens: new TokenSet([RW, `ro:${RO}`]), paths });
});

afterAll(async () => {
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const config = (over: Record<string, unknown> = {}) => ({
  runDir: 'planned',
  pool: { inputs: ['pool.jsonl'], shardSize: 100 },
  queries: [{ task: 'math', path: 'queries/math.jsonl' }],
  model: { dir: 'model', maxTokens: 256 },
  selection: { budget: 10 },
  ...over,
});
const post = (body: unknown, token = RW) =>
  app.inject({
    method: 'POST',
    url: '/v1/plan',
    headers: { authorization: `Bearer ${token}` },
    payload: body as object,
  });

it('POST /v1/plan returns the plan of a config (rows, exact tokens, calibrated time) and starts nothing', async () => {
  const res = await post({ config: config(), calibrateTokens: 256 });
  expect(res.statusCode).toBe(200);
  const plan = ComputePlan.parse(res.json());
  expect(plan.pool).toMatchObject({ rows: 300, read: 300, duplicate: 0, rejected: 0 });
  expect(plan.tokens).toMatchObject({ sampled: false, sampledRows: 300 });
  expect(plan.queries.map((q) => q.task)).toEqual(['math']);
  expect(plan.calibration!.tokens).toBeGreaterThanOrEqual(256);
  expect(plan.time.thisMachineSeconds).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(tmp, 'runs', 'planned'))).toBe(false);
  expect(
    (await app.inject({ method: 'GET', url: '/v1/runs', headers: { authorization: `Bearer ${RW}` } })).json(),
  ).toEqual({ runs: [] });
});

it('rejects bad settings, bad configs and paths outside the roots with field issues, like POST /v1/runs', async () => {
  const bad = await post({ config: config(), sampleRows: 0, extra: 1 });
  expect(bad.statusCode).toBe(400);
  expect(
    bad
      .json()
      .issues.map((i: { path: string }) => i.path)
      .sort(),
  ).toEqual(['extra', 'sampleRows']);
  const field = await post({ config: config({ selection: { budget: -1 } }) });
  expect(field.statusCode).toBe(400);
  expect(field.json().issues).toEqual([expect.objectContaining({ path: 'selection.budget' })]);
  const outside = await post({ config: config({ pool: { inputs: ['/etc/passwd'] } }) });
  expect(outside.statusCode).toBe(400);
  expect(outside.json().issues).toEqual([expect.objectContaining({ path: 'pool.inputs[0]' })]);
  // A model directory that is not a model: named relative to the data root, never by absolute path.
  const notModel = await post({ config: config({ model: { dir: 'queries' } }), calibrateTokens: 0 });
  expect(notModel.statusCode).toBe(400);
  const issue = notModel.json().issues[0] as { path: string; message: string };
  expect(issue.path).toBe('config');
  expect(issue.message).toMatch(/missing model\.onnx/);
  expect(issue.message).not.toContain(tmp);
});

it('needs a read-write token (a plan runs the model on the server)', async () => {
  expect((await post({ config: config() }, RO)).statusCode).toBe(403);
});
