/**
 * Builds Temporal workflow histories in the JSON form `temporal workflow show --output json` writes
 * (and Worker.runReplayHistory reads), so replay tests can pin the exact commands a workflow
 * produces for a scenario without a server. Payloads are encoded as the default payload
 * converter does (json/plain, base64).
 */
type Attrs = Record<string, unknown>;
export interface ChildRef {
  initiated: number;
  started: number;
  execution: { workflowId: string; runId: string };
  workflowType: string;
}
interface Event {
  eventId: string;
  eventTime: string;
  eventType: string;
  [attributes: string]: unknown;
}

export function jsonPayload(value: unknown) {
  if (value === undefined) {
    return { metadata: { encoding: b64('binary/null') } };
  }
  return { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) };
}
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const payloads = (values: unknown[]) => ({ payloads: values.map(jsonPayload) });

export class HistoryBuilder {
  private readonly events: Event[] = [];
  private time = Date.parse('2026-01-01T00:00:00Z');
  private activitySeq = 0;
  private lastCompletedWft = 0;

  constructor(private readonly taskQueue = 'cpu') {}

  private add(type: string, attrs: Attrs): number {
    const eventId = this.events.length + 1;
    this.time += 1000;
    const key = type.charAt(0).toLowerCase() + type.slice(1) + 'EventAttributes';
    const constant = 'EVENT_TYPE_' + type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
    this.events.push({
      eventId: String(eventId),
      eventTime: new Date(this.time).toISOString(),
      eventType: constant,
      [key]: attrs,
    });
    return eventId;
  }

