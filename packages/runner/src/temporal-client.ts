import { Client, Connection } from '@temporalio/client';
import { temporalConnectOptions, temporalSettingsFromEnv, type TemporalConnectionSettings } from '@rds/artifacts';

/** A Temporal client for the CLI and the API; the caller closes `connection`. */
export async function connectTemporalClient(
  settings: TemporalConnectionSettings = temporalSettingsFromEnv(),
): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ ...temporalConnectOptions(settings), connectTimeout: '10s' }).catch(
    (err: unknown) => {
      throw unreachable(settings, err);
    },
  );
  return { client: new Client({ connection, namespace: settings.namespace }), connection };
}

/** A connection error that says where it tried and which variable to change. */
export function unreachable(settings: TemporalConnectionSettings, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(
    `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}; set TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE): ${reason}`,
    { cause: err },
  );
}
