import { describe, expect, it } from 'vitest';
import type { RunStatus } from '@rds/schemas';
import { describeStatus, progressLine } from '../src/present.js';

describe('progress and status text', () => {
  it('draws a bar with amounts, rate, shards and ETA', () => {
    const p = {
      stage: 'embed-pool' as const,
      done: 2500,
      total: 10_000,
      unit: 'rows',
      ratePerSec: 312.4,
      etaSec: 24,
      shards: { done: 1, total: 4 },
    };
    expect(progressLine('embed-pool', p, 8)).toBe(
      '[embed-pool] ██░░░░░░ 25.0%  2,500/10,000 rows  312 rows/s  shards 1/4  eta 24s',
    );
    expect(
      progressLine('ingest', {
        stage: 'ingest',
        done: 5e6,
        total: 2e7,
        unit: 'bytes',
        ratePerSec: 2.5e6,
        etaSec: 6000,
      }),
    ).toBe('[ingest] 25.0%  5.0/20.0 MB  2.5 MB/s  eta 1.7h');
    expect(progressLine('score', null)).toBe('[score]');
  });

  it('describes a failed run with its field errors', () => {
    const s: RunStatus = {
      kind: 'status',
      version: 1,
      runId: 'r1',
      runDir: '/runs/a',
      backend: 'local',
      state: 'failed',
      stage: 'validate',
      completedStages: [],
      progress: null,
      counts: { poolRows: 1200 },
      error: {
        type: 'ValidationError',
        message: 'invalid run config:\n  selection.budget: too small',
        issues: [{ path: 'selection.budget', message: 'too small' }],
      },
      startedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
      finishedAt: '2026-01-01T00:00:01.000Z',
    };
    const text = describeStatus(s);
    expect(text).toContain('run r1 (local): failed at validate');
    expect(text).toContain('counts    poolRows=1,200');
    expect(text).toContain('error     ValidationError: invalid run config:');
    expect(text).toContain('selection.budget: too small');
  });
});
