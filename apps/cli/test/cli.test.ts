import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../bin/rds.mjs');

function rds(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('rds command line', () => {
  it('lists commands, and exits 2 naming an unknown command', () => {
    const help = rds('--help');
    expect(help.code).toBe(0);
    for (const c of ['ingest', 'embed', 'score', 'select', 'handoff', 'run', 'submit', 'status'])
      expect(help.out).toContain(`  ${c} `);
    const bad = rds('frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown command "frobnicate"');
  });

  it('names a missing or unknown flag', () => {
    const missing = rds('ingest', '--out', '/tmp/x');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('--input is required');
    const unknown = rds('select', '--run', '/tmp/x', '--bogus', '1');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/rds select: .*bogus/);
  });

  it('names a --run directory that does not exist, for every command that works on a run', () => {
    for (const command of ['score', 'select', 'embed', 'handoff']) {
      const r = rds(command, '--run', '/nonexistent/rds-run');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`rds ${command}: --run /nonexistent/rds-run: no such run directory`);
    }
  });

  it('rejects a bad run config with the file and every bad field path, before doing any work', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-cli-'));
    const cfg = path.join(dir, 'config.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        runDir: 'run',
        pool: { inputs: [] },
        queries: [{ task: 'a b', path: 'q.jsonl' }],
        model: { dir: 'm' },
        selection: { budget: 0 },
      }),
    );
    const r = rds('run', '--config', cfg);
    expect(r.code).toBe(2);
    for (const field of ['pool.inputs', 'queries[0].task', 'selection.budget']) expect(r.err).toContain(field);
    expect(fs.existsSync(path.join(dir, 'run'))).toBe(false);
    fs.writeFileSync(cfg, '{ not json');
    const r2 = rds('run', '--config', cfg);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(cfg);
  });
});
