import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { HoldController, LocalBackend, type RunBackend } from '@rds/runner';
import { RunConfig, RunDetail, runConfigJsonSchema, type RunConfigInput } from '@rds/schemas';
import {
  PathPolicy,
  RunDetailResponse,
  RunList,
  SelectionPage,
  SelectionReader,
  TokenSet,
  buildServer,
  settingsFromEnv,
} from '../src/index.js';
import { apiCaller, exampleRunConfig, until } from './http.js';
import { pipelineActivities } from './pipeline.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const RW = 'rw-secret-token';
const RO = 'read-only-token';

let tmp: string;
let dataRoot: string;
let runsRoot: string;
let outside: string;
let app: FastifyInstance;
let base: string;
let backend: LocalBackend;
let paths: PathPolicy;
let holds: HoldController;
const tokens = new TokenSet([RW, `ro:${RO}`]);

const call = apiCaller(() => base, RW);

const config = exampleRunConfig;

async function detail(runId: string) {
  const res = await call('GET', `/v1/runs/${runId}`);
  expect(res.status).toBe(200);
  return RunDetailResponse.parse(res.json);
}

const finished = (runId: string) =>
  until(`run ${runId} to finish`, async () => {
    const d = await detail(runId);
    return ['completed', 'failed', 'cancelled'].includes(d.state) ? d : null;
  });

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-'));
  dataRoot = path.join(tmp, 'data');
  runsRoot = path.join(tmp, 'runs');
  outside = path.join(tmp, 'outside');
  fs.cpSync(EXAMPLES, dataRoot, { recursive: true });
  fs.mkdirSync(path.join(dataRoot, 'model'));
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.jsonl'), fs.readFileSync(path.join(EXAMPLES, 'pool.jsonl')));
  // Symlinks inside the roots that lead out of them.
  fs.symlinkSync(outside, path.join(dataRoot, 'escape'));
  fs.mkdirSync(runsRoot);
  fs.symlinkSync(outside, path.join(runsRoot, 'linked-out'));
  paths = await PathPolicy.create([dataRoot], runsRoot);
  holds = new HoldController(pipelineActivities({ shardMs: 300 }));
  backend = new LocalBackend({ activities: holds.activities });
  app = await buildServer({ backend, tokens, paths, bodyLimit: 64 * 1024 });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  base = address;
});

afterAll(async () => {
  await app?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('authentication', () => {
  it('401 without a token, with an unknown one, or a malformed header, and says nothing more', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer nope' },
      { authorization: `Basic ${RW}` },
      { authorization: `Bearer ${RW}x` },
    ]) {
      const res = await call('GET', '/v1/runs', { token: null, headers });
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    const post = await call('POST', '/v1/runs', { token: 'wrong', body: config('x') });
    expect(post.status).toBe(401);
    expect(fs.readdirSync(runsRoot)).toEqual(['linked-out']);
  });

  it('percent-encoded paths reach the same routes and meet the same checks', async () => {
    for (const url of ['/%761/runs', '/%76%31/runs', '/v1/run%73', '/v1/runs%2Fx']) {
      const res = await call('GET', url, { token: null });
      expect([401, 404], url).toContain(res.status);
      expect(res.text, url).not.toContain('"runs"');
    }
    expect((await call('GET', '/%761/runs', { token: null })).status).toBe(401); // the router decodes it to /v1/runs
    expect((await call('GET', '/%761/runs')).status).toBe(200);
    expect((await call('POST', '/%761/runs', { token: RO, body: config('encoded') })).status).toBe(403);
    expect((await call('GET', '/%761/schema/run-config', { token: null })).status).toBe(200); // public, however spelt
  });

  it('a read-only token reads but gets 403 on every mutation', async () => {
    expect((await call('GET', '/v1/runs', { token: RO })).status).toBe(200);
    for (const url of ['/v1/runs', '/v1/runs/any/pause', '/v1/runs/any/resume', '/v1/runs/any/cancel']) {
      const res = await call('POST', url, { token: RO, body: config('ro-run') });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ error: 'forbidden' });
    }
    expect(await backend.list()).toEqual([]);
  });

  it('token sets: ro: prefix, file entries, comments, no empty tokens', () => {
    const file = path.join(tmp, 'tokens.txt');
    fs.writeFileSync(file, '# team tokens\nalpha\nro:beta, gamma\n\n');
    const set = TokenSet.fromEnv({ RDS_API_TOKENS: 'delta,ro:alpha', RDS_API_TOKENS_FILE: file });
    expect(set.size).toBe(4);
    expect(set.check('alpha')).toBe('write'); // listed read-write and read-only: the stronger grant wins
    expect(set.check('beta')).toBe('read');
    expect(set.check('gamma')).toBe('write');
    expect(set.check('delta')).toBe('write');
    expect(set.check('ro:beta')).toBeNull();
    expect(set.check('')).toBeNull();
    expect(() => new TokenSet(['ro:'])).toThrow(/empty API token/);
  });
});

