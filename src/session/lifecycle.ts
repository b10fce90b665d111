/**
 * The session lifecycle of one gateway, run by operations and by the gateway's one clock:
 * - `settle` brings a session in line with who is present: connection_lost when the customer or
 *   the owner is away, the return to the previous status when both are back (reconnect_success,
 *   reboot_complete; spec D-RETURN-TO-PREVIOUS), collaboration_end when no collaborator is left;
 * - `consequences`: Closed and Timed out release the customer; terminal statuses end the
 *   session, and so does a session nobody can come back to ("abandoned"), so memory stays bounded;
 * - `tick` fires the PIN, Offline, resume, idle and system timers (the pure rules of timers.ts);
 * - `end` takes a session out of the directory and archives its report (bounded archive);
 * - the ways a technician's part ends (`withdraw` an invitation, `dropCollaborator`), which
 *   operations and timers share.
 * A transition refused where no caller can be told (timers, lost connections) is logged at error
 * level and counted in `SessionCounters.refusedTransitions`, never ignored; operations get a
 * coded `Refusal` instead.
 */
import { CloseCodes, Codes, isRefusal, type Refusal, refuse } from '../protocol/codes.js';
import { errorFrame, eventFrame } from '../protocol/frames.js';
import type { SessionDirectory } from './directory.js';
import type { SessionListeners } from './listeners.js';
import { buildReport, type SessionReport } from './report.js';
import { LossReason, type Seat } from './seat.js';
import { type Collaborator, GATEWAY, Relation, type Session } from './session.js';
import { WARM_MS } from './session-log.js';
import { allowedTriggers, collaboratorsGone, type Machine, transition } from './state-machine.js';
import { Status as S, Trigger as T, type Trigger } from './states.js';
import { buildSummary } from './summary.js';
import { dueTrigger, idleCollaborators, type LifecycleOptions, sampleActivity } from './timers.js';
import type { SessionCounters } from './types.js';

export interface SessionLifecycleOptions {
  readonly directory: SessionDirectory;
  readonly options: LifecycleOptions;
  readonly counters: SessionCounters;
  readonly listeners: SessionListeners;
  /** The archive of ended sessions' reports, oldest first. */
  readonly reports: Map<string, SessionReport>;
  readonly maxReports: number;
  /** Called with the report of every session that ends (the gateway writes it to disk). */
  readonly onReport: ((report: SessionReport) => void) | null;
}

export class SessionLifecycle {
  readonly #directory: SessionDirectory;
  readonly #options: LifecycleOptions;
  readonly #counters: SessionCounters;
  readonly #listeners: SessionListeners;
  readonly #reports: Map<string, SessionReport>;
  readonly #maxReports: number;
  readonly #onReport: ((report: SessionReport) => void) | null;

  constructor(options: SessionLifecycleOptions) {
    this.#directory = options.directory;
    this.#options = options.options;
    this.#counters = options.counters;
    this.#listeners = options.listeners;
    this.#reports = options.reports;
    this.#maxReports = options.maxReports;
    this.#onReport = options.onReport;
  }

  /** A transition refused where nobody can be told: logged at error level and counted. */
  refused(session: Session, trigger: Trigger, message: string, during: string): void {
    this.#counters.refusedTransitions++;
    session.logger.error(
      { trigger, status: session.status, during, message },
      'session transition refused',
    );
  }

  /** Fires `trigger` for an operation: its refusal, or the session once the consequences ran. */
  apply(
    session: Session,
    trigger: Trigger,
    actor: string,
    nowMs: number,
    after?: () => void,
  ): Session | Refusal {
    const result = session.apply(trigger, actor, nowMs, undefined, after);
    if (!result.ok) return refuse(Codes.INVALID_TRANSITION, result.message);
    this.consequences(session, nowMs);
    return session;
  }

