import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ValidationError, type RunStatus } from '@rds/schemas';
import { HoldController, PauseGate, parseHoldSpec, runLocal } from '../src/index.js';
import { configFor, fakeActivities } from './fake-activities.js';

let dir: string;
beforeEach(async () => void (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-hold-'))));
afterEach(async () => {
  vi.useRealTimers();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('hold points', () => {
  it('a held call keeps its process alive until released (a held CLI run once exited 13 on its own)', async () => {
    const script = fileURLToPath(new URL('./held-process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@rds/source', '--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, out }, err).toEqual({ code: 0, out: 'ran\n' });
  });

  it('hold a run before a given call until released: the run is observably mid-stage, then finishes as usual', async () => {
    const fake = fakeActivities({ shards: 4, rowsPerShard: 3 });
    const holds = new HoldController(fake.activities);
    const second = holds.hold('embedPoolShard', 1);
    const statuses: RunStatus[] = [];
    const run = runLocal(configFor(dir), { activities: holds.activities, onStatus: (s) => statuses.push(s) });
    await second.reached;
    expect(fake.computed).toEqual([0]); // shard 0 done, shard 1 not started
    expect(statuses.at(-1)).toMatchObject({
      state: 'running',
      stage: 'embed-pool',
      progress: { stage: 'embed-pool', done: 3, shards: { done: 1, total: 4 } },
    });
    second.release();
    const done = await run;
    expect(done.state).toBe('completed');
    expect(fake.computed).toEqual([0, 1, 2, 3]);
  });

  it('counts calls from when a hold is armed, and a cancelled run stops at its hold', async () => {
    const fake = fakeActivities({ shards: 3, rowsPerShard: 2 });
    const holds = new HoldController(fake.activities);
    expect((await runLocal(configFor(path.join(dir, 'a')), { activities: holds.activities })).state).toBe('completed');
    const next = holds.hold('embedPoolShard'); // the next run's first shard, not call 0 of the first run
    const abort = new AbortController();
    const run = runLocal(configFor(path.join(dir, 'b')), { activities: holds.activities, signal: abort.signal });
    await next.reached;
    expect(fake.computed).toEqual([0, 1, 2]);
    abort.abort(new Error('stop here'));
    const final = await run;
    expect(final).toMatchObject({ state: 'cancelled', stage: 'embed-pool', error: { message: 'stop here' } });
    expect(fake.computed).toEqual([0, 1, 2]); // the held shard never ran
  });

  it('a pause requested while a shard is held takes hold before the next shard, and nothing runs while paused', async () => {
    const fake = fakeActivities({ shards: 6, rowsPerShard: 5 });
    const holds = new HoldController(fake.activities);
    const atShard1 = holds.hold('embedPoolShard', 1);
    const atShard2 = holds.hold('embedPoolShard', 2); // reached only if the pause failed to hold
    const gate = new PauseGate();
    let onPaused!: (s: RunStatus) => void;
    const paused = new Promise<RunStatus>((resolve) => (onPaused = resolve));
    const abort = new AbortController();
    const onStatus = (s: RunStatus) => void (s.state === 'paused' && onPaused(s));
    const run = runLocal(configFor(dir), {
      activities: holds.activities,
      pauseGate: gate,
      signal: abort.signal,
      onStatus,
    });
    await atShard1.reached;
    gate.pause();
    atShard1.release();
    // The gate holds the runner between shard 1 and shard 2, and says so.
    expect(await paused).toMatchObject({
      state: 'paused',
      stage: 'embed-pool',
      progress: { shards: { done: 2, total: 6 } },
    });
    expect(fake.computed).toEqual([0, 1]);
    gate.resume();
    await atShard2.reached;
    expect(fake.computed).toEqual([0, 1]);
    abort.abort(new Error('user cancelled'));
    const final = await run;
    expect(final).toMatchObject({ state: 'cancelled', error: { message: 'user cancelled' } });
    // Completed shard artifacts stay; re-running computes only the rest.
    const again = await runLocal(configFor(dir), { activities: fake.activities });
    expect(again.state).toBe('completed');
    expect(fake.computed).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('under Temporal a held call heartbeats for as long as it is held (so it is not timed out), and a cancellation reaches it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = fakeActivities({ shards: 1, rowsPerShard: 1 });
    const holds = new HoldController(fake.activities);
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000 });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const input = { runDir: dir, selection: { budget: 5 } } as never;

    const first = holds.hold('selectPool');
    const released = env.run(() => holds.activities.selectPool(input));
    await first.reached;
    await vi.advanceTimersByTimeAsync(60_000); // far past the 4 s heartbeat timeout
    expect(beats.length).toBeGreaterThanOrEqual(1 + 60_000 / 1000); // one at once, then every quarter timeout
    expect(beats[0]).toMatchObject({ stage: 'held:selectPool', unit: 'held', done: 0 });
    first.release();
    await expect(released).resolves.toMatchObject({ skipped: false, selected: 5 });
    const after = beats.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(beats.length).toBe(after); // the timer stops with the hold

    const second = holds.hold('selectPool');
    const cancelled = env.run(() => holds.activities.selectPool(input));
    await second.reached;
    env.cancel('CANCELLED');
    await expect(cancelled).rejects.toBeInstanceOf(CancelledFailure);
    expect(fake.calls.filter((c) => c.startsWith('select'))).toEqual(['select']); // the cancelled call never ran
  });

  it('RDS_HOLD_BEFORE is parsed with errors naming the variable', () => {
    expect(parseHoldSpec('embedPoolShard:1, scorePool:0')).toEqual([
      { activity: 'embedPoolShard', call: 1 },
      { activity: 'scorePool', call: 0 },
    ]);
    expect(() => parseHoldSpec('embedPoolShard')).toThrow(ValidationError);
    expect(() => parseHoldSpec('embedPoolShard')).toThrow(/RDS_HOLD_BEFORE="embedPoolShard": expected activity:call/);
    expect(() => parseHoldSpec('embedShard:1')).toThrow(/RDS_HOLD_BEFORE="embedShard:1": Invalid option/);
  });
});
