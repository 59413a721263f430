import type { RunConfig } from '@rds/schemas';

/** Environment variables a submitted webhook trigger may name as its HMAC secret. */
export const WEBHOOK_SECRET_PREFIX = 'RDS_WEBHOOK_';

export interface TriggerPolicy {
  /** Whether a submitted config may run its handoff command on the server (RDS_API_ALLOW_COMMAND_TRIGGER). */
  allowCommands: boolean;
  /**
   * Hosts (`name` or `name:port`, lower case) a submitted webhook may POST to (RDS_WEBHOOK_HOSTS).
   * None: webhook triggers are refused, as the server would otherwise send requests wherever a
   * requester points it (internal services, cloud metadata endpoints).
   */
  webhookHosts?: readonly string[];
}

/**
 * RDS_WEBHOOK_HOSTS: comma-separated host names, each optionally with :port. Throws naming the
 * variable on an entry that is not a bare host (a scheme, path or credentials).
 */
export function parseWebhookHosts(raw: string | undefined): string[] {
  const hosts = (raw ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  for (const h of hosts) {
    let ok = false;
    try {
      const u = new URL(`http://${h}`);
      ok = u.host === h || u.hostname === h;
    } catch {
      ok = false;
    }
    if (!ok) throw new Error(`RDS_WEBHOOK_HOSTS: "${h}" is not a host name (give hosts like hooks.example.com or trainer.internal:8443, comma-separated)`);
  }
  return hosts;
}

/**
 * What a config submitted over HTTP may make the server do besides reading and writing files under
 * the roots. A `command` trigger with `run: true` executes a shell command on the API process (local
 * backend) or a worker, so it is refused unless the operator allows it. A webhook signs with the
 * environment variable it names: only RDS_WEBHOOK_* ones, so a request cannot make the server key
 * an HMAC it sends to a URL of the requester's choosing with, say, its own API tokens or cloud keys;
 * and it may only call the hosts the operator listed (redirects are not followed, see sendWebhook).
 * Returns the issues in the shape of schema errors.
 */
export function triggerIssues(config: RunConfig, policy: TriggerPolicy): { path: string; message: string }[] {
  const trigger = config.handoff.trigger;
  if (trigger.kind === 'command' && trigger.run && !policy.allowCommands) {
    return [{ path: 'handoff.trigger.run', message: 'running handoff commands is disabled on this server (the command is still rendered into the receipt with run: false)' }];
  }
  if (trigger.kind !== 'webhook') return [];
  const issues: { path: string; message: string }[] = [];
  const hosts = policy.webhookHosts ?? [];
  const url = new URL(trigger.url); // the schema checked it parses
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    issues.push({ path: 'handoff.trigger.url', message: `must be an http(s) URL, not ${url.protocol}` });
  } else if (hosts.length === 0) {
    issues.push({ path: 'handoff.trigger.url', message: 'webhook triggers are disabled on this server (the operator allows hosts in RDS_WEBHOOK_HOSTS)' });
  } else if (!hosts.includes(url.host.toLowerCase()) && !hosts.includes(url.hostname.toLowerCase())) {
    issues.push({ path: 'handoff.trigger.url', message: `host ${url.host} is not one this server may call (RDS_WEBHOOK_HOSTS: ${hosts.join(', ')})` });
  }
  if (!(trigger.secretEnv.startsWith(WEBHOOK_SECRET_PREFIX) && trigger.secretEnv.length > WEBHOOK_SECRET_PREFIX.length)) {
    issues.push({ path: 'handoff.trigger.secretEnv', message: `must name an environment variable starting with ${WEBHOOK_SECRET_PREFIX}` });
  }
  return issues;
}
