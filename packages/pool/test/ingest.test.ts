import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runLayout, runWithRuntime, type Progress } from '@rds/artifacts';
import { Example, PoolManifest, ValidationError } from '@rds/schemas';
import { ingestPool, ingestPoolFiles, ingestQuerySet, strippedMessagesJson, type RejectedRow } from '../src/index.js';
import { readJsonlFile, tempDir, tulu, writeJsonl, writeTuluParquet } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const sharedData = path.resolve(repoRoot, '../shared/data');

const config = (
  inputs: string[],
  extra: Partial<{ shardSize: number; maxRowBytes: number; format: 'auto' | 'tulu' | 'alpaca' | 'sharegpt' }> = {},
) => ({
  inputs,
  format: 'auto' as const,
  shardSize: 3,
  maxRowBytes: 1 << 16,
  ...extra,
});

function poolRows(runDir: string) {
  const m = PoolManifest.parse(JSON.parse(fs.readFileSync(runLayout(runDir).pool.manifest, 'utf8')));
  return m.shards.flatMap((s) =>
    readJsonlFile(path.join(runLayout(runDir).pool.dir, s.file)).map((r) => Example.parse(r)),
  );
}

describe('ingestPoolFiles', () => {
  it('ingests JSONL, JSONL.gz and Parquet in all three shapes into canonical shards', async () => {
    const dir = tempDir();
    const files = [
      writeJsonl(path.join(dir, 'a-tulu.jsonl'), [
        tulu('t1', 'r1', { id: 't-1', dataset: 'tulu' }),
        tulu('t2', 'r2', { id: 't-2' }),
      ]),
      writeJsonl(
        path.join(dir, 'b-alpaca.jsonl.gz'),
        [
          { instruction: 'i1', input: 'x', output: 'o1' },
          { instruction: 'i2', input: '', output: 'o2', source: 'alp' },
        ],
        true,
      ),
      writeJsonl(path.join(dir, 'c-sharegpt.jsonl'), [
        {
          id: 's-1',
          conversations: [
            { from: 'human', value: 'h' },
            { from: 'gpt', value: 'g' },
          ],
        },
      ]),
      writeTuluParquet(path.join(dir, 'd.parquet'), [
        { id: 'p-1', dataset: 'pq', messages: tulu('pq1', 'pa1').messages },
      ]),
    ];
    const runDir = path.join(dir, 'run');
    const { skipped, manifest } = await ingestPoolFiles(runDir, config(files));
    expect(skipped).toBe(false);
    expect(manifest.counts).toEqual({ read: 6, kept: 6, duplicate: 0, rejected: 0 });
    expect(manifest.perSource).toEqual({ tulu: 1, 'a-tulu': 1, 'b-alpaca': 1, alp: 1, 'c-sharegpt': 1, pq: 1 });
    expect(manifest.inputs.map((i) => i.format)).toEqual(['jsonl', 'jsonl.gz', 'jsonl', 'parquet']);
    expect(manifest.shards.map((s) => s.rows)).toEqual([3, 3]);
    expect(manifest.rejected).toBeNull();
    const rows = poolRows(runDir);
    expect(rows.map((r) => r.messages.map((m) => m.content).join('|'))).toEqual([
      't1|r1',
      't2|r2',
      'i1\n\nx|o1',
      'i2|o2',
      'h|g',
      'pq1|pa1',
    ]);
    expect(rows.map((r) => r.id).slice(0, 2)).toEqual(['t-1', 't-2']);
    expect(rows[2]!.id).toMatch(/^b-alpaca-[0-9a-f]{16}$/);
    expect(rows[5]!.id).toBe('p-1');
  });

  it('forces a format when asked (rows of another shape are rejected)', async () => {
    const dir = tempDir();
    const file = writeJsonl(path.join(dir, 'x.jsonl'), [tulu('a', 'b'), { instruction: 'i', output: 'o' }]);
    const { manifest } = await ingestPoolFiles(path.join(dir, 'run'), config([file], { format: 'alpaca' }));
    expect(manifest.counts).toEqual({ read: 2, kept: 1, duplicate: 0, rejected: 1 });
    const rejected = readJsonlFile<RejectedRow>(path.join(dir, 'run', 'pool', 'rejected.jsonl'));
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([[1, 'missing-messages']]);
  });

  it('quarantines every kind of bad row with its file and line, keeping all valid rows', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'mixed.jsonl');
    const lines: (string | Buffer)[] = [
      JSON.stringify(tulu('good1', 'a')), // 1
      '{"messages": [', // 2 bad-json
      JSON.stringify({ messages: [] }), // 3 missing-messages
      JSON.stringify({ id: 'x', messages: null }), // 4 missing-messages
      JSON.stringify({
        messages: [
          { role: 'wizard', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      }), // 5 unknown-role
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }), // 6 no-assistant
      JSON.stringify({
        messages: [
          { role: 'user', content: { text: 'q' } },
          { role: 'assistant', content: 'a' },
        ],
      }), // 7 non-string-content
      JSON.stringify(tulu('big'.repeat(400), 'a')), // 8 too-large
      Buffer.concat([
        Buffer.from('{"messages":[{"role":"user","content":"caf'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}]}'),
      ]), // 9 invalid-utf8
      '[1, 2]', // 10 not-object
      JSON.stringify(tulu('good2', 'b')), // 11
    ];
    fs.writeFileSync(file, Buffer.concat(lines.map((l) => Buffer.concat([Buffer.from(l), Buffer.from('\n')]))));
    const { manifest } = await ingestPoolFiles(path.join(dir, 'run'), config([file], { maxRowBytes: 1000 }));
    expect(manifest.counts).toEqual({ read: 11, kept: 2, duplicate: 0, rejected: 9 });
    const rejected = readJsonlFile<RejectedRow>(path.join(dir, 'run', 'pool', 'rejected.jsonl'));
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [2, 'bad-json'],
      [3, 'missing-messages'],
      [4, 'missing-messages'],
      [5, 'unknown-role'],
      [6, 'no-assistant'],
      [7, 'non-string-content'],
      [8, 'too-large'],
      [9, 'invalid-utf8'],
      [10, 'not-object'],
    ]);
    expect(rejected.every((r) => r.file === file && r.raw.length > 0 && r.raw.length <= 1000)).toBe(true);
    expect(manifest.rejected?.file).toBe('rejected.jsonl');
    expect(poolRows(path.join(dir, 'run')).map((r) => r.messages[0]!.content)).toEqual(['good1', 'good2']);
  });

  it('rejects rows of unknown shape until one is recognised (auto detection)', async () => {
    const dir = tempDir();
    const file = writeJsonl(path.join(dir, 'x.jsonl'), [{ text: 'plain' }, tulu('q', 'a'), { text: 'again' }]);
    const { manifest } = await ingestPoolFiles(path.join(dir, 'run'), config([file]));
    const rejected = readJsonlFile<RejectedRow>(path.join(dir, 'run', 'pool', 'rejected.jsonl'));
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [1, 'unknown-shape'],
      [3, 'missing-messages'],
    ]);
    expect(manifest.counts.kept).toBe(1);
  });

  it('removes exact duplicates across files (first kept) and keeps ids unique', async () => {
    const dir = tempDir();
    const a = writeJsonl(path.join(dir, 'a.jsonl'), [
      tulu('same', 'answer', { id: 'one', dataset: 'A' }),
      tulu('other', 'answer', { id: 'one', dataset: 'A' }), // id taken: derived
      tulu('same', 'answer', { id: 'dup', dataset: 'A' }), // duplicate content
      tulu('sa me', 'answer', { dataset: 'A' }), // differs inside a turn: not a duplicate
    ]);
    const b = writeJsonl(path.join(dir, 'b.jsonl'), [
      { instruction: 'same', input: '', output: 'answer', dataset: 'B' }, // same messages via alpaca
    ]);
    const c = writeJsonl(path.join(dir, 'c.jsonl'), [
      tulu('third', 'answer', { id: 'A-deadbeefdeadbeef', dataset: 'B' }),
    ]);
    const { manifest } = await ingestPoolFiles(path.join(dir, 'run'), config([a, b, c]));
    expect(manifest.counts).toEqual({ read: 6, kept: 4, duplicate: 2, rejected: 0 });
    expect(manifest.sources).toEqual({
      A: { read: 4, kept: 3, duplicate: 1, rejected: 0 },
      B: { read: 2, kept: 1, duplicate: 1, rejected: 0 },
    });
    const rows = poolRows(path.join(dir, 'run'));
    expect(rows.map((r) => r.id)[0]).toBe('one');
    expect(rows[1]!.id).toMatch(/^A-[0-9a-f]{16}$/);
    expect(rows[3]!.id).toBe('A-deadbeefdeadbeef');
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  it("dedups on what the encoder sees: role + content stripped as Python's str.strip(), first row kept as it came", async () => {
    const dir = tempDir();
    const a = writeJsonl(path.join(dir, 'a.jsonl'), [
      tulu(' same\n', 'answer ', { id: 'first', dataset: 'A' }), // kept verbatim
      tulu('same', 'answer', { id: 'plain', dataset: 'A' }), // dup: only surrounding whitespace differs
      tulu('\u0085same\u001f', '\u00a0answer\u3000', { id: 'py-space', dataset: 'A' }), // dup: Python strips these (JS trim() keeps U+0085, U+001C-U+001F)
      tulu('\ufeffsame', 'answer', { id: 'bom', dataset: 'A' }), // not a dup: Python keeps U+FEFF (JS trim() would strip it)
      tulu('same  ', 'an swer', { id: 'inner', dataset: 'A' }), // not a dup: whitespace inside a turn counts
      {
        id: 'roles',
        dataset: 'A',
        messages: [
          { role: 'system', content: 'same' },
          { role: 'assistant', content: 'answer' },
        ],
      }, // not a dup: other role
    ]);
    const b = writeJsonl(path.join(dir, 'b.jsonl'), [
      { instruction: ' same', input: '', output: 'answer\t', dataset: 'B' },
    ]); // dup via alpaca
    const { manifest } = await ingestPoolFiles(path.join(dir, 'run'), config([a, b]));
    expect(manifest.counts).toEqual({ read: 7, kept: 4, duplicate: 3, rejected: 0 });
    expect(manifest.sources).toEqual({
      A: { read: 6, kept: 4, duplicate: 2, rejected: 0 },
      B: { read: 1, kept: 0, duplicate: 1, rejected: 0 },
    });
    const rows = poolRows(path.join(dir, 'run'));
    expect(rows.map((r) => r.id)).toEqual(['first', 'bom', 'inner', 'roles']);
    expect(rows[0]!.messages).toEqual([
      { role: 'user', content: ' same\n' },
      { role: 'assistant', content: 'answer ' },
    ]);
  });

  it('strippedMessagesJson: undefined when nothing strips, else the stripped messages as JSON', () => {
    const clean = [
      { role: 'user' as const, content: 'a b' },
      { role: 'assistant' as const, content: 'c' },
    ];
    expect(strippedMessagesJson(clean)).toBeUndefined();
    expect(
      strippedMessagesJson([
        { role: 'user', content: '\u001ca b\u2028' },
        { role: 'assistant', content: 'c' },
      ]),
    ).toBe(JSON.stringify(clean));
    expect(
      strippedMessagesJson([
        { role: 'user', content: '\ufeffa b' },
        { role: 'assistant', content: 'c' },
      ]),
    ).toBeUndefined();
  });

  it('derives the same ids on every run (stable), independent of shard size', async () => {
    const dir = tempDir();
    const file = writeJsonl(
      path.join(dir, 'p.jsonl'),
      Array.from({ length: 10 }, (_, i) => tulu(`q${i}`, 'a')),
    );
    await ingestPoolFiles(path.join(dir, 'r1'), config([file], { shardSize: 3 }));
    await ingestPoolFiles(path.join(dir, 'r2'), config([file], { shardSize: 4 }));
    expect(poolRows(path.join(dir, 'r1')).map((r) => r.id)).toEqual(poolRows(path.join(dir, 'r2')).map((r) => r.id));
  });

  it('is a no-op on re-run with the same inputs, and redoes the work when inputs, options or shards change', async () => {
    const dir = tempDir();
    const file = writeJsonl(
      path.join(dir, 'p.jsonl'),
      Array.from({ length: 7 }, (_, i) => tulu(`q${i}`, 'a')),
    );
    const runDir = path.join(dir, 'run');
    const first = await ingestPoolFiles(runDir, config([file]));
    const second = await ingestPoolFiles(runDir, config([file]));
    expect(second.skipped).toBe(true);
    expect(second.manifest).toEqual(first.manifest);

    // damaged shard: re-ingest, same content
    fs.appendFileSync(runLayout(runDir).pool.shard(1), 'x');
    const repaired = await ingestPoolFiles(runDir, config([file]));
    expect(repaired.skipped).toBe(false);
    expect(repaired.manifest.shards).toEqual(first.manifest.shards);

    // other shard size: new fingerprint, old extra shards removed
    const bigger = await ingestPoolFiles(runDir, config([file], { shardSize: 5 }));
    expect(bigger.skipped).toBe(false);
    expect(bigger.manifest.fingerprint).not.toBe(first.manifest.fingerprint);
    expect(fs.readdirSync(runLayout(runDir).pool.dir).sort()).toEqual([
      'manifest.json',
      'shard-00000.jsonl',
      'shard-00001.jsonl',
    ]);
  });

  it('fails before writing anything when an input is missing or unreadable, naming it', async () => {
    const dir = tempDir();
    const runDir = path.join(dir, 'run');
    const missing = path.join(dir, 'missing.jsonl');
    await expect(ingestPoolFiles(runDir, config([missing]))).rejects.toThrow(new RegExp(missing));
    const notGz = path.join(dir, 'x.jsonl.gz');
    fs.writeFileSync(notGz, '{"messages": []}\n');
    const err = await ingestPoolFiles(runDir, config([notGz])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain(notGz);
    expect(fs.existsSync(runLayout(runDir).pool.manifest)).toBe(false);
    expect(fs.readdirSync(runLayout(runDir).pool.dir)).toEqual([]); // temp files removed on failure
  });

  it('a cancelled ingestion leaves nothing visible (its shards were staged) and no manifest; the re-run matches a clean run', async () => {
    const dir = tempDir();
    const rows = Array.from({ length: 60_000 }, (_, i) => tulu(`question ${i} ${'pad '.repeat(20)}`, `answer ${i}`));
    const file = writeJsonl(path.join(dir, 'p.jsonl'), rows);
    const runDir = path.join(dir, 'run');
    const controller = new AbortController();
    let seen = 0;
    const err = await ingestPoolFiles(runDir, config([file], { shardSize: 5000 }), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.kept > 22_000 && seen++ === 0) controller.abort(new Error('cancelled by test'));
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('cancelled by test');
    expect(fs.readdirSync(runLayout(runDir).pool.dir)).toEqual([]);

    const resumed = await ingestPoolFiles(runDir, config([file], { shardSize: 5000 }));
    const clean = await ingestPoolFiles(path.join(dir, 'clean'), config([file], { shardSize: 5000 }));
    expect(resumed.skipped).toBe(false);
    expect(resumed.manifest.shards).toEqual(clean.manifest.shards);
    expect(resumed.manifest.counts).toEqual({ read: 60_000, kept: 60_000, duplicate: 0, rejected: 0 });
  });

  it('a SIGKILLed ingestion process leaves no half-written shard visible; the re-run completes identically', async () => {
    const dir = tempDir();
    const rows = Array.from({ length: 60_000 }, (_, i) => tulu(`question ${i} ${'pad '.repeat(30)}`, `answer ${i}`));
    const file = writeJsonl(path.join(dir, 'p.jsonl'), rows);
    const runDir = path.join(dir, 'run');
    const poolDir = runLayout(runDir).pool.dir;
    const stage = path.join(poolDir, '.staging');
    const child = spawn(
      process.execPath,
      // Crashes itself once 4 shards' worth of rows are kept: shards 0-2 are committed, shard 3's commit may be in flight.
      [
        '--conditions=@rds/source',
        '--import',
        'tsx',
        path.join(here, 'fixtures', 'ingest-child.ts'),
        runDir,
        '5000',
        '20000',
        file,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    expect(exit, stderr).toBe('SIGKILL');
    expect(fs.existsSync(runLayout(runDir).pool.manifest)).toBe(false);
    // The pool itself shows nothing; the staged shards are complete ones or dot-named temp files.
    expect(fs.readdirSync(poolDir).filter((n) => !n.startsWith('.'))).toEqual([]);
    const visible = fs.readdirSync(stage).filter((n) => !n.startsWith('.'));
    expect(visible.length).toBeGreaterThanOrEqual(3);
    for (const n of visible) {
      expect(n).toMatch(/^shard-\d{5}\.jsonl$/);
      const text = fs.readFileSync(path.join(stage, n), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      expect(readJsonlFile(path.join(stage, n))).toHaveLength(5000);
    }

    const resumed = await ingestPoolFiles(runDir, config([file], { shardSize: 5000 }));
    const clean = await ingestPoolFiles(path.join(dir, 'clean'), config([file], { shardSize: 5000 }));
    expect(resumed.manifest.shards).toEqual(clean.manifest.shards);
    expect(resumed.manifest.counts.kept).toBe(60_000);
    expect(fs.readdirSync(poolDir).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('an empty pool, or one with only bad rows, fails at ingest naming the inputs (no manifest)', async () => {
    const dir = tempDir();
    const runDir = path.join(dir, 'run');
    const empty = writeJsonl(path.join(dir, 'empty.jsonl'), []);
    const bad = writeJsonl(path.join(dir, 'bad.jsonl'), [
      '{not json',
      JSON.stringify({ messages: [{ role: 'user', content: 'no answer' }] }),
    ]);
    for (const [inputs, why] of [
      [[empty], /gave no rows at all/],
      [[empty, bad], /gave 2 rows, none valid \(first rejected: .*bad\.jsonl:1 bad-json; .*bad\.jsonl:2/],
    ] as const) {
      const err = await ingestPoolFiles(runDir, config([...inputs])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toContain(`the pool is empty: ${inputs.join(', ')}`);
      expect((err as Error).message).toMatch(why);
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['pool.inputs']);
      expect(fs.existsSync(runLayout(runDir).pool.manifest)).toBe(false);
    }
  });

  it('a failed re-ingest (a truncated .gz added) leaves the previous pool, manifest and shards byte for byte', async () => {
    const dir = tempDir();
    const runDir = path.join(dir, 'run');
    const good = writeJsonl(
      path.join(dir, 'good.jsonl'),
      Array.from({ length: 10 }, (_, i) => tulu(`q${i}`, `a${i}`)),
    );
    const first = await ingestPoolFiles(runDir, config([good]));
    const poolDir = runLayout(runDir).pool.dir;
    const before = Object.fromEntries(fs.readdirSync(poolDir).map((n) => [n, fs.readFileSync(path.join(poolDir, n))]));
    expect(Object.keys(before)).toContain('manifest.json');
    const whole = writeJsonl(
      path.join(dir, 'more.jsonl.gz'),
      Array.from({ length: 5000 }, (_, i) => tulu(`more ${i} ${'x'.repeat(50)}`, `b${i}`)),
      true,
    );
    const truncated = path.join(dir, 'cut.jsonl.gz');
    fs.writeFileSync(truncated, fs.readFileSync(whole).subarray(0, 4000));
    await expect(ingestPoolFiles(runDir, config([good, truncated]))).rejects.toThrow(/cut\.jsonl\.gz/);
    const after = Object.fromEntries(fs.readdirSync(poolDir).map((n) => [n, fs.readFileSync(path.join(poolDir, n))]));
    expect(after).toEqual(before);
    // And the old pool is still the finished one for its own inputs.
    expect((await ingestPoolFiles(runDir, config([good]))).skipped).toBe(true);
    expect(first.manifest.counts.kept).toBe(10);
  });
});

describe('query sets', () => {
  it('normalises a query set with the same readers, reports rejects, keeps duplicates, rewrites only on change', async () => {
    const dir = tempDir();
    const file = writeJsonl(path.join(dir, 'q.jsonl'), [
      { instruction: 'q1', output: 'a1' },
      { instruction: 'q1', output: 'a1' },
      { instruction: 'q2' },
    ]);
    const runDir = path.join(dir, 'run');
    const r = await ingestQuerySet(runDir, { task: 'math', path: file, format: 'auto' }, 1 << 16);
    expect(r).toMatchObject({ task: 'math', rows: 2, rejected: 1, written: true });
    const rows = readJsonlFile(runLayout(runDir).queries.file('math')).map((x) => Example.parse(x));
    expect(rows).toHaveLength(2);
    expect(rows[0]!.id).not.toBe(rows[1]!.id);
    expect(readJsonlFile<RejectedRow>(r.rejectedFile!).map((x) => [x.line, x.reason])).toEqual([
      [3, 'missing-messages'],
    ]);
    const again = await ingestQuerySet(runDir, { task: 'math', path: file, format: 'auto' }, 1 << 16);
    expect(again.written).toBe(false);
  });

  it('a query set with no valid rows is an error naming the task and file', async () => {
    const dir = tempDir();
    const file = writeJsonl(path.join(dir, 'q.jsonl'), ['not json']);
    await expect(
      ingestQuerySet(path.join(dir, 'run'), { task: 't', path: file, format: 'auto' }, 1 << 16),
    ).rejects.toThrow(/"t".*q\.jsonl/);
  });
});

describe('ingestPool activity on the real pool', () => {
  it('ingests ../shared/data: per-source counts, dedup, queries, heartbeats, idempotent re-run', async () => {
    const pool = path.join(sharedData, 'pool.jsonl');
    if (!fs.existsSync(pool))
      throw new Error(`real data missing: expected ${pool} (the shared data directory beside the repo)`);
    const runDir = path.join(tempDir(), 'run');
    const heartbeats: Progress[] = [];
    const runtime = {
      heartbeat: (p: Progress) => heartbeats.push(p),
      signal: new AbortController().signal,
      log: () => {},
    };
    const input = {
      runDir,
      pool: { inputs: [pool], format: 'auto' as const, shardSize: 5000, maxRowBytes: 4 << 20 },
      queries: [
        { task: 'gsm8k', path: path.join(sharedData, 'queries', 'gsm8k.jsonl'), format: 'auto' as const },
        { task: 'general', path: path.join(sharedData, 'queries', 'general.jsonl'), format: 'auto' as const },
      ],
    };
    const out = await runWithRuntime(runtime, () => ingestPool(input));
    const manifest = PoolManifest.parse(JSON.parse(fs.readFileSync(runLayout(runDir).pool.manifest, 'utf8')));
    const readPerSource = Object.fromEntries(Object.entries(manifest.sources!).map(([k, s]) => [k, s.read]));
    expect(readPerSource).toEqual({ alpaca: 5000, code_alpaca: 6550, gsm8k: 7473 });
    // The shared pool has no duplicates and no bad rows, checked independently with the reference
    // code's dedup key (role + ': ' + content.strip() per turn, in python3 itself).
    const distinct = Number(
      execFileSync(
        'python3',
        [
          '-c',
          "import json,sys; print(len({'\\n'.join(m['role'] + ': ' + m['content'].strip() for m in json.loads(l)['messages']) for l in open(sys.argv[1]) if l.strip()}))",
          pool,
        ],
        { encoding: 'utf8' },
      ),
    );
    expect(manifest.counts).toEqual({ read: 19_023, kept: distinct, duplicate: 19_023 - distinct, rejected: 0 });
    expect(distinct).toBe(19_023);
    expect(out).toMatchObject({
      skipped: false,
      shards: 4,
      rows: 19_023,
      rejected: 0,
      duplicate: 0,
      tasks: ['gsm8k', 'general'],
    });
    expect(out.queries).toEqual({ gsm8k: { rows: 50, rejected: 0 }, general: { rows: 50, rejected: 0 } });
    expect(heartbeats.at(-1)).toMatchObject({
      stage: 'ingest',
      unit: 'bytes',
      done: fs.statSync(pool).size,
      total: fs.statSync(pool).size,
    });
    expect(new Set(poolRows(runDir).map((r) => r.id)).size).toBe(19_023);

    const again = await runWithRuntime(runtime, () => ingestPool(input));
    expect(again).toEqual({ ...out, skipped: true });
  });

  it('validates its input, naming the bad field', async () => {
    await expect(ingestPool({ runDir: '/tmp/x', pool: { inputs: [] }, queries: [] } as never)).rejects.toThrow(
      /pool\.inputs/,
    );
  });
});
