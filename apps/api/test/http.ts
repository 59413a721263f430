import type { RunConfigInput } from '@rds/schemas';

/** A response as the API tests look at it: status, headers, the raw text and the parsed JSON body (null when not JSON). */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export interface CallOptions {
  /** Bearer token; null sends none. */
  token?: string | null;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** A fetch-based caller of a listening API at `base`, sending `defaultToken` unless told otherwise. */
export function apiCaller(base: () => string, defaultToken: string) {
  return async function call(method: string, url: string, opts: CallOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? defaultToken : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base() + url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON (the UI's HTML) */
    }
    return { status: res.status, headers: res.headers, text, json: json as Record<string, unknown> };
  };
}

/** Poll `probe` until it returns something truthy (a state the run reaches, never a fixed delay); fail after `ms`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  ms = 30_000,
  everyMs = 20,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A run over the examples data (copied into the test's data root): 300 rows in 3 shards, two query sets. */
export function exampleRunConfig(runDir: string, overrides: Partial<RunConfigInput> = {}): RunConfigInput {
  return {
    runDir,
    pool: { inputs: ['pool.jsonl'], shardSize: 100 },
    queries: [
      { task: 'math', path: 'queries/math.jsonl' },
      { task: 'code', path: 'queries/code.jsonl' },
    ],
    model: { dir: 'model' },
    selection: { strategy: 'round-robin-queries', budget: 24, seed: 7 },
    ...overrides,
  };
}
