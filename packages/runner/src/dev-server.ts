import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import { temporalCliPath, temporalCliVersion } from '../../../scripts/temporal-cli.mjs';

/**
 * The one opt-out for tests that need a Temporal server: `RDS_SKIP_TEMPORAL_TESTS=1` skips them
 * (e.g. on a laptop without Go). CI never sets it; without it a missing CLI fails those tests.
 */
export const SKIP_TEMPORAL_TESTS = 'RDS_SKIP_TEMPORAL_TESTS';

/** The reason to skip Temporal tests, or null (the default: they run, and fail without a server). */
export function temporalTestsOptOut(env: NodeJS.ProcessEnv = process.env): string | null {
  return env[SKIP_TEMPORAL_TESTS] === '1' ? `${SKIP_TEMPORAL_TESTS}=1` : null;
}

export interface DevServer {
  /** host:port of the frontend (127.0.0.1, a free port). */
  address: string;
  namespace: string;
  client: Client;
  /** Environment for child processes (workers, the CLI) so they connect here. */
  childEnv: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Start `temporal server start-dev` (the official CLI built by `node scripts/temporal-cli.mjs install`)
 * on 127.0.0.1 and a free port, headless, state in memory, through @temporalio/testing. A port taken
 * between being picked and bound is retried. `stop()` ends the server process.
 */
export async function startDevServer(
  opts: { attempts?: number; /** Namespaces to create besides `default`. */ namespaces?: string[] } = {},
): Promise<DevServer> {
  const bin = temporalCliPath();
  if (!temporalCliVersion(bin)) {
    throw new Error(
      `the Temporal CLI is not installed at ${bin}: run \`node scripts/temporal-cli.mjs install\` (needs Go), ` +
        `or set RDS_TEMPORAL_CLI to a temporal binary; ${SKIP_TEMPORAL_TESTS}=1 skips the tests that need it`,
    );
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.attempts ?? 3); attempt++) {
    try {
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: bin },
          ip: '127.0.0.1',
          ui: false,
          log: { format: 'pretty', level: 'error' },
          extraArgs: (opts.namespaces ?? []).flatMap((n) => ['--namespace', n]),
        },
      });
      const namespace = env.namespace ?? 'default';
      return {
        address: env.address,
        namespace,
        client: env.client,
        childEnv: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: namespace },
        stop: () => env.teardown(),
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(
    `could not start the Temporal dev server (${bin}): ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    { cause: lastError },
  );
}
