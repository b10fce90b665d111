/**
 * The session directory of one gateway: sessions by id, open PINs, participants' places (seats)
 * by connection and by resume token, and every session operation: create, join, pick up, hold,
 * transfer, invite, remove, hand over, reboot, close, leave and resume. Each operation checks
 * who asks (role, owner, part in the session) and answers with a coded `Refusal` or does the
 * change through `Session.apply`/`alter`; nothing here throws on client input.
 *
 * Lifecycle rules kept here (spec/session-states.json):
 * - a lost customer or owner connection is `connection_lost`; the place is held for its resume,
 *   and the session returns to its previous status when both are back (D-RETURN-TO-PREVIOUS);
 * - the customer's deliberate close (CloseSession, or a WebSocket close 1000) is `customer_close`;
 * - Closed and Timed out release the customer; terminal statuses end the session;
 * - `tick`, driven by the gateway's one clock, fires the PIN, Offline, idle and system timers
 *   and drops places that stayed away past the resume window; a session that nobody can come
 *   back to ends ("abandoned"), so memory stays bounded.
 * Ended sessions leave the directory at once; their reports stay in a bounded archive.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CloseCodes, Codes } from '../protocol/codes.js';
import { controlFrame, errorFrame, eventFrame, pb, Role } from '../protocol/frames.js';
import type { Participant } from './participant.js';
import { PinBook } from './pins.js';
import { buildReport, type SessionReport } from './report.js';
import { HoldStats, LossReason, Seat } from './seat.js';
import { GATEWAY, Relation, Session } from './session.js';
import { allowedTriggers, create as createMachine, transition } from './state-machine.js';
import { Status as S, type Status, Trigger as T, type Trigger } from './states.js';
import { buildSummary } from './summary.js';
import {
  DEFAULT_LIFECYCLE,
  dueTrigger,
  idleCollaborators,
  type LifecycleOptions,
  sampleActivity,
} from './timers.js';
import { SessionTools } from './tools.js';

export type CodeEntry = (typeof Codes)[keyof typeof Codes];
export interface Refusal {
  readonly ok: false;
  readonly entry: CodeEntry;
  readonly message: string;
}
const refuse = (entry: CodeEntry, message: string): Refusal => ({ ok: false, entry, message });

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
}

interface Found {
  readonly ok: true;
  readonly session: Session;
  readonly seat: Seat;
}

/** One row of a technician's queue listing. */
export interface QueueRow {
  readonly session: Session;
  readonly status: Status;
  readonly relation: Relation;
}

export class SessionRegistry {
  readonly sessions = new Map<string, Session>();
  readonly reports = new Map<string, SessionReport>();
  readonly holdStats = new HoldStats();
  readonly lifecycle: LifecycleOptions;
  readonly #pins: PinBook<Session>;
  readonly #logger: Logger;
  readonly #maxReports: number;
  readonly #now: () => number;
  readonly #onReport: ((report: SessionReport) => void) | null;
  /** Places by live connection. */
  readonly #seats = new Map<Participant, Seat>();
  /** Places that can be resumed, by token. */
  readonly #byToken = new Map<string, Seat>();
  /** Places whose connection is lost, still resumable. */
  readonly #absent = new Set<Seat>();
  /** Sessions ever created and ended (for the status API and metrics). */
  created = 0;
  ended = 0;
  pinAccepted = 0;
  pinRejected = 0;
  /** PIN attempts refused by the rate limits before the book was consulted. */
  pinRateLimited = 0;
  resumed = 0;
  /** Consent, chat history, screen tools, sysinfo routing, summary and notes. */
  readonly tools: SessionTools;
  /**
   * Called when a session ends, before its report is built (the shell and file relays close
   * recordings and mark unfinished transfers); wired by the router.
   */
  onSessionEnd: ((session: Session) => void) | null = null;
  /**
   * Called when a technician's place loses its part in a live session (removed, left, gone,
   * transferred away): the shell and file relays end its streams; wired by the router.
   */
  onLeave: ((session: Session, seat: Seat, actor: string) => void) | null = null;
  /** Called when the customer revokes permissions (`removed`: mask bits); wired by the router. */
  onRevoke: ((session: Session, removed: number, actor: string) => void) | null = null;

