import type { RunConfig } from '@rds/schemas';

/** Environment variables a submitted webhook trigger may name as its HMAC secret. */
export const WEBHOOK_SECRET_PREFIX = 'RDS_WEBHOOK_';

/** Temporal targets a submitted `temporal` trigger may reach (RDS_TEMPORAL_TRIGGER_*). */
export interface TemporalTriggerAllowList {
  namespaces: readonly string[];
  taskQueues: readonly string[];
  workflowTypes: readonly string[];
  /** Signal names a trigger may send to a running workflow (none: signalling is refused). */
  signals: readonly string[];
}

export interface TriggerPolicy {
  /** Whether a submitted config may run its handoff command on the server (RDS_API_ALLOW_COMMAND_TRIGGER). */
  allowCommands: boolean;
  /**
   * Hosts (`name` or `name:port`, lower case) a submitted webhook may POST to (RDS_WEBHOOK_HOSTS).
   * None: webhook triggers are refused, as the server would otherwise send requests wherever a
   * requester points it (internal services, cloud metadata endpoints).
   */
  webhookHosts?: readonly string[];
  /**
   * Hosts an S3 destination may upload to (RDS_S3_ENDPOINTS); without an `endpoint` the destination
   * is AWS itself, `s3.<region>.amazonaws.com`, which must be listed too. None: S3 destinations are
   * refused, as the server signs those requests with its own AWS credentials and sends the data.
   */
  s3Endpoints?: readonly string[];
  /** None (or an empty list): temporal triggers are refused. */
  temporal?: TemporalTriggerAllowList;
}

/**
 * A comma-separated list of host names, each optionally with :port, lower-cased. Throws naming the
 * variable on an entry that is not a bare host (a scheme, path or credentials).
 */
export function parseHostList(variable: string, raw: string | undefined): string[] {
  const hosts = (raw ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const h of hosts) {
    let ok = false;
    try {
      const u = new URL(`http://${h}`);
      ok = u.host === h || u.hostname === h;
    } catch {
      ok = false;
    }
    if (!ok)
      throw new Error(
        `${variable}: "${h}" is not a host name (give hosts like hooks.example.com or trainer.internal:8443, comma-separated)`,
      );
  }
  return hosts;
}

/** RDS_WEBHOOK_HOSTS (see parseHostList). */
export const parseWebhookHosts = (raw: string | undefined): string[] => parseHostList('RDS_WEBHOOK_HOSTS', raw);

/** A comma-separated list of names (namespaces, task queues, workflow types, signals); blanks dropped. */
export function parseNameList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
}

type Issue = { path: string; message: string };

