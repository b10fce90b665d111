/**
 * The session registry of one gateway: the one object the relay, the gateway, the status API
 * and the metrics hold. A thin facade that composes
 * - the directory (directory.ts): sessions by id, PINs, places by connection and resume token;
 * - the operations (operations.ts): create, join, pick up, hold, transfer, invite, remove, hand
 *   over, reboot, close, quit (the orphan policy), leave and resume, each answering with a
 *   coded `Refusal` or the change;
 * - the lifecycle (lifecycle.ts): consequences of a status, the timers of `tick`, the end of a
 *   session and its archived report;
 * and keeps the gateway-wide counters and the hooks the relay wires. `nowMs` defaults to the
 * registry's clock (injectable for tests); nothing here throws on client input.
 */
import type { Logger } from 'pino';
import type { Refusal } from '../protocol/codes.js';
import { pb } from '../protocol/frames.js';
import { MemoryDirectory } from './directory.js';
import type { JournaledSession } from './journal.js';
import { SessionLifecycle } from './lifecycle.js';
import { SessionListeners } from './listeners.js';
import { type Created, type QueueRow, SessionOperations } from './operations.js';
import type { Participant } from './participant.js';
import type { SessionReport } from './report.js';
import { HoldStats, type Seat } from './seat.js';
import type { Session } from './session.js';
import { RetainedBudget } from './session-log.js';
import { DEFAULT_LIFECYCLE, type LifecycleOptions } from './timers.js';
import type { SessionCounters, SessionToolsHost } from './types.js';

export { type CodeEntry, isRefusal, type Refusal } from '../protocol/codes.js';
export type { QueueRow };

export interface RegistryOptions {
  readonly pinLength: number;
  readonly pinTtlMs: number;
  readonly logger: Logger;
  readonly maxReports?: number;
  /** Wall clock of the session lifecycle (history times, timers); injectable for tests. */
  readonly now?: () => number;
  readonly lifecycle?: Partial<LifecycleOptions>;
  /** Called with the report of every session that ends (the gateway writes it to disk). */
  readonly onReport?: (report: SessionReport) => void;
  /** Who hears of joins, leaves, revocations and ends (tools register at construction). */
  readonly listeners?: SessionListeners;
  /** Gateway-wide bound on retained session log text (bytes); absent: unbounded. */
  readonly retainedBytes?: number;
}

export class SessionRegistry implements SessionCounters, SessionToolsHost {
  readonly sessions: Map<string, Session>;
  readonly reports = new Map<string, SessionReport>();
  readonly holdStats = new HoldStats();
  readonly lifecycle: LifecycleOptions;
  readonly #now: () => number;
  readonly #directory: MemoryDirectory;
  readonly #life: SessionLifecycle;
  readonly #ops: SessionOperations;
  /** Sessions ever created and ended (for the status API and metrics). */
  created = 0;
  ended = 0;
  pinAccepted = 0;
  pinRejected = 0;
  /** PIN attempts refused by the rate limits before the book was consulted. */
  pinRateLimited = 0;
  resumed = 0;
  replayed = 0;
  /**
   * Transitions the state machine refused where no caller could be told (timers, lost
   * connections, a customer attached by the gateway); each is also logged at error level.
   */
  refusedTransitions = 0;
  /** Who hears of joins, leaves, revocations and ends (src/session/listeners.ts). */
  readonly listeners: SessionListeners;
  /** Retained session log text of every live session, against `retainedBytes`. */
  readonly retained: RetainedBudget;

