import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { writeTestModel } from '@rds/encoder';
import { HoldController, LocalBackend } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { PathPolicy, TokenSet, buildServer } from '../src/index.js';

const CHROMIUM = '/usr/bin/chromium';
const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));
const TOKEN = 'browser-test-token';

let tmp: string;
let app: FastifyInstance;
let base: string;
let browser: Browser | undefined;
let holds: HoldController;

beforeAll(async () => {
  // CI installs Debian's chromium (.ci/run); a machine without it must not pass this test silently.
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: the UI browser test needs Debian's chromium (apt-get install -y chromium)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-ui-'));
  const dataRoot = path.join(tmp, 'data');
  fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
  // A copy of a query replaces the pool's first row (300 rows stay 300): the contamination panel must list it.
  const query = JSON.parse(fs.readFileSync(path.join(dataRoot, 'queries', 'math.jsonl'), 'utf8').split('\n')[0]!);
  const poolFile = path.join(dataRoot, 'pool.jsonl');
  const poolLines = fs.readFileSync(poolFile, 'utf8').split('\n');
  poolLines[0] = JSON.stringify({ ...query, id: 'planted-copy', dataset: 'planted' });
  fs.writeFileSync(poolFile, poolLines.join('\n'));
  // A tiny generated causal LM: the run goes through the real activities (ingest, ONNX embedding,
  // faiss scoring, selection, handoff), exactly as the API's default LocalBackend runs them. Hold
  // points stop it where the test looks at it, so what the UI shows never depends on machine speed.
  await writeTestModel(path.join(dataRoot, 'model'));
  const paths = await PathPolicy.create([dataRoot], path.join(tmp, 'runs'));
  holds = new HoldController(activities);
  const backend = new LocalBackend({ activities: holds.activities });
  app = await buildServer({ backend, tokens: new TokenSet([TOKEN]), paths });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

