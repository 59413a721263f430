import { describe, expect, it } from 'vitest';
import { RunConfig, runConfigJsonSchema } from './config.js';
import { parseOrThrow, ValidationError } from './errors.js';
import { Example } from './example.js';

const minimal = {
  runDir: 'runs/demo',
  pool: { inputs: ['data/pool.jsonl'] },
  queries: [{ task: 'gsm8k', path: 'data/gsm8k.jsonl' }],
  model: { dir: 'models/m' },
  selection: { budget: 100 },
};

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('RunConfig', () => {
  it('applies documented defaults', () => {
    const c = RunConfig.parse(minimal);
    expect(c.model.maxTokens).toBe(2048);
    expect(c.model.pooling).toBe('weighted-mean');
    expect(c.model.executionProvider).toBe('cpu');
    expect(c.selection.strategy).toBe('round-robin-tasks');
    expect(c.pool.shardSize).toBe(50_000);
    expect(c.handoff.destination).toEqual({ kind: 'local' });
  });

  it('names the bad field path in errors', () => {
    const bad = { ...minimal, selection: { budget: -3 }, queries: [{ task: 'bad name!', path: 'x' }] };
    const err = errorOf(() => parseOrThrow(RunConfig, bad, 'config.json'));
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.message).toContain('invalid config.json');
    expect(v.issues.map((i) => i.path).sort()).toEqual(['queries[0].task', 'selection.budget']);
  });

  it('rejects unknown keys at every level, naming each one', () => {
    const bad = {
      ...minimal,
      extra: 1,
      selection: { budget: 10, strateg: 'top-k-max' },
      queries: [{ ...minimal.queries[0], formt: 'tulu' }],
      handoff: {
        destination: { kind: 'local', dirr: 'x' },
        trigger: { kind: 'webhook', url: 'https://h.example/', secretEnv: 'RDS_WEBHOOK_X', maxAttempt: 3 },
      },
      scoring: { topk: 10 },
    };
    const err = errorOf(() => parseOrThrow(RunConfig, bad, 'config.json'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(
      [
        'extra',
        'handoff.destination.dirr',
        'handoff.trigger.maxAttempt',
        'queries[0].formt',
        'scoring.topk',
        'selection.strateg',
      ].sort(),
    );
    expect((err as ValidationError).message).toContain('selection.strateg: unknown key');
  });

  it('bounds scoring.topK by what can be held in memory, at validation (not after embedding)', () => {
    const r = RunConfig.safeParse({ ...minimal, scoring: { topK: 2_000_000_000 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['scoring.topK', expect.stringMatching(/at most 1048576/)],
    ]);
    expect(RunConfig.parse({ ...minimal, scoring: { topK: 1 << 20 } }).scoring.topK).toBe(1 << 20);
  });

  it('handoff.baselines: absent means none, {} the paper set, and bad entries are named', () => {
    expect(RunConfig.parse(minimal).handoff.baselines).toBeUndefined();
    expect(RunConfig.parse({ ...minimal, handoff: { baselines: {} } }).handoff.baselines).toEqual({
      strategies: ['random', 'balanced-random'],
      seeds: [1, 2, 3],
    });
    expect(RunConfig.parse({ ...minimal, handoff: { baselines: { seeds: [7] } } }).handoff.baselines).toEqual({
      strategies: ['random', 'balanced-random'],
      seeds: [7],
    });
    const paths = (baselines: unknown) => {
      const err = errorOf(() => parseOrThrow(RunConfig, { ...minimal, handoff: { baselines } }, 'config.json'));
      expect(err).toBeInstanceOf(ValidationError);
      return (err as ValidationError).issues.map((i) => [i.path, i.message]);
    };
    expect(paths({ strategies: ['random', 'top-k-max'], seeds: [1, -2], seed: 3 })).toEqual([
      ['handoff.baselines.strategies[1]', expect.stringMatching(/random.*balanced-random/)],
      ['handoff.baselines.seeds[1]', expect.stringMatching(/>=\s*0/)],
      ['handoff.baselines.seed', expect.stringMatching(/unknown key/)],
    ]);
    expect(paths({ strategies: ['random', 'random'], seeds: [2, 2] })).toEqual([
      ['handoff.baselines.strategies[1]', 'strategy "random" is listed twice'],
      ['handoff.baselines.seeds[1]', 'seed 2 is listed twice'],
    ]);
    expect(paths({ strategies: [], seeds: [] }).map(([p]) => p)).toEqual([
      'handoff.baselines.strategies',
      'handoff.baselines.seeds',
    ]);
  });

  it('rejects duplicate task names', () => {
    const r = RunConfig.safeParse({ ...minimal, queries: [minimal.queries[0], minimal.queries[0]] });
    expect(r.success).toBe(false);
  });

  it('exports a JSON Schema a form can render', () => {
    const s = runConfigJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(s.properties)).toEqual(
      expect.arrayContaining(['runDir', 'pool', 'queries', 'model', 'selection']),
    );
    expect(s.required).toEqual(expect.arrayContaining(['runDir', 'pool', 'queries', 'model', 'selection']));
    expect(s.required).not.toContain('handoff');
    const handoff = (s.properties.handoff as { properties: Record<string, { properties?: Record<string, unknown> }> })
      .properties;
    expect(Object.keys(handoff.baselines!.properties!)).toEqual(['strategies', 'seeds']);
  });
});

describe('Example', () => {
  it('requires an assistant turn and known roles', () => {
    expect(Example.safeParse({ id: 'a', source: 's', messages: [{ role: 'user', content: 'hi' }] }).success).toBe(
      false,
    );
    expect(Example.safeParse({ id: 'a', source: 's', messages: [{ role: 'bot', content: 'hi' }] }).success).toBe(false);
    expect(
      Example.safeParse({
        id: 'a',
        source: 's',
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      }).success,
    ).toBe(true);
  });
});
