import type { RunConfig } from '@rds/schemas';

/** Environment variables a submitted webhook trigger may name as its HMAC secret. */
export const WEBHOOK_SECRET_PREFIX = 'RDS_WEBHOOK_';

export interface TriggerPolicy {
  /** Whether a submitted config may run its handoff command on the server (RDS_API_ALLOW_COMMAND_TRIGGER). */
  allowCommands: boolean;
}

/**
 * What a config submitted over HTTP may make the server do besides reading and writing files under
 * the roots. A `command` trigger with `run: true` executes a shell command on the API process (local
 * backend) or a worker, so it is refused unless the operator allows it. A webhook signs with the
 * environment variable it names: only RDS_WEBHOOK_* ones, so a request cannot make the server key
 * an HMAC it sends to a URL of the requester's choosing with, say, its own API tokens or cloud keys.
 * Returns the issues in the shape of schema errors.
 */
export function triggerIssues(config: RunConfig, policy: TriggerPolicy): { path: string; message: string }[] {
  const trigger = config.handoff.trigger;
  if (trigger.kind === 'command' && trigger.run && !policy.allowCommands) {
    return [{ path: 'handoff.trigger.run', message: 'running handoff commands is disabled on this server (the command is still rendered into the receipt with run: false)' }];
  }
  if (trigger.kind === 'webhook' && !(trigger.secretEnv.startsWith(WEBHOOK_SECRET_PREFIX) && trigger.secretEnv.length > WEBHOOK_SECRET_PREFIX.length)) {
    return [{ path: 'handoff.trigger.secretEnv', message: `must name an environment variable starting with ${WEBHOOK_SECRET_PREFIX}` }];
  }
  return [];
}