  settle(session: Session, nowMs: number): void {
    for (let i = 0; i < 4 && !session.ended; i++) {
      const status = session.status;
      const customerAway = session.customerSeat !== null && session.customerSeat.conn === null;
      const ownerAway = session.owner.conn === null;
      let trigger: Trigger | null = null;
      if (status === S.REBOOTING) {
        if (!session.awaitingRebootDrop && !customerAway) trigger = T.REBOOT_COMPLETE;
      } else if (status === S.RECONNECTING || status === S.OFFLINE) {
        // spec Offline: retries continue, so a return is possible from Offline too
        if (!customerAway && !ownerAway && !session.awaitingRebootDrop)
          trigger = T.RECONNECT_SUCCESS;
      } else if (
        (customerAway || ownerAway) &&
        allowedTriggers(status).includes(T.CONNECTION_LOST)
      ) {
        trigger = T.CONNECTION_LOST;
      } else if (status === S.COLLABORATING && session.collaborators.size === 0) {
        trigger = T.COLLABORATION_END;
      }
      if (trigger === null) break;
      const result = session.apply(trigger, GATEWAY, nowMs);
      if (!result.ok) {
        this.refused(session, trigger, result.message, 'settle');
        break;
      }
    }
    this.consequences(session, nowMs);
  }

  consequences(session: Session, nowMs: number): void {
    if (session.ended) return;
    if (session.terminal) {
      this.end(session, nowMs);
      return;
    }
    const status = session.status;
    if (status === S.CLOSED || status === S.TIMED_OUT) {
      this.#releaseCustomer(session, `session ${status === S.CLOSED ? 'closed' : 'timed out'}`);
    }
    if (!session.seats().some((seat) => this.#directory.resumable(seat))) {
      // a session a restart rebuilt and nobody came back to: the restart interrupted it
      session.endReason =
        session.restoredAtMs > 0 && !session.resumedSinceRestore
          ? 'interrupted by a gateway restart'
          : 'abandoned';
      session.log.event('abandoned', GATEWAY, 'nobody is connected or can resume', nowMs);
      this.end(session, nowMs);
    }
  }

  /**
   * The shared clock's work (called on every gateway tick): PIN expiry, the Offline window and
   * the resume window of absent places, then each session's timers.
   */
  tick(nowMs: number): void {
    this.sweep(nowMs);
    const { offlineAfterMs, resumeTtlMs } = this.#options;
    for (const seat of this.#directory.absent()) {
      const awayMs = nowMs - seat.lostAtMs;
      if (awayMs > resumeTtlMs) this.#expire(seat, nowMs);
      else if (awayMs > offlineAfterMs && seat.lossReason !== LossReason.OFFLINE) {
        // spec T_OFFLINE: past the window nothing more is kept for the place, and the others know
        seat.discard(LossReason.OFFLINE);
        for (const session of seat.sessions) session.reportLoss(seat);
      }
    }
    for (const session of [...this.#directory.all()]) {
      if (session.ended) continue;
      if (session.log.warm && nowMs - session.createdAtMs >= WARM_MS) session.log.settle();
      sampleActivity(session, nowMs);
      const trigger = dueTrigger(session, nowMs, this.#options);
      if (trigger === null) {
        // A shared session idle as a whole times out; otherwise idle collaborators leave it.
        for (const c of idleCollaborators(session, nowMs, this.#options)) {
          if (!session.collaborators.has(c.seat)) continue;
          this.#timeOut(session, c, 'idle', nowMs, false);
        }
        continue;
      }
      const result = session.apply(trigger, GATEWAY, nowMs);
      if (!result.ok) {
        this.refused(session, trigger, result.message, 'timer');
        continue;
      }
      this.consequences(session, nowMs);
    }
  }

  /**
   * collaborator_timeout: the collaborator's entry leaves the queue and the collaborator the
   * session. When its entry refuses, an idle collaborator stays (`force` false); a place that
   * is gone for good leaves all the same (`force` true).
   */
  #timeOut(session: Session, c: Collaborator, why: string, nowMs: number, force: boolean): void {
    const step = transition(c.entry, T.COLLABORATOR_TIMEOUT);
    if (!step.ok) {
      this.refused(session, T.COLLABORATOR_TIMEOUT, step.message, `collaborator ${why}`);
      if (!force) return;
    }
    const dropped = this.dropCollaborator(
      session,
      c.seat,
      GATEWAY,
      why,
      nowMs,
      T.COLLABORATOR_TIMEOUT,
    );
    if (isRefusal(dropped)) {
      this.refused(session, T.COLLABORATION_END, dropped.message, `collaborator ${why}`);
    }
  }

  /** A place stayed away past the resume window: its part in every session ends. */
  #expire(seat: Seat, nowMs: number): void {
    this.#directory.forget(seat);
    for (const session of [...seat.sessions]) {
      if (session.ended) continue;
      session.log.event('gone', GATEWAY, `${seat.name} did not come back`, nowMs);
      switch (session.relationOf(seat)) {
        case Relation.COLLABORATOR:
          this.#timeOut(session, session.collaborators.get(seat)!, 'gone', nowMs, true);
          break;
        case Relation.INVITED:
          this.withdraw(session, seat, GATEWAY, 'expired', nowMs, true);
          break;
        case Relation.TRANSFER_TARGET:
          session.alter('transfer_expired', GATEWAY, `${seat.name} is gone`, nowMs, () => {
            session.transfer = null;
          });
          break;
        default:
      }
      this.consequences(session, nowMs);
    }
  }

  /** spec connecting_timeout: a PIN expired before a customer joined (Removed from TC queue). */
  sweep(nowMs: number): void {
    this.#directory.sweepPins(nowMs, (session) => {
      if (session.ended || session.customerSeat !== null) return;
      session.log.event('pin_expired', GATEWAY, 'no customer joined before the PIN expired', nowMs);
      session.deliver(
        session.owner,
        errorFrame(
          Codes.PIN_EXPIRED,
          `the PIN of session ${session.id} expired; the session ended`,
        ),
      );
      session.pin = '';
      const result = session.apply(T.CONNECTING_TIMEOUT, GATEWAY, nowMs);
      // nobody can join any more: the session ends whatever its status
      if (!result.ok) this.refused(session, T.CONNECTING_TIMEOUT, result.message, 'PIN expiry');
      this.end(session, nowMs);
    });
  }

