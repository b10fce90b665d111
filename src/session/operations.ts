/**
 * The session operations: create (with a PIN, for a jump client, or in a team queue), adopt,
 * join with a PIN, pick up, hold, unhold, transfer, invite and answer, remove a collaborator,
 * hand over, reboot, close, quit (a technician leaving on purpose, with the orphan policy), leave
 * and resume. Each checks who asks (role, owner, part in the
 * session) and answers with a coded `Refusal` or does the change through `Session.apply`/`alter`;
 * every refused transition becomes a Refusal (FERRY_ERR_INVALID_TRANSITION) for the caller, or,
 * where nobody asked (a lost connection, a customer the gateway attaches), is logged and counted
 * by the lifecycle. Nothing here throws on client input.
 * Lifecycle rules kept here (docs/spec/session-states.json): a lost customer or owner connection is
 * `connection_lost` and its place is held for a resume; the customer's deliberate close
 * (CloseSession, or a WebSocket close 1000) is `customer_close`; a technician's deliberate quit
 * (LeaveSession) is not a network drop: ownership passes to a collaborator, or the session is an
 * orphan under `orphanPolicy` (docs/session-lifecycle.md "A technician quits").
 */
import type { Logger } from 'pino';
import { CloseCodes, Codes, isRefusal, type Refusal, refuse } from '../protocol/codes.js';
import { controlFrame, errorFrame, eventFrame, Role } from '../protocol/frames.js';
import type { SessionDirectory } from './directory.js';
import type { JournaledSession, SeatState } from './journal.js';
import type { SessionLifecycle } from './lifecycle.js';
import type { SessionListeners } from './listeners.js';
import type { Participant } from './participant.js';
import { randomId } from './random-ids.js';
import { type HoldStats, Seat } from './seat.js';
import { GATEWAY, Relation, Session } from './session.js';
import { GENESIS, type RetainedBudget } from './session-log.js';
import {
  allowedTriggers,
  create as createMachine,
  type Machine,
  transition,
} from './state-machine.js';
import { Status as S, type Status, Trigger as T } from './states.js';
import type { OrphanOptions } from './timers.js';
import type { SessionCounters } from './types.js';

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

/** A session whose owner quit with nobody to take it over: who quit, its stand-in owner, deadline. */
interface Orphan {
  readonly name: string;
  readonly standIn: Seat;
  readonly deadlineMs: number;
}

/** A session a technician opened, with its PIN ('' when none was issued). */
export interface Created {
  readonly session: Session;
  readonly pin: string;
  readonly expiresAtMs: number;
}

export interface SessionOperationsOptions {
  readonly directory: SessionDirectory;
  readonly lifecycle: SessionLifecycle;
  readonly counters: SessionCounters;
  readonly logger: Logger;
  /** Counters of the frames held for absent places (a queue's stand-in place holds none). */
  readonly holdStats: HoldStats;
  /** Briefs a technician who joins a session (summary, consent, history). */
  readonly listeners: SessionListeners;
  /** What a session whose owner quit alone does (orphanPolicy, orphanGraceSeconds). */
  readonly orphans: OrphanOptions;
  /** The gateway-wide bound on retained log text every session's log counts against. */
  readonly budget: RetainedBudget | null;
}

export class SessionOperations {
  readonly #directory: SessionDirectory;
  readonly #lifecycle: SessionLifecycle;
  readonly #counters: SessionCounters;
  readonly #logger: Logger;
  readonly #holdStats: HoldStats;
  readonly #listeners: SessionListeners;
  readonly #orphanOptions: OrphanOptions;
  readonly #budget: RetainedBudget | null;
  /** Sessions whose owner quit alone, until a technician takes them or they close. */
  readonly #orphans = new Map<Session, Orphan>();

  constructor(options: SessionOperationsOptions) {
    this.#directory = options.directory;
    this.#lifecycle = options.lifecycle;
    this.#counters = options.counters;
    this.#logger = options.logger;
    this.#holdStats = options.holdStats;
    this.#listeners = options.listeners;
    this.#orphanOptions = options.orphans;
    this.#budget = options.budget;
  }

