/**
 * What every message handler shares: the gateway's services, the reply and refusal helpers, the
 * guards an operation starts with (technician, customer, participant, working technician), each
 * technician connection's permissions (fixed at its Hello), the elevated customer clients, and
 * filing of requests forwarded to a customer in the session's one pending table
 * (src/session/pending.ts, whose `Session.answer` is the one place that decides whether an answer
 * still reaches the technician who asked).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Fleet, RedirectTarget } from '../directory/fleet.js';
import { CloseCodes, type CodeEntry, Codes, isRefusal, type Refusal } from '../protocol/codes.js';
import { Channel, controlFrame, Role } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { Refusals } from '../relay/refusals.js';
import type { RelayStats } from '../relay/stats.js';
import {
  defaultGrants,
  grantsOf,
  type TechnicianGrants,
  type TechnicianPermission,
} from '../session/access-policy.js';
import { intern } from '../session/intern.js';
import type { Participant } from '../session/participant.js';
import type { PendingRequest } from '../session/pending.js';
import type { SessionRegistry } from '../session/registry.js';
import type { RelayRtt, Seat } from '../session/seat.js';
import { Relation, type Session, statusToWire } from '../session/session.js';
import type { TokenClaims } from '../session/tokens.js';
import type { SessionTools } from '../session/tools.js';

export const MAX_ERROR = 512;
const MAX_NAME_LENGTH = 64;

/** The session a technician works, with its customer connected. */
export interface Working {
  readonly session: Session;
  readonly seat: Seat;
  readonly customer: Seat;
}

export interface ContextOptions {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly tools: SessionTools;
  readonly stats: RelayStats;
  readonly refusals: Refusals;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger: Logger;
  readonly fleet: Fleet | null;
  readonly adopt: (sessionId: string, from: string) => Promise<boolean>;
  readonly place: (session: Session, customer: readonly RelayRtt[]) => void;
  readonly moveTo: (session: Session, gatewayId: string, reason: string) => Promise<boolean>;
}

/** Printable, bounded text. */
export function clean(raw: string | null | undefined, max: number, keepNewlines = false): string {
  const pattern = keepNewlines ? /[^\P{Cc}\n\t]/gu : /\p{Cc}/gu;
  return (raw ?? '').replace(pattern, ' ').slice(0, max);
}

/** Printable, bounded display names: control characters removed, at most 64 characters. */
export function cleanName(raw: string | null | undefined, fallback: string): string {
  const name = (raw ?? '')
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, MAX_NAME_LENGTH);
  // names, versions and labels repeat across sessions: one copy of each
  return name === '' ? fallback : intern(name);
}

/** The Codes entry of a `ToolError` code (registry failures), or INVALID_ARGUMENT. */
export function entryOf(err: unknown): CodeEntry {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const key = code.replace('FERRY_ERR_', '') as keyof typeof Codes;
    if (Object.hasOwn(Codes, key)) return Codes[key];
  }
  return Codes.INVALID_ARGUMENT;
}

export class HandlerContext {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly tools: SessionTools;
  readonly stats: RelayStats;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger: Logger;
  /** This gateway's part in a deployment sharing a directory, or null (one process alone). */
  readonly fleet: Fleet | null;
  /** Takes over a session whose owner died; false when it cannot (journaling off, lost race). */
  readonly adopt: (sessionId: string, from: string) => Promise<boolean>;
  /** Relay choice at a customer's join (the gateway's `#place`); nothing without a directory. */
  readonly place: (session: Session, customer: readonly RelayRtt[]) => void;
  /** Moves a live session to gateway `gatewayId` of the deployment (false when it cannot). */
  readonly moveTo: (session: Session, gatewayId: string, reason: string) => Promise<boolean>;
  /** Customer clients that run with administrative rights (spec session-tools A1.3). */
  readonly elevated = new WeakSet<Session>();
  /** Connections whose Hello said they can open a direct path (direct.proto). */
  readonly directCapable = new WeakSet<RelayPeer>();
  readonly #refusals: Refusals;
  readonly #defaults: ReturnType<typeof defaultGrants>;
  readonly #grants = new WeakMap<Participant, TechnicianGrants>();

  /** Throws RangeError when the operator's default permissions or team are not valid. */
  constructor(options: ContextOptions) {
    this.config = options.config;
    this.registry = options.registry;
    this.tools = options.tools;
    this.stats = options.stats;
    this.gatewayId = options.gatewayId;
    this.version = options.version;
    this.logger = options.logger;
    this.fleet = options.fleet;
    this.adopt = options.adopt;
    this.place = options.place;
    this.moveTo = options.moveTo;
    this.#refusals = options.refusals;
    this.#defaults = defaultGrants(options.config);
  }

  // --- replies -------------------------------------------------------------------------------

  /** One coded Error to `peer` naming the frame's channel (CONTROL unless said). */
  fail(
    peer: RelayPeer,
    entry: CodeEntry,
    message: string,
    requestId = 0,
    channel: number = Channel.CHANNEL_CONTROL,
    stream = 0,
  ): void {
    this.#refusals.fail(peer, entry, message, requestId, channel, stream);
  }

  /**
   * Sends a Hello to the gateway that owns what it named: a Redirect answering it, then close
   * 4010. The client says the same Hello there.
   */
  redirect(peer: RelayPeer, requestId: number, target: RedirectTarget): void {
    const { member, reason } = target;
    this.logger.debug({ conn: peer.id, to: member.id, reason }, 'Hello redirected');
    peer.sendFrame(
      controlFrame({ requestId, redirect: { url: member.url, gatewayId: member.id, reason } }),
    );
    peer.end(CloseCodes.REDIRECT, 'redirect');
  }