  constructor(options: RegistryOptions) {
    this.#pins = new PinBook(options.pinLength, options.pinTtlMs);
    this.#logger = options.logger;
    this.#maxReports = options.maxReports ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#onReport = options.onReport ?? null;
    this.lifecycle = { ...DEFAULT_LIFECYCLE, ...options.lifecycle };
    this.tools = new SessionTools(this);
  }

  get openPins(): number {
    return this.#pins.size;
  }

  /** Places whose connection is lost and which may still resume. */
  get absentSeats(): number {
    return this.#absent.size;
  }

  now(): number {
    return this.#now();
  }

  // -------------------------------------------------------------------------------------------
  // Places

  /** The place of a connection, created on first use (at Hello). */
  seatOf(p: Participant): Seat {
    let seat = this.#seats.get(p);
    if (seat === undefined) {
      seat = new Seat(p, this.lifecycle.resumeBufferBytes, this.holdStats);
      this.#seats.set(p, seat);
      this.#byToken.set(seat.resumeToken, seat);
    }
    return seat;
  }

  /**
   * Hello with a resume token: `p` takes the place back. A still-open old connection is closed
   * (FERRY_ERR_RESUMED_ELSEWHERE). Call `completeResume` once the Welcome is sent.
   */
  claimResume(p: Participant, token: string): Seat | Refusal {
    const seat = this.#byToken.get(token);
    // A technician proves its name with its token as well; a customer has the token only.
    if (
      seat === undefined ||
      seat.role !== p.role ||
      (p.role === Role.ROLE_TECHNICIAN && seat.name !== p.name)
    ) {
      return refuse(Codes.RESUME_INVALID, 'no place to resume with this token');
    }
    if (seat.role === Role.ROLE_CUSTOMER && seat.sessions.size === 0) {
      return refuse(Codes.RESUME_INVALID, 'the session of this token has ended');
    }
    const old = seat.conn;
    if (old !== null) {
      this.#seats.delete(old);
      seat.markLost(this.#now());
      old.sendFrame(errorFrame(Codes.RESUMED_ELSEWHERE, 'a new connection took this place'));
      old.end(Codes.RESUMED_ELSEWHERE.close, Codes.RESUMED_ELSEWHERE.code);
    }
    this.#seats.set(p, seat);
    this.#absent.delete(seat);
    return seat;
  }

  /** Delivers what was held for the place, in order, then settles each of its sessions. */
  completeResume(p: Participant, seat: Seat, nowMs: number = this.#now()): void {
    const lost = seat.resume(p);
    this.resumed++;
    for (const session of [...seat.sessions]) {
      if (seat === session.customerSeat) {
        p.session = session;
        session.customerAddress = p.remoteAddress;
      }
      session.log.event('resume', seat.name, `${seat.name} resumed its place`, nowMs);
      session.logger.info({ participant: seat.name }, 'participant resumed');
      if (lost.frames > 0) {
        p.sendFrame(
          eventFrame({
            framesLost: {
              code: Codes.FRAMES_LOST.code,
              sessionId: session.id,
              participantId: p.id,
              frames: lost.frames,
              bytes: lost.bytes,
              reason: lost.reason,
            },
          }),
        );
      }
      session.refresh();
      const joined = eventFrame({ participantJoined: session.describe(p) });
      session.broadcast(joined, session.seats(), seat);
      this.#settle(session, nowMs);
    }
    if (seat.role === Role.ROLE_TECHNICIAN && seat.focus !== null && !seat.focus.ended) {
      p.session = seat.focus;
    }
  }

  /** A connection is gone: its place is held for a resume, or the customer closed on purpose. */
  leave(p: Participant, closeCode = 0, nowMs: number = this.#now()): void {
    const seat = this.#seats.get(p);
    if (seat === undefined) return;
    this.#seats.delete(p);
    if (seat.conn !== p) return;
    seat.markLost(nowMs);
    this.#absent.add(seat);
    const deliberate = seat.role === Role.ROLE_CUSTOMER && closeCode === CloseCodes.NORMAL;
    for (const session of [...seat.sessions]) {
      if (session.ended) continue;
      if (deliberate && seat === session.customerSeat) {
        this.#customerClose(session, seat, 'customer closed the connection', nowMs);
        continue;
      }
      if (seat === session.customerSeat && session.awaitingRebootDrop) {
        session.awaitingRebootDrop = false;
        session.log.event('leave', seat.name, 'customer restarting', nowMs);
      } else {
        session.log.event('leave', seat.name, 'connection lost', nowMs);
      }
      session.refresh();
      const left = eventFrame({
        participantLeft: { participantId: p.id, role: p.role, reason: 'connection lost' },
      });
      session.broadcast(left, session.seats(), seat);
      this.#settle(session, nowMs);
    }
  }

  /** Forgets a place: its token stops working and what it held is dropped. */
  #forget(seat: Seat): void {
    this.#byToken.delete(seat.resumeToken);
    this.#absent.delete(seat);
    if (seat.conn !== null) this.#seats.delete(seat.conn);
    seat.clear();
  }