describe('public documents', () => {
  it('serves the OpenAPI 3.1 document generated from the zod schemas', async () => {
    const res = await call('GET', '/openapi.json', { token: null });
    expect(res.status).toBe(200);
    const doc = res.json as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/openapi.json',
        '/v1/plan',
        '/v1/runs',
        '/v1/runs/{id}',
        '/v1/runs/{id}/cancel',
        '/v1/runs/{id}/contamination',
        '/v1/runs/{id}/pause',
        '/v1/runs/{id}/resume',
        '/v1/runs/{id}/selection',
        '/v1/schema/run-config',
      ].sort(),
    );
    const input = doc.components.schemas.RunConfigInput!;
    expect(Object.keys(doc.components.schemas.ComputePlan!.properties!)).toEqual(
      expect.arrayContaining(['pool', 'tokens', 'time']),
    );
    expect(input.required?.sort()).toEqual(['model', 'pool', 'queries', 'runDir', 'selection']);
    expect(Object.keys(doc.components.schemas.SelectionPage!.properties!)).toEqual([
      'summary',
      'offset',
      'limit',
      'total',
      'histogram',
      'examples',
    ]);
    // Every $ref resolves inside the document.
    const refs = [...res.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) expect(doc.components.schemas[r], r).toBeDefined();
  });

  it('serves the run-config JSON Schema and the UI', async () => {
    const schema = await call('GET', '/v1/schema/run-config', { token: null });
    expect(schema.json).toEqual(JSON.parse(JSON.stringify(runConfigJsonSchema())));
    const ui = await call('GET', '/', { token: null });
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(ui.text).toContain('/ui/app.js');
    expect(ui.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await call('GET', '/ui/app.js', { token: null })).headers.get('content-type')).toMatch(/javascript/);
    expect((await call('GET', '/ui/../package.json', { token: null })).status).toBe(404);
  });
});

describe('request validation', () => {
  it('400 names every bad field path', async () => {
    const bad = {
      ...config('v1'),
      selection: { strategy: 'best', budget: -3 },
      model: {},
      queries: [{ task: 'no spaces', path: 'q' }],
    };
    const res = await call('POST', '/v1/runs', { body: bad });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid request');
    const issues = res.json.issues as { path: string; message: string }[];
    expect(issues.map((i) => i.path).sort()).toEqual([
      'model.dir',
      'queries[0].task',
      'selection.budget',
      'selection.strategy',
    ]);
  });

  it('400 for an unknown (misspelt) key, naming its path, instead of running the defaults', async () => {
    const res = await call('POST', '/v1/runs', {
      body: { ...config('typo'), selection: { strateg: 'top-k-max', budget: 5 } },
    });
    expect(res.status).toBe(400);
    expect(res.json.issues).toEqual([{ path: 'selection.strateg', message: expect.stringMatching(/unknown key/) }]);
    expect(await backend.list()).toEqual([]);
  });

  it('400 for malformed JSON, a non-object body and bad query parameters; 415 for other content types', async () => {
    expect((await call('POST', '/v1/runs', { raw: '{"runDir":' })).json).toEqual({ error: 'malformed request' });
    const arr = await call('POST', '/v1/runs', { body: [1, 2] });
    expect(arr.status).toBe(400);
    expect((arr.json.issues as { path: string }[])[0]!.path).toBe('(root)');
    const text = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${RW}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(text.status).toBe(415);
    const q = await call('GET', '/v1/runs/some-run/selection?limit=100000');
    expect(q.status).toBe(400);
    expect((q.json.issues as { path: string }[]).map((i) => i.path)).toEqual(['limit']);
  });

  it('413 above the body limit, before anything is parsed', async () => {
    const huge = { ...config('big'), pool: { inputs: Array.from({ length: 8000 }, (_, i) => `file-${i}.jsonl`) } };
    const res = await call('POST', '/v1/runs', { body: huge });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ error: 'request body too large' });
  });

  it('refuses paths that escape the roots: .., absolute outside, symlinks out, globs', async () => {
    const cases: [RunConfigInput, string][] = [
      [config('../escaped-run'), 'runDir'],
      [config('/tmp/abs-run'), 'runDir'],
      [config('.'), 'runDir'],
      [config('nested/..'), 'runDir'],
      [config('linked-out/run'), 'runDir'],
      [config('ok', { pool: { inputs: ['../outside/secret.jsonl'] } }), 'pool.inputs[0]'],
      [config('ok', { pool: { inputs: ['pool.jsonl', path.join(outside, 'secret.jsonl')] } }), 'pool.inputs[1]'],
      [config('ok', { pool: { inputs: ['escape/secret.jsonl'] } }), 'pool.inputs[0]'],
      [config('ok', { pool: { inputs: ['escape/*.jsonl'] } }), 'pool.inputs[0]'],
      [config('ok', { pool: { inputs: ['queries/*/../../../outside/*.jsonl'] } }), 'pool.inputs[0]'],
      [config('ok', { pool: { inputs: ['/*/secret.jsonl'] } }), 'pool.inputs[0]'],
      [config('ok', { pool: { inputs: ['**/*.jsonl'] } }), 'pool.inputs[0]'], // matches escape/secret.jsonl through the symlink
      [config('ok', { queries: [{ task: 'math', path: 'escape/../../outside/secret.jsonl' }] }), 'queries[0].path'],
      [config('ok', { model: { dir: '/' } }), 'model.dir'],
      [config('ok', { model: { dir: 'escape/not-yet-there/model' } }), 'model.dir'],
      [config('ok', { cache: { dir: path.join(runsRoot, 'cache') } }), 'cache.dir'],
      [
        config('ok', { handoff: { destination: { kind: 'local', dir: path.join(dataRoot, 'handoff') } } }),
        'handoff.destination.dir',
      ],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/v1/runs', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(
        (res.json.issues as { path: string }[]).map((i) => i.path),
        JSON.stringify(body),
      ).toEqual([field]);
      expect(JSON.stringify(res.json)).not.toContain(tmp); // messages do not reveal the server's layout
    }
    expect(await backend.list()).toEqual([]);
    expect(fs.readdirSync(runsRoot)).toEqual(['linked-out']);
    expect(fs.readdirSync(outside)).toEqual(['secret.jsonl']);
  });

  it('accepts names that merely start with dots, and resolves relative paths against the roots', async () => {
    const confined = await paths.confineConfig(
      RunConfig.parse(config('..run', { pool: { inputs: ['..pool.jsonl', 'queries/./math.jsonl'] } })),
    );
    expect(confined.runDir).toBe(path.join(paths.runsRoot, '..run'));
    expect(confined.pool.inputs).toEqual([
      path.join(paths.dataRoots[0]!, '..pool.jsonl'),
      path.join(paths.dataRoots[0]!, 'queries', 'math.jsonl'),
    ]);
    expect(confined.queries.map((q) => q.path)).toEqual(
      ['math', 'code'].map((t) => path.join(paths.dataRoots[0]!, 'queries', `${t}.jsonl`)),
    );
    expect(confined.model.dir).toBe(path.join(paths.dataRoots[0]!, 'model'));
    // The roots the activities check files against are the server's, whatever a request says.
    const widened = await paths.confineConfig(
      RunConfig.parse(
        config('widened', { pool: { inputs: ['pool.jsonl'], roots: ['/'] }, model: { dir: 'model', roots: ['/'] } }),
      ),
    );
    expect([widened.pool.roots, widened.model.roots]).toEqual([paths.dataRoots, paths.dataRoots]);
  });
});