  /** Takes an ended (or ending) session out of the directory and archives its report. */
  end(session: Session, nowMs: number): void {
    if (session.ended) return;
    // spec F1: the summary as the session was, before its places are released
    const summary = buildSummary(session);
    for (const seat of session.invitedSeats()) {
      this.withdraw(session, seat, GATEWAY, 'withdrawn: the session ended', nowMs, true);
    }
    session.endedAtMs = nowMs;
    if (session.pin !== '') this.#directory.revokePin(session.pin);
    this.#directory.remove(session);
    this.#counters.ended++;
    this.#releaseCustomer(session, 'session ended');
    for (const seat of session.seats()) session.unlink(seat);
    session.dropCollaborators();
    session.transfer = null;
    session.controllerSeat = null;
    session.pending.clear();
    session.attached = false;
    session.refresh();
    this.#listeners.ended(session, summary);
    const report = buildReport(session, summary);
    // its window no longer counts against the gateway's retained-bytes budget
    session.log.release();
    this.#reports.set(session.id, report);
    if (this.#reports.size > this.#maxReports) {
      const oldest = this.#reports.keys().next().value as string;
      this.#reports.delete(oldest);
    }
    session.logger.info(
      {
        status: session.status,
        durationMs: nowMs - session.createdAtMs,
        reason: session.endReason || undefined,
      },
      'session ended',
    );
    this.#onReport?.(report);
  }

  /** Replaces an ended session's archived report (a note added after the end) and rewrites it. */
  rearchive(report: SessionReport): void {
    if (!this.#reports.has(report.id)) return;
    this.#reports.set(report.id, report);
    this.#onReport?.(report);
  }

  /**
   * Lets the customer go once its session is over. The final StatusChanged was sent before, so
   * the close is by cause (docs/protocol.md "How a connection ends"): a normal one of
   * 4100-4102, 1001 when the gateway goes away, 1011 after a handler failure.
   */
  #releaseCustomer(session: Session, reason: string): void {
    const seat = session.customerSeat;
    if (seat === null) return;
    session.customerSeat = null;
    session.unlink(seat);
    session.refresh();
    const conn = seat.conn;
    this.#directory.forget(seat);
    if (conn !== null) {
      conn.session = null;
      const code = endCloseCode(session);
      // after the final StatusChanged, which may be waiting for the directory's copy
      session.acknowledge(() =>
        conn.end(code, code === CloseCodes.GOING_AWAY ? Codes.SHUTTING_DOWN.code : reason, true),
      );
    }
  }

