/**
 * The session timers of docs/spec/session-states.json (T_OFFLINE, T_SYSTEM, T_ADMIN_IDLE) as pure
 * functions of a session's state and one clock reading. Nothing here owns a timer: the
 * lifecycle's `tick` (lifecycle.ts), driven by the gateway's one shared clock, asks which
 * trigger is due for each session and fires it, so a session costs a few comparisons per tick
 * and no setTimeout.
 * Activity is sampled, not pushed: the relay only bumps its per-session frame counters (no clock
 * read per INPUT frame); a tick that sees them move records the time of the user action.
 */
import type { Config } from '../config/schema.js';
import type { Collaborator, Session } from './session.js';
import { Status, Trigger } from './states.js';

/** spec T_SYSTEM: two weeks in one non-terminal status (D-SYSTEM-TIMEOUT-CLOCK). */
export const SYSTEM_TIMEOUT_MS = 14 * 24 * 3600 * 1000;

export interface LifecycleOptions {
  /** spec T_OFFLINE: Reconnecting/Rebooting for longer than this goes Offline. */
  readonly offlineAfterMs: number;
  /** How long a lost participant may resume its place. */
  readonly resumeTtlMs: number;
  /** Reliable frames held per absent participant. */
  readonly resumeBufferBytes: number;
  /** spec T_ADMIN_IDLE per status; 0 or missing = off. Incoming/Outgoing: the pending transfer. */
  readonly idleMs: Readonly<Partial<Record<Status, number>>>;
  readonly systemTimeoutMs: number;
  /** What a session whose owner quit alone does: back to its queue, or stays until it closes. */
  readonly orphanPolicy: 'queue' | 'close';
  /** How long a session whose owner quit waits for a technician before it closes. */
  readonly orphanGraceMs: number;
}

/** The orphan policy of `LifecycleOptions` (a technician who quits alone). */
export type OrphanOptions = Pick<LifecycleOptions, 'orphanPolicy' | 'orphanGraceMs'>;

export const DEFAULT_LIFECYCLE: LifecycleOptions = {
  offlineAfterMs: 300_000,
  resumeTtlMs: 3_600_000,
  resumeBufferBytes: 1024 * 1024,
  idleMs: {},
  systemTimeoutMs: SYSTEM_TIMEOUT_MS,
  orphanPolicy: 'queue',
  orphanGraceMs: 300_000,
};

/** The lifecycle settings of a gateway configuration. */
export function lifecycleOptions(config: Config): LifecycleOptions {
  const s = 1000;
  return {
    offlineAfterMs: config.offlineAfterSeconds * s,
    resumeTtlMs: Math.max(config.resumeTtlSeconds, config.offlineAfterSeconds) * s,
    resumeBufferBytes: config.resumeBufferBytes,
    idleMs: {
      ACTIVE: config.activeIdleSeconds * s,
      WAITING: config.waitingIdleSeconds * s,
      INCOMING: config.incomingIdleSeconds * s,
      OUTGOING: config.outgoingIdleSeconds * s,
      ON_HOLD: config.onHoldIdleSeconds * s,
      RECONNECTING: config.reconnectingIdleSeconds * s,
      OFFLINE: config.offlineIdleSeconds * s,
      COLLABORATING: config.collaboratingIdleSeconds * s,
    },
    systemTimeoutMs: SYSTEM_TIMEOUT_MS,
    orphanPolicy: config.orphanPolicy === 'close' ? 'close' : 'queue',
    orphanGraceMs: config.orphanGraceSeconds * s,
  };
}

// spec timers[T_SYSTEM].appliesIn (Incoming is the target's view of an Outgoing session)
const SYSTEM_STATUSES: ReadonlySet<Status> = new Set<Status>([
  Status.ACTIVE,
  Status.WAITING,
  Status.OUTGOING,
  Status.ON_HOLD,
  Status.RECONNECTING,
  Status.OFFLINE,
]);

// spec D-ADMIN-IDLE-CLOCK: queue statuses count from entering the status
const QUEUE_STATUSES: ReadonlySet<Status> = new Set<Status>([Status.WAITING, Status.OUTGOING]);

/** The admin idle timeout of `status` in ms, 0 = off. A pending transfer takes the shorter view. */
export function idleTimeoutMs(options: LifecycleOptions, status: Status): number {
  if (status !== Status.OUTGOING) return options.idleMs[status] ?? 0;
  const out = options.idleMs.OUTGOING ?? 0;
  const inc = options.idleMs.INCOMING ?? 0;
  if (out === 0) return inc;
  if (inc === 0) return out;
  return Math.min(out, inc);
}

/** Frames that count as user actions (spec: chat, input, tool request): the router counts them. */
function activity(session: Session): number {
  return session.activityFrames;
}

/** Records `nowMs` as the last user action when relayed frames moved since the last look. */
export function sampleActivity(session: Session, nowMs: number): void {
  const seen = activity(session);
  if (seen !== session.activitySeen) {
    session.activitySeen = seen;
    if (nowMs > session.lastActionMs) session.lastActionMs = nowMs;
  }
}

/** The session-level trigger whose timer has run out at `nowMs`, or null. */
export function dueTrigger(
  session: Session,
  nowMs: number,
  options: LifecycleOptions,
): Trigger | null {
  const status = session.status;
  const inStatusMs = nowMs - session.statusSinceMs;
  // spec T_OFFLINE: "elapsed > 300 s"
  if (status === Status.RECONNECTING && inStatusMs > options.offlineAfterMs) {
    return Trigger.RECONNECT_FAIL_5MIN;
  }
  if (status === Status.REBOOTING && inStatusMs > options.offlineAfterMs) {
    return Trigger.REBOOT_FAIL_5MIN;
  }
  // spec T_SYSTEM: "elapsed >= 14 days"
  if (SYSTEM_STATUSES.has(status) && inStatusMs >= options.systemTimeoutMs) {
    return Trigger.SYSTEM_TIMEOUT_2_WEEKS;
  }
  const idleMs = idleTimeoutMs(options, status);
  if (idleMs > 0) {
    const since = QUEUE_STATUSES.has(status) ? session.statusSinceMs : session.lastActionMs;
    // spec T_ADMIN_IDLE: "elapsed > configured value"
    if (nowMs - since > idleMs) return Trigger.ADMIN_IDLE_TIMEOUT;
  }
  return null;
}

/** Collaborators idle past the Collaborating timeout (their entries leave the queue). */
export function idleCollaborators(
  session: Session,
  nowMs: number,
  options: LifecycleOptions,
): Collaborator[] {
  const idleMs = options.idleMs.COLLABORATING ?? 0;
  if (idleMs === 0 || session.collaboratorCount === 0) return [];
  const out: Collaborator[] = [];
  for (const c of session.collaborators.values()) if (nowMs - c.lastActionMs > idleMs) out.push(c);
  return out;
}
