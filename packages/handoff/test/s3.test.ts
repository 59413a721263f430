import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client, runHandoff } from '../src/index.js';
import { readJsonl, tempDir, writeRun } from './fixtures.js';

/** A real S3-compatible server (s3rver, pure JS) on a random loopback port. */
let server: S3rver;
let endpoint = '';
let storeDir = '';
const dirs: string[] = [];

beforeAll(async () => {
  storeDir = await tempDir('rds-s3rver-');
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: storeDir });
  const addr = await server.run();
  endpoint = `http://127.0.0.1:${addr.port}`;
  // s3rver checks signatures against its fixed credentials; the SDK reads them from the standard env vars.
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
});
afterAll(async () => {
  await server.close();
  await Promise.all([storeDir, ...dirs].map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('S3 destination', () => {
  it('uploads dataset, card, README and histogram (multipart for large files) and reads them back', async () => {
    const f = await writeRun({ rows: 300, budget: 200 });
    dirs.push(f.runDir);
    const dest = {
      kind: 's3',
      bucket: 'datasets',
      prefix: '/runs/r1/',
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
    } as const;
    const client = s3Client(dest);
    await client.send(new CreateBucketCommand({ Bucket: 'datasets' }));
    const input = {
      runDir: f.runDir,
      runId: 'r1',
      handoff: {
        format: 'tulu',
        order: 'selection',
        includeMetadata: false,
        destination: dest,
        trigger: { kind: 'none' },
      },
    } as never;
    // 8 KiB parts: the ~20 KB training file goes up as a multipart upload.
    const res = await runHandoff(input, { s3PartBytes: 8 << 10 });
    expect(res.location).toBe('s3://datasets/runs/r1');
    expect(res.card.dataset.bytes).toBeGreaterThan(2 * (8 << 10));

    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'datasets', Prefix: 'runs/r1/' }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([
      'runs/r1/README.md',
      'runs/r1/card.json',
      'runs/r1/scores.svg',
      'runs/r1/train.jsonl',
    ]);
    const got = await client.send(new GetObjectCommand({ Bucket: 'datasets', Key: 'runs/r1/train.jsonl' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(res.card.dataset.sha256);
    expect(got.Metadata?.sha256).toBe(res.card.dataset.sha256);
    const local = path.join(f.runDir, 'handoff', 'train.jsonl');
    expect(bytes.equals(await fsp.readFile(local))).toBe(true);
    expect((await readJsonl(local)).map((r) => r.id)).toEqual(f.selected.map((s) => s.id));
    const card = JSON.parse(
      await (
        await client.send(new GetObjectCommand({ Bucket: 'datasets', Key: 'runs/r1/card.json' }))
      ).Body!.transformToString(),
    ) as { dataset: { rows: number } };
    expect(card.dataset.rows).toBe(200);
    expect(res.receipt.files.map((x) => x.file)).toEqual(['train.jsonl', 'scores.svg', 'README.md', 'card.json']);

    const again = await runHandoff(input, { s3PartBytes: 8 << 10 });
    expect(again).toMatchObject({ skipped: true, materialised: false });
  });
});

describe('S3 endpoint redirects', () => {
  it('are not followed: a 307 to another host fails the upload and the other host hears nothing', async () => {
    const http = await import('node:http');
    let elsewhere = 0;
    const target = http.createServer((_req, res) => {
      elsewhere++;
      res.end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
    const redirector = http.createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${targetUrl}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const f = await writeRun({ rows: 20, budget: 5 });
      dirs.push(f.runDir);
      const dest = {
        kind: 's3',
        bucket: 'datasets',
        prefix: '',
        endpoint: `http://127.0.0.1:${(redirector.address() as { port: number }).port}`,
        region: 'us-east-1',
        forcePathStyle: true,
      } as const;
      const input = {
        runDir: f.runDir,
        runId: 'r2',
        handoff: {
          format: 'tulu',
          order: 'selection',
          includeMetadata: false,
          destination: dest,
          trigger: { kind: 'none' },
        },
      } as never;
      await expect(runHandoff(input)).rejects.toThrow();
      expect(elsewhere).toBe(0);
    } finally {
      await new Promise((r) => redirector.close(r));
      await new Promise((r) => target.close(r));
    }
  });
});
