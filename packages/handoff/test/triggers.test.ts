import { createHmac } from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { HandoffConfig, HandoffReceipt } from '@rds/schemas';
import {
  idempotencyKey,
  renderCommand,
  retryAfterMs,
  runHandoff,
  runTemporalTrigger,
  shellQuote,
  temporalTriggerPlan,
  type HandoffPayload,
} from '../src/index.js';
import { writeRun } from './fixtures.js';

const dirs: string[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

interface Received {
  body: string;
  signature: string | undefined;
  key: string | undefined;
  at: number;
}

/** A real HTTP receiver answering with the scripted statuses (then 200), recording every request. */
async function receiver(script: { status: number; headers?: Record<string, string> }[] = []) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: req.headers['x-rds-signature'] as string,
        key: req.headers['idempotency-key'] as string,
        at: Date.now(),
      });
      const step = script[received.length - 1] ?? { status: 200 };
      res.writeHead(step.status, { 'content-type': 'text/plain', ...step.headers });
      res.end(step.status === 200 ? 'accepted' : `status ${step.status}`);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/finetune`, received };
}

const SECRET = 'hmac-secret-for-tests';
const env = { RDS_HOOK_SECRET: SECRET };
const webhookInput = (runDir: string, url: string, maxAttempts = 5) =>
  ({
    runDir,
    runId: 'run-7',
    handoff: {
      format: 'tulu',
      order: 'selection',
      includeMetadata: false,
      destination: { kind: 'local' },
      trigger: { kind: 'webhook', url, secretEnv: 'RDS_HOOK_SECRET', maxAttempts },
    },
  }) as never;
const fast = { env, webhook: { baseDelayMs: 20, maxDelayMs: 100 } };

async function fixture() {
  const f = await writeRun();
  dirs.push(f.runDir);
  return f;
}

describe('webhook trigger', () => {
  it('POSTs a signed receipt with an idempotency key; a second run sends nothing', async () => {
    const f = await fixture();
    const hook = await receiver();
    const first = await runHandoff(webhookInput(f.runDir, hook.url), fast);
    expect(first).toMatchObject({ skipped: false, triggerStatus: 'sent', rows: f.selected.length });
    expect(hook.received).toHaveLength(1);
    const req = hook.received[0]!;
    expect(req.signature).toBe('sha256=' + createHmac('sha256', SECRET).update(req.body).digest('hex'));
    const body = JSON.parse(req.body) as HandoffPayload;
    expect(req.key).toBe(idempotencyKey('run-7', first.card.dataset.sha256));
    expect(body).toMatchObject({
      runId: 'run-7',
      idempotencyKey: req.key,
      location: runLayout(f.runDir).handoff.dir,
      dataset: { rows: f.selected.length, sha256: first.card.dataset.sha256, format: 'tulu' },
    });
    expect(body.counts.perTask).toEqual(f.summary.perTask);
    expect(body.counts.perSource).toEqual(f.summary.perSource);
    expect(body.files.map((x) => x.file)).toEqual(['train.jsonl', 'scores.svg', 'README.md', 'card.json']);
    const receipt = await readJsonFile(runLayout(f.runDir).handoff.receipt, HandoffReceipt);
    expect(receipt.trigger).toMatchObject({ kind: 'webhook', status: 'sent', attempts: 1, idempotencyKey: req.key });

    const second = await runHandoff(webhookInput(f.runDir, hook.url), fast);
    expect(second).toMatchObject({ skipped: true, materialised: false, triggerStatus: 'sent' });
    expect(hook.received).toHaveLength(1);
  });

  it('retries 500 and 429 (honouring Retry-After), then succeeds with the same key and body', async () => {
    const f = await fixture();
    const hook = await receiver([{ status: 500 }, { status: 429, headers: { 'retry-after': '1' } }]);
    const res = await runHandoff(webhookInput(f.runDir, hook.url), fast);
    expect(res.receipt.trigger).toMatchObject({ status: 'sent', attempts: 3 });
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((r) => r.key)).size).toBe(1);
    expect(new Set(hook.received.map((r) => r.body)).size).toBe(1);
    // Retry-After: 1 beats the 40 ms backoff the third attempt would otherwise wait.
    expect(hook.received[2]!.at - hook.received[1]!.at).toBeGreaterThanOrEqual(950);
  });

  it('under Temporal a Retry-After fails the attempt with nextRetryDelay (the server waits, not the worker), and the retry sends the same key', async () => {
    const f = await fixture();
    const hook = await receiver([{ status: 503, headers: { 'retry-after': '120' } }]);
    const temporal = new MockActivityEnvironment({ heartbeatTimeoutMs: 120_000 });
    const err = await temporal.run(() => runHandoff(webhookInput(f.runDir, hook.url), fast)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'RetryAfter', nextRetryDelay: 120_000, nonRetryable: false });
    expect(hook.received).toHaveLength(1);
    expect((await readJsonFile(runLayout(f.runDir).handoff.receipt, HandoffReceipt)).trigger.status).toBe('failed');
    const retried = (await new MockActivityEnvironment({ heartbeatTimeoutMs: 120_000 }).run(() =>
      runHandoff(webhookInput(f.runDir, hook.url), fast),
    )) as Awaited<ReturnType<typeof runHandoff>>;
    expect(retried.receipt.trigger).toMatchObject({ status: 'sent', attempts: 1 });
    expect(hook.received.map((r) => r.key)).toEqual([hook.received[0]!.key, hook.received[0]!.key]);
  });

  it('400 is non-retryable: one attempt, a failed receipt, and a later run tries again', async () => {
    const f = await fixture();
    const hook = await receiver([{ status: 400 }]);
    const err = await runHandoff(webhookInput(f.runDir, hook.url), fast).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('NonRetryableError');
    expect((err as Error).message).toMatch(/HTTP 400/);
    expect(hook.received).toHaveLength(1);
    const failed = await readJsonFile(runLayout(f.runDir).handoff.receipt, HandoffReceipt);
    expect(failed.trigger.status).toBe('failed');
    const again = await runHandoff(webhookInput(f.runDir, hook.url), fast);
    expect(again).toMatchObject({ skipped: false, triggerStatus: 'sent', materialised: false });
    expect(hook.received).toHaveLength(2);
  });

  it('does not follow a redirect: the signed receipt goes nowhere else, and the handoff fails clearly', async () => {
    const f = await fixture();
    const elsewhere = await receiver();
    const hook = await receiver([{ status: 307, headers: { location: elsewhere.url } }]);
    const err = (await runHandoff(webhookInput(f.runDir, hook.url), fast).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('NonRetryableError');
    expect(err.message).toMatch(/HTTP 307/);
    expect(hook.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('gives up after maxAttempts on network errors with a retryable error', async () => {
    const f = await fixture();
    const hook = await receiver();
    await new Promise((r) => servers.pop()!.close(r)); // nothing listens on that port now
    const err = (await runHandoff(webhookInput(f.runDir, hook.url, 3), fast).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('Error');
    expect(err.message).toMatch(/no success after 3 attempts \(last: network error: ECONNREFUSED\)/);
  });

  it('stops retrying when the next attempt would start past maxRetrySeconds', async () => {
    const f = await fixture();
    // Asks for a retry in 5 s; the run allows 1 s of retrying in total: one attempt, no wait.
    const hook = await receiver([{ status: 503, headers: { 'retry-after': '5' } }]);
    const input = webhookInput(f.runDir, hook.url, 20) as unknown as { handoff: { trigger: Record<string, unknown> } };
    input.handoff.trigger.maxRetrySeconds = 1;
    const err = (await runHandoff(input as never, fast).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /no success after 1 attempts; the next would start past maxRetrySeconds \(1s\) \(last: HTTP 503/,
    );
    expect(hook.received).toHaveLength(1);
  });

  it('caps attempts and retry time in the schema', () => {
    const trigger = (t: Record<string, unknown>) =>
      HandoffConfig.safeParse({
        trigger: { kind: 'webhook', url: 'https://h.example/', secretEnv: 'RDS_WEBHOOK_X', ...t },
      });
    expect(trigger({ maxAttempts: 1_000_000_000 }).error?.issues.map((i) => i.path.join('.'))).toEqual([
      'trigger.maxAttempts',
    ]);
    expect(trigger({ maxRetrySeconds: 86_400 }).error?.issues.map((i) => i.path.join('.'))).toEqual([
      'trigger.maxRetrySeconds',
    ]);
    expect(trigger({}).data?.trigger).toMatchObject({ maxAttempts: 5, maxRetrySeconds: 600 });
  });

  it('fails clearly when the secret env var is missing', async () => {
    const f = await fixture();
    const hook = await receiver();
    await expect(runHandoff(webhookInput(f.runDir, hook.url), { env: {} })).rejects.toThrow(
      /RDS_HOOK_SECRET is not set/,
    );
    expect(hook.received).toHaveLength(0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeNull();
    expect(retryAfterMs(null)).toBeNull();
  });
});

describe('command trigger', () => {
  const commandInput = (runDir: string, template: string, run = true) =>
    ({
      runDir,
      runId: "run 'quoted'",
      handoff: {
        format: 'alpaca',
        order: 'selection',
        includeMetadata: false,
        destination: { kind: 'local' },
        trigger: { kind: 'command', template, run },
      },
    }) as never;

  it('renders shell-quoted placeholders into the card and runs the command once', async () => {
    const f = await fixture();
    const out = path.join(f.runDir, 'launched.json');
    const template = `node -e "require('fs').writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2))); console.log('submitted')" ${shellQuote(out)} {{dataset}} {{runId}} {{rows}} {{format}}`;
    const res = await runHandoff(commandInput(f.runDir, template));
    const dataset = path.join(runLayout(f.runDir).handoff.dir, 'train.alpaca.jsonl');
    expect(JSON.parse(await fsp.readFile(out, 'utf8'))).toEqual([
      dataset,
      "run 'quoted'",
      String(f.selected.length),
      'alpaca',
    ]);
    expect(res.receipt.trigger).toMatchObject({ status: 'ran', exitCode: 0 });
    expect(res.receipt.trigger.outputTail).toContain('submitted');
    expect(res.card.trigger.command).toBe(res.receipt.trigger.command);
    expect(await fsp.readFile(path.join(res.location, 'README.md'), 'utf8')).toContain(res.card.trigger.command!);
    await fsp.rm(out);
    expect((await runHandoff(commandInput(f.runDir, template))).skipped).toBe(true);
    await expect(fsp.access(out)).rejects.toThrow();
  });

  it('only renders when run is false; a non-zero exit fails with the exit code and output tail', async () => {
    const f = await fixture();
    const rendered = await runHandoff(commandInput(f.runDir, 'echo {{dataset}}', false));
    expect(rendered.receipt.trigger).toMatchObject({ status: 'rendered' });
    expect(rendered.receipt.trigger.exitCode).toBeUndefined();
    const g = await fixture();
    const err = (await runHandoff(
      commandInput(g.runDir, `node -e "console.error('quota exceeded'); process.exit(3)" {{rows}}`),
    ).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('NonRetryableError');
    expect(err.message).toMatch(/exited with code 3/);
    const receipt = await readJsonFile(runLayout(g.runDir).handoff.receipt, HandoffReceipt);
    expect(receipt.trigger).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(receipt.trigger.outputTail).toContain('quota exceeded');
  });

  it('quotes values so they stay one word, and rejects unknown placeholders', () => {
    expect(
      renderCommand('train --data {{dataset}} --n {{rows}}', {
        dataset: "/tmp/a b/it's.jsonl",
        runId: 'r',
        rows: 5,
        format: 'tulu',
        name: 'selection',
      }),
    ).toBe(`train --data '/tmp/a b/it'\\''s.jsonl' --n 5`);
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
    expect(() =>
      renderCommand('x {{bogus}}', { dataset: 'd', runId: 'r', rows: 1, format: 'tulu', name: 'selection' }),
    ).toThrow(/unknown placeholder \{\{bogus\}\}/);
  });
});

