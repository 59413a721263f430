import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { writeTestModel } from '@rds/encoder';
import { LocalBackend } from '@rds/runner';
import { completeActivities } from '@rds/runner/activities';
import { PathPolicy, RunDetailResponse, SelectionPage, TokenSet, buildServer } from '../src/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const TOKEN = 'real-pipeline-token';

let tmp: string;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-real-'));
  const dataRoot = path.join(tmp, 'data');
  fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
  await writeTestModel(path.join(dataRoot, 'model'));
  const paths = await PathPolicy.create([dataRoot], path.join(tmp, 'runs'));
  // The activities the worker and `rds run` use: ingest, ONNX embedding, faiss scoring, selection, handoff.
  const backend = new LocalBackend({ activities: completeActivities() });
  app = await buildServer({ backend, tokens: new TokenSet([TOKEN]), paths });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

it('runs the whole pipeline (tiny test model) through the API and serves the selection with its queries', async () => {
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = {
    runDir: 'example',
    pool: { inputs: ['pool.jsonl'], shardSize: 100 },
    queries: [
      { task: 'math', path: 'queries/math.jsonl' },
      { task: 'code', path: 'queries/code.jsonl' },
    ],
    model: { dir: 'model', maxTokens: 256, checkpointRows: 32 },
    selection: { strategy: 'round-robin-queries', budget: 40, seed: 42 },
  };
  const start = await fetch(`${base}/v1/runs`, { method: 'POST', headers, body: JSON.stringify(body) });
  expect(start.status).toBe(201);
  const { runId } = (await start.json()) as { runId: string };
  let detail;
  for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    detail = RunDetailResponse.parse(await (await fetch(`${base}/v1/runs/${runId}`, { headers })).json());
    if (!['queued', 'running', 'paused'].includes(detail.state)) break;
  }
  expect(detail?.state, JSON.stringify(detail?.status?.error)).toBe('completed');
  expect(detail?.status?.counts).toMatchObject({ poolRows: 300, shards: 3, rowsEmbedded: 300, selected: 40, handedOff: 40 });

  const page = SelectionPage.parse(await (await fetch(`${base}/v1/runs/${runId}/selection?limit=40`, { headers })).json());
  expect(page.total).toBe(40);
  // 24 queries take turns (math's 12, then code's 12): 40 = one full round + math's 12 + code's first 4.
  expect(page.summary.perTask).toEqual({ math: 24, code: 16 });
  for (const e of page.examples) {
    expect(e.messages?.length).toBeGreaterThan(0);
    expect(e.query?.task).toBe(e.task);
    expect(e.query?.messages?.length).toBeGreaterThan(0);
    expect(e.score).toBeGreaterThan(-1);
    expect(e.score).toBeLessThanOrEqual(1.0001); // cosine of unit vectors
  }
});