describe('runs through the LocalBackend', () => {
  it('starts a run, reports progress to completion, and pages its selection with the matching queries', async () => {
    const start = await call('POST', '/v1/runs', { body: config('first') });
    expect(start.status).toBe(201);
    const runId = start.json.runId as string;
    const seenStages = new Set<string>();
    const done = await until('completion', async () => {
      const d = await detail(runId);
      if (d.stage) seenStages.add(d.stage);
      return ['completed', 'failed', 'cancelled'].includes(d.state) ? d : null;
    });
    expect(done.state, JSON.stringify(done.status?.error)).toBe('completed');
    expect(seenStages.has('embed-pool')).toBe(true);
    expect(done.runDir).toBe(path.join(paths.runsRoot, 'first'));
    expect(done.config?.pool.inputs).toEqual([path.join(paths.dataRoots[0]!, 'pool.jsonl')]);
    expect(done.status?.counts).toMatchObject({ poolRows: 300, shards: 3, selected: 24 });
    expect(done.artifacts.map((a) => a.name)).toEqual(
      expect.arrayContaining([
        'config',
        'status',
        'pool-manifest',
        'selection',
        'selection-summary',
        'handoff-receipt',
      ]),
    );
    expect(done.artifacts.every((a) => !path.isAbsolute(a.file) && a.bytes > 0)).toBe(true);

    const list = RunList.parse((await call('GET', '/v1/runs', { token: RO })).json);
    expect(list.runs.find((r) => r.runId === runId)).toMatchObject({ state: 'completed', progress: null });

    const source = new Map(
      fs
        .readFileSync(path.join(EXAMPLES, 'pool.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const row = JSON.parse(l) as { id: string; messages: unknown };
          return [row.id, row.messages] as const;
        }),
    );
    const queries = Object.fromEntries(
      ['math', 'code'].map((t) => [
        t,
        fs
          .readFileSync(path.join(EXAMPLES, 'queries', `${t}.jsonl`), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { messages: unknown }).messages),
      ]),
    );
    const all = [];
    let summaryPerTask: Record<string, number> = {};
    for (let offset = 0; offset < 24; offset += 10) {
      const res = await call('GET', `/v1/runs/${runId}/selection?offset=${offset}&limit=10`, { token: RO });
      expect(res.status).toBe(200);
      const page = SelectionPage.parse(res.json);
      expect(page.total).toBe(24);
      expect(page.examples.map((e) => e.rank)).toEqual(
        Array.from({ length: Math.min(10, 24 - offset) }, (_, i) => offset + i),
      );
      all.push(...page.examples);
      if (offset === 0) {
        summaryPerTask = page.summary.perTask;
        for (const [task, counts] of Object.entries(page.histogram.counts))
          expect(counts.reduce((a, b) => a + b, 0)).toBe(page.summary.perTask[task]);
      }
    }
    expect(new Set(all.map((e) => e.id)).size).toBe(24);
    // The summary's per-task counts are those of the rows served (how they split depends on the turn rule).
    expect(summaryPerTask).toEqual({
      math: all.filter((e) => e.task === 'math').length,
      code: all.filter((e) => e.task === 'code').length,
    });
    for (const e of all) {
      expect(e.messages).toEqual(source.get(e.id)); // the full pool record of the selected id
      expect(e.query).not.toBeNull();
      expect(e.query!.task).toBe(e.task);
      expect(e.query!.messages).toEqual(queries[e.task!]![e.query!.index]); // line i of the query set = query i
      expect(e.score).toBeGreaterThan(0);
    }
    // Word overlap puts math rows under math queries.
    expect(all.filter((e) => e.task === 'math').every((e) => e.source.includes('math'))).toBe(true);
    // Pages in any order (the pool index is learnt lazily by a forward scan) give the same rows.
    const reader = new SelectionReader();
    const late = await reader.page(done.runDir, 20, 4);
    const early = await reader.page(done.runDir, 0, 4);
    expect([...early!.examples, ...late!.examples]).toEqual([...all.slice(0, 4), ...all.slice(20, 24)]);
    const pastEnd = SelectionPage.parse((await call('GET', `/v1/runs/${runId}/selection?offset=500`)).json);
    expect(pastEnd.examples).toEqual([]);

    // Finished runs take no more steering.
    expect((await call('POST', `/v1/runs/${runId}/pause`)).status).toBe(409);
    expect((await call('POST', `/v1/runs/${runId}/cancel`)).status).toBe(409);
  });

  it('pause holds the run, resume continues it, cancel stops another', async () => {
    // Held at ingest, so the pause is in place before the next stage whatever the machine's speed.
    const atIngest = holds.hold('ingestPool');
    const atEmbedQueries = holds.hold('embedQueries');
    let nextStageReached = false;
    void atEmbedQueries.reached.then(() => (nextStageReached = true));
    const start = await call('POST', '/v1/runs', {
      body: config('steered', { selection: { strategy: 'round-robin-tasks', budget: 10 } }),
    });
    const runId = start.json.runId as string;
    await atIngest.reached;
    expect((await call('POST', `/v1/runs/${runId}/pause`)).status).toBe(202);
    atIngest.release();
    const paused = await until('paused', async () => {
      const d = await detail(runId);
      return d.state === 'paused' ? d : null;
    });
    // The local gate reports "paused" only once it holds the run between stages: ingest done, nothing after it started.
    expect(paused.status?.completedStages).toEqual(['validate', 'ingest']);
    expect(nextStageReached).toBe(false);
    expect((await call('POST', `/v1/runs/${runId}/resume`)).status).toBe(202);
    await atEmbedQueries.reached;
    atEmbedQueries.release();
    const done = await finished(runId);
    expect(done.state).toBe('completed');
    expect(done.status?.counts.selected).toBe(10);

    const atShard1 = holds.hold('embedPoolShard', 1);
    const second = (await call('POST', '/v1/runs', { body: config('cancelled') })).json.runId as string;
    await atShard1.reached; // shard 0 embedded, shard 1 held: cancelled below, it never runs
    expect((await detail(second)).stage).toBe('embed-pool');
    // The list carries a live run's progress (no per-run request needed).
    const moving = await until('embedding progress in the list', async () => {
      const item = RunList.parse((await call('GET', '/v1/runs', { token: RO })).json).runs.find(
        (r) => r.runId === second,
      );
      return item?.progress?.stage === 'embed-pool' && item.progress.total > 0 ? item : null;
    });
    expect(moving).toMatchObject({ state: 'running', stage: 'embed-pool', progress: { unit: expect.any(String) } });
    expect((await call('POST', `/v1/runs/${second}/cancel`)).status).toBe(202);
    const cancelled = await finished(second);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.status?.completedStages).not.toContain('embed-pool');
    expect(cancelled.artifacts.map((a) => a.name)).not.toContain('selection');
    expect((await call('GET', `/v1/runs/${second}/selection`)).json).toEqual({
      error: 'no selection for this run yet',
    });
  });

  it('handoff triggers: commands run only where the operator allows them, webhooks call only allowed hosts and sign only with RDS_WEBHOOK_* secrets', async () => {
    const command = { kind: 'command' as const, template: 'echo ran {{rows}} > ran.txt', run: true };
    const refused = await call('POST', '/v1/runs', { body: config('commanded', { handoff: { trigger: command } }) });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toEqual([
      { path: 'handoff.trigger.run', message: expect.stringMatching(/disabled on this server/) },
    ]);
    // Reported together with path issues, each on its field.
    // This server lists no webhook hosts: every webhook is refused, whatever its secret.
    const both = await call('POST', '/v1/runs', {
      body: config('../out', {
        handoff: { trigger: { kind: 'webhook', url: 'https://hooks.example/x', secretEnv: 'RDS_API_TOKENS' } },
      }),
    });
    expect((both.json.issues as { path: string }[]).map((i) => i.path)).toEqual([
      'runDir',
      'handoff.trigger.url',
      'handoff.trigger.secretEnv',
    ]);
    expect((both.json.issues as { message: string }[])[1]!.message).toMatch(
      /webhook triggers are disabled on this server .*RDS_WEBHOOK_HOSTS/,
    );
    const hooked = await buildServer({
      backend,
      tokens,
      paths,
      triggers: { allowCommands: false, webhookHosts: ['hooks.example', 'trainer.internal:8443'] },
    });
    try {
      const issuesFor = async (url: string, secretEnv = 'RDS_WEBHOOK_TRAINER') => {
        const res = await hooked.inject({
          method: 'POST',
          url: '/v1/runs',
          headers: { authorization: `Bearer ${RW}` },
          payload: config('../out', { handoff: { trigger: { kind: 'webhook', url, secretEnv } } }),
        });
        return (res.json() as { issues: { path: string; message: string }[] }).issues;
      };
      expect((await issuesFor('https://hooks.example/x')).map((i) => i.path)).toEqual(['runDir']);
      expect((await issuesFor('https://HOOKS.example:443/x')).map((i) => i.path)).toEqual(['runDir']);
      expect((await issuesFor('http://trainer.internal:8443/start')).map((i) => i.path)).toEqual(['runDir']);
      for (const url of [
        'http://169.254.169.254/latest/meta-data',
        'http://trainer.internal:9000/',
        'https://hooks.example.evil.com/x',
        'http://127.0.0.1:8080/v1/runs',
      ]) {
        const issues = await issuesFor(url);
        expect(
          issues.map((i) => i.path),
          url,
        ).toEqual(['runDir', 'handoff.trigger.url']);
        expect(issues[1]!.message).toMatch(
          /is not one this server may call \(RDS_WEBHOOK_HOSTS: hooks.example, trainer.internal:8443\)/,
        );
      }
      expect((await issuesFor('https://hooks.example/x', 'AWS_SECRET_ACCESS_KEY')).map((i) => i.path)).toEqual([
        'runDir',
        'handoff.trigger.secretEnv',
      ]);
    } finally {
      await hooked.close();
    }
    expect(fs.existsSync(path.join(paths.runsRoot, 'commanded'))).toBe(false);

    // The same config on a server that allows commands really runs it: the gate is what stood in the way.
    const permissive = await buildServer({ backend, tokens, paths, triggers: { allowCommands: true } });
    try {
      const res = await permissive.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: { authorization: `Bearer ${RW}` },
        payload: config('commanded', { handoff: { trigger: command } }),
      });
      expect(res.statusCode).toBe(201);
      const done = await finished((res.json() as { runId: string }).runId);
      expect(done.state, JSON.stringify(done.status?.error)).toBe('completed');
      expect(fs.readFileSync(path.join(done.runDir, 'handoff', 'ran.txt'), 'utf8')).toBe('ran 24\n');
    } finally {
      await permissive.close();
    }
  });

  it('confinement holds where files are opened: an input swapped for a symlink after the 201, or a glob that later matches one, fails the run and serves nothing', async () => {
    fs.writeFileSync(path.join(dataRoot, 'swapped.jsonl'), fs.readFileSync(path.join(EXAMPLES, 'pool.jsonl')));
    fs.mkdirSync(path.join(dataRoot, 'late'));
    // A paused run holds the one local slot, so the next two stay queued while the files change under them.
    const holder = (await call('POST', '/v1/runs', { body: config('slot-holder') })).json.runId as string;
    expect((await call('POST', `/v1/runs/${holder}/pause`)).status).toBe(202);
    await until('paused', async () => (await detail(holder)).state === 'paused');
    const swapped = await call('POST', '/v1/runs', {
      body: config('swapped', { pool: { inputs: ['swapped.jsonl'], shardSize: 100 } }),
    });
    const globbed = await call('POST', '/v1/runs', {
      body: config('globbed', { pool: { inputs: ['late/*.jsonl'], shardSize: 100 } }),
    });
    expect([swapped.status, globbed.status]).toEqual([201, 201]);
    const ids = [swapped.json.runId as string, globbed.json.runId as string];
    for (const id of ids) expect((await detail(id)).state).toBe('queued');
    fs.rmSync(path.join(dataRoot, 'swapped.jsonl'));
    fs.symlinkSync(path.join(outside, 'secret.jsonl'), path.join(dataRoot, 'swapped.jsonl'));
    fs.symlinkSync(path.join(outside, 'secret.jsonl'), path.join(dataRoot, 'late', 'x.jsonl'));
    expect((await call('POST', `/v1/runs/${holder}/resume`)).status).toBe(202);
    for (const id of ids) {
      const done = await finished(id);
      expect(done.state).toBe('failed');
      expect(done.status?.error?.message).toMatch(
        /^(swapped\.jsonl|late\/x\.jsonl) leads outside the allowed data roots/,
      ); // relative to the root
      expect(JSON.stringify(done.status?.error)).not.toContain(tmp);
      expect(done.artifacts.map((a) => a.name)).not.toContain('pool-manifest');
      expect((await call('GET', `/v1/runs/${id}/selection`)).status).toBe(404);
    }
    expect((await finished(holder)).state).toBe('completed');
    fs.rmSync(path.join(dataRoot, 'swapped.jsonl'));
    fs.rmSync(path.join(dataRoot, 'late'), { recursive: true });
  });

  it('a corrupt selection/summary.json is a 500 with a request id (a server fault, not a bad request)', async () => {
    const runId = (
      await call('POST', '/v1/runs', {
        body: config('corrupt-summary', { selection: { strategy: 'round-robin-tasks', budget: 5 } }),
      })
    ).json.runId as string;
    const done = await finished(runId);
    expect(done.state).toBe('completed');
    expect((await call('GET', `/v1/runs/${runId}/selection`)).status).toBe(200);
    fs.writeFileSync(path.join(done.runDir, 'selection', 'summary.json'), '{"kind": "selection", "trunc');
    const res = await call('GET', `/v1/runs/${runId}/selection`);
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ error: 'internal error', requestId: expect.any(String) });
  });

  it('an empty pool fails the run at ingest, naming the input relative to the data root', async () => {
    fs.writeFileSync(path.join(dataRoot, 'empty.jsonl'), '');
    const runId = (
      await call('POST', '/v1/runs', {
        body: config('empty-pool', { pool: { inputs: ['empty.jsonl'], shardSize: 100 } }),
      })
    ).json.runId as string;
    const done = await finished(runId);
    expect(done).toMatchObject({ state: 'failed', stage: 'ingest' });
    expect(done.status?.error?.message).toBe('pool.inputs: the pool is empty: empty.jsonl gave no rows at all');
    expect(JSON.stringify(done.status?.error)).not.toContain(tmp);
    fs.rmSync(path.join(dataRoot, 'empty.jsonl'));
  });

  it('a 409 names the run directory relative to the runs root', async () => {
    const first = (await call('POST', '/v1/runs', { body: config('busy-dir') })).json.runId as string;
    expect((await call('POST', `/v1/runs/${first}/pause`)).status).toBe(202);
    await until('paused', async () => (await detail(first)).state === 'paused');
    const second = await call('POST', '/v1/runs', { body: config('busy-dir') });
    expect(second.status).toBe(409);
    expect(second.json.error).toMatch(/already using run directory busy-dir$/);
    expect(second.text).not.toContain(tmp);
    expect((await call('POST', `/v1/runs/${first}/cancel`)).status).toBe(202);
    expect((await finished(first)).state).toBe('cancelled');
  });

  it('S3 destinations upload only to the endpoints the operator listed (none listed: refused), and the refused endpoint hears nothing', async () => {
    const http = await import('node:http');
    let heard = 0;
    const trap = http.createServer((_req, res) => {
      heard++;
      res.end();
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    const trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}/`;
    const s3 = (endpoint?: string, region = 'us-east-1') => ({
      handoff: { destination: { kind: 's3' as const, bucket: 'b', ...(endpoint ? { endpoint } : {}), region } },
    });
    try {
      // This server lists none: every S3 destination is refused before anything runs.
      for (const endpoint of [trapUrl, 'http://169.254.169.254/', undefined]) {
        const res = await call('POST', '/v1/runs', { body: config('s3-refused', s3(endpoint)) });
        expect(res.status, String(endpoint)).toBe(400);
        expect(res.json.issues, String(endpoint)).toEqual([
          {
            path: 'handoff.destination.endpoint',
            message: expect.stringMatching(/S3 destinations are disabled on this server .*RDS_S3_ENDPOINTS/),
          },
        ]);
      }
      const listing = await buildServer({
        backend,
        tokens,
        paths,
        triggers: { allowCommands: false, s3Endpoints: ['minio.internal:9000', 's3.eu-west-1.amazonaws.com'] },
      });
      try {
        const issuesFor = async (endpoint?: string, region?: string) => {
          const res = await listing.inject({
            method: 'POST',
            url: '/v1/runs',
            headers: { authorization: `Bearer ${RW}` },
            payload: config('../out', s3(endpoint, region)),
          });
          return (res.json() as { issues: { path: string; message: string }[] }).issues;
        };
        expect((await issuesFor('http://minio.internal:9000')).map((i) => i.path)).toEqual(['runDir']);
        expect((await issuesFor(undefined, 'eu-west-1')).map((i) => i.path)).toEqual(['runDir']); // AWS itself, listed
        for (const [endpoint, region] of [
          [trapUrl, undefined],
          ['http://minio.internal:9001', undefined],
          ['http://user:pw@minio.internal:9000', undefined],
          [undefined, 'us-east-1'],
        ] as const) {
          const issues = await issuesFor(endpoint, region);
          expect(
            issues.map((i) => i.path),
            String(endpoint),
          ).toEqual(['runDir', 'handoff.destination.endpoint']);
        }
        expect((await issuesFor(undefined, 'x.evil.com/')).map((i) => i.path)).toEqual([
          'runDir',
          'handoff.destination.region',
        ]);
      } finally {
        await listing.close();
      }
      expect(heard).toBe(0);
    } finally {
      await new Promise((r) => trap.close(r));
    }
  });

  it('temporal triggers reach only the namespaces, task queues, workflow types and signals the operator listed (none listed: refused)', async () => {
    const temporal = (t: Record<string, string>) => ({
      handoff: { trigger: { kind: 'temporal' as const, workflowType: 'fineTune', taskQueue: 'training', ...t } },
    });
    const refused = await call('POST', '/v1/runs', { body: config('temporal-refused', temporal({})) });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toEqual([
      { path: 'handoff.trigger', message: expect.stringMatching(/temporal triggers are disabled on this server/) },
    ]);
    const allow = {
      namespaces: ['training'],
      taskQueues: ['training'],
      workflowTypes: ['fineTune'],
      signals: ['datasetReady'],
    };
    const listing = await buildServer({ backend, tokens, paths, triggers: { allowCommands: false, temporal: allow } });
    try {
      const issuesFor = async (t: Record<string, string>) => {
        const res = await listing.inject({
          method: 'POST',
          url: '/v1/runs',
          headers: { authorization: `Bearer ${RW}` },
          payload: config('../out', temporal(t)),
        });
        return (res.json() as { issues: { path: string }[] }).issues.map((i) => i.path);
      };
      expect(await issuesFor({ namespace: 'training' })).toEqual(['runDir']);
      expect(await issuesFor({})).toEqual(['runDir', 'handoff.trigger.namespace']); // "default" is not listed
      expect(await issuesFor({ namespace: 'training', workflowType: 'deleteEverything' })).toEqual([
        'runDir',
        'handoff.trigger.workflowType',
      ]);
      expect(await issuesFor({ namespace: 'training', taskQueue: 'billing' })).toEqual([
        'runDir',
        'handoff.trigger.taskQueue',
      ]);
      expect(await issuesFor({ namespace: 'training', signal: 'datasetReady', workflowId: 'w' })).toEqual(['runDir']);
      expect(await issuesFor({ namespace: 'training', signal: 'terminate', workflowId: 'w' })).toEqual([
        'runDir',
        'handoff.trigger.signal',
      ]);
    } finally {
      await listing.close();
    }
  });

  it('404 for unknown runs', async () => {
    expect((await call('GET', '/v1/runs/nope')).json).toEqual({ error: 'run not found' });
    expect((await call('POST', '/v1/runs/nope/resume')).status).toBe(404);
    expect((await call('GET', '/v1/runs/nope/selection')).status).toBe(404);
    expect((await call('GET', '/v2/anything')).status).toBe(404);
  });
});

describe('errors and CORS', () => {
  it('a backend failure is a generic 500; the detail goes only to the log', async () => {
    const logged: string[] = [];
    const failing: RunBackend = {
      ...backend,
      kind: 'local',
      start: () => backend.start({} as RunConfigInput),
      list: async () => {
        throw new Error(`database at ${tmp}/secret refused`);
      },
      get: async () => RunDetail.parse({}),
      pause: async () => {},
      resume: async () => {},
      cancel: async () => {},
    };
    const server = await buildServer({
      backend: failing,
      tokens,
      paths,
      logger: { level: 'error', stream: { write: (line: string) => void logged.push(line) } },
    });
    try {
      for (const url of ['/v1/runs', '/v1/runs/x']) {
        const res = await server.inject({ method: 'GET', url, headers: { authorization: `Bearer ${RW}` } });
        expect(res.statusCode).toBe(500);
        const body = res.json() as { error: string; requestId: string };
        expect(body.error).toBe('internal error');
        expect(res.body).not.toContain('secret');
        expect(res.body).not.toContain('at ');
        expect(logged.some((l) => l.includes(body.requestId))).toBe(true);
      }
      expect(logged.join('\n')).toContain('database at');
    } finally {
      await server.close();
    }
  });

  it('CORS is off by default and allows only RDS_CORS_ORIGIN when set', async () => {
    const plain = await call('GET', '/v1/runs', { headers: { origin: 'https://evil.example' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const server = await buildServer({ backend, tokens, paths, corsOrigin: 'https://ui.example' });
    try {
      const pre = await server.inject({
        method: 'OPTIONS',
        url: '/v1/runs',
        headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST' },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('https://ui.example');
      expect(pre.headers['access-control-allow-headers']).toContain('authorization');
      const other = await server.inject({
        method: 'GET',
        url: '/v1/runs',
        headers: { origin: 'https://evil.example', authorization: `Bearer ${RW}` },
      });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe('settings from the environment', () => {
  it('requires tokens and data roots, checks RDS_BACKEND and numbers, applies defaults', () => {
    const env = { RDS_API_TOKENS: 'a,ro:b', RDS_DATA_ROOTS: `/data${path.delimiter}/more` };
    const s = settingsFromEnv(env);
    expect(s).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      backend: 'local',
      dataRoots: ['/data', '/more'],
      runsRoot: path.resolve('runs'),
      bodyLimit: 262_144,
      corsOrigin: undefined,
    });
    expect(s.tokens.check('b')).toBe('read');
    expect(() => settingsFromEnv({ RDS_DATA_ROOTS: '/data' })).toThrow(/RDS_API_TOKENS/);
    expect(() => settingsFromEnv({ RDS_API_TOKENS: 'a' })).toThrow(/RDS_DATA_ROOTS/);
    expect(() => settingsFromEnv({ ...env, RDS_BACKEND: 'cloud' })).toThrow(
      /RDS_BACKEND: expected "local" or "temporal", got "cloud"/,
    );
    expect(() => settingsFromEnv({ ...env, RDS_API_PORT: 'http' })).toThrow(/RDS_API_PORT/);
    expect(settingsFromEnv(env).allowCommandTriggers).toBe(false);
    expect(settingsFromEnv({ ...env, RDS_API_ALLOW_COMMAND_TRIGGER: '1' }).allowCommandTriggers).toBe(true);
    expect(() => settingsFromEnv({ ...env, RDS_API_ALLOW_COMMAND_TRIGGER: 'yes' })).toThrow(
      /RDS_API_ALLOW_COMMAND_TRIGGER/,
    );
    expect(settingsFromEnv(env).webhookHosts).toEqual([]);
    expect(
      settingsFromEnv({ ...env, RDS_WEBHOOK_HOSTS: ' Hooks.Example , trainer.internal:8443,' }).webhookHosts,
    ).toEqual(['hooks.example', 'trainer.internal:8443']);
    for (const bad of ['https://hooks.example', 'hooks.example/path', 'user@hooks.example']) {
      expect(() => settingsFromEnv({ ...env, RDS_WEBHOOK_HOSTS: bad }), bad).toThrow(
        /RDS_WEBHOOK_HOSTS: ".*" is not a host name/,
      );
    }
    expect(settingsFromEnv(env)).toMatchObject({
      s3Endpoints: [],
      temporalTriggers: { namespaces: [], taskQueues: [], workflowTypes: [], signals: [] },
    });
    expect(
      settingsFromEnv({
        ...env,
        RDS_S3_ENDPOINTS: 'MinIO.internal:9000',
        RDS_TEMPORAL_TRIGGER_NAMESPACES: 'training, ml',
        RDS_TEMPORAL_TRIGGER_WORKFLOWS: 'fineTune',
      }),
    ).toMatchObject({
      s3Endpoints: ['minio.internal:9000'],
      temporalTriggers: { namespaces: ['training', 'ml'], workflowTypes: ['fineTune'], taskQueues: [], signals: [] },
    });
    expect(() => settingsFromEnv({ ...env, RDS_S3_ENDPOINTS: 'http://minio:9000' })).toThrow(
      /RDS_S3_ENDPOINTS: ".*" is not a host name/,
    );
    expect(
      settingsFromEnv({
        ...env,
        RDS_BACKEND: 'temporal',
        RDS_CORS_ORIGIN: 'https://ui.example',
        RDS_API_BODY_LIMIT: '1024',
      }),
    ).toMatchObject({ backend: 'temporal', corsOrigin: 'https://ui.example', bodyLimit: 1024 });
  });
});
