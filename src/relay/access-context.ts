/**
 * What the handlers of session tools II share (src/relay/access.ts): the gateway's services, each
 * technician connection's permissions and teams (fixed at its Hello, from its token or the
 * operator's defaults), the elevated customer clients, requests waiting for the customer's answer,
 * and the checks every operation starts with: the permission, the session the technician works,
 * the customer's own session. Each check answers a refusal with its coded Error and false/null.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Codes } from '../protocol/codes.js';
import { controlFrame, Role } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import {
  defaultGrants,
  grantsOf,
  type TechnicianGrants,
  type TechnicianPermission,
} from '../session/access-policy.js';
import type { Participant } from '../session/participant.js';
import type { CodeEntry, SessionRegistry } from '../session/registry.js';
import type { Seat } from '../session/seat.js';
import { Relation, type Session, statusToWire } from '../session/session.js';
import type { TokenClaims } from '../session/tokens.js';
import type { RelayPeer } from './peer.js';

export type Fail = (peer: RelayPeer, entry: CodeEntry, message: string, requestId?: number) => void;
/** control.ts `joinCustomer`: Welcome, then applet_connected. */
export type Join = (
  peer: RelayPeer,
  hello: ferry.v1.Hello.$Properties,
  session: Session,
  requestId: number,
  how: string,
) => void;

const MAX_PENDING = 64;
export const MAX_ERROR = 512;

/** A request forwarded to the customer, waiting for its answer (by ticket). */
export interface Pending {
  readonly kind: 'script' | 'elevate' | 'task';
  readonly seat: Seat;
  readonly requestId: number;
  readonly label: string;
  /** Who the request is logged as coming from, when not the technician of `seat` ("policy"). */
  readonly by?: string;
  /** A special task's context (SpecialActionContext). */
  readonly context?: number;
}

export interface ContextOptions {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly fail: Fail;
  readonly join: Join;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger?: Logger;
}

/** Printable, bounded text. */
export function clean(raw: string | null | undefined, max: number, keepNewlines = false): string {
  const pattern = keepNewlines ? /[^\P{Cc}\n\t]/gu : /\p{Cc}/gu;
  return (raw ?? '').replace(pattern, ' ').slice(0, max);
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

export class AccessContext {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly fail: Fail;
  readonly join: Join;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger: Logger | null;
  /** Customer clients that run with administrative rights (A1.3). */
  readonly elevated = new WeakSet<Session>();
  readonly #defaults: ReturnType<typeof defaultGrants>;
  readonly #grants = new WeakMap<Participant, TechnicianGrants>();
  readonly #pending = new WeakMap<Session, Map<number, Pending>>();

  constructor(options: ContextOptions) {
    this.config = options.config;
    this.registry = options.registry;
    this.fail = options.fail;
    this.join = options.join;
    this.gatewayId = options.gatewayId;
    this.version = options.version;
    this.logger = options.logger ?? null;
    this.#defaults = defaultGrants(options.config);
  }

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
  ): { session: Session; seat: Seat; customer: Seat } | null {
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

  /** Files a request to the customer of `session`: the ticket its answer must carry. */
  ask(session: Session, pending: Pending): number {
    const ticket = session.nextRequestId();
    let map = this.#pending.get(session);
    if (map === undefined) {
      map = new Map();
      this.#pending.set(session, map);
    }
    if (map.size >= MAX_PENDING) map.delete(map.keys().next().value as number);
    map.set(ticket, pending);
    return ticket;
  }

  take(session: Session, ticket: number, kind: Pending['kind']): Pending | null {
    const map = this.#pending.get(session);
    const pending = map?.get(ticket);
    if (pending === undefined || pending.kind !== kind) return null;
    map!.delete(ticket);
    return pending;
  }

  /**
   * The customer's answer goes to the technician who asked, only while it still works the
   * session: one removed, gone or transferred away since hears nothing of the customer's machine.
   */
  answer(session: Session, pending: Pending, frame: Uint8Array): void {
    const relation = session.relationOf(pending.seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) return;
    session.deliver(pending.seat, frame);
  }

  done(peer: RelayPeer, requestId: number, session: Session | null): void {
    if (requestId === 0) return;
    const seat = this.registry.placeOf(peer);
    const status =
      session === null || seat === undefined ? 0 : statusToWire(session.viewOf(seat) ?? 'CLOSED');
    peer.sendFrame(controlFrame({ requestId, done: { sessionId: session?.id ?? '', status } }));
  }
}