  started(workflowType: string, args: unknown[], extra: Attrs = {}): this {
    this.add('WorkflowExecutionStarted', {
      workflowType: { name: workflowType },
      taskQueue: { name: this.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: payloads(args),
      workflowExecutionTimeout: '0s',
      workflowRunTimeout: '0s',
      workflowTaskTimeout: '10s',
      originalExecutionRunId: 'run-1',
      firstExecutionRunId: 'run-1',
      attempt: 1,
      identity: 'history-builder',
      ...extra,
    });
    return this;
  }

  /** Scheduled + Started + Completed; the commands of that task follow as events. */
  workflowTask(): this {
    const scheduled = this.add('WorkflowTaskScheduled', {
      taskQueue: { name: this.taskQueue },
      startToCloseTimeout: '10s',
      attempt: 1,
    });
    const started = this.add('WorkflowTaskStarted', {
      scheduledEventId: String(scheduled),
      identity: 'history-builder',
      requestId: `r${scheduled}`,
    });
    this.lastCompletedWft = this.add('WorkflowTaskCompleted', {
      scheduledEventId: String(scheduled),
      startedEventId: String(started),
      identity: 'history-builder',
    });
    return this;
  }

  /** ActivityTaskScheduled for the next activity command; returns its scheduled event id. */
  scheduleActivity(activityType: string, input: unknown, taskQueue = this.taskQueue): number {
    this.activitySeq += 1;
    return this.add('ActivityTaskScheduled', {
      activityId: String(this.activitySeq),
      activityType: { name: activityType },
      taskQueue: { name: taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: payloads([input]),
      scheduleToCloseTimeout: '0s',
      scheduleToStartTimeout: '0s',
      startToCloseTimeout: '60s',
      heartbeatTimeout: '0s',
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
    });
  }

  /** ActivityTaskStarted; attempt > 1 records a retried activity with its last failure. */
  startActivity(scheduledEventId: number, attempt = 1): number {
    return this.add('ActivityTaskStarted', {
      scheduledEventId: String(scheduledEventId),
      identity: 'history-builder',
      requestId: `a${scheduledEventId}`,
      attempt,
      ...(attempt > 1
        ? {
            lastFailure: {
              message: 'worker lost',
              source: 'TypeScriptSDK',
              applicationFailureInfo: { type: 'Error', nonRetryable: false },
            },
          }
        : {}),
    });
  }

  completeActivity(scheduledEventId: number, startedEventId: number, result: unknown): this {
    this.add('ActivityTaskCompleted', {
      scheduledEventId: String(scheduledEventId),
      startedEventId: String(startedEventId),
      result: payloads([result]),
      identity: 'history-builder',
    });
    return this;
  }

  /** Schedule, start and complete one activity (then the next workflow task). */
  activity(
    activityType: string,
    input: unknown,
    result: unknown,
    opts: { taskQueue?: string; attempt?: number } = {},
  ): this {
    const s = this.scheduleActivity(activityType, input, opts.taskQueue);
    const st = this.startActivity(s, opts.attempt);
    return this.completeActivity(s, st, result).workflowTask();
  }

  signal(name: string, args: unknown[] = []): this {
    this.add('WorkflowExecutionSignaled', { signalName: name, input: payloads(args), identity: 'history-builder' });
    return this;
  }

  cancelRequested(): this {
    this.add('WorkflowExecutionCancelRequested', { cause: 'test', identity: 'history-builder' });
    return this;
  }

  activityCancelRequested(scheduledEventId: number): number {
    return this.add('ActivityTaskCancelRequested', {
      scheduledEventId: String(scheduledEventId),
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
    });
  }

  activityCanceled(scheduledEventId: number, startedEventId: number, cancelRequestedEventId: number): this {
    this.add('ActivityTaskCanceled', {
      scheduledEventId: String(scheduledEventId),
      startedEventId: String(startedEventId),
      latestCancelRequestedEventId: String(cancelRequestedEventId),
      details: payloads([]),
      identity: 'history-builder',
    });
    return this;
  }

  /** StartChildWorkflowExecutionInitiated + ChildWorkflowExecutionStarted (+ the workflow task that follows). */
  startChild(workflowType: string, workflowId: string, input: unknown, taskQueue = this.taskQueue): ChildRef {
    return this.childStarted(this.initiateChild(workflowType, workflowId, input, taskQueue));
  }

  /** StartChildWorkflowExecutionInitiated only: the server has not started the child yet. */
  initiateChild(
    workflowType: string,
    workflowId: string,
    input: unknown,
    taskQueue = this.taskQueue,
  ): Omit<ChildRef, 'started'> {
    const initiated = this.add('StartChildWorkflowExecutionInitiated', {
      namespace: 'default',
      workflowId,
      workflowType: { name: workflowType },
      taskQueue: { name: taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: payloads([input]),
      workflowExecutionTimeout: '0s',
      workflowRunTimeout: '0s',
      workflowTaskTimeout: '10s',
      parentClosePolicy: 'PARENT_CLOSE_POLICY_TERMINATE',
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
      workflowIdReusePolicy: 'WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE',
    });
    return { initiated, execution: { workflowId, runId: 'child-run-1' }, workflowType };
  }

  /** ChildWorkflowExecutionStarted for an initiated child (+ the workflow task that follows). */
  childStarted(child: Omit<ChildRef, 'started'>): ChildRef {
    const started = this.add('ChildWorkflowExecutionStarted', {
      namespace: 'default',
      initiatedEventId: String(child.initiated),
      workflowExecution: child.execution,
      workflowType: { name: child.workflowType },
    });
    this.workflowTask();
    return { ...child, started };
  }

  /** ChildWorkflowExecutionCompleted (+ the workflow task that follows). */
  completeChild(child: ChildRef, result: unknown): this {
    this.add('ChildWorkflowExecutionCompleted', {
      result: payloads([result]),
      namespace: 'default',
      workflowExecution: child.execution,
      workflowType: { name: child.workflowType },
      initiatedEventId: String(child.initiated),
      startedEventId: String(child.started),
    });
    return this.workflowTask();
  }

  /** A child workflow started, run and completed (with the workflow tasks the parent sees). */
  childWorkflow(
    workflowType: string,
    workflowId: string,
    input: unknown,
    result: unknown,
    taskQueue = this.taskQueue,
  ): this {
    return this.completeChild(this.startChild(workflowType, workflowId, input, taskQueue), result);
  }

  /** The workflow signalled another one (SignalExternalWorkflowExecution command, then its outcome). */
  signalExternal(workflowId: string, signalName: string): this {
    const initiated = this.add('SignalExternalWorkflowExecutionInitiated', {
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
      namespace: 'default',
      workflowExecution: { workflowId },
      signalName,
      input: payloads([]),
    });
    this.add('ExternalWorkflowExecutionSignaled', {
      initiatedEventId: String(initiated),
      namespace: 'default',
      workflowExecution: { workflowId },
    });
    return this.workflowTask();
  }

  completed(result: unknown): this {
    this.add('WorkflowExecutionCompleted', {
      result: payloads([result]),
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
    });
    return this;
  }

  canceled(): this {
    this.add('WorkflowExecutionCanceled', {
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
      details: payloads([]),
    });
    return this;
  }

  continuedAsNew(workflowType: string, input: unknown): this {
    this.add('WorkflowExecutionContinuedAsNew', {
      newExecutionRunId: 'run-2',
      workflowType: { name: workflowType },
      taskQueue: { name: this.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: payloads([input]),
      workflowRunTimeout: '0s',
      workflowTaskTimeout: '10s',
      workflowTaskCompletedEventId: String(this.lastCompletedWft),
      initiator: 'CONTINUE_AS_NEW_INITIATOR_WORKFLOW',
    });
    return this;
  }

  toJSON(): { events: Event[] } {
    return { events: this.events };
  }
}
