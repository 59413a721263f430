import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJsonFile, runLayout } from '@rds/artifacts';
import { RunConfig, RunStatus, ValidationError, type RunConfigInput, type RunStatus as RunStatusT } from '@rds/schemas';
import { lockPath } from '../src/lock.js';
import {
  HoldController,
  LocalBackend,
  RunConflictError,
  RunNotFoundError,
  readRunStatus,
  runLocal,
} from '../src/index.js';
import { configFor, fakeActivities } from './fake-activities.js';

let dir: string;
beforeEach(async () => void (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-runner-'))));
afterEach(async () => fs.rm(dir, { recursive: true, force: true }));

const exists = (f: string) =>
  fs.stat(f).then(
    () => true,
    () => false,
  );
const until = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('runLocal', () => {
  it('runs every stage in order, records config and a completed status with counts', async () => {
    const { activities, calls } = fakeActivities({ shards: 3, rowsPerShard: 4 });
    const seen: RunStatusT[] = [];
    const status = await runLocal(configFor(dir), { activities, onStatus: (s) => seen.push(s) });
    expect(calls).toEqual(['ingest', 'queries', 'shard-0', 'shard-1', 'shard-2', 'score', 'select', 'handoff']);
    expect(status.state).toBe('completed');
    expect(status.completedStages).toEqual([
      'validate',
      'ingest',
      'embed-queries',
      'embed-pool',
      'score',
      'select',
      'handoff',
    ]);
    expect(status.counts).toMatchObject({
      poolRows: 12,
      shards: 3,
      shardsEmbedded: 3,
      rowsEmbedded: 12,
      selected: 5,
      handedOff: 5,
    });
    const onDisk = await readJsonFile(runLayout(dir).status, RunStatus);
    expect(onDisk).toEqual(status);
    const config = await readJsonFile(runLayout(dir).config, RunConfig);
    expect(config.selection).toMatchObject({ budget: 5, strategy: 'round-robin-tasks', seed: 42 });
    // Progress during pool embedding counts rows across shards.
    const embedProgress = seen.filter((s) => s.progress?.stage === 'embed-pool').map((s) => s.progress!.done);
    expect(Math.max(...embedProgress)).toBe(12);
    expect(seen.find((s) => s.progress?.shards?.done === 2)?.progress?.shards).toEqual({ done: 2, total: 3 });
  });

  it('rejects a bad config with field paths before touching the run directory', async () => {
    const { activities } = fakeActivities({ shards: 1, rowsPerShard: 1 });
    const bad = { ...configFor(dir), selection: { budget: -1 }, queries: [] };
    const err = await runLocal(bad, { activities }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(['queries', 'selection.budget']);
    expect(await readRunStatus(dir)).toBeNull();
  });

  it('resumes after a failure without recomputing finished shards, keeping the run id', async () => {
    const fake = fakeActivities({ shards: 4, rowsPerShard: 2, failShardOnce: 2 });
    const first = await runLocal(configFor(dir), { activities: fake.activities }).catch((e: unknown) => e);
    expect((first as Error).message).toMatch(/shard 2 failed/);
    const failed = await readRunStatus(dir);
    expect(failed).toMatchObject({ state: 'failed', stage: 'embed-pool', error: { type: 'Error' } });
    const second = await runLocal(configFor(dir), { activities: fake.activities });
    expect(second.state).toBe('completed');
    expect(second.runId).toBe(failed!.runId);
    expect(fake.computed).toEqual([0, 1, 2, 3]); // every shard computed exactly once
    expect(fake.calls.filter((c) => c.endsWith(':skip'))).toEqual([
      'ingest:skip',
      'queries:skip',
      'shard-0:skip',
      'shard-1:skip',
    ]);
  });
});

describe('LocalBackend slot and handoff', () => {
  it('a run waiting in its handoff trigger does not hold up the queue', async () => {
    const fake = fakeActivities({ shards: 1, rowsPerShard: 2 });
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((r) => (unblock = r));
    const handoff = fake.activities.handoffSelection;
    // A's handoff waits until the test lets it go (a webhook retrying against a host that is down).
    const activities = {
      ...fake.activities,
      handoffSelection: async (i: Parameters<typeof handoff>[0]) =>
        i.runDir.endsWith('a') ? blocked.then(() => handoff(i)) : handoff(i),
    };
    const backend = new LocalBackend({ activities });
    const a = await backend.start(configFor(path.join(dir, 'a')));
    const b = await backend.start(configFor(path.join(dir, 'b')));
    expect((await backend.wait(b.runId)).state).toBe('completed'); // while A is still in its handoff
    expect(await backend.get(a.runId)).toMatchObject({ state: 'running', stage: 'handoff' });
    unblock();
    expect((await backend.wait(a.runId)).state).toBe('completed');
  });
});

describe('leftovers of killed writers', () => {
  it("temp files and scratch dirs of dead writers are removed when a run (re)starts; a live writer's are kept", async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const live = process.ppid;
    await fs.mkdir(path.join(dir, 'handoff', `.scratch-${dead}-0a1b2c3d`), { recursive: true });
    const leftovers = [
      `.status.json.${dead}.0a1b2c3d.tmp`,
      `handoff/.receipt.json.${dead}.deadbeef.tmp`,
      `.run.lock.${dead}.12345678.tmp`,
      `handoff/.scratch-${dead}-0a1b2c3d`,
    ];
    for (const f of leftovers.slice(0, 3)) await fs.writeFile(path.join(dir, f), 'partial');
    const kept = [`.selection.jsonl.${live}.0a1b2c3d.tmp`, 'handoff/.notes.tmp'];
    await fs.mkdir(path.join(dir, 'selection'), { recursive: true });
    await fs.writeFile(path.join(dir, 'selection', kept[0]!), 'being written');
    await fs.writeFile(path.join(dir, kept[1]!), 'not ours');
    const { activities } = fakeActivities({ shards: 1, rowsPerShard: 2 });
    const logs: string[] = [];
    expect((await runLocal(configFor(dir), { activities, log: (m) => logs.push(m) })).state).toBe('completed');
    for (const f of leftovers) expect(await exists(path.join(dir, f)), f).toBe(false);
    expect(await exists(path.join(dir, 'selection', kept[0]!))).toBe(true);
    expect(await exists(path.join(dir, kept[1]!))).toBe(true);
    expect(logs.filter((l) => l.startsWith('removed ')).length).toBe(4);
  });
});

describe('a runDir that is a file', () => {
  it('is a validation error naming runDir, before any work (not EEXIST and "run again to resume")', async () => {
    const file = path.join(dir, 'not-a-dir');
    await fs.writeFile(file, 'x');
    const { activities, calls } = fakeActivities({ shards: 1, rowsPerShard: 2 });
    const err = await runLocal(configFor(file), { activities }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { path: 'runDir', message: expect.stringMatching(/exists and is not a directory/) },
    ]);
    expect(calls).toEqual([]);
    await expect(new LocalBackend({ activities }).start(configFor(file))).rejects.toBeInstanceOf(ValidationError);
    expect(await fs.readFile(file, 'utf8')).toBe('x');
  });
});

describe('run directory lock', () => {
  it('refuses a second runner on the same run directory while the first is alive, and takes over a crashed one', async () => {
    const fake = fakeActivities({ shards: 3, rowsPerShard: 3 });
    const holds = new HoldController(fake.activities);
    const held = holds.hold('embedPoolShard');
    const first = runLocal(configFor(dir), { activities: holds.activities });
    await held.reached; // the first runner is alive and holds the lock
    expect(await exists(lockPath(dir))).toBe(true);
    const err = await runLocal(configFor(dir), { activities: fake.activities }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunConflictError);
    expect((err as Error).message).toMatch(new RegExp(`in use by run .* \\(pid ${process.pid} `));
    held.release();
    expect((await first).state).toBe('completed');
    expect(await exists(lockPath(dir))).toBe(false); // released

    // A lock left by a process that no longer exists (a crash) does not block the next run.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await fs.writeFile(lockPath(dir), JSON.stringify({ pid: dead, host: os.hostname(), runId: 'old', since: 'x' }));
    expect((await runLocal(configFor(dir), { activities: fake.activities })).state).toBe('completed');
  });
});

describe('LocalBackend', () => {
  it('runs one at a time, queues the next, and reports list/get/pause/resume/cancel', async () => {
    const fake = fakeActivities({ shards: 3, rowsPerShard: 3 });
    const holds = new HoldController(fake.activities);
    const backend = new LocalBackend({ activities: holds.activities });
    const aHeld = holds.hold('embedPoolShard');
    const a = await backend.start(configFor(path.join(dir, 'a')));
    await aHeld.reached;
    const b = await backend.start(configFor(path.join(dir, 'b')));
    await expect(backend.start(configFor(path.join(dir, 'a')))).rejects.toBeInstanceOf(RunConflictError);
    expect((await backend.list()).map((r) => [r.runId, r.state])).toEqual([
      [a.runId, 'running'],
      [b.runId, 'queued'],
    ]);
    await backend.cancel(b.runId);
    aHeld.release();
    const doneA = await backend.wait(a.runId);
    expect(doneA).toMatchObject({
      state: 'completed',
      strategy: 'round-robin-tasks',
      budget: 5,
      status: { state: 'completed' },
    });
    expect(doneA.config?.runDir).toBe(path.join(dir, 'a'));
    expect((await backend.get(b.runId))?.state).toBe('cancelled');
    await expect(backend.pause(a.runId)).rejects.toBeInstanceOf(RunConflictError);
    await expect(backend.pause('nope')).rejects.toBeInstanceOf(RunNotFoundError);
    expect(await backend.get('nope')).toBeNull();

    const cHeld = holds.hold('ingestPool');
    const c = await backend.start(configFor(path.join(dir, 'c')));
    await cHeld.reached;
    await backend.pause(c.runId);
    cHeld.release(); // ingest finishes; the pause takes hold before the next stage
    await until(async () => (await backend.get(c.runId))?.state === 'paused');
    await backend.resume(c.runId);
    expect((await backend.wait(c.runId)).state).toBe('completed');
  });

  it('rejects a second run when configured to', async () => {
    const fake = fakeActivities({ shards: 2, rowsPerShard: 2 });
    const holds = new HoldController(fake.activities);
    const backend = new LocalBackend({ activities: holds.activities, whenBusy: 'reject' });
    const held = holds.hold('ingestPool');
    const a = await backend.start(configFor(path.join(dir, 'a')));
    await held.reached;
    await expect(backend.start(configFor(path.join(dir, 'b')))).rejects.toThrow(/already in progress/);
    held.release();
    await backend.wait(a.runId);
    const noBudget = { ...configFor(dir), selection: {} } as unknown as RunConfigInput;
    await expect(backend.start(noBudget)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('LocalBackend with a runs root (runs of an earlier process)', () => {
  it('lists finished runs as they ended and unfinished ones as interrupted; starting one again resumes it under its id', async () => {
    const fake = fakeActivities({ shards: 2, rowsPerShard: 2 });
    const first = new LocalBackend({ activities: fake.activities, runsRoot: dir });
    const a = await first.start(configFor(path.join(dir, 'a')));
    expect((await first.wait(a.runId)).state).toBe('completed');
    // What a process killed mid-run leaves: config.json and a status.json that still says running.
    const cDir = path.join(dir, 'team', 'c');
    const statusA = await readJsonFile(runLayout(path.join(dir, 'a')).status, RunStatus);
    const configC = { ...(await readJsonFile(runLayout(path.join(dir, 'a')).config, RunConfig)), runDir: cDir };
    await fs.mkdir(cDir, { recursive: true });
    await fs.writeFile(runLayout(cDir).config, JSON.stringify(configC));
    const updatedAt = new Date(Date.now() + 60_000).toISOString();
    await fs.writeFile(
      runLayout(cDir).status,
      JSON.stringify({
        ...statusA,
        runId: 'run-c',
        runDir: cDir,
        state: 'running',
        stage: 'embed-pool',
        finishedAt: null,
        updatedAt,
      }),
    );
    // Not a run: a directory whose status.json does not parse.
    await fs.mkdir(path.join(dir, 'junk', 'x'), { recursive: true });
    await fs.writeFile(runLayout(path.join(dir, 'junk', 'x')).status, '{"not": "a status"}');

    const second = new LocalBackend({ activities: fake.activities, runsRoot: dir }); // the restarted process
    expect((await second.list()).map((r) => [r.runId, r.state, r.runDir])).toEqual([
      ['run-c', 'failed', cDir], // newest first
      [a.runId, 'completed', path.join(dir, 'a')],
    ]);
    const c = await second.get('run-c');
    expect(c).toMatchObject({
      state: 'failed',
      stage: 'embed-pool',
      config: { runDir: cDir },
      status: { error: { type: 'Interrupted' } },
    });
    expect(c!.status!.error!.message).toMatch(/stopped while it was running; start its config again/);
    await expect(second.cancel('run-c')).rejects.toBeInstanceOf(RunConflictError);
    await expect(second.pause('nope')).rejects.toBeInstanceOf(RunNotFoundError);
    expect((await second.wait(a.runId)).state).toBe('completed');

    const again = await second.start(configC);
    expect(again.runId).toBe('run-c');
    expect((await second.wait('run-c')).state).toBe('completed');
    const listed = await second.list();
    expect(listed.filter((r) => r.runId === 'run-c').map((r) => r.state)).toEqual(['completed']);
    expect(listed).toHaveLength(2);
  });
});