  /**
   * Answers an operation: its coded refusal, or (when the client asked with a request id) Done
   * with the session's status as the requester now sees it.
   */
  reply(peer: RelayPeer, requestId: number, result: Session | Refusal): void {
    if (isRefusal(result)) {
      this.fail(peer, result.entry, result.message, requestId);
      return;
    }
    this.registry.noteAction(peer, result);
    if (requestId === 0) return;
    const seat = this.registry.seatOf(peer);
    const view = result.viewOf(seat) ?? 'REMOVED_FROM_TC_QUEUE';
    const done = controlFrame({
      requestId,
      done: { sessionId: result.id, status: statusToWire(view) },
    });
    // after what it acknowledges is kept (and after the events of the change)
    result.acknowledge(() => peer.sendFrame(done));
  }

  /** Answers a query: its coded refusal, or the reply carrying `requestId`. */
  answer<K extends 'chatHistory' | 'sessionSummary' | 'notes' | 'avatar'>(
    peer: RelayPeer,
    requestId: number,
    key: K,
    result: NonNullable<ferry.v1.Control.$Properties[K]> | Refusal,
  ): void {
    if (isRefusal(result)) {
      this.fail(peer, result.entry, result.message, requestId);
      return;
    }
    if (peer.session !== null) this.registry.noteAction(peer, peer.session);
    peer.sendFrame(controlFrame({ requestId, [key]: result }));
  }

  /** Done for an operation that changed no status: the session as the requester sees it. */
  done(peer: RelayPeer, requestId: number, session: Session | null): void {
    if (requestId === 0) return;
    const seat = this.registry.placeOf(peer);
    const status =
      session === null || seat === undefined ? 0 : statusToWire(session.viewOf(seat) ?? 'CLOSED');
    const done = controlFrame({ requestId, done: { sessionId: session?.id ?? '', status } });
    if (session === null) peer.sendFrame(done);
    else session.acknowledge(() => peer.sendFrame(done));
  }

  /** Relayed-frame counters of a frame the gateway wrote for `session`. */
  count(session: Session, channel: number, length: number, copies = 1): void {
    session.relayedFrames[channel]!++;
    session.relayedBytes[channel]! += length;
    this.stats.outFrames[channel]! += copies;
    this.stats.outBytes[channel]! += copies * length;
  }

  /**
   * An operation that finishes later (a registry write): a rejection is what a throw is at the
   * dispatch point, logged, counted and answered FERRY_ERR_INTERNAL, never an unhandled rejection.
   */
  settle(peer: RelayPeer, name: string, work: Promise<void>, requestId: number): void {
    work.catch((err: unknown) => {
      this.stats.handlerErrors.set(name, (this.stats.handlerErrors.get(name) ?? 0) + 1);
      this.logger.error({ err, handler: name, conn: peer.id }, 'handler failed');
      this.fail(peer, Codes.INTERNAL, `the gateway failed handling ${name}`, requestId);
    });
  }

  // --- who asks ------------------------------------------------------------------------------

  /** A technician said Hello with a verified token: its grants from now on. */
  admit(peer: Participant, claims: TokenClaims): TechnicianGrants {
    const grants = grantsOf(claims, this.#defaults);
    this.#grants.set(peer, grants);
    return grants;
  }

  /** The permissions and teams of a technician connection. */
  grants(peer: Participant): TechnicianGrants | undefined {
    return this.#grants.get(peer);
  }

  technician(peer: RelayPeer, requestId: number): boolean {
    if (peer.role === Role.ROLE_TECHNICIAN) return true;
    this.fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
    return false;
  }

  /** The technician has `permission`; refuses (customers: WRONG_ROLE) otherwise. */
  permit(peer: RelayPeer, permission: TechnicianPermission, requestId: number): boolean {
    const grants = this.#grants.get(peer);
    if (peer.role !== Role.ROLE_TECHNICIAN || grants === undefined) {
      this.fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
      return false;
    }
    if (grants.perms.has(permission)) return true;
    this.fail(peer, Codes.PERMISSION_DENIED, `you lack the ${permission} permission`, requestId);
    return false;
  }

  /** The session the technician works (owner or collaborator), with its customer connected. */
  working(
    peer: RelayPeer,
    sessionId: string | null | undefined,
    requestId: number,
  ): Working | null {
    const id = sessionId || peer.session?.id || '';
    const session = this.registry.get(id);
    if (session === undefined) {
      this.fail(peer, Codes.SESSION_NOT_FOUND, `no session ${id}`, requestId);
      return null;
    }
    const seat = this.registry.seatOf(peer);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) {
      this.fail(
        peer,
        Codes.NOT_IN_SESSION,
        'only the owner or a collaborator of the session may',
        requestId,
      );
      return null;
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null || !session.flowing) {
      this.fail(
        peer,
        Codes.WRONG_STATE,
        `needs a live session with its customer connected (the session is ${session.statusName()})`,
        requestId,
      );
      return null;
    }
    return { session, seat, customer };
  }

  /** The customer connection's own live session. */
  customerSession(peer: RelayPeer, requestId: number): Session | null {
    if (peer.role !== Role.ROLE_CUSTOMER) {
      this.fail(peer, Codes.WRONG_ROLE, 'only the customer may send this', requestId);
      return null;
    }
    const session = peer.session;
    if (session === null || session.ended || session.customer !== peer) {
      this.fail(peer, Codes.NOT_IN_SESSION, 'the customer is in no live session', requestId);
      return null;
    }
    return session;
  }

  // --- requests waiting for the customer ------------------------------------------------------

  /** Files a request to the customer of `session` (src/session/pending.ts): its ticket. */
  ask(session: Session, request: PendingRequest): number {
    const ticket = session.nextRequestId();
    session.pending.add(ticket, request);
    return ticket;
  }
}