it('starts a run from the generated form, sees it finish in the runs list, and browses why examples were selected', async () => {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // The deliberate 400 below logs a resource error; anything else logged as an error is a bug.
  page.on(
    'console',
    (msg) => void (msg.type() === 'error' && !msg.text().includes('status of 400') && pageErrors.push(msg.text())),
  );

  await page.goto(base);
  await page.fill('#token', TOKEN);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#runs');
  expect(await page.evaluate('sessionStorage.getItem("rds-api-token")')).toBe(TOKEN);

  await page.click('a[href="#/new"]');
  await page.waitForSelector('#run-form');
  // Defaults from the schema are prefilled; enums are selects.
  expect(await page.inputValue('[data-path="pool.shardSize"]')).toBe('50000');
  expect(await page.inputValue('[data-path="selection.strategy"]')).toBe('round-robin-tasks');
  expect(await page.locator('select[data-path="model.pooling"] option').allTextContents()).toEqual([
    'weighted-mean',
    'mean',
    'last',
  ]);

  // A server-side field error lands on its field.
  await page.click('#run-form button[type=submit]');
  await page.waitForSelector('[data-error-for="selection.budget"]:not(:empty)');
  expect(await page.getAttribute('[data-path="runDir"]', 'aria-invalid')).toBe('true');
  fs.mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: path.join(RESULTS, 'api-ui-form-errors.png'), fullPage: true });

  await page.fill('[data-path="runDir"]', 'from-the-ui');
  await page.fill('[data-path="pool.inputs"]', 'pool.jsonl');
  await page.fill('[data-path="pool.shardSize"]', '100');
  await page.fill('[data-path="queries[0].task"]', 'math');
  await page.fill('[data-path="queries[0].path"]', 'queries/math.jsonl');
  await page.click('[data-add="queries"]');
  await page.fill('[data-path="queries[1].task"]', 'code');
  await page.fill('[data-path="queries[1].path"]', 'queries/code.jsonl');
  await page.fill('[data-path="model.dir"]', 'model');
  await page.selectOption('[data-path="selection.strategy"]', 'round-robin-queries');
  await page.fill('[data-path="selection.budget"]', '30');
  await page.check('[data-path="cache"]'); // "cache off": this run neither reads nor fills the embedding cache
  // The compute plan of the filled-in form, before anything is started: the pool's 300 rows, exact tokens.
  await page.click('#plan-button');
  await page.waitForSelector('#plan [data-plan="rows"]', { timeout: 60_000 });
  expect(await page.textContent('#plan [data-plan="rows"] td')).toMatch(/^300 to embed \(300 read/);
  expect(await page.textContent('#plan [data-plan="here"] td')).toMatch(/estimate, cpu/);
  expect(await page.locator('#plan [data-plan="gpu"]').count()).toBe(5);
  await page.screenshot({ path: path.join(RESULTS, 'api-ui-plan.png'), fullPage: true });

  // The pool has 3 shards of 100 rows: the run is held before its second shard, then its third.
  const beforeShard1 = holds.hold('embedPoolShard', 1);
  const beforeShard2 = holds.hold('embedPoolShard', 2);
  await page.click('#run-form button[type=submit]');
  await page.waitForURL(/#\/runs\/run-/);
  const runId = decodeURIComponent(new URL(page.url()).hash.slice('#/runs/'.length));
  await beforeShard1.reached;

  // Steer it from the run page: a pause asked for mid-stage holds it before the next shard (the
  // button turns into resume), and nothing moves while it is paused; resume lets it go on.
  const pauseSent = page.waitForResponse(
    (r) => r.url().endsWith(`/v1/runs/${runId}/pause`) && r.request().method() === 'POST',
  );
  await page.click('[data-action="pause"]');
  expect((await pauseSent).status()).toBe(202);
  beforeShard1.release();
  await page.waitForSelector('main [data-state="paused"]', { timeout: 60_000 });
  await page.screenshot({ path: path.join(RESULTS, 'api-ui-paused.png'), fullPage: true });
  const pausedStages = await page.locator('main p.muted').first().textContent();
  await new Promise((r) => setTimeout(r, 1500)); // a paused run must not move on, however long it waits
  expect(await page.getAttribute('main [data-state]', 'data-state')).toBe('paused');
  expect(await page.locator('main p.muted').first().textContent()).toBe(pausedStages);
  await page.click('[data-action="resume"]');
  await beforeShard2.reached; // resumed: it ran shard 1's successor up to the next hold
  await page.waitForSelector('main [data-state="running"]', { timeout: 60_000 });

  // The runs list shows it running with its live progress while it is held, then follows it to the end.
  await page.click('a[href="#/"]');
  const row = page.locator(`#runs tr[data-run-id="${runId}"]`);
  await expect.poll(() => row.locator('[data-state]').getAttribute('data-state'), { timeout: 60_000 }).toBe('running');
  await expect
    .poll(() => row.locator('[data-progress]').getAttribute('data-progress'), { timeout: 60_000 })
    .toBe('200/300'); // shards 0 and 1 of 3 embedded
  const seen: string[] = [];
  beforeShard2.release();
  await expect
    .poll(
      async () => {
        const s = await row.locator('[data-state]').getAttribute('data-state');
        if (s && seen.at(-1) !== s) seen.push(s);
        return s;
      },
      { timeout: 60_000, interval: 100 },
    )
    .toBe('completed');
  expect(seen.at(-1)).toBe('completed');
  // The form's "cache off" reached the run: its config says so, and no manifest counts cache hits.
  const runDir = path.join(tmp, 'runs', 'from-the-ui');
  expect(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).cache).toBe(false);
  const manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'embeddings/pool/shard-00000.manifest.json'), 'utf8'));
  expect(manifest.rows).toBe(100);
  expect(manifest.cacheHits).toBeUndefined();
  expect(seen.filter((s) => s !== 'running' && s !== 'completed')).toEqual([]);
  await page.screenshot({ path: path.join(RESULTS, 'api-ui-runs.png'), fullPage: true });

  await page.click(`#runs a[href="#/runs/${encodeURIComponent(runId)}"]`);
  await page.waitForSelector('#examples tbody tr');
  // A finished run's page stops polling it.
  const polls: string[] = [];
  page.on('request', (req) => void (new URL(req.url()).pathname === `/v1/runs/${runId}` && polls.push(req.url())));
  await new Promise((r) => setTimeout(r, 2500));
  expect(polls).toEqual([]);
  expect(await page.locator('main > div').first().textContent()).not.toContain('null'); // the run's header
  expect(await page.locator('[data-chart="per task"] rect').count()).toBe(2);
  expect(await page.locator('[data-chart="per source"] rect').count()).toBeGreaterThan(0);
  expect(await page.locator('[data-chart="scores math"] rect').count()).toBe(20);
  expect(await page.locator('#examples tbody tr').count()).toBe(20);
  await page.click('#examples tbody tr[data-rank="3"]');
  const why = page.locator('#why');
  await expect.poll(() => why.locator('h3').first().textContent()).toBe('Selected example #3');
  expect(await why.locator('h3').nth(1).textContent()).toMatch(/^Best-matching query: (math|code) #\d+$/);
  expect(await why.locator('.message').count()).toBeGreaterThanOrEqual(4);
  await page.click('text=next ›');
  await expect.poll(() => page.locator('#examples tbody tr').count()).toBe(10);
  // The contamination panel lists the planted copy; clicking it shows the query it copies.
  await page.waitForSelector('#contamination-summary');
  expect(await page.locator('#contamination-summary').textContent()).toMatch(/^\d+ of 300 pool rows are near-copies/);
  await page.click('#contamination tr[data-contaminated="planted-copy"]');
  await expect.poll(() => page.locator('.why h3').filter({ hasText: 'Pool row planted-copy' }).count()).toBe(1);
  // An exact copy: caught by both tests, each naming the same query.
  expect(await page.locator('.why h3', { hasText: /^math example query_math_0$/ }).count()).toBe(2);
  expect(
    await page
      .locator('.why p.muted', { hasText: /^similarity: score 1\.0000$|^similarity: score 0\.99\d\d$/ })
      .count(),
  ).toBe(1);
  expect(await page.locator('.why p.muted', { hasText: /^ngram: shares “/ }).count()).toBe(1);
  await page.screenshot({ path: path.join(RESULTS, 'api-ui-run.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
}, 240_000); // each wait has its own bound; the whole walk-through may take minutes on a loaded 2-core machine
