import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

// Each test file gets an empty embedding cache (children it spawns inherit the variable), so no
// file sees rows another file embedded. Tests of the cache itself pass their own directories.
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-test-embedding-cache-'));
process.env.RDS_EMBEDDING_CACHE_DIR = cacheDir;
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
