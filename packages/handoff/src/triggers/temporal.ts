import { temporalConnectOptions, temporalSettingsFromEnv, type TemporalConnectionSettings } from '@rds/artifacts';
import { ValidationError, type Trigger } from '@rds/schemas';
import type { HandoffPayload } from './payload.js';

type TemporalTrigger = Extract<Trigger, { kind: 'temporal' }>;

/** Everything the client call needs, built without a connection so it can be checked on its own. */
export type TemporalTriggerPlan = (
  | {
      action: 'start';
      address: string;
      namespace: string;
      workflowType: string;
      options: {
        taskQueue: string;
        workflowId: string;
        args: [HandoffPayload];
        workflowIdReusePolicy: 'REJECT_DUPLICATE';
      };
    }
  | { action: 'signal'; address: string; namespace: string; workflowId: string; signal: string; args: [HandoffPayload] }
) & { connection: TemporalConnectionSettings };

/**
 * Start `workflowType` on the trigger's namespace/task queue with a workflowId derived from the
 * idempotency key (REJECT_DUPLICATE: a second start, even after the first finished, is a no-op), or
 * signal the named running workflow. It connects as the worker does (TEMPORAL_ADDRESS, TLS files,
 * TEMPORAL_API_KEY: temporalSettingsFromEnv); the namespace is the trigger's, or TEMPORAL_NAMESPACE
 * when the trigger leaves it at `default`.
 */
export function temporalTriggerPlan(
  trigger: TemporalTrigger,
  payload: HandoffPayload,
  env: NodeJS.ProcessEnv = process.env,
): TemporalTriggerPlan {
  const settings = temporalSettingsFromEnv(env);
  const namespace = trigger.namespace !== 'default' ? trigger.namespace : settings.namespace;
  const connection = { ...settings, namespace };
  const address = settings.address;
  if (trigger.signal) {
    if (!trigger.workflowId)
      throw new ValidationError(
        `handoff.trigger: signal "${trigger.signal}" needs workflowId (the running workflow to signal)`,
      );
    return {
      action: 'signal',
      address,
      namespace,
      workflowId: trigger.workflowId,
      signal: trigger.signal,
      args: [payload],
      connection,
    };
  }
  return {
    action: 'start',
    address,
    namespace,
    connection,
    workflowType: trigger.workflowType,
    options: {
      taskQueue: trigger.taskQueue,
      // A fixed workflowId would make every baseline's start a rejected duplicate of the main one's.
      workflowId: trigger.workflowId
        ? payload.baseline
          ? `${trigger.workflowId}-${payload.name}`
          : trigger.workflowId
        : `rds-handoff-${payload.idempotencyKey}`,
      args: [payload],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    },
  };
}

export interface TemporalTriggerResult {
  status: 'started' | 'signalled';
  detail: string;
}

export async function runTemporalTrigger(
  plan: TemporalTriggerPlan,
  connectTimeoutMs = 10_000,
): Promise<TemporalTriggerResult> {
  // Loaded lazily: the client pulls in gRPC, which local handoffs without this trigger never need.
  const { Client, Connection, WorkflowExecutionAlreadyStartedError } = await import('@temporalio/client');
  let connection;
  try {
    connection = await Connection.connect({
      ...temporalConnectOptions(plan.connection),
      connectTimeout: connectTimeoutMs,
    });
  } catch (err) {
    throw new Error(
      `cannot reach the Temporal server at ${plan.address} (set TEMPORAL_ADDRESS, TEMPORAL_TLS_*, TEMPORAL_API_KEY): ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    const client = new Client({ connection, namespace: plan.namespace });
    if (plan.action === 'signal') {
      await client.workflow.getHandle(plan.workflowId).signal(plan.signal, ...plan.args);
      return { status: 'signalled', detail: `signalled ${plan.signal} on ${plan.workflowId} (${plan.namespace})` };
    }
    try {
      const handle = await client.workflow.start(plan.workflowType, plan.options);
      return {
        status: 'started',
        detail: `started ${plan.workflowType} ${handle.workflowId} run ${handle.firstExecutionRunId} on ${plan.options.taskQueue} (${plan.namespace})`,
      };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        return {
          status: 'started',
          detail: `${plan.options.workflowId} was already started (same idempotency key); nothing sent`,
        };
      }
      throw err;
    }
  } finally {
    await connection.close();
  }
}