  // -------------------------------------------------------------------------------------------
  // Places: resume and leave

  /**
   * Hello with a resume token: `p` takes the place back. A still-open old connection is closed
   * (FERRY_ERR_RESUMED_ELSEWHERE). Call `completeResume` once the Welcome is sent.
   */
  claimResume(p: Participant, token: string, nowMs: number): Seat | Refusal {
    const seat = this.#directory.byResumeToken(token);
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
    // a place restored from a journal learns its token back from its owner (it matched the key)
    if (seat.resumeToken === '') seat.resumeToken = token;
    const old = seat.conn;
    if (old !== null) {
      this.#directory.unbind(old);
      seat.markLost(nowMs);
      old.sendFrame(errorFrame(Codes.RESUMED_ELSEWHERE, 'a new connection took this place'));
      old.end(Codes.RESUMED_ELSEWHERE.close, Codes.RESUMED_ELSEWHERE.code);
    }
    this.#directory.bind(p, seat);
    return seat;
  }

  /** Delivers what was held for the place, in order, then settles each of its sessions. */
  completeResume(p: Participant, seat: Seat, received: number | null, nowMs: number): void {
    const lost = seat.resume(p, received);
    this.#counters.replayed += lost.replayed;
    this.#counters.resumed++;
    for (const session of [...seat.sessions]) {
      session.resumedSinceRestore = true;
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
      this.#lifecycle.settle(session, nowMs);
    }
    if (seat.role === Role.ROLE_TECHNICIAN && seat.focus !== null && !seat.focus.ended) {
      p.session = seat.focus;
    }
  }