describe('temporal trigger', () => {
  const payload = {
    runId: 'run-7',
    name: 'selection',
    baseline: null,
    idempotencyKey: 'rds-abc',
    location: '/x',
    dataset: { location: '/x/train.jsonl', format: 'tulu', rows: 3, bytes: 10, sha256: 'f'.repeat(64) },
    files: [],
    counts: { perTask: {}, perSource: {} },
  };

  it('starts a workflow whose id derives from the idempotency key, rejecting duplicates', () => {
    const plan = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 'training', namespace: 'ml' },
      payload,
      { TEMPORAL_ADDRESS: 'temporal.internal:7233' },
    );
    expect(plan).toEqual({
      action: 'start',
      address: 'temporal.internal:7233',
      namespace: 'ml',
      workflowType: 'finetune',
      options: {
        taskQueue: 'training',
        workflowId: 'rds-handoff-rds-abc',
        args: [payload],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      },
      connection: { address: 'temporal.internal:7233', namespace: 'ml' },
    });
    const named = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 'training', namespace: 'default', workflowId: 'ft-1' },
      payload,
      {},
    );
    expect(named).toMatchObject({ address: 'localhost:7233', options: { workflowId: 'ft-1' } });
    // A baseline's start under a fixed workflowId gets its own id (not a rejected duplicate of the main one).
    const baseline = {
      ...payload,
      name: 'random-seed2',
      baseline: { strategy: 'random', seed: 2, selectionSha256: 'f'.repeat(64) },
      idempotencyKey: 'rds-def',
    };
    const named2 = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 'training', namespace: 'default', workflowId: 'ft-1' },
      baseline,
      {},
    );
    expect(named2).toMatchObject({ options: { workflowId: 'ft-1-random-seed2' } });
    expect(
      temporalTriggerPlan(
        { kind: 'temporal', workflowType: 'finetune', taskQueue: 'training', namespace: 'default' },
        baseline,
        {},
      ),
    ).toMatchObject({ options: { workflowId: 'rds-handoff-rds-def' } });
  });

  it('signals a named running workflow; a signal without a workflow id is a config error', () => {
    expect(
      temporalTriggerPlan(
        {
          kind: 'temporal',
          workflowType: 'finetune',
          taskQueue: 't',
          namespace: 'default',
          signal: 'datasetReady',
          workflowId: 'trainer-1',
        },
        payload,
        {},
      ),
    ).toEqual({
      action: 'signal',
      address: 'localhost:7233',
      namespace: 'default',
      workflowId: 'trainer-1',
      signal: 'datasetReady',
      args: [payload],
      connection: { address: 'localhost:7233', namespace: 'default' },
    });
    expect(() =>
      temporalTriggerPlan(
        { kind: 'temporal', workflowType: 'f', taskQueue: 't', namespace: 'default', signal: 'go' },
        payload,
        {},
      ),
    ).toThrow(/needs workflowId/);
  });

  it('connects as the worker does: TEMPORAL_NAMESPACE (when the trigger names none), TLS files and the API key', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rds-tls-'));
    dirs.push(dir);
    await fsp.writeFile(path.join(dir, 'ca.pem'), 'CA');
    const env = {
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_TLS_CA: path.join(dir, 'ca.pem'),
      TEMPORAL_API_KEY: 'key-1',
    };
    const plan = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 't', namespace: 'default' },
      payload,
      env,
    );
    expect(plan).toMatchObject({
      namespace: 'ns.acct',
      connection: { address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', apiKey: 'key-1' },
    });
    expect(plan.connection.tls?.serverRootCACertificate?.toString()).toBe('CA');
    // A namespace the trigger names wins over the environment's.
    expect(
      temporalTriggerPlan({ kind: 'temporal', workflowType: 'finetune', taskQueue: 't', namespace: 'ml' }, payload, env)
        .namespace,
    ).toBe('ml');
  });

  it('really connects: with no server listening it fails naming the address', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const plan = temporalTriggerPlan(
      { kind: 'temporal', workflowType: 'finetune', taskQueue: 't', namespace: 'default' },
      payload,
      { TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
    );
    await expect(runTemporalTrigger(plan, 1_000)).rejects.toThrow(
      new RegExp(`cannot reach the Temporal server at 127.0.0.1:${port}`),
    );
  });
});
