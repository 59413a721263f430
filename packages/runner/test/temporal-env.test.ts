import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@rds/schemas';
import { temporalConnectOptions } from '@rds/artifacts';
import { resolveConfigPaths, temporalSettingsFromEnv } from '../src/index.js';

describe('temporalSettingsFromEnv', () => {
  it('defaults to a local dev server without TLS', () => {
    expect(temporalSettingsFromEnv({})).toEqual({ address: 'localhost:7233', namespace: 'default' });
  });

  it('reads mTLS certificate files named by the environment', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rds-tls-'));
    await fs.writeFile(path.join(dir, 'c.pem'), 'CERT');
    await fs.writeFile(path.join(dir, 'k.pem'), 'KEY');
    const s = temporalSettingsFromEnv({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_TLS_CERT: path.join(dir, 'c.pem'),
      TEMPORAL_TLS_KEY: path.join(dir, 'k.pem'),
    });
    expect(s.address).toBe('ns.acct.tmprl.cloud:7233');
    expect(s.tls?.clientCertPair?.crt.toString()).toBe('CERT');
    expect(s.tls?.clientCertPair?.key.toString()).toBe('KEY');
    await fs.rm(dir, { recursive: true });
  });

  it('an API key turns TLS on and reaches the connect options (client and worker take the same)', () => {
    const s = temporalSettingsFromEnv({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'key-1',
    });
    expect(s).toEqual({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', apiKey: 'key-1', tls: {} });
    expect(temporalConnectOptions(s)).toEqual({ address: 'ns.acct.tmprl.cloud:7233', apiKey: 'key-1', tls: {} });
    expect(temporalConnectOptions(temporalSettingsFromEnv({}))).toEqual({ address: 'localhost:7233' });
  });

  it('names the bad variable', () => {
    expect(() => temporalSettingsFromEnv({ TEMPORAL_ADDRESS: 'no-port' })).toThrow(
      /TEMPORAL_ADDRESS: expected host:port/,
    );
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CERT: '/x' })).toThrow(ValidationError);
    expect(() => temporalSettingsFromEnv({ TEMPORAL_TLS_CERT: '/nope/c', TEMPORAL_TLS_KEY: '/nope/k' })).toThrow(
      /TEMPORAL_TLS_CERT=\/nope\/c: ENOENT/,
    );
  });
});

describe('resolveConfigPaths', () => {
  it('resolves relative paths against the config file directory and leaves absolute ones', () => {
    const c = resolveConfigPaths(
      {
        runDir: 'runs/x',
        pool: { inputs: ['data/*.jsonl', '/abs/p.jsonl'] },
        queries: [{ task: 't', path: 'q.jsonl' }],
        model: { dir: '../models/m' },
        selection: { budget: 1 },
        handoff: { destination: { kind: 'local', dir: 'out' } },
      },
      '/cfg/dir',
    );
    expect(c).toMatchObject({
      runDir: '/cfg/dir/runs/x',
      pool: { inputs: ['/cfg/dir/data/*.jsonl', '/abs/p.jsonl'] },
      queries: [{ task: 't', path: '/cfg/dir/q.jsonl' }],
      model: { dir: '/cfg/models/m' },
      handoff: { destination: { kind: 'local', dir: '/cfg/dir/out' } },
    });
    expect(resolveConfigPaths('nonsense', '/x')).toBe('nonsense');
  });
});