  /** A connection is gone: its place is held for a resume, or the customer closed on purpose. */
  leave(p: Participant, closeCode: number, nowMs: number): void {
    const seat = this.#directory.placeOf(p);
    if (seat === undefined) return;
    this.#directory.unbind(p);
    if (seat.conn !== p) return;
    seat.markLost(nowMs);
    this.#directory.markAbsent(seat);
    const deliberate = seat.role === Role.ROLE_CUSTOMER && closeCode === CloseCodes.NORMAL;
    for (const session of [...seat.sessions]) {
      if (session.ended) continue;
      if (deliberate && seat === session.customerSeat) {
        const closed = this.#customerClose(session, seat, 'customer closed the connection', nowMs);
        if (!isRefusal(closed)) continue;
        // the session could not close: it goes on as with a lost connection
        this.#lifecycle.refused(session, T.CUSTOMER_CLOSE, closed.message, 'customer close');
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
      this.#lifecycle.settle(session, nowMs);
    }
  }

  /**
   * A session its journal kept (a restarted gateway): rebuilt with its places away since
   * `nowMs` and resumable by their tokens, then settled like lost connections: Reconnecting,
   * then Offline and the normal timers unless its participants come back.
   */
  restore(j: JournaledSession, nowMs: number): Session {
    const st = j.state;
    const place = (s: SeatState): Seat => {
      const seat = this.#directory.restoreSeat(s, nowMs);
      seat.permissions = new Set(s.permissions);
      seat.client = s.client;
      return seat;
    };
    const owner = place(st.owner);
    const session = new Session(
      j.id,
      owner,
      standInFor(owner.name),
      st.customerLabel,
      this.#logger,
      j.createdAtMs,
      { budget: this.#budget, restoring: true },
    );
    const m = session.machine;
    m.status = st.status;
    m.statusBeforeDisruption = st.statusBeforeDisruption;
    m.everPickedUp = st.everPickedUp;
    m.timeoutKind = st.timeoutKind as typeof m.timeoutKind;
    m.hasCollaborators = false;
    session.statusSinceMs = st.statusSinceMs;
    session.lastActionMs = st.lastActionMs;
    session.attached = st.attached;
    session.awaitingRebootDrop = st.awaitingRebootDrop;
    session.grants = st.grants;
    session.customerInfo = st.customerInfo;
    session.customerAddress = st.customerAddress;
    session.sysinfoCategories = st.sysinfoCategories;
    session.screenSharing = st.screenSharing;
    session.selectedMonitor = st.selectedMonitor;
    session.monitors = st.monitors;
    session.history = session.history.concat(st.history);
    session.notes.push(...st.notes);
    session.recordings.push(...st.recordings.map((r) => ({ ...r })));
    session.shellsOpened = st.shellsOpened;
    session.jumpClientId = st.jumpClientId ?? '';
    if (st.attached) owner.focus = session;
    if (st.customer !== null) {
      const customer = place(st.customer);
      session.customerSeat = customer;
      customer.sessions.add(session);
    }
    // the places restored keep their report entries; everyone else who took part is listed as was
    const placeOf = (p: (typeof st.participants)[number]): Seat | null => {
      if (p.role === 'technician' && p.name === owner.name) return owner;
      const customer = session.customerSeat;
      return p.role === 'customer' && customer !== null && p.name === customer.name
        ? customer
        : null;
    };
    for (const p of st.participants) {
      const seat = placeOf(p);
      if (seat !== null) session.record(seat, p.joinedAs, p.joinedAtMs);
      else session.participants = session.participants.concat([p]);
    }
    if (st.ownerControls) session.controllerSeat = owner;
    const last = j.log.at(-1);
    session.log.restore(
      { entries: j.log, dropped: 0, spilled: 0, chainStart: GENESIS },
      (last?.seq ?? 0) + 1,
      last?.hash ?? GENESIS,
    );
    session.restoredAtMs = nowMs;
    if (st.pin !== '' && st.customer === null) {
      session.pin = st.pin;
      session.pinExpiresAtMs = st.pinExpiresAtMs;
      this.#directory.restorePin(session, st.pin, st.pinExpiresAtMs);
    }
    this.#directory.add(session);
    this.#counters.created++;
    this.#listeners.restored(session);
    session.log.event(
      'restart',
      GATEWAY,
      'the gateway restarted: the session was restored from its journal and waits for its participants',
      nowMs,
    );
    session.refresh();
    this.#lifecycle.settle(session, nowMs);
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // Joining

  /**
   * A technician opens a session (pin_code_generated). `withPin` false: no PIN is issued, for a
   * customer the gateway attaches by itself (a jump client, spec session-tools A4); a string:
   * that PIN, reserved in the shared directory.
   */
  create(
    technician: Participant,
    customerLabel: string,
    nowMs: number,
    withPin: boolean | string,
  ): Created {
    const id = newSessionId();
    const owner = this.#directory.seatOf(technician);
    const session = new Session(id, owner, technician, customerLabel, this.#logger, nowMs, {
      budget: this.#budget,
    });
    const { pin, expiresAtMs } =
      withPin === false
        ? { pin: '', expiresAtMs: 0 }
        : this.#directory.issuePin(session, nowMs, withPin === true ? '' : withPin);
    session.pin = pin;
    session.pinExpiresAtMs = expiresAtMs;
    this.#directory.add(session);
    this.#counters.created++;
    this.#listeners.created(session);
    session.logger.info({ technician: technician.name }, 'session created');
    return { session, pin, expiresAtMs };
  }

  /**
   * spec session-tools A3: a support button click opens a session in a team's queue
   * (channel_session_initiated). Until a technician of the team picks it up (`adopt`), its owner
   * is `queue`, a stand-in place that is never in the directory of connections.
   */
  createQueued(queue: Participant, customerLabel: string, nowMs: number): Session {
    const id = newSessionId();
    const owner = new Seat(queue, 0, this.#holdStats);
    const session = new Session(id, owner, queue, customerLabel, this.#logger, nowMs, {
      entry: T.CHANNEL_SESSION_INITIATED,
      budget: this.#budget,
    });
    session.ownerIsQueue = true;
    this.#directory.add(session);
    this.#counters.created++;
    this.#listeners.created(session);
    session.logger.info({ queue: queue.name }, 'session created in a team queue');
    return session;
  }

  /** A technician of the team takes a queued session: it becomes the owner, then picks up. */
  adopt(session: Session, technician: Participant, nowMs: number): void {
    const seat = this.#directory.seatOf(technician);
    const queue = session.owner;
    session.owner = seat;
    session.ownerIsQueue = false;
    queue.sessions.delete(session);
    seat.sessions.add(session);
    session.record(seat, 'owner', nowMs);
    // a queued session taken over from another gateway waits Reconnecting for its owner, which
    // is this technician now: it is back (nothing to do for one that waited here)
    this.#lifecycle.settle(session, nowMs);
  }

  /** Takes a PIN out of the book (single use): the session it opens, or a refusal. */
  claimPin(pin: string, nowMs: number): Session | Refusal {
    const session = this.#directory.takePin(pin, nowMs);
    if (session === undefined || session.ended || session.customerSeat !== null) {
      this.#counters.pinRejected++;
      return refuse(Codes.PIN_INVALID, 'no session waits for this PIN');
    }
    this.#counters.pinAccepted++;
    session.pin = '';
    return session;
  }

  /** The customer of a claimed PIN is in: Connecting -> Waiting (applet_connected). */
  attachCustomer(session: Session, customer: Participant, nowMs: number, how: string): void {
    const seat = this.#directory.seatOf(customer);
    session.customerSeat = seat;
    session.customerAddress = customer.remoteAddress;
    seat.sessions.add(session);
    session.record(seat, 'customer', nowMs);
    customer.session = session;
    session.refresh();
    session.log.event('join', customer.name, how, nowMs);
    this.#listeners.attached(session, seat);
    const result = session.apply(T.APPLET_CONNECTED, customer.name, nowMs);
    if (!result.ok) {
      this.#lifecycle.refused(session, T.APPLET_CONNECTED, result.message, 'customer joined');
    }
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
    this.#lifecycle.settle(session, nowMs);
  }

  // -------------------------------------------------------------------------------------------
  // Who asks

  /** The session named, and the asker's place in it. */
  #find(p: Participant, sessionId: string): Found | Refusal {
    const session = this.#directory.get(sessionId);
    if (session === undefined) return refuse(Codes.SESSION_NOT_FOUND, `no session ${sessionId}`);
    return { ok: true, session, seat: this.#directory.seatOf(p) };
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
        ? this.#directory.findTechnician(target, found.seat)
        : collaboratorNamed(found.session, target);
    if (to === null) return refuse(Codes.TECHNICIAN_NOT_FOUND, missing);
    return { ...found, to };
  }

  // -------------------------------------------------------------------------------------------
  // Technician operations (owner only unless said otherwise)

  /**
   * pickup: the owner takes a waiting session (or reclaims its pending transfer), or the transfer
   * target takes the transfer and becomes the owner (spec D-TRANSFER-PROJECTION). The one who
   * picks up gets control.
   */
  pickUp(technician: Participant, sessionId: string, nowMs: number): Session | Refusal {
    const found = this.#find(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    // a session returned to the queue of a technician who quit: that technician takes it back
    const orphan = this.#orphans.get(session);
    if (
      orphan !== undefined &&
      orphan.name === seat.name &&
      session.owner === orphan.standIn &&
      allowedTriggers(session.status).includes(T.PICKUP)
    ) {
      this.#orphans.delete(session);
      this.adopt(session, technician, nowMs);
    }
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.TRANSFER_TARGET) {
      // A private session is offered to its owner (or the technician it is transferred to) only.
      return refuse(
        Codes.NOT_IN_SESSION,
        'only the owner of this session or its transfer target may pick it up',
      );
    }
    const sender = session.owner;
    const result = this.#lifecycle.apply(session, T.PICKUP, seat.name, nowMs, () => {
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
      if (session.relationOf(sender) === Relation.NONE) {
        this.#lifecycle.left(session, sender, seat.name);
      }
      session.record(seat, 'transfer target', nowMs);
      this.#listeners.joined(session, seat);
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

  hold(technician: Participant, sessionId: string, nowMs: number): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    return this.#lifecycle.apply(found.session, T.HOLD, found.seat.name, nowMs);
  }

  /** unhold: Collaborating while a collaborator remains, else Active (the machine's guards). */
  unhold(technician: Participant, sessionId: string, nowMs: number): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    return this.#lifecycle.apply(found.session, T.UNHOLD, found.seat.name, nowMs);
  }