  #resumable(seat: Seat): boolean {
    return seat.conn !== null || this.#byToken.get(seat.resumeToken) === seat;
  }

  /** Connected technician places matching a name or participant id (newest first). */
  #findTechnician(who: string, except: Seat): Seat | null {
    let found: Seat | null = null;
    for (const seat of this.#seats.values()) {
      if (seat === except || seat.role !== Role.ROLE_TECHNICIAN || seat.conn === null) continue;
      if (seat.name === who || seat.participantId === who) found = seat;
    }
    return found;
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
    withPin = true,
  ) {
    const id = randomBytes(12).toString('base64url');
    const owner = this.seatOf(technician);
    const session = new Session(id, owner, technician, customerLabel, this.#logger, nowMs);
    const { pin, expiresAtMs } = withPin
      ? this.#pins.issue(session, nowMs)
      : { pin: '', expiresAtMs: 0 };
    session.pin = pin;
    this.sessions.set(id, session);
    this.created++;
    session.logger.info({ technician: technician.name }, 'session created');
    return { session, pin, expiresAtMs };
  }

  /**
   * spec session-tools A3: a support button click opens a session in a team's queue
   * (channel_session_initiated). Until a technician of the team picks it up (`adopt`), its owner
   * is `queue`, a stand-in place that is never in the directory of connections.
   */
  createQueued(queue: Participant, customerLabel: string, nowMs: number = this.#now()): Session {
    const id = randomBytes(12).toString('base64url');
    const owner = new Seat(queue, 0, this.holdStats);
    const session = new Session(
      id,
      owner,
      queue,
      customerLabel,
      this.#logger,
      nowMs,
      T.CHANNEL_SESSION_INITIATED,
    );
    this.sessions.set(id, session);
    this.created++;
    session.logger.info({ queue: queue.name }, 'session created in a team queue');
    return session;
  }

  /** A technician of the team takes a queued session: it becomes the owner, then picks up. */
  adopt(session: Session, technician: Participant, nowMs: number = this.#now()): void {
    const seat = this.seatOf(technician);
    const queue = session.owner;
    session.owner = seat;
    queue.sessions.delete(session);
    seat.sessions.add(session);
    session.record(seat, 'owner', nowMs);
  }

  /** Takes a PIN out of the book (single use): the session it opens, or a refusal. */
  claimPin(pin: string, nowMs: number = this.#now()): Session | Refusal {
    const session = this.#pins.consume(pin, nowMs);
    if (session === undefined || session.ended || session.customerSeat !== null) {
      this.pinRejected++;
      return refuse(Codes.PIN_INVALID, 'no session waits for this PIN');
    }
    this.pinAccepted++;
    session.pin = '';
    return session;
  }

  /** The customer of a claimed PIN is in: Connecting -> Waiting (applet_connected). */
  attachCustomer(
    session: Session,
    customer: Participant,
    nowMs: number = this.#now(),
    how = 'customer joined with PIN',
  ): void {
    const seat = this.seatOf(customer);
    session.customerSeat = seat;
    session.customerAddress = customer.remoteAddress;
    seat.sessions.add(session);
    session.record(seat, 'customer', nowMs);
    customer.session = session;
    session.refresh();
    session.log.event('join', customer.name, how, nowMs);
    session.apply(T.APPLET_CONNECTED, customer.name, nowMs);
    session.deliver(
      session.owner,
      eventFrame({
        sessionQueued: {
          sessionId: session.id,
          customerName: customer.name,
          computerName: session.customerInfo?.computerName ?? '',
          platform: session.customerInfo?.platform ?? '',
        },
      }),
    );
    this.#settle(session, nowMs);
  }

  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  /** The session named, and the asker's place in it. */
  #find(p: Participant, sessionId: string): Found | Refusal {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return refuse(Codes.SESSION_NOT_FOUND, `no session ${sessionId}`);
    return { ok: true, session, seat: this.seatOf(p) };
  }

  #owned(p: Participant, sessionId: string): Found | Refusal {
    const found = this.#find(p, sessionId);
    if (isRefusal(found)) return found;
    const relation = found.session.relationOf(found.seat);
    if (relation === Relation.OWNER) return found;
    if (relation === Relation.NONE) {
      return refuse(Codes.NOT_IN_SESSION, 'you have no part in this session');
    }
    return refuse(Codes.NOT_OWNER, 'only the owner of the session may do this');
  }

  /**
   * The owner's session and the other technician an operation names: a connected technician
   * (transfer, invite), or a collaborator (remove, hand over).
   */
  #ownedWith(
    p: Participant,
    sessionId: string,
    target: string,
    among: 'technicians' | 'collaborators',
    missing: string,
  ): (Found & { to: Seat }) | Refusal {
    const found = this.#owned(p, sessionId);
    if (isRefusal(found)) return found;
    const to =
      among === 'technicians'
        ? this.#findTechnician(target, found.seat)
        : this.#collaboratorNamed(found.session, target);
    if (to === null) return refuse(Codes.TECHNICIAN_NOT_FOUND, missing);
    return { ...found, to };
  }

  #apply(
    session: Session,
    trigger: Trigger,
    actor: string,
    nowMs: number,
    after?: () => void,
  ): Session | Refusal {
    const result = session.apply(trigger, actor, nowMs, undefined, after);
    if (!result.ok) return refuse(Codes.INVALID_TRANSITION, result.message);
    this.#consequences(session, nowMs);
    return session;
  }

  /**
   * pickup: the owner takes a waiting session (or reclaims its pending transfer), or the transfer
   * target takes the transfer and becomes the owner (spec D-TRANSFER-PROJECTION). The one who
   * picks up gets control.
   */
  pickUp(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    const found = this.#find(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.TRANSFER_TARGET) {
      // A private session is offered to its owner (or the technician it is transferred to) only.
      return refuse(
        Codes.NOT_IN_SESSION,
        'only the owner of this session or its transfer target may pick it up',
      );
    }
    const sender = session.owner;
    const result = this.#apply(session, T.PICKUP, seat.name, nowMs, () => {
      session.owner = seat;
      session.attached = true;
      if (relation === Relation.TRANSFER_TARGET || session.controllerSeat === null) {
        session.setController(seat, seat.name, nowMs);
      }
    });
    if (isRefusal(result)) return result;
    seat.focus = session;
    technician.session = session;
    if (relation === Relation.TRANSFER_TARGET) {
      if (session.relationOf(sender) === Relation.NONE) this.#left(session, sender, seat.name);
      session.record(seat, 'transfer target', nowMs);
      this.tools.brief(session, seat);
      session.log.event('transfer', seat.name, `took the session over from ${sender.name}`, nowMs);
      if (sender.conn !== null) {
        const left = eventFrame({
          participantLeft: {
            participantId: sender.participantId,
            role: sender.role,
            reason: 'transferred',
          },
        });
        session.broadcast(left, session.seats(), null);
      }
      session.broadcast(
        eventFrame({
          ownerChanged: {
            sessionId: session.id,
            participantId: technician.id,
            displayName: technician.name,
          },
        }),
      );
    }
    const joined = eventFrame({ participantJoined: session.describe(technician) });
    if (session.customerSeat !== null) session.deliver(session.customerSeat, joined);
    const customer = session.customer;
    if (customer !== null) {
      session.deliver(seat, eventFrame({ participantJoined: session.describe(customer) }));
    }
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // Technician operations (owner only unless said otherwise)

  hold(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    return this.#apply(found.session, T.HOLD, found.seat.name, nowMs);
  }

  /** unhold: Collaborating while a collaborator remains, else Active (the machine's guards). */
  unhold(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    return this.#apply(found.session, T.UNHOLD, found.seat.name, nowMs);
  }

  /** transfer: the owner sees Outgoing, the target Incoming (spec D-TRANSFER-PROJECTION). */
  transfer(
    technician: Participant,
    sessionId: string,
    target: string,
    comment: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'technicians',
      `no other connected technician '${target}'`,
    );
    if (isRefusal(found)) return found;
    const { session, seat, to } = found;
    const relation = session.relationOf(to);
    if (relation === Relation.COLLABORATOR || relation === Relation.INVITED) {
      return refuse(
        Codes.WRONG_STATE,
        `${to.name} already has a part in this session; hand it over instead`,
      );
    }
    const result = this.#apply(session, T.TRANSFER, seat.name, nowMs, () => {
      session.transfer = { from: seat, to, comment };
    });
    if (!isRefusal(result)) {
      session.log.event('transfer', seat.name, `offered to ${to.name}: ${comment}`, nowMs);
    }
    return result;
  }

  /** invite_received: the target's entry is Invitation until it answers. */
  invite(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'technicians',
      `no other connected technician '${target}'`,
    );
    if (isRefusal(found)) return found;
    const { session, seat, to } = found;
    if (session.relationOf(to) !== Relation.NONE) {
      return refuse(Codes.WRONG_STATE, `${to.name} already has a part in this session`);
    }
    const status = session.status;
    if (status !== S.ACTIVE && status !== S.COLLABORATING) {
      return refuse(
        Codes.INVALID_TRANSITION,
        `${session.statusName()} cannot take a collaborator; invite from Active or Collaborating`,
      );
    }
    session.alter(T.INVITE_RECEIVED, seat.name, `${seat.name} invited ${to.name}`, nowMs, () => {
      session.invitations.set(to, {
        seat: to,
        entry: createMachine(T.INVITE_RECEIVED),
        invitedBy: seat.name,
        sinceMs: nowMs,
      });
    });
    return session;
  }

  /** invite_accept (session: Active -> Collaborating) or invite_decline_or_timeout. */
  answerInvitation(
    technician: Participant,
    sessionId: string,
    accept: boolean,
    nowMs = this.#now(),
  ): Session | Refusal {
    const found = this.#find(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    const invitation = session.invitations.get(seat);
    if (invitation === undefined) {
      return refuse(Codes.NO_INVITATION, 'you have no pending invitation to this session');
    }
    if (!accept) {
      this.#withdraw(session, seat, seat.name, 'declined', nowMs);
      return session;
    }
    const join = () => {
      transition(invitation.entry, T.INVITE_ACCEPT);
      session.invitations.delete(seat);
      session.collaborators.set(seat, { seat, entry: invitation.entry, lastActionMs: nowMs });
    };
    if (session.status === S.COLLABORATING) {
      session.alter(T.INVITE_ACCEPT, seat.name, `${seat.name} joined`, nowMs, join);
    } else {
      const result = this.#apply(session, T.INVITE_ACCEPT, seat.name, nowMs, join);
      if (isRefusal(result)) return result;
    }
    seat.focus = session;
    technician.session = session;
    session.record(seat, 'collaborator', nowMs);
    this.tools.brief(session, seat);
    const joined = eventFrame({ participantJoined: session.describe(technician) });
    session.broadcast(joined, session.seats(), seat);
    return session;
  }

  #withdraw(session: Session, seat: Seat, actor: string, why: string, nowMs: number): void {
    const invitation = session.invitations.get(seat);
    if (invitation === undefined) return;
    session.alter(
      T.INVITE_DECLINE_OR_TIMEOUT,
      actor,
      `invitation of ${seat.name} ${why}`,
      nowMs,
      () => {
        transition(invitation.entry, T.INVITE_DECLINE_OR_TIMEOUT);
        session.invitations.delete(seat);
      },
    );
  }

  /** The owner ends a collaborator's part (spec A2.3); collaboration_end when it was the last. */
  removeCollaborator(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'collaborators',
      `no collaborator '${target}' in this session`,
    );
    if (isRefusal(found)) return found;
    return this.#dropCollaborator(found.session, found.to, found.seat.name, 'removed', nowMs);
  }

  #collaboratorNamed(session: Session, who: string): Seat | null {
    let found: Seat | null = null;
    for (const seat of session.collaborators.keys()) {
      if (seat.name === who || seat.participantId === who) found = seat;
    }
    return found;
  }

  #dropCollaborator(
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
      if (session.collaborators.size === 0) session.machine.hasCollaborators = false;
    };
    session.alter(trigger, actor, `${seat.name} ${why}`, nowMs, leave);
    this.#left(session, seat, actor);
    // spec collaboration_end: the last collaborator is gone, the session is single-owner again
    if (session.status === S.COLLABORATING && session.collaborators.size === 0) {
      const result = this.#apply(session, T.COLLABORATION_END, actor, nowMs);
      if (isRefusal(result)) return result;
    }
    const left = eventFrame({
      participantLeft: { participantId: seat.participantId, role: seat.role, reason: why },
    });
    session.broadcast(left, session.seats(), null);
    return session;
  }

  /** `seat` has no part in `session` any more: its pending answers and streams go nowhere. */
  #left(session: Session, seat: Seat, actor: string): void {
    for (const [ticket, pending] of session.sysinfoRequests) {
      if (pending.seat === seat) session.sysinfoRequests.delete(ticket);
    }
    this.onLeave?.(session, seat, actor);
  }

  /** The owner makes a collaborator the owner; the former owner stays as a collaborator. */
  handOver(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs = this.#now(),
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'collaborators',
      `no collaborator '${target}': invite the technician first, or transfer the session`,
    );
    if (isRefusal(found)) return found;
    const { session, seat, to } = found;
    session.alter(
      'hand_over',
      seat.name,
      `${seat.name} handed ownership to ${to.name}`,
      nowMs,
      () => {
        session.collaborators.delete(to);
        // The former owner's entry is that of a collaborator who accepted.
        const entry = createMachine(T.INVITE_RECEIVED);
        transition(entry, T.INVITE_ACCEPT);
        session.collaborators.set(seat, { seat, entry, lastActionMs: nowMs });
        session.owner = to;
        session.setController(to, seat.name, nowMs);
      },
    );
    if (to.conn !== null) {
      to.focus = session;
      to.conn.session = session;
    }
    session.broadcast(
      eventFrame({
        ownerChanged: {
          sessionId: session.id,
          participantId: to.participantId,
          displayName: to.name,
        },
      }),
    );
    return session;
  }

  /** reboot: Rebooting until the customer is back with its resume token (reboot_complete). */
  reboot(technician: Participant, sessionId: string, nowMs = this.#now()): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    if (session.customerSeat === null) {
      return refuse(Codes.WRONG_STATE, 'no customer has joined this session');
    }
    const result = this.#apply(session, T.REBOOT, seat.name, nowMs);
    if (isRefusal(result)) return result;
    session.log.event('reboot', seat.name, 'customer asked to restart', nowMs);
    session.deliver(
      session.customerSeat,
      controlFrame({ rebootRequest: { requestedBy: seat.name } }),
    );
    return session;
  }

  /**
   * CloseSession: the customer closes (customer_close); the owner closes (technician_close); any
   * other technician only leaves: a collaborator ends its part, an invitee declines, a transfer
   * target refuses the transfer (spec A5.1).
   */
  close(
    by: Participant,
    sessionId: string,
    reason: string,
    nowMs = this.#now(),
    leaveInQueue = false,
  ): Session | Refusal {
    const found = this.#find(by, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    switch (session.relationOf(seat)) {
      case Relation.CUSTOMER:
        return this.#customerClose(session, seat, reason || 'closed', nowMs);
      case Relation.OWNER: {
        if (leaveInQueue) {
          // spec GAP-LEAVE-IN-QUEUE: technician_release puts the session back to Waiting
          return this.#apply(session, T.TECHNICIAN_RELEASE, seat.name, nowMs, () => {
            session.attached = false;
            session.log.event('release', seat.name, reason || 'left in queue', nowMs);
          });
        }
        const result = this.#apply(session, T.TECHNICIAN_CLOSE, seat.name, nowMs, () =>
          session.log.event('close', seat.name, reason || 'closed', nowMs),
        );
        return result;
      }
      case Relation.COLLABORATOR:
        return this.#dropCollaborator(session, seat, seat.name, 'left', nowMs);
      case Relation.INVITED:
        this.#withdraw(session, seat, seat.name, 'declined', nowMs);
        return session;
      case Relation.TRANSFER_TARGET:
        session.alter(
          'transfer_refused',
          seat.name,
          `${seat.name} refused the transfer`,
          nowMs,
          () => {
            session.transfer = null;
          },
        );
        return session;
      default:
        return refuse(Codes.NOT_IN_SESSION, 'you are not in this session');
    }
  }

  #customerClose(session: Session, seat: Seat, reason: string, nowMs: number): Session | Refusal {
    const result = session.apply(T.CUSTOMER_CLOSE, seat.name, nowMs, undefined, () =>
      session.log.event('close', seat.name, reason, nowMs),
    );
    if (!result.ok) return refuse(Codes.INVALID_TRANSITION, result.message);
    this.#consequences(session, nowMs);
    return session;
  }

  /** A user action by `p` in `session` (chat, operation): the admin idle clocks restart. */
  noteAction(p: Participant, session: Session, nowMs: number = this.#now()): void {
    if (session.ended) return;
    session.lastActionMs = nowMs;
    const seat = this.#seats.get(p);
    const collaborator = seat === undefined ? undefined : session.collaborators.get(seat);
    if (collaborator !== undefined) collaborator.lastActionMs = nowMs;
  }

  /** The sessions of `technician`'s queue with the status it sees in each. */
  queue(technician: Participant): QueueRow[] {
    const seat = this.#seats.get(technician);
    if (seat === undefined) return [];
    const rows: QueueRow[] = [];
    for (const session of seat.sessions) {
      const status = session.viewOf(seat);
      if (status !== null) rows.push({ session, status, relation: session.relationOf(seat) });
    }
    return rows;
  }

  // -------------------------------------------------------------------------------------------
  // Consequences and timers

  /**
   * Brings the session in line with who is present: connection_lost when the customer or the
   * owner is away, the return to the previous status when both are back (reconnect_success,
   * reboot_complete), collaboration_end when a shared session has no collaborator left.
   */
  #settle(session: Session, nowMs: number): void {
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
      if (!session.apply(trigger, GATEWAY, nowMs).ok) break;
    }
    this.#consequences(session, nowMs);
  }

  /** Closed and Timed out release the customer; terminal statuses and abandoned sessions end. */
  #consequences(session: Session, nowMs: number): void {
    if (session.ended) return;
    if (session.terminal) {
      this.end(session, nowMs);
      return;
    }
    const status = session.status;
    if (status === S.CLOSED || status === S.TIMED_OUT) {
      this.#releaseCustomer(session, `session ${status === S.CLOSED ? 'closed' : 'timed out'}`);
    }
    if (!session.seats().some((seat) => this.#resumable(seat))) {
      session.endReason = 'abandoned';
      session.log.event('abandoned', GATEWAY, 'nobody is connected or can resume', nowMs);
      this.end(session, nowMs);
    }
  }

  /**
   * The shared clock's work (called on every gateway tick): PIN expiry, the Offline window and
   * the resume window of absent places, then each session's timers.
   */
  tick(nowMs: number = this.#now()): void {
    this.sweep(nowMs);
    const { offlineAfterMs, resumeTtlMs } = this.lifecycle;
    for (const seat of [...this.#absent]) {
      const awayMs = nowMs - seat.lostAtMs;
      if (awayMs > resumeTtlMs) this.#expire(seat, nowMs);
      else if (awayMs > offlineAfterMs && seat.lossReason !== LossReason.OFFLINE) {
        // spec T_OFFLINE: past the window nothing more is kept for the place, and the others know
        seat.discard(LossReason.OFFLINE);
        for (const session of seat.sessions) session.reportLoss(seat);
      }
    }
    for (const session of [...this.sessions.values()]) {
      if (session.ended) continue;
      sampleActivity(session, nowMs);
      const trigger = dueTrigger(session, nowMs, this.lifecycle);
      if (trigger === null) {
        // A shared session idle as a whole times out; otherwise idle collaborators leave it.
        for (const c of idleCollaborators(session, nowMs, this.lifecycle)) {
          if (!session.collaborators.has(c.seat)) continue;
          transition(c.entry, T.COLLABORATOR_TIMEOUT);
          this.#dropCollaborator(session, c.seat, GATEWAY, 'idle', nowMs, T.COLLABORATOR_TIMEOUT);
        }
        continue;
      }
      const result = session.apply(trigger, GATEWAY, nowMs);
      if (!result.ok) {
        session.logger.warn({ trigger, message: result.message }, 'timer trigger refused');
        continue;
      }
      this.#consequences(session, nowMs);
    }
  }

  /** A place stayed away past the resume window: its part in every session ends. */
  #expire(seat: Seat, nowMs: number): void {
    this.#forget(seat);
    for (const session of [...seat.sessions]) {
      if (session.ended) continue;
      session.log.event('gone', GATEWAY, `${seat.name} did not come back`, nowMs);
      switch (session.relationOf(seat)) {
        case Relation.COLLABORATOR: {
          const c = session.collaborators.get(seat)!;
          transition(c.entry, T.COLLABORATOR_TIMEOUT);
          this.#dropCollaborator(session, seat, GATEWAY, 'gone', nowMs, T.COLLABORATOR_TIMEOUT);
          break;
        }
        case Relation.INVITED:
          this.#withdraw(session, seat, GATEWAY, 'expired', nowMs);
          break;
        case Relation.TRANSFER_TARGET:
          session.alter('transfer_expired', GATEWAY, `${seat.name} is gone`, nowMs, () => {
            session.transfer = null;
          });
          break;
        default:
      }
      this.#consequences(session, nowMs);
    }
  }

  /** spec connecting_timeout: a PIN expired before a customer joined (Removed from TC queue). */
  sweep(nowMs: number): void {
    this.#pins.sweep(nowMs, (session) => {
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
      session.apply(T.CONNECTING_TIMEOUT, GATEWAY, nowMs);
      this.end(session, nowMs);
    });
  }

  /** Takes an ended (or ending) session out of the directory and archives its report. */
  end(session: Session, nowMs: number = this.#now()): void {
    if (session.ended) return;
    // spec F1: the summary as the session was, before its places are released
    const summary = buildSummary(session);
    for (const seat of [...session.invitations.keys()]) {
      this.#withdraw(session, seat, GATEWAY, 'withdrawn: the session ended', nowMs);
    }
    session.endedAtMs = nowMs;
    if (session.pin !== '') this.#pins.revoke(session.pin);
    this.sessions.delete(session.id);
    this.ended++;
    this.#releaseCustomer(session, 'session ended');
    for (const seat of session.seats()) session.unlink(seat);
    session.collaborators.clear();
    session.transfer = null;
    session.controllerSeat = null;
    session.consentRequests.clear();
    session.sysinfoRequests.clear();
    session.attached = false;
    session.refresh();
    this.onSessionEnd?.(session);
    const report = buildReport(session, summary);
    this.reports.set(session.id, report);
    if (this.reports.size > this.#maxReports) {
      const oldest = this.reports.keys().next().value as string;
      this.reports.delete(oldest);
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
    if (!this.reports.has(report.id)) return;
    this.reports.set(report.id, report);
    this.#onReport?.(report);
  }

  /** The place of a live connection, if it said Hello. */
  placeOf(p: Participant): Seat | undefined {
    return this.#seats.get(p);
  }

  #releaseCustomer(session: Session, reason: string): void {
    const seat = session.customerSeat;
    if (seat === null) return;
    session.customerSeat = null;
    session.unlink(seat);
    session.refresh();
    const conn = seat.conn;
    this.#forget(seat);
    if (conn !== null) {
      conn.session = null;
      conn.end(Codes.SESSION_ENDED.close, reason);
    }
  }

  counts(): Record<string, number> {
    const byStatus: Record<string, number> = {};
    for (const s of this.sessions.values()) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    return byStatus;
  }
}

export const isRefusal = (x: unknown): x is Refusal =>
  typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false;

export { pb };
