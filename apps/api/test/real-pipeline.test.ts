import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { installModel } from '@rds/models';
import { LocalBackend } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { PathPolicy, RunDetailResponse, SelectionPage, TokenSet, buildServer } from '../src/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const TOKEN = 'real-pipeline-token';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

let tmp: string;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-real-'));
  const dataRoot = path.join(tmp, 'data');
  fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
  // Every third example row (100: math 40, general 31, code 29): the real model costs ~0.2 GFLOP per token.
  const pool = fs.readFileSync(path.join(dataRoot, 'pool.jsonl'), 'utf8').split('\n').filter(Boolean);
  fs.writeFileSync(path.join(dataRoot, 'pool.jsonl'), pool.filter((_, i) => i % 3 === 0).join('\n') + '\n');
  // The real pretrained model (SmolLM2-135M), hard-linked from the cache (npx rds model fetch smollm2-135m;
  // .ci/run installs it; without it this fails, never skips).
  await installModel('smollm2-135m', path.join(dataRoot, 'model'));
  const paths = await PathPolicy.create([dataRoot], path.join(tmp, 'runs'));
  // The activities the worker and `rds run` use: ingest, ONNX embedding, faiss scoring, selection, handoff.
  const backend = new LocalBackend({ activities });
  app = await buildServer({ backend, tokens: new TokenSet([TOKEN]), paths });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function config(runDir: string) {
  return {
    runDir,
    pool: { inputs: ['pool.jsonl'], shardSize: 34 },
    queries: [
      { task: 'math', path: 'queries/math.jsonl' },
      { task: 'code', path: 'queries/code.jsonl' },
    ],
    model: { dir: 'model', maxTokens: 256, checkpointRows: 32 },
    selection: { strategy: 'round-robin-queries', budget: 40, seed: 42 },
  };
}

async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(base + url, {
    method: 'POST',
    ...(body === undefined
      ? { headers: { authorization: headers.authorization } }
      : { headers, body: JSON.stringify(body) }),
  });
}

async function start(runDir: string): Promise<string> {
  const res = await post('/v1/runs', config(runDir));
  expect(res.status).toBe(201);
  return ((await res.json()) as { runId: string }).runId;
}

async function detail(runId: string) {
  return RunDetailResponse.parse(await (await fetch(`${base}/v1/runs/${runId}`, { headers })).json());
}

async function waitFor(runId: string, done: (state: string) => boolean) {
  for (const end = Date.now() + 900_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const d = await detail(runId);
    if (done(d.state) || Date.now() > end) return d;
  }
}

const finished = (runId: string) => waitFor(runId, (s) => !['queued', 'running', 'paused'].includes(s));

async function selection(runId: string) {
  const res = await fetch(`${base}/v1/runs/${runId}/selection?limit=40`, { headers });
  expect(res.status).toBe(200);
  return SelectionPage.parse(await res.json());
}

let firstSelection: SelectionPage;

it('runs the whole pipeline (real SmolLM2-135M) through the API and serves the selection with its queries', async () => {
  const runId = await start('example');
  const d = await finished(runId);
  expect(d.state, JSON.stringify(d.status?.error)).toBe('completed');
  expect(d.status?.counts).toMatchObject({ poolRows: 100, shards: 3, rowsEmbedded: 100, selected: 40, handedOff: 40 });

  const page = (firstSelection = await selection(runId));
  expect(page.total).toBe(40);
  // 24 queries take turns (math's 12, then code's 12); the summary counts what the page serves.
  expect(page.summary.perTask).toEqual({
    math: page.examples.filter((e) => e.task === 'math').length,
    code: page.examples.filter((e) => e.task === 'code').length,
  });
  expect(page.summary.turns).toBe('reference');
  for (const e of page.examples) {
    expect(e.messages?.length).toBeGreaterThan(0);
    expect(e.query?.task).toBe(e.task);
    expect(e.query?.messages?.length).toBeGreaterThan(0);
    expect(e.score).toBeGreaterThan(-1);
    expect(e.score).toBeLessThanOrEqual(1.0001); // cosine of unit vectors
  }
}, 900_000);

it('pause holds a real run before its next stage, resume finishes it with the same selection, cancel of a paused run ends it', async () => {
  // The local backend runs one at a time: a run started behind another is queued, so a pause sent
  // now is in place before its first stage, whatever the machine's speed.
  const front = await start('front');
  const steered = await start('steered');
  const doomed = await start('doomed');
  expect((await detail(steered)).state).toBe('queued');
  expect((await post(`/v1/runs/${steered}/pause`)).status).toBe(202);
  expect((await post(`/v1/runs/${doomed}/pause`)).status).toBe(202);
  expect((await finished(front)).state).toBe('completed');

  const paused = await waitFor(steered, (s) => s === 'paused');
  expect(paused.state).toBe('paused');
  await new Promise((r) => setTimeout(r, 1000));
  const still = await detail(steered);
  expect(still.state).toBe('paused');
  expect(still.status?.completedStages).toEqual(paused.status?.completedStages);
  expect(still.status?.completedStages).not.toContain('embed-pool');
  expect(still.artifacts.map((a) => a.name)).not.toContain('selection');

  expect((await post(`/v1/runs/${steered}/resume`)).status).toBe(202);
  const resumed = await finished(steered);
  expect(resumed.state, JSON.stringify(resumed.status?.error)).toBe('completed');
  // A paused and resumed run selects exactly what an uninterrupted one did.
  const page = await selection(steered);
  expect(page.examples.map((e) => [e.id, e.task, e.score, e.query?.index])).toEqual(
    firstSelection.examples.map((e) => [e.id, e.task, e.score, e.query?.index]),
  );

  // The next queued run starts and stops at its pause point; a cancel wakes it and ends it there.
  expect((await waitFor(doomed, (s) => s === 'paused')).state).toBe('paused');
  expect((await post(`/v1/runs/${doomed}/cancel`)).status).toBe(202);
  const cancelled = await finished(doomed);
  expect(cancelled.state).toBe('cancelled');
  expect(cancelled.status?.completedStages).not.toContain('embed-pool');
  expect((await fetch(`${base}/v1/runs/${doomed}/selection`, { headers })).status).toBe(404);
}, 900_000);
