import { Client, Connection } from '@temporalio/client';
import { temporalSettingsFromEnv, type TemporalConnectionSettings } from './temporal-env.js';

/** A Temporal client for the CLI and the API; the caller closes `connection`. */
export async function connectTemporalClient(settings: TemporalConnectionSettings = temporalSettingsFromEnv()): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: settings.address, ...(settings.tls ? { tls: settings.tls } : {}), connectTimeout: '10s' });
  return { client: new Client({ connection, namespace: settings.namespace }), connection };
}
