import fs from 'node:fs';
import { z } from 'zod';
import { parseOrThrow } from '@rds/schemas';

const TemporalEnv = z
  .object({
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[^\s:]+:\d+$/, 'expected host:port')
      .default('localhost:7233'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    /** Client certificate and key (PEM files) for mTLS, e.g. Temporal Cloud. */
    TEMPORAL_TLS_CERT: z.string().min(1).optional(),
    TEMPORAL_TLS_KEY: z.string().min(1).optional(),
    /** CA bundle for a server with a private CA. */
    TEMPORAL_TLS_CA: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    /** Use TLS with the system roots and no client certificate. */
    TEMPORAL_TLS: z.enum(['0', '1', 'true', 'false']).optional(),
    /** API key (Temporal Cloud API-key auth); implies TLS. */
    TEMPORAL_API_KEY: z.string().min(1).optional(),
  })
  .refine((e) => !e.TEMPORAL_TLS_CERT === !e.TEMPORAL_TLS_KEY, {
    message: 'set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or neither',
    path: ['TEMPORAL_TLS_CERT'],
  });

export interface TemporalTls {
  clientCertPair?: { crt: Buffer; key: Buffer };
  serverRootCACertificate?: Buffer;
  serverNameOverride?: string;
}

/**
 * How every Temporal connection of the project connects (worker, CLI, API, the handoff's temporal
 * trigger): one reading of TEMPORAL_* so none of them can ignore a setting the others honour.
 */
export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  /** Present when TLS is on; the same shape the client's Connection and the worker's NativeConnection take. */
  tls?: TemporalTls;
}

/** Temporal connection settings from the environment (validated; certificate files are read here). */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalConnectionSettings {
  const e = parseOrThrow(TemporalEnv, pickTemporal(env), 'Temporal environment');
  const read = (name: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${name}=${file}: ${(err as Error).message}`);
    }
  };
  const tlsOn =
    e.TEMPORAL_TLS === '1' ||
    e.TEMPORAL_TLS === 'true' ||
    !!e.TEMPORAL_TLS_CERT ||
    !!e.TEMPORAL_TLS_CA ||
    !!e.TEMPORAL_API_KEY;
  const base = {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
  };
  if (!tlsOn) return base;
  return {
    ...base,
    tls: {
      ...(e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY
        ? {
            clientCertPair: {
              crt: read('TEMPORAL_TLS_CERT', e.TEMPORAL_TLS_CERT),
              key: read('TEMPORAL_TLS_KEY', e.TEMPORAL_TLS_KEY),
            },
          }
        : {}),
      ...(e.TEMPORAL_TLS_CA ? { serverRootCACertificate: read('TEMPORAL_TLS_CA', e.TEMPORAL_TLS_CA) } : {}),
      ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
    },
  };
}

/** The options both the client's Connection and the worker's NativeConnection take, from the settings. */
export function temporalConnectOptions(settings: TemporalConnectionSettings): {
  address: string;
  tls?: TemporalTls;
  apiKey?: string;
} {
  return {
    address: settings.address,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
}

function pickTemporal(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('TEMPORAL_') && v !== undefined && v !== '') out[k] = v;
  return out;
}