  /** transfer: the owner sees Outgoing, the target Incoming (spec D-TRANSFER-PROJECTION). */
  transfer(
    technician: Participant,
    sessionId: string,
    target: string,
    comment: string,
    nowMs: number,
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
    const result = this.#lifecycle.apply(session, T.TRANSFER, seat.name, nowMs, () => {
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
    nowMs: number,
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
    nowMs: number,
  ): Session | Refusal {
    const found = this.#find(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    const invitation = session.invitations.get(seat);
    if (invitation === undefined) {
      return refuse(Codes.NO_INVITATION, 'you have no pending invitation to this session');
    }
    if (!accept) {
      const declined = this.#lifecycle.withdraw(session, seat, seat.name, 'declined', nowMs);
      return declined ?? session;
    }
    // The invitee's own entry goes Invitation -> Collaborating; fired on a copy, so a refusal of
    // the session's transition below leaves the invitation as it was.
    const entry: Machine = { ...invitation.entry };
    const step = transition(entry, T.INVITE_ACCEPT);
    if (!step.ok) return refuse(Codes.INVALID_TRANSITION, step.message);
    const join = () => {
      session.invitations.delete(seat);
      session.collaborators.set(seat, { seat, entry, lastActionMs: nowMs });
    };
    if (session.status === S.COLLABORATING) {
      session.alter(T.INVITE_ACCEPT, seat.name, `${seat.name} joined`, nowMs, join);
    } else {
      const result = this.#lifecycle.apply(session, T.INVITE_ACCEPT, seat.name, nowMs, join);
      if (isRefusal(result)) return result;
    }
    seat.focus = session;
    technician.session = session;
    session.record(seat, 'collaborator', nowMs);
    this.#listeners.joined(session, seat);
    const joined = eventFrame({ participantJoined: session.describe(technician) });
    session.broadcast(joined, session.seats(), seat);
    return session;
  }

