import { z } from 'zod';
import { activityRuntime, withHeartbeats, type Progress } from '@rds/artifacts';
import { ValidationError } from '@rds/schemas';
import type { RunActivities } from '@rds/workflows/plan';
import { abortReason } from './pause-gate.js';

/**
 * Hold points: stop a run just before the n-th call (0-based) of one of its activities until the
 * holder releases it. Tests use them to observe a live run in a known state (running, with one
 * shard embedded and the next not started) however fast or loaded the machine is, instead of
 * polling a run that may already have finished. A held call still honours cancellation, and under
 * Temporal it heartbeats while it waits: without beats the server would time the activity out, and
 * a cancellation (delivered in a heartbeat's reply) would never reach it.
 */
export interface HoldPoint {
  activity: keyof RunActivities;
  /** 0-based index of the call to hold, counted from the start of the process (RDS_HOLD_BEFORE) or from when it is armed. */
  call: number;
}

export interface Hold extends HoldPoint {
  /** Resolves when the run reaches the hold point (the held call has not started). */
  readonly reached: Promise<void>;
  /** Lets the held call go on (idempotent; safe before the point is reached). */
  release(): void;
}

const ACTIVITY_NAMES = [
  'validateConfig',
  'ingestPool',
  'embedQueries',
  'embedPoolShard',
  'scorePool',
  'selectPool',
  'handoffSelection',
] as const satisfies readonly (keyof RunActivities)[];

/** `activity:call[,activity:call...]`, e.g. `embedPoolShard:1` (RDS_HOLD_BEFORE). */
export const HoldSpec = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[A-Za-z]+:\d+$/, 'expected activity:call, e.g. embedPoolShard:1')
        .transform((p) => {
          const [activity, call] = p.split(':') as [string, string];
          return { activity, call: Number(call) };
        })
        .pipe(z.object({ activity: z.enum(ACTIVITY_NAMES), call: z.number().int().min(0) })),
    ),
  );

/** Parse RDS_HOLD_BEFORE's value, or throw a ValidationError naming the variable. */
export function parseHoldSpec(value: string, name = 'RDS_HOLD_BEFORE'): HoldPoint[] {
  const r = HoldSpec.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: name, message: i.message }));
  throw new ValidationError(`${name}=${JSON.stringify(value)}: ${issues.map((i) => i.message).join('; ')}`, issues);
}

interface HoldState extends Hold {
  reach(): void;
  readonly released: Promise<void>;
}

function newHold(point: HoldPoint): HoldState {
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const released = new Promise<void>((r) => (release = r));
  return { ...point, reached, released, reach, release };
}

/**
 * Resolves when `hold` is released; rejects if the run is cancelled first. While it waits, a timer
 * keeps the process alive: a held CLI run has nothing else pending (signal listeners do not keep
 * Node running), so without it the process ended with exit 13 (unsettled top-level await) before
 * the SIGINT or SIGUSR2 it waits for arrived.
 */
function awaitRelease(hold: HoldState, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const keepAlive = setInterval(() => {}, 60_000);
    const onAbort = () => {
      clearInterval(keepAlive);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void hold.released.then(() => {
      clearInterval(keepAlive);
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** What a held call heartbeats: nothing done yet (the unit says why; embedding progress counts only `rows`). */
function heldProgress(activity: keyof RunActivities): Progress {
  return { stage: `held:${activity}`, done: 0, total: 0, unit: 'held', ratePerSec: 0, etaSec: null };
}

type AnyActivity = (input: never) => Promise<unknown>;

/**
 * `activities` with hold points that can be armed at any time: `hold('embedPoolShard', 1)` holds
 * the second call of embedPoolShard from now. Calls are counted per activity over the lifetime of
 * this object (several runs through one backend share the count).
 */
export class HoldController {
  readonly activities: RunActivities;
  private readonly calls = new Map<keyof RunActivities, number>();
  private readonly holds: HoldState[] = [];

  constructor(activities: RunActivities) {
    const wrapped: Record<string, AnyActivity> = { ...activities };
    for (const name of ACTIVITY_NAMES) {
      const real = activities[name] as AnyActivity;
      wrapped[name] = async (input: never) => {
        const n = this.calls.get(name) ?? 0;
        this.calls.set(name, n + 1);
        for (const h of this.holds.filter((h) => h.activity === name && h.call === n)) {
          h.reach();
          const rt = activityRuntime();
          await withHeartbeats(
            rt,
            () => heldProgress(name),
            () => awaitRelease(h, rt.signal),
          );
        }
        return real(input);
      };
    }
    this.activities = wrapped as unknown as RunActivities;
  }

  /** Hold the call of `activity` that comes `later` calls from now (0: the next one). */
  hold(activity: keyof RunActivities, later = 0): Hold {
    const h = newHold({ activity, call: (this.calls.get(activity) ?? 0) + later });
    this.holds.push(h);
    return h;
  }
}

/**
 * The CLI's and API's hold points from RDS_HOLD_BEFORE (a testing aid; unset in normal use): each
 * reached point prints one line on stderr and is released by SIGUSR2, one point per signal.
 */
export function holdsFromEnv(activities: RunActivities, env: NodeJS.ProcessEnv = process.env): RunActivities {
  const spec = env.RDS_HOLD_BEFORE;
  if (!spec) return activities;
  const controller = new HoldController(activities);
  const waiting: Hold[] = [];
  for (const point of parseHoldSpec(spec)) {
    const h = controller.hold(point.activity, point.call);
    void h.reached.then(() => {
      waiting.push(h);
      process.stderr.write(
        `rds: held before ${h.activity} call ${h.call} (RDS_HOLD_BEFORE); send SIGUSR2 to continue\n`,
      );
    });
  }
  process.on('SIGUSR2', () => waiting.shift()?.release());
  return controller.activities;
}
