import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeTestModel } from '@rds/encoder';
import { RunStatus } from '@rds/schemas';
import { RunDetailResponse } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = path.join(REPO, 'examples/data');
const TOKEN = 'main-test-token';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

let tmp: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-api-main-'));
  fs.cpSync(EXAMPLES, path.join(tmp, 'data'), { recursive: true });
  await writeTestModel(path.join(tmp, 'data', 'model'));
});

afterAll(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `npm run api`'s command line, configured only through the environment. */
function startApi(env: Record<string, string>): {
  proc: ChildProcess;
  url: Promise<string>;
  exit: Promise<number | null>;
  output: string[];
  line: (re: RegExp) => Promise<string>;
} {
  const proc = spawn(process.execPath, ['--conditions=@rds/source', '--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const record = (line: string) => {
    output.push(line);
    for (const w of waiters.filter((w) => w.re.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };
  /** The first line (stdout or stderr) from now on that matches. */
  const line = (re: RegExp) => new Promise<string>((resolve) => waiters.push({ re, resolve }));
  const url = new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      record(line);
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    readline.createInterface({ input: proc.stderr! }).on('line', record);
    proc.on('exit', () => reject(new Error(`api exited before listening:\n${output.join('\n')}`)));
  });
  url.catch(() => {}); // a test that expects the exit does not await the URL
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, url, exit, output, line };
}

it('refuses to start without tokens, naming the variable', async () => {
  const api = startApi({ RDS_DATA_ROOTS: path.join(tmp, 'data') });
  expect(await api.exit).toBe(1);
  expect(api.output.join('\n')).toContain('rds api: no API tokens: set RDS_API_TOKENS');
});

it('serves from the environment, on SIGTERM cancels its live local runs so their status says so, and lists them after a restart', async () => {
  const env = {
    RDS_API_TOKENS: TOKEN,
    RDS_DATA_ROOTS: path.join(tmp, 'data'),
    RDS_RUNS_ROOT: path.join(tmp, 'runs'),
    RDS_API_PORT: '0',
    // Each API process holds its first run at ingest (released by SIGUSR2), so a pause sent then is
    // in place before the run's next stage, however fast the machine is.
    RDS_HOLD_BEFORE: 'ingestPool:0',
  };
  const api = startApi(env);
  const held = api.line(/held before ingestPool call 0/);
  child = api.proc;
  const base = await api.url;
  const body = {
    runDir: 'interrupted',
    pool: { inputs: ['pool.jsonl'], shardSize: 100 },
    queries: [{ task: 'math', path: 'queries/math.jsonl' }],
    model: { dir: 'model', maxTokens: 128 },
    selection: { strategy: 'round-robin-tasks', budget: 10 },
  };
  const start = await fetch(`${base}/v1/runs`, { method: 'POST', headers, body: JSON.stringify(body) });
  expect(start.status).toBe(201);
  const { runId } = (await start.json()) as { runId: string };
  await held;
  expect(
    (
      await fetch(`${base}/v1/runs/${runId}/pause`, {
        method: 'POST',
        headers: { authorization: headers.authorization },
      })
    ).status,
  ).toBe(202);
  api.proc.kill('SIGUSR2');
  for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const d = RunDetailResponse.parse(await (await fetch(`${base}/v1/runs/${runId}`, { headers })).json());
    if (d.state === 'paused') break;
    expect(Date.now() < end && d.state === 'running', `state ${d.state}`).toBe(true);
  }

  api.proc.kill('SIGTERM');
  expect(await api.exit).toBe(0);
  const status = RunStatus.parse(
    JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'interrupted', 'status.json'), 'utf8')),
  );
  expect(status).toMatchObject({ runId, state: 'cancelled' });
  expect(status.completedStages).not.toContain('select');

  // Restarted, the API still lists that run (from its status.json). A run whose API process is
  // killed outright shows up after the restart as failed (Interrupted), and starting it again resumes it.
  const again = startApi(env);
  const heldAgain = again.line(/held before ingestPool call 0/);
  child = again.proc;
  const base2 = await again.url;
  const list = async (b: string) =>
    ((await (await fetch(`${b}/v1/runs`, { headers })).json()) as { runs: { runId: string; state: string }[] }).runs;
  expect(await list(base2)).toEqual([expect.objectContaining({ runId, state: 'cancelled' })]);
  const second = (await (
    await fetch(`${base2}/v1/runs`, { method: 'POST', headers, body: JSON.stringify({ ...body, runDir: 'killed' }) })
  ).json()) as { runId: string };
  await heldAgain;
  expect(
    (
      await fetch(`${base2}/v1/runs/${second.runId}/pause`, {
        method: 'POST',
        headers: { authorization: headers.authorization },
      })
    ).status,
  ).toBe(202);
  again.proc.kill('SIGUSR2');
  for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const d = RunDetailResponse.parse(await (await fetch(`${base2}/v1/runs/${second.runId}`, { headers })).json());
    if (d.state === 'paused') break;
    expect(Date.now() < end, `state ${d.state}`).toBe(true);
  }
  // The API reports a state before its status.json write lands: kill it once the file says so.
  const killedStatus = path.join(tmp, 'runs', 'killed', 'status.json');
  for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
    const onDisk = fs.existsSync(killedStatus)
      ? RunStatus.parse(JSON.parse(fs.readFileSync(killedStatus, 'utf8')))
      : null;
    if (onDisk?.state === 'paused') break;
    expect(Date.now() < end, `status.json: ${onDisk?.state ?? 'missing'}`).toBe(true);
  }
  again.proc.kill('SIGKILL');
  await again.exit;
  const third = startApi(env);
  child = third.proc;
  const base3 = await third.url;
  const runs = await list(base3);
  expect(runs.map((r) => [r.runId, r.state]).sort()).toEqual(
    [
      [runId, 'cancelled'],
      [second.runId, 'failed'],
    ].sort(),
  );
  const killed = RunDetailResponse.parse(await (await fetch(`${base3}/v1/runs/${second.runId}`, { headers })).json());
  expect(killed.status?.error).toMatchObject({ type: 'Interrupted' });
  third.proc.kill('SIGTERM');
  expect(await third.exit).toBe(0);
});