  /** The owner ends a collaborator's part (spec A2.3); collaboration_end when it was the last. */
  removeCollaborator(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs: number,
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'collaborators',
      `no collaborator '${target}' in this session`,
    );
    if (isRefusal(found)) return found;
    return this.#lifecycle.dropCollaborator(
      found.session,
      found.to,
      found.seat.name,
      'removed',
      nowMs,
    );
  }

  /** The owner makes a collaborator the owner; the former owner stays as a collaborator. */
  handOver(
    technician: Participant,
    sessionId: string,
    target: string,
    nowMs: number,
  ): Session | Refusal {
    const found = this.#ownedWith(
      technician,
      sessionId,
      target,
      'collaborators',
      `no collaborator '${target}': invite the technician first, or transfer the session`,
    );
    if (isRefusal(found)) return found;
    return this.#handOver(found.session, found.seat, found.to, nowMs);
  }

  /** `seat` (the owner) makes the collaborator `to` the owner and stays as a collaborator. */
  #handOver(session: Session, seat: Seat, to: Seat, nowMs: number): Session | Refusal {
    // The former owner's entry is that of a collaborator who accepted.
    const entry = createMachine(T.INVITE_RECEIVED);
    const step = transition(entry, T.INVITE_ACCEPT);
    if (!step.ok) return refuse(Codes.INVALID_TRANSITION, step.message);
    session.alter(
      'hand_over',
      seat.name,
      `${seat.name} handed ownership to ${to.name}`,
      nowMs,
      () => {
        session.collaborators.delete(to);
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
  reboot(technician: Participant, sessionId: string, nowMs: number): Session | Refusal {
    const found = this.#owned(technician, sessionId);
    if (isRefusal(found)) return found;
    const { session, seat } = found;
    if (session.customerSeat === null) {
      return refuse(Codes.WRONG_STATE, 'no customer has joined this session');
    }
    const result = this.#lifecycle.apply(session, T.REBOOT, seat.name, nowMs);
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
    nowMs: number,
    leaveInQueue: boolean,
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
          return this.#lifecycle.apply(session, T.TECHNICIAN_RELEASE, seat.name, nowMs, () => {
            session.attached = false;
            session.log.event('release', seat.name, reason || 'left in queue', nowMs);
          });
        }
        return this.#lifecycle.apply(session, T.TECHNICIAN_CLOSE, seat.name, nowMs, () =>
          session.log.event('close', seat.name, reason || 'closed', nowMs),
        );
      }
      case Relation.COLLABORATOR:
        return this.#lifecycle.dropCollaborator(session, seat, seat.name, 'left', nowMs);
      case Relation.INVITED: {
        const declined = this.#lifecycle.withdraw(session, seat, seat.name, 'declined', nowMs);
        return declined ?? session;
      }
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

  /**
   * LeaveSession: the technician quits `sessionId` (every session of its place when empty) on
   * purpose. Resolves with the sessions left; a refusal when it has no part in the one named.
   */
  quit(by: Participant, sessionId: string, reason: string, nowMs: number): Session[] | Refusal {
    const seat = this.#directory.placeOf(by);
    if (seat === undefined) return refuse(Codes.NOT_IN_SESSION, 'you are not in a session');
    let sessions: Session[];
    if (sessionId === '') {
      sessions = [...seat.sessions];
    } else {
      const found = this.#find(by, sessionId);
      if (isRefusal(found)) return found;
      if (found.session.relationOf(seat) === Relation.NONE) {
        return refuse(Codes.NOT_IN_SESSION, 'you are not in this session');
      }
      sessions = [found.session];
    }
    const left: Session[] = [];
    for (const session of sessions) {
      if (session.ended) continue;
      const result = this.#quitOne(by, session, seat, reason, nowMs);
      if (isRefusal(result)) {
        if (sessionId !== '') return result;
        this.#lifecycle.refused(session, T.TECHNICIAN_CLOSE, result.message, 'technician quit');
        continue;
      }
      left.push(session);
    }
    return left;
  }

  #quitOne(
    by: Participant,
    session: Session,
    seat: Seat,
    reason: string,
    nowMs: number,
  ): Session | Refusal {
    const relation = session.relationOf(seat);
    if (relation === Relation.CUSTOMER) {
      return refuse(Codes.WRONG_STATE, 'a customer closes the session instead');
    }
    if (relation !== Relation.OWNER) return this.close(by, session.id, reason, nowMs, false);
    const why = reason === '' ? '' : ` (${reason})`;
    // Another technician of the session takes it over: the latest active connected collaborator.
    let successor: Seat | null = null;
    let best = -1;
    for (const c of session.collaborators.values()) {
      const score = (c.seat.conn !== null ? 2 ** 52 : 0) + c.lastActionMs;
      if (score > best) {
        best = score;
        successor = c.seat;
      }
    }
    if (successor !== null) {
      session.log.event(
        'quit',
        seat.name,
        `${seat.name} quit${why}; ${successor.name} owns the session`,
        nowMs,
      );
      const handed = this.#handOver(session, seat, successor, nowMs);
      if (isRefusal(handed)) return handed;
      return this.#lifecycle.dropCollaborator(session, seat, seat.name, 'quit', nowMs);
    }
    if (session.status === S.CONNECTING || session.status === S.CLOSED) {
      // Nobody is waiting: no customer has joined yet, or it has closed already.
      session.log.event('quit', seat.name, `${seat.name} quit${why}`, nowMs);
      return this.#closeOrphan(session, seat.name, nowMs);
    }
    return this.#orphan(session, seat, why, nowMs);
  }

  /**
   * The owner quit alone: a stand-in place owns the session (the owner's queue, which the
   * same technician may pick up again), the orphan policy applies and the customer is told.
   */
  #orphan(session: Session, seat: Seat, why: string, nowMs: number): Session | Refusal {
    const { orphanPolicy, orphanGraceMs } = this.#orphanOptions;
    const standIn = new Seat(standInFor(seat.name), 0, this.#holdStats);
    const seconds = Math.round(orphanGraceMs / 1000);
    const detail =
      orphanPolicy === 'queue'
        ? `${seat.name} quit${why}; the session waits in the queue for ${seconds} s`
        : `${seat.name} quit${why}; the session closes in ${seconds} s`;
    session.log.event('quit', seat.name, detail, nowMs);
    session.alter('technician_quit', seat.name, `${seat.name} left the session`, nowMs, () => {
      session.owner = standIn;
      session.attached = false;
    });
    if (session.controllerSeat === seat) session.setController(null, seat.name, nowMs);
    seat.sessions.delete(session);
    this.#lifecycle.left(session, seat, seat.name);
    const left = eventFrame({
      participantLeft: { participantId: seat.participantId, role: seat.role, reason: 'quit' },
    });
    session.broadcast(left, session.seats(), null);
    this.#orphans.set(session, { name: seat.name, standIn, deadlineMs: nowMs + orphanGraceMs });
    this.tickOrphans(nowMs);
    return session;
  }

  /**
   * The orphan policy on the shared clock: `queue` puts an orphan back to Waiting as soon as
   * its status allows (a customer who reconnects finds it there), and an orphan nobody took
   * within the grace closes.
   */
  tickOrphans(nowMs: number): void {
    for (const [session, orphan] of [...this.#orphans]) {
      if (session.ended || session.owner !== orphan.standIn) {
        this.#orphans.delete(session);
        continue;
      }
      if (nowMs >= orphan.deadlineMs) {
        this.#orphans.delete(session);
        session.log.event(
          'orphan_closed',
          GATEWAY,
          `no technician took the session after ${orphan.name} quit`,
          nowMs,
        );
        const closed = this.#closeOrphan(session, GATEWAY, nowMs);
        if (isRefusal(closed)) {
          this.#lifecycle.refused(session, T.TECHNICIAN_CLOSE, closed.message, 'orphan grace');
        }
        continue;
      }
      if (
        this.#orphanOptions.orphanPolicy === 'queue' &&
        allowedTriggers(session.status).includes(T.TECHNICIAN_RELEASE)
      ) {
        const released = this.#lifecycle.apply(session, T.TECHNICIAN_RELEASE, GATEWAY, nowMs);
        if (isRefusal(released)) {
          this.#lifecycle.refused(session, T.TECHNICIAN_RELEASE, released.message, 'orphan');
        }
      }
    }
  }

  /**
   * Closes a session nobody works any more by the nearest path the spec allows:
   * technician_close where it is an edge; a queue status (Waiting, Incoming, Outgoing) first
   * times out (admin_idle_timeout, which lets the customer go) and is then closed; a session no
   * customer joined ends as its PIN would (connecting_timeout).
   */
  #closeOrphan(session: Session, actor: string, nowMs: number): Session | Refusal {
    const allowed = allowedTriggers(session.status);
    if (session.status === S.CONNECTING) {
      if (session.pin !== '') this.#directory.revokePin(session.pin);
      session.pin = '';
      const result = session.apply(T.CONNECTING_TIMEOUT, actor, nowMs);
      if (!result.ok) return refuse(Codes.INVALID_TRANSITION, result.message);
      this.#lifecycle.end(session, nowMs);
      return session;
    }
    if (!allowed.includes(T.TECHNICIAN_CLOSE) && allowed.includes(T.ADMIN_IDLE_TIMEOUT)) {
      const result = this.#lifecycle.apply(session, T.ADMIN_IDLE_TIMEOUT, actor, nowMs);
      if (isRefusal(result) || session.ended) return result;
    }
    return this.#lifecycle.apply(session, T.TECHNICIAN_CLOSE, actor, nowMs);
  }

  #customerClose(session: Session, seat: Seat, reason: string, nowMs: number): Session | Refusal {
    return this.#lifecycle.apply(session, T.CUSTOMER_CLOSE, seat.name, nowMs, () =>
      session.log.event('close', seat.name, reason, nowMs),
    );
  }

  /** A user action by `p` in `session` (chat, operation): the admin idle clocks restart. */
  noteAction(p: Participant, session: Session, nowMs: number): void {
    if (session.ended) return;
    session.lastActionMs = nowMs;
    const seat = this.#directory.placeOf(p);
    const collaborator = seat === undefined ? undefined : session.collaboratorOf(seat);
    if (collaborator !== undefined) collaborator.lastActionMs = nowMs;
  }

  /** The sessions of `technician`'s queue with the status it sees in each. */
  queue(technician: Participant): QueueRow[] {
    const seat = this.#directory.placeOf(technician);
    if (seat === undefined) return [];
    const rows: QueueRow[] = [];
    for (const session of seat.sessions) {
      const status = session.viewOf(seat);
      if (status !== null) rows.push({ session, status, relation: session.relationOf(seat) });
    }
    // sessions this technician quit that wait in its queue (it may pick them up again)
    for (const [session, orphan] of this.#orphans) {
      if (orphan.name !== seat.name || seat.role !== Role.ROLE_TECHNICIAN || session.ended)
        continue;
      if (!allowedTriggers(session.status).includes(T.PICKUP)) continue;
      rows.push({ session, status: session.status, relation: Relation.OWNER });
    }
    return rows;
  }
}