  /**
   * invite_decline_or_timeout: the invitation of `seat` ends. When its entry refuses, the
   * refusal is returned and the invitation stays, unless `force` (the session or the place is
   * gone), where the refusal is logged and counted and the invitation goes all the same.
   */
  withdraw(
    session: Session,
    seat: Seat,
    actor: string,
    why: string,
    nowMs: number,
    force = false,
  ): Refusal | null {
    const invitation = session.invitations.get(seat);
    if (invitation === undefined) return null;
    // fired on a copy: the views are snapshotted before the change
    const next: Machine = { ...invitation.entry };
    const step = transition(next, T.INVITE_DECLINE_OR_TIMEOUT);
    if (!step.ok) {
      if (!force) return refuse(Codes.INVALID_TRANSITION, step.message);
      this.refused(session, T.INVITE_DECLINE_OR_TIMEOUT, step.message, `invitation ${why}`);
    }
    session.alter(
      T.INVITE_DECLINE_OR_TIMEOUT,
      actor,
      `invitation of ${seat.name} ${why}`,
      nowMs,
      () => {
        if (step.ok) Object.assign(invitation.entry, next);
        session.invitations.delete(seat);
      },
    );
    return null;
  }

  /** `seat` stops collaborating; collaboration_end when it was the last collaborator. */
  dropCollaborator(
    session: Session,
    seat: Seat,
    actor: string,
    why: string,
    nowMs: number,
    trigger: Trigger = T.COLLABORATION_END,
  ): Session | Refusal {
    const leave = () => {
      session.collaborators.delete(seat);
      if (session.controllerSeat === seat) session.setController(session.owner, actor, nowMs);
      if (session.collaborators.size === 0) collaboratorsGone(session.machine);
    };
    session.alter(trigger, actor, `${seat.name} ${why}`, nowMs, leave);
    this.left(session, seat, actor);
    // spec collaboration_end: the last collaborator is gone, the session is single-owner again
    if (session.status === S.COLLABORATING && session.collaborators.size === 0) {
      const result = this.apply(session, T.COLLABORATION_END, actor, nowMs);
      if (isRefusal(result)) return result;
    }
    const left = eventFrame({
      participantLeft: { participantId: seat.participantId, role: seat.role, reason: why },
    });
    session.broadcast(left, session.seats(), null);
    return session;
  }

  /** `seat` has no part in `session` any more: its pending answers and streams go nowhere. */
  left(session: Session, seat: Seat, actor: string): void {
    session.pending.dropSeat(seat, 'sysinfo');
    this.#listeners.left(session, seat, actor);
  }
}

/** Triggers whose end is a timeout rather than someone's decision. */
const TIMEOUT_TRIGGERS: ReadonlySet<string> = new Set<Trigger>([
  T.ADMIN_IDLE_TIMEOUT,
  T.SYSTEM_TIMEOUT_2_WEEKS,
  T.CONNECTING_TIMEOUT,
  T.RECONNECT_FAIL_5MIN,
  T.REBOOT_FAIL_5MIN,
  T.COLLABORATOR_TIMEOUT,
]);

/** The close code a participant of an ended (or ending) session gets, by what ended it. */
export function endCloseCode(session: Session): number {
  if (session.endReason === 'gateway shutdown') return CloseCodes.GOING_AWAY;
  if (session.endReason === 'internal error') return CloseCodes.INTERNAL_ERROR;
  if (session.endReason === 'abandoned' || session.status === S.TIMED_OUT) {
    return CloseCodes.SESSION_TIMED_OUT;
  }
  const trigger = session.history.at(-1)?.trigger;
  if (trigger === T.CUSTOMER_CLOSE) return CloseCodes.SESSION_LEFT;
  if (trigger !== undefined && TIMEOUT_TRIGGERS.has(trigger)) return CloseCodes.SESSION_TIMED_OUT;
  return CloseCodes.SESSION_CLOSED;
}