/** Whether `url` is an http(s) URL without credentials on one of `hosts` (`name` or `name:port`). */
function hostIssue(url: URL, hosts: readonly string[], variable: string, what: string): string | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an http(s) URL, not ${url.protocol}`;
  if (url.username || url.password) return 'must not carry credentials';
  if (hosts.length === 0) return `${what} are disabled on this server (the operator allows hosts in ${variable})`;
  if (!hosts.includes(url.host.toLowerCase()) && !hosts.includes(url.hostname.toLowerCase())) {
    return `host ${url.host} is not one this server may call (${variable}: ${hosts.join(', ')})`;
  }
  return null;
}

function destinationIssues(config: RunConfig, policy: TriggerPolicy): Issue[] {
  const dest = config.handoff.destination;
  if (dest.kind !== 's3') return [];
  const hosts = policy.s3Endpoints ?? [];
  if (dest.endpoint === undefined) {
    if (!/^[a-z0-9-]+$/.test(dest.region))
      return [{ path: 'handoff.destination.region', message: 'must be an AWS region name like us-east-1' }];
    const aws = `s3.${dest.region}.amazonaws.com`;
    if (hosts.includes(aws)) return [];
    return [
      {
        path: 'handoff.destination.endpoint',
        message:
          hosts.length === 0
            ? 'S3 destinations are disabled on this server (the operator allows endpoints in RDS_S3_ENDPOINTS)'
            : `AWS S3 (${aws}) is not an endpoint this server may upload to (RDS_S3_ENDPOINTS: ${hosts.join(', ')})`,
      },
    ];
  }
  const problem = hostIssue(new URL(dest.endpoint), hosts, 'RDS_S3_ENDPOINTS', 'S3 destinations');
  return problem ? [{ path: 'handoff.destination.endpoint', message: problem }] : [];
}

function temporalIssues(
  trigger: Extract<RunConfig['handoff']['trigger'], { kind: 'temporal' }>,
  allow: TemporalTriggerAllowList | undefined,
): Issue[] {
  const lists = allow ?? { namespaces: [], taskQueues: [], workflowTypes: [], signals: [] };
  if (lists.namespaces.length === 0 || (lists.workflowTypes.length === 0 && lists.signals.length === 0)) {
    return [
      {
        path: 'handoff.trigger',
        message:
          'temporal triggers are disabled on this server (the operator allows them in RDS_TEMPORAL_TRIGGER_NAMESPACES and RDS_TEMPORAL_TRIGGER_WORKFLOWS / _TASK_QUEUES / _SIGNALS)',
      },
    ];
  }
  const issues: Issue[] = [];
  const check = (field: string, value: string, list: readonly string[], variable: string) => {
    if (!list.includes(value))
      issues.push({
        path: `handoff.trigger.${field}`,
        message: `"${value}" is not allowed on this server (${variable}: ${list.join(', ') || 'none'})`,
      });
  };
  check('namespace', trigger.namespace, lists.namespaces, 'RDS_TEMPORAL_TRIGGER_NAMESPACES');
  if (trigger.signal !== undefined) {
    check('signal', trigger.signal, lists.signals, 'RDS_TEMPORAL_TRIGGER_SIGNALS');
  } else {
    check('workflowType', trigger.workflowType, lists.workflowTypes, 'RDS_TEMPORAL_TRIGGER_WORKFLOWS');
    check('taskQueue', trigger.taskQueue, lists.taskQueues, 'RDS_TEMPORAL_TRIGGER_TASK_QUEUES');
  }
  return issues;
}

/**
 * What a config submitted over HTTP may make the server do besides reading and writing files under
 * the roots. A `command` trigger with `run: true` executes a shell command on the API process (local
 * backend) or a worker, so it is refused unless the operator allows it. A webhook signs with the
 * environment variable it names: only RDS_WEBHOOK_* ones, so a request cannot make the server key
 * an HMAC it sends to a URL of the requester's choosing with, say, its own API tokens or cloud keys;
 * and it may only call the hosts the operator listed (redirects are not followed, see sendWebhook).
 * S3 destinations may only use the listed endpoints, temporal triggers only the listed namespaces,
 * task queues, workflow types and signals. Returns the issues in the shape of schema errors.
 */
export function triggerIssues(config: RunConfig, policy: TriggerPolicy): Issue[] {
  const issues = destinationIssues(config, policy);
  const trigger = config.handoff.trigger;
  if (trigger.kind === 'command' && trigger.run && !policy.allowCommands) {
    issues.push({
      path: 'handoff.trigger.run',
      message:
        'running handoff commands is disabled on this server (the command is still rendered into the receipt with run: false)',
    });
  }
  if (trigger.kind === 'temporal') issues.push(...temporalIssues(trigger, policy.temporal));
  if (trigger.kind !== 'webhook') return issues;
  const problem = hostIssue(new URL(trigger.url), policy.webhookHosts ?? [], 'RDS_WEBHOOK_HOSTS', 'webhook triggers'); // the schema checked it parses
  if (problem) issues.push({ path: 'handoff.trigger.url', message: problem });
  if (!(
    trigger.secretEnv.startsWith(WEBHOOK_SECRET_PREFIX) && trigger.secretEnv.length > WEBHOOK_SECRET_PREFIX.length
  )) {
    issues.push({
      path: 'handoff.trigger.secretEnv',
      message: `must name an environment variable starting with ${WEBHOOK_SECRET_PREFIX}`,
    });
  }
  return issues;
}