/** The collaborator of `session` with this name or participant id (the latest one listed). */
function collaboratorNamed(session: Session, who: string): Seat | null {
  let found: Seat | null = null;
  for (const seat of session.collaborators.keys()) {
    if (seat.name === who || seat.participantId === who) found = seat;
  }
  return found;
}

/** The base64url characters in ascending byte order: '-' < digits < capitals < '_' < small. */
const SORTED_BASE64URL = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/**
 * 16 base64url characters: 7 that write the creation time in milliseconds (42 bits, with the
 * characters in byte order, so ids sort by creation), then 9 random (54 bits).
 *
 * Why time first: the report store keys its tables and indexes by session id, and a batch of
 * random ids touches a different B-tree page for every report, each written out to the
 * write-ahead log. Ids in creation order land side by side: 2.3 times the reports stored a
 * second (`node dist/bench/micro/run.js --filter "report store"`, "by their session ids", where
 * reports are stored in the order their sessions began; less where sessions end in another
 * order). An id is an identifier, not a secret (what a session grants goes by tokens, PINs and
 * its relations), and 54 random bits keep ids created in the same millisecond apart.
 *
 * An id never starts with '-' (a session id is typed on command lines, `ferry admin end <id>`,
 * where a leading '-' would read as an option): the first character is the time's top 6 bits,
 * '-' only before 1972. The time part wraps after 2^42 ms (the year 2109).
 */
export function newSessionId(nowMs: number = Date.now()): string {
  if (!Number.isFinite(nowMs)) throw new RangeError(`newSessionId: time ${nowMs} is not finite`);
  let t = Math.max(0, Math.floor(nowMs));
  let time = '';
  for (let i = 0; i < 7; i++) {
    time = SORTED_BASE64URL[t % 64]! + time;
    t = Math.floor(t / 64);
  }
  return time + randomId(7).slice(0, 9);
}

/**
 * The stand-in owner of a session whose technician quit (its queue): no connection, so what the
 * session sends its owner goes nowhere; a session with a stand-in owner is not "owner away".
 */
function standInFor(name: string): Participant {
  return {
    id: `queue:${name}`,
    role: Role.ROLE_TECHNICIAN,
    name: `queue of ${name}`,
    remoteAddress: '',
    session: null,
    connected: true,
    sendFrame: () => true,
    end: () => undefined,
  };
}
