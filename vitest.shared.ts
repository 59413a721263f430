import { defineConfig } from 'vitest/config';

/**
 * Shared vitest settings. Packages export their TypeScript sources under the `@rds/source`
 * condition, so tests run against source without a build step.
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
  },
});
