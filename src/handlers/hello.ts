/**
 * Hello: the first frame of every connection, authenticated before any session state is
 * touched. A technician shows its signed token; a customer its PIN, a jump client key or a
 * support button id (all rate-limited per address and globally, spec: PIN attempts), or a resume
 * token that takes back a lost connection's place: the Welcome goes first, then what was held
 * for the place, in order.
 */
import { KeyedBuckets, TokenBucket } from '../limits/token-bucket.js';
import { Codes, isRefusal } from '../protocol/codes.js';
import { Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import { statusToWire } from '../session/session.js';
import { verifyToken } from '../session/tokens.js';
import type { HandlerContext } from './context.js';
import { type CustomerJoined, clientRecord, joinCustomer, welcome } from './join.js';
import type { UnattendedAccess } from './unattended.js';

export class HelloHandler {
  readonly #ctx: HandlerContext;
  readonly #unattended: UnattendedAccess;
  readonly #joined: CustomerJoined;
  readonly #pinPerAddress: KeyedBuckets;
  readonly #pinGlobal: TokenBucket;

  constructor(ctx: HandlerContext, unattended: UnattendedAccess, joined: CustomerJoined) {
    this.#ctx = ctx;
    this.#unattended = unattended;
    this.#joined = joined;
    const perMinute = ctx.config.pinAttemptsPerMinute;
    const perSecond = ctx.config.pinAttemptsPerSecond;
    this.#pinPerAddress = new KeyedBuckets(perMinute / 60, perMinute, 100_000);
    this.#pinGlobal = new TokenBucket(perSecond, perSecond * 5, performance.now());
  }

  /** Forgets per-address PIN buckets that have refilled (memory stays bounded). */
  prune(nowMs: number): void {
    this.#pinPerAddress.prune(nowMs);
  }

  onHello(peer: RelayPeer, bytes: Uint8Array): void {
    const ctx = this.#ctx;
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch (err) {
      const text = `frame is not valid protobuf: ${(err as Error).message}`;
      ctx.fail(peer, Codes.FRAME_DECODE, text);
      return;
    }
    const hello = frame.control?.hello;
    const requestId = frame.control?.requestId ?? 0;
    if (hello == null) {
      ctx.fail(peer, Codes.HELLO_REQUIRED, 'the first frame must be a CONTROL Hello', requestId);
      return;
    }
    if (hello.role === Role.ROLE_TECHNICIAN) {
      this.#technician(peer, hello, requestId);
      return;
    }
    if (hello.role === Role.ROLE_CUSTOMER) {
      this.#customer(peer, hello, requestId);
      return;
    }
    ctx.fail(peer, Codes.ROLE_INVALID, 'Hello must name role TECHNICIAN or CUSTOMER', requestId);
  }

  #technician(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const ctx = this.#ctx;
    const check = verifyToken(ctx.config.secret, hello.token ?? '');
    if (!check.ok) {
      ctx.fail(peer, Codes[codeName(check.code)], check.message, requestId);
      return;
    }
    peer.role = Role.ROLE_TECHNICIAN;
    peer.name = check.claims.sub;
    peer.state = PeerState.READY;
    const grants = ctx.admit(peer, check.claims);
    this.#unattended.onTechnician(peer, grants);
    // A technician is authenticated by its token: a stale resume token just starts afresh.
    const claimed = hello.resumeToken ? ctx.registry.claimResume(peer, hello.resumeToken) : null;
    const seat = claimed === null || isRefusal(claimed) ? ctx.registry.seatOf(peer) : claimed;
    seat.client = clientRecord(hello.client);
    // spec session-tools B2: a picture stored earlier stays the technician's until it names another
    const stored = ctx.tools.avatars.refOf(peer.name);
    if (seat.client.avatarRef === '' && stored !== undefined) {
      seat.client = { ...seat.client, avatarRef: stored };
    }
    // D1 and the other operator permissions: the token's claim, else the gateway's defaults
    seat.permissions = grants.perms;
    const resumed = claimed !== null && !isRefusal(claimed);
    welcome(ctx, peer, requestId, '', seat, resumed, 0);
    if (resumed) ctx.registry.completeResume(peer, seat);
  }

  #customer(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const ctx = this.#ctx;
    if (hello.resumeToken) {
      this.#resumeCustomer(peer, hello.resumeToken, requestId);
      return;
    }
    if (hello.jumpClientId || hello.supportButtonId) {
      // jump client keys and support button ids are guessed no faster than PINs
      if (!this.#admitAttempt(peer, requestId)) return;
      this.#unattended.onCustomerHello(peer, hello, requestId);
      return;
    }
    if (!hello.pin) {
      const text = 'a customer Hello needs the PIN from the technician';
      ctx.fail(peer, Codes.ROLE_INVALID, text, requestId);
      return;
    }
    if (!this.#admitAttempt(peer, requestId)) return;
    const session = ctx.registry.claimPin(hello.pin.replace(/[\s-]/g, ''));
    if (isRefusal(session)) {
      ctx.fail(peer, session.entry, session.message, requestId);
      return;
    }
    joinCustomer(ctx, this.#joined, peer, hello, session, requestId);
  }

  /** spec: PIN attempts are limited per address and globally, before any book is consulted. */
  #admitAttempt(peer: RelayPeer, requestId: number): boolean {
    const now = performance.now();
    if (this.#pinPerAddress.take(peer.remoteAddress, now) && this.#pinGlobal.take(now)) return true;
    this.#ctx.registry.pinRateLimited++;
    this.#ctx.logger.warn({ address: peer.remoteAddress }, 'PIN attempts rate-limited');
    this.#ctx.fail(peer, Codes.RATE_LIMITED, 'too many PIN attempts; wait a minute', requestId);
    return false;
  }

  #resumeCustomer(peer: RelayPeer, token: string, requestId: number): void {
    const ctx = this.#ctx;
    peer.role = Role.ROLE_CUSTOMER;
    const seat = ctx.registry.claimResume(peer, token);
    if (isRefusal(seat)) {
      peer.role = 0 as RelayPeer['role'];
      ctx.fail(peer, seat.entry, seat.message, requestId);
      return;
    }
    peer.name = seat.name;
    peer.state = PeerState.READY;
    const session = [...seat.sessions][0]!;
    welcome(ctx, peer, requestId, session.id, seat, true, statusToWire(session.status));
    ctx.registry.completeResume(peer, seat);
  }
}

function codeName(code: string): keyof typeof Codes {
  return code.replace('FERRY_ERR_', '') as keyof typeof Codes;
}
