import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../vitest.shared.js';

// protobuf-long: the Temporal client decodes int64 fields (describe(), histories) as in a plain node process.
export default mergeConfig(
  shared,
  defineConfig({
    test: { include: ['e2e/**/*.test.ts'], testTimeout: 600_000, setupFiles: ['../workflows/test/protobuf-long.ts'] },
  }),
);
