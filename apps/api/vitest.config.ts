import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// protobuf-long: the Temporal client and the in-process worker (test/backends.test.ts) decode int64
// fields (timestamps, describe(), histories) as in a plain node process.
export default mergeConfig(shared, defineConfig({ test: { setupFiles: ['../../workflows/test/protobuf-long.ts'] } }));
