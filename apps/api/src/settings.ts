import path from 'node:path';
import { connectTemporalClient, holdsFromEnv, LocalBackend, TemporalBackend, type RunBackend } from '@rds/runner';
import { activities } from '@rds/runner/activities';
import { TokenSet } from './auth.js';
import { DEFAULT_BODY_LIMIT } from './server.js';
import { parseHostList, parseNameList, parseWebhookHosts, type TemporalTriggerAllowList } from './trigger-policy.js';

export interface ApiSettings {
  host: string;
  port: number;
  backend: 'local' | 'temporal';
  tokens: TokenSet;
  dataRoots: string[];
  runsRoot: string;
  bodyLimit: number;
  corsOrigin: string | undefined;
  /** RDS_API_ALLOW_COMMAND_TRIGGER=1: submitted configs may run their handoff command on the server. */
  allowCommandTriggers: boolean;
  /** RDS_WEBHOOK_HOSTS: hosts submitted webhook triggers may call (none: webhooks refused). */
  webhookHosts: string[];
  /** RDS_S3_ENDPOINTS: hosts submitted S3 destinations may upload to (none: S3 destinations refused). */
  s3Endpoints: string[];
  /** RDS_TEMPORAL_TRIGGER_{NAMESPACES,TASK_QUEUES,WORKFLOWS,SIGNALS}: what submitted temporal triggers may reach (none: refused). */
  temporalTriggers: TemporalTriggerAllowList;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got "${raw}"`);
  return n;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new Error(`${name}: expected 1/true or 0/false, got "${env[name]}"`);
}

/** Settings from the environment (README "HTTP API and web UI"); throws naming the variable at fault. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiSettings {
  const backend = env.RDS_BACKEND ?? 'local';
  if (backend !== 'local' && backend !== 'temporal')
    throw new Error(`RDS_BACKEND: expected "local" or "temporal", got "${backend}"`);
  const tokens = TokenSet.fromEnv(env);
  if (tokens.size === 0)
    throw new Error(
      'no API tokens: set RDS_API_TOKENS (comma-separated, "ro:" prefix = read-only) or RDS_API_TOKENS_FILE',
    );
  const dataRoots = (env.RDS_DATA_ROOTS ?? '')
    .split(path.delimiter)
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => path.resolve(r));
  if (dataRoots.length === 0)
    throw new Error(`RDS_DATA_ROOTS: give the directories runs may read from ("${path.delimiter}"-separated)`);
  return {
    host: env.RDS_API_HOST ?? '127.0.0.1',
    port: positiveInt(env, 'RDS_API_PORT', 8080),
    backend,
    tokens,
    dataRoots,
    runsRoot: path.resolve(env.RDS_RUNS_ROOT ?? 'runs'),
    bodyLimit: positiveInt(env, 'RDS_API_BODY_LIMIT', DEFAULT_BODY_LIMIT),
    corsOrigin: env.RDS_CORS_ORIGIN || undefined,
    allowCommandTriggers: flag(env, 'RDS_API_ALLOW_COMMAND_TRIGGER'),
    webhookHosts: parseWebhookHosts(env.RDS_WEBHOOK_HOSTS),
    s3Endpoints: parseHostList('RDS_S3_ENDPOINTS', env.RDS_S3_ENDPOINTS),
    temporalTriggers: {
      namespaces: parseNameList(env.RDS_TEMPORAL_TRIGGER_NAMESPACES),
      taskQueues: parseNameList(env.RDS_TEMPORAL_TRIGGER_TASK_QUEUES),
      workflowTypes: parseNameList(env.RDS_TEMPORAL_TRIGGER_WORKFLOWS),
      signals: parseNameList(env.RDS_TEMPORAL_TRIGGER_SIGNALS),
    },
  };
}

/** The backend RDS_BACKEND names; `close` releases its connection. `runsRoot`: see LocalBackendOptions. */
export async function createBackend(
  kind: ApiSettings['backend'],
  log: (runId: string, message: string) => void,
  runsRoot?: string,
): Promise<{ backend: RunBackend; close: () => Promise<void> }> {
  if (kind === 'temporal') {
    const { client, connection } = await connectTemporalClient();
    return { backend: new TemporalBackend({ client }), close: () => connection.close() };
  }
  // With the runs root, runs from before a restart stay listed (interrupted ones as failed).
  const local = new LocalBackend({ activities: holdsFromEnv(activities), log, ...(runsRoot ? { runsRoot } : {}) });
  return { backend: local, close: () => cancelLocalRuns(local) };
}

const LIVE = new Set(['queued', 'running', 'paused']);

/**
 * Local runs live in this process: on shutdown each live one is cancelled and awaited, so its
 * status.json says cancelled instead of running forever (starting the same runDir again resumes it).
 */
export async function cancelLocalRuns(backend: LocalBackend, graceMs = 30_000): Promise<void> {
  const live = (await backend.list()).filter((r) => LIVE.has(r.state));
  // All cancels are issued in one synchronous pass, so a queued run cannot start as the active one ends.
  await Promise.all(live.map((r) => backend.cancel(r.runId).catch(() => {}))); // (or it finished meanwhile)
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  try {
    await Promise.race([Promise.all(live.map((r) => backend.wait(r.runId))), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
