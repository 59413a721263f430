import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NonRetryableError, type HandoffPayload } from './payload.js';

export interface WebhookOptions {
  url: string;
  secret: string;
  payload: HandoffPayload;
  maxAttempts: number;
  /** Longest total wait between attempts (default 600 s): a retry that would start later is not made. */
  maxRetryMs?: number;
  signal: AbortSignal;
  /** First retry delay; doubles per attempt up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Longest Retry-After honoured (a server asking for hours should fail the attempt, not park the worker). */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
  log?: (message: string) => void;
  /**
   * How to honour a Retry-After: the activity passes `waitToRetry` (under Temporal the attempt fails
   * with nextRetryDelay and the server waits; locally it sleeps). Default: sleep here (cancellable).
   */
  retryAfter?: (ms: number, reason: string) => Promise<void>;
}

export interface WebhookResult {
  status: number;
  attempts: number;
  detail: string;
}

export function signBody(body: string, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * POST the payload as JSON, signed with `X-RDS-Signature: sha256=<HMAC-SHA256(body)>` and keyed with
 * `Idempotency-Key`. Network errors, 5xx and 429 are retried with exponential backoff (429/503
 * Retry-After honoured); any other 4xx, and a redirect (not followed), is a NonRetryableError; running out of attempts is a plain
 * (retryable) error so the activity's own retry policy can try again later.
 */
export async function sendWebhook(o: WebhookOptions): Promise<WebhookResult> {
  const body = JSON.stringify(o.payload);
  const headers = {
    'content-type': 'application/json',
    'x-rds-signature': signBody(body, o.secret),
    'idempotency-key': o.payload.idempotencyKey,
    'user-agent': 'rds-select-handoff',
  };
  const base = o.baseDelayMs ?? 500;
  const maxDelay = o.maxDelayMs ?? 30_000;
  const maxRetryAfter = o.maxRetryAfterMs ?? 300_000;
  let lastProblem = '';
  const retryBudget = o.maxRetryMs ?? 600_000;
  let waited = 0;
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    let wait = Math.min(maxDelay, base * 2 ** (attempt - 1));
    let res: Response | null = null;
    let text = '';
    try {
      // Redirects are not followed: they could carry the signed payload to a host nobody allowed
      // (the API checks the configured URL's host only). A 3xx fails like any other 4xx.
      res = await fetch(o.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs ?? 30_000)]),
      });
      text = (await res.text()).slice(0, 500);
    } catch (err) {
      if (o.signal.aborted) throw err;
      lastProblem = `network error: ${describe(err)}`;
      res = null;
    }
    if (res) {
      const answer = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
      if (res.ok) return { status: res.status, attempts: attempt, detail: answer };
      lastProblem = answer;
      if (res.status !== 429 && res.status < 500)
        throw new NonRetryableError(`webhook ${o.url} refused the handoff (${answer}); not retrying`);
      const after = retryAfterMs(res.headers.get('retry-after'));
      if (after !== null) {
        if (after > maxRetryAfter)
          throw new Error(
            `webhook ${o.url}: Retry-After ${Math.round(after / 1000)}s exceeds ${maxRetryAfter / 1000}s (${answer})`,
          );
        if (o.retryAfter && attempt < o.maxAttempts) {
          // The server's wait counts against maxRetrySeconds too, whoever does the waiting.
          if (waited + after > retryBudget) throw new Error(pastBudget(o.url, attempt, retryBudget, answer));
          waited += after;
          o.log?.(`webhook attempt ${attempt}/${o.maxAttempts}: ${answer}; the server asks to retry in ${after} ms`);
          await o.retryAfter(after, `webhook ${o.url}: ${answer}`);
          continue;
        }
        wait = after;
      }
    }
    if (attempt < o.maxAttempts) {
      if (waited + wait > retryBudget) {
        throw new Error(pastBudget(o.url, attempt, retryBudget, lastProblem));
      }
      waited += wait;
      o.log?.(`webhook attempt ${attempt}/${o.maxAttempts} failed (${lastProblem}); retrying in ${wait} ms`);
      await sleep(wait, undefined, { signal: o.signal });
    }
  }
  throw new Error(`webhook ${o.url}: no success after ${o.maxAttempts} attempts (last: ${lastProblem})`);
}

function pastBudget(url: string, attempt: number, budgetMs: number, last: string): string {
  return `webhook ${url}: no success after ${attempt} attempts; the next would start past maxRetrySeconds (${budgetMs / 1000}s) (last: ${last})`;
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