  constructor(options: RegistryOptions) {
    this.#now = options.now ?? Date.now;
    this.lifecycle = { ...DEFAULT_LIFECYCLE, ...options.lifecycle };
    this.#directory = new MemoryDirectory({
      pinLength: options.pinLength,
      pinTtlMs: options.pinTtlMs,
      resumeBufferBytes: this.lifecycle.resumeBufferBytes,
      holdStats: this.holdStats,
    });
    this.sessions = this.#directory.sessions;
    this.listeners = options.listeners ?? new SessionListeners();
    this.retained = new RetainedBudget(options.retainedBytes ?? 0);
    this.#life = new SessionLifecycle({
      directory: this.#directory,
      options: this.lifecycle,
      counters: this,
      listeners: this.listeners,
      reports: this.reports,
      maxReports: options.maxReports ?? 1000,
      onReport: options.onReport ?? null,
    });
    this.#ops = new SessionOperations({
      directory: this.#directory,
      lifecycle: this.#life,
      counters: this,
      logger: options.logger,
      holdStats: this.holdStats,
      listeners: this.listeners,
      orphans: this.lifecycle,
      budget: this.retained,
    });
  }

  /** Rebuilds a session its journal kept (a restarted gateway); see SessionOperations.restore. */
  restore(journaled: JournaledSession, nowMs: number = this.#now()): Session {
    return this.#ops.restore(journaled, nowMs);
  }

  get openPins(): number {
    return this.#directory.openPins;
  }

  /** Places whose connection is lost and which may still resume. */
  get absentSeats(): number {
    return this.#directory.absentCount;
  }

  now(): number {
    return this.#now();
  }

  // -------------------------------------------------------------------------------------------
  // Places

  /** The place of a connection, created on first use (at Hello). */
  seatOf(p: Participant): Seat {
    return this.#directory.seatOf(p);
  }

  /** The place of a live connection, if it said Hello. */
  placeOf(p: Participant): Seat | undefined {
    return this.#directory.placeOf(p);
  }

  /** This gateway holds the place a resume token takes back (it may still refuse the claim). */
  holdsResume(token: string): boolean {
    return this.#directory.byResumeToken(token) !== undefined;
  }

  /**
   * Hello with a resume token: `p` takes the place back. A still-open old connection is closed
   * (FERRY_ERR_RESUMED_ELSEWHERE). Call `completeResume` once the Welcome is sent.
   */
  claimResume(p: Participant, token: string): Seat | Refusal {
    return this.#ops.claimResume(p, token, this.#now());
  }

  /**
   * Replays what the lost connection did not deliver (after the client's `received` count),
   * delivers what was held for the place, in order, then settles each of its sessions.
   */
  completeResume(
    p: Participant,
    seat: Seat,
    received: number | null = null,
    nowMs: number = this.#now(),
  ): void {
    this.#ops.completeResume(p, seat, received, nowMs);
  }

  /** A connection is gone: its place is held for a resume, or the customer closed on purpose. */
  leave(p: Participant, closeCode = 0, nowMs: number = this.#now()): void {
    this.#ops.leave(p, closeCode, nowMs);
  }

  // -------------------------------------------------------------------------------------------
  // Joining

  /**
   * A technician opens a session (pin_code_generated). `withPin` false: no PIN is issued, for a
   * customer the gateway attaches by itself (a jump client, spec session-tools A4).
   */
  create(
    technician: Participant,
    customerLabel: string,
    nowMs: number = this.#now(),
    withPin: boolean | string = true,
  ): Created {
    return this.#ops.create(technician, customerLabel, nowMs, withPin);
  }

  /** spec session-tools A3: a support button click opens a session in a team's queue. */
  createQueued(queue: Participant, customerLabel: string, nowMs: number = this.#now()): Session {
    return this.#ops.createQueued(queue, customerLabel, nowMs);
  }

  /** A technician of the team takes a queued session: it becomes the owner, then picks up. */
  adopt(session: Session, technician: Participant, nowMs: number = this.#now()): void {
    this.#ops.adopt(session, technician, nowMs);
  }

  /** Takes a PIN out of the book (single use): the session it opens, or a refusal. */
  claimPin(pin: string, nowMs: number = this.#now()): Session | Refusal {
    return this.#ops.claimPin(pin, nowMs);
  }

  /** The customer of a claimed PIN is in: Connecting -> Waiting (applet_connected). */
  attachCustomer(
    session: Session,
    customer: Participant,
    nowMs: number = this.#now(),
    how = 'customer joined with PIN',
  ): void {
    this.#ops.attachCustomer(session, customer, nowMs, how);
  }

  get(sessionId: string): Session | undefined {
    return this.#directory.get(sessionId);
  }

  // -------------------------------------------------------------------------------------------
  // Technician operations

  pickUp(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    return this.#ops.pickUp(technician, sessionId, nowMs);
  }

  hold(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    return this.#ops.hold(technician, sessionId, nowMs);
  }

  unhold(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    return this.#ops.unhold(technician, sessionId, nowMs);
  }

  transfer(
    technician: Participant,
    sessionId: string,
    target: string,
    comment: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    return this.#ops.transfer(technician, sessionId, target, comment, nowMs);
  }

  invite(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    return this.#ops.invite(technician, sessionId, target, nowMs);
  }

  answerInvitation(
    technician: Participant,
    sessionId: string,
    accept: boolean,
    nowMs = this.#now(),
  ): Session | Refusal {
    return this.#ops.answerInvitation(technician, sessionId, accept, nowMs);
  }

  removeCollaborator(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    return this.#ops.removeCollaborator(technician, sessionId, target, nowMs);
  }

  handOver(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    return this.#ops.handOver(technician, sessionId, target, nowMs);
  }

  reboot(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    return this.#ops.reboot(technician, sessionId, nowMs);
  }

  close(
    by: Participant,
    sessionId: string,
    reason: string,
    nowMs = this.#now(),
    leaveInQueue = false,
  ): Session | Refusal {
    return this.#ops.close(by, sessionId, reason, nowMs, leaveInQueue);
  }

  /**
   * LeaveSession: `technician` quits `sessionId` (all its sessions when empty) on purpose, which
   * is not a network drop; resolves with the sessions it left.
   */
  quit(
    technician: Participant,
    sessionId: string,
    reason: string,
    nowMs = this.#now(),
  ): Session[] | Refusal {
    return this.#ops.quit(technician, sessionId, reason, nowMs);
  }

  /**
   * An operator (admin API) takes `seat` out of `session`: a collaborator is dropped, an
   * invitation withdrawn; anything else is left alone (the caller refuses owner and customer).
   */
  dismiss(
    session: Session,
    seat: Seat,
    actor: string,
    why: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    if (session.collaborators.has(seat)) {
      return this.#life.dropCollaborator(session, seat, actor, why, nowMs);
    }
    if (session.invitations.has(seat)) {
      return this.#life.withdraw(session, seat, actor, why, nowMs, true) ?? session;
    }
    return session;
  }

  /** A user action by `p` in `session` (chat, operation): the admin idle clocks restart. */
  noteAction(p: Participant, session: Session, nowMs: number = this.#now()): void {
    this.#ops.noteAction(p, session, nowMs);
  }

  /** The sessions of `technician`'s queue with the status it sees in each. */
  queue(technician: Participant): QueueRow[] {
    return this.#ops.queue(technician);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * The shared clock's work (called on every gateway tick): PIN expiry, the Offline window and
   * the resume window of absent places, then each session's timers.
   */
  tick(nowMs: number = this.#now()): void {
    this.#life.tick(nowMs);
    this.#ops.tickOrphans(nowMs);
  }

  /** spec connecting_timeout: a PIN expired before a customer joined (Removed from TC queue). */
  sweep(nowMs: number): void {
    this.#life.sweep(nowMs);
  }

  /** Takes an ended (or ending) session out of the directory and archives its report. */
  end(session: Session, nowMs: number = this.#now()): void {
    this.#life.end(session, nowMs);
  }

  /** Replaces an ended session's archived report (a note added after the end) and rewrites it. */
  rearchive(report: SessionReport): void {
    this.#life.rearchive(report);
  }

  counts(): Record<string, number> {
    const byStatus: Record<string, number> = {};
    for (const s of this.#directory.all()) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    return byStatus;
  }
}

export { pb };
