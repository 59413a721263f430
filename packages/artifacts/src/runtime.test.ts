import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  activityRuntime,
  runWithRuntime,
  waitToRetry,
  withHeartbeats,
  type ActivityRuntime,
  type Progress,
} from './runtime.js';

const waiting: Progress = { stage: 'test:wait', done: 0, total: 1, unit: 'steps', ratePerSec: 0, etaSec: null };

afterEach(() => void vi.useRealTimers());

describe('withHeartbeats', () => {
  it('heartbeats on a timer (a quarter of the heartbeat timeout) for as long as the wait lasts, then stops', async () => {
    vi.useFakeTimers();
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000 });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    let release!: () => void;
    const run = env.run(() =>
      withHeartbeats(
        activityRuntime(),
        () => waiting,
        () => new Promise<string>((r) => (release = () => r('done'))),
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(beats).toHaveLength(1); // one at the start
    await vi.advanceTimersByTimeAsync(10_000); // a wait far past the heartbeat timeout
    expect(beats).toHaveLength(1 + 10);
    release();
    await expect(run).resolves.toBe('done');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(beats).toHaveLength(11);
    expect(beats[5]).toEqual(waiting);
  });

  it('runs fn without a timer where nobody watches heartbeats (local runs)', async () => {
    const beats: Progress[] = [];
    const rt: ActivityRuntime = { heartbeat: (p) => beats.push(p), signal: new AbortController().signal, log() {} };
    await expect(
      runWithRuntime(rt, () =>
        withHeartbeats(
          activityRuntime(),
          () => waiting,
          async () => 7,
        ),
      ),
    ).resolves.toBe(7);
    expect(beats).toEqual([]);
  });
});

describe('waitToRetry', () => {
  it('under Temporal throws an ApplicationFailure with nextRetryDelay, so the server does the waiting', async () => {
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000 });
    const err = await env.run(() => waitToRetry(activityRuntime(), 90_000, 'busy')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({
      type: 'RetryAfter',
      nextRetryDelay: 90_000,
      nonRetryable: false,
      message: 'busy; retrying in 90 s',
    });
  });

  it('locally waits the time asked, and a cancellation ends the wait', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const rt: ActivityRuntime = { heartbeat() {}, signal: ac.signal, log() {} };
    let done = false;
    const waited = runWithRuntime(rt, () => waitToRetry(activityRuntime(), 5000, 'busy')).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(4999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waited;
    expect(done).toBe(true);
    const cancelled = runWithRuntime(rt, () => waitToRetry(activityRuntime(), 60_000, 'busy'));
    ac.abort(new Error('cancelled by the test'));
    await expect(cancelled).rejects.toThrow('cancelled by the test');
  });
});
