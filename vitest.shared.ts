import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));
/** The project being tested (vitest runs in its directory): `@rds/runner` -> `rds-runner`. */
const project = (JSON.parse(fs.readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) as { name: string }).name
  .replace(/^@/, '')
  .replace(/\//g, '-');

/**
 * Shared vitest settings. Packages export their TypeScript sources under the `@rds/source`
 * condition, so tests run against source without a build step. Each project also writes a JSON
 * report to test-results/vitest/<project>.json, which scripts/test-summary.mjs (run by .ci/run)
 * turns into one line per project and a failure if any test was skipped.
 */
export default defineConfig({
  resolve: { conditions: ['@rds/source', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@rds/source', 'node', 'import', 'default'], externalConditions: ['@rds/source'] } },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: [path.join(root, 'vitest.setup.ts')],
    reporters: ['default', ['json', { outputFile: path.join(root, 'test-results', 'vitest', `${project}.json`) }]],
  },
});
