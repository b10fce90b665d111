/**
 * Hello: the first frame of every connection, authenticated before any session state is
 * touched. A technician shows its signed token (a JWT verified asynchronously: no other frame of
 * the connection is handled meanwhile, and a connection that closed meanwhile is not admitted; a
 * legacy ft1 token logs a deprecation warning once per technician; a revoked token's id ends
 * its live connections); a customer its PIN, a jump client key or a
 * support button id (all rate-limited per address and globally, spec: PIN attempts), or a resume
 * token that takes back a lost connection's place: the Welcome goes first, then what was held
 * for the place, in order.
 */

import type { RedirectTarget } from '../directory/fleet.js';
import { KeyedBuckets, TokenBucket } from '../limits/token-bucket.js';
import { Codes, isRefusal } from '../protocol/codes.js';
import { Channel, encodeFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import { DenyList, loadJwksFile, TechnicianVerifier } from '../session/jwt.js';
import { relayRttsOf } from '../session/seat.js';
import { statusToWire } from '../session/session.js';
import type { TokenClaims } from '../session/tokens.js';
import type { HandlerContext } from './context.js';
import { type CustomerJoined, clientRecord, joinCustomer, welcome } from './join.js';
import type { UnattendedAccess } from './unattended.js';

/** Probes (Pings before the Hello) a connection may send: three samples a measurement, and room. */
const MAX_PROBES = 8;

/** A place found in the deployment is now this gateway's (its session was taken over). */
const HERE = Symbol('here');

export class HelloHandler {
  readonly #ctx: HandlerContext;
  readonly #unattended: UnattendedAccess;
  readonly #joined: CustomerJoined;
  readonly #pinPerAddress: KeyedBuckets;
  readonly #pinGlobal: TokenBucket;
  readonly #deny: DenyList;
  readonly #verifier: TechnicianVerifier;
  /** Technician connections whose token is being verified. */
  readonly #verifying = new WeakSet<RelayPeer>();
  /**
   * Connections waiting for the shared directory (where what their Hello named lives, their
   * guesses counted), with the newest wait: a wait that ends clears only its own mark, not one
   * a nested wait made since.
   */
  readonly #lookingUp = new WeakMap<RelayPeer, object>();
  /** Probes answered per connection before its Hello. */
  readonly #probes = new WeakMap<RelayPeer, number>();
  /** Live technician connections by token id, ended when the id is revoked. */
  readonly #byJti = new Map<string, Set<RelayPeer>>();
  /** Technicians already warned about their deprecated ft1 token. */
  readonly #warnedLegacy = new Set<string>();

  constructor(ctx: HandlerContext, unattended: UnattendedAccess, joined: CustomerJoined) {
    this.#ctx = ctx;
    this.#unattended = unattended;
    this.#joined = joined;
    const perMinute = ctx.config.pinAttemptsPerMinute;
    const perSecond = ctx.config.pinAttemptsPerSecond;
    this.#pinPerAddress = new KeyedBuckets(perMinute / 60, perMinute, 100_000);
    this.#pinGlobal = new TokenBucket(perSecond, perSecond * 5, performance.now());
    this.#deny = new DenyList(ctx.config.dataDir);
    this.#deny.refresh();
    const jwksFile = ctx.config.jwksFile;
    this.#verifier = new TechnicianVerifier({
      secret: ctx.config.secret,
      scope: { audience: ctx.config.tokenAudience, issuer: ctx.config.tokenIssuer },
      jwks: jwksFile === '' ? null : loadJwksFile(jwksFile),
      deny: this.#deny,
    });
  }

  /**
   * Re-reads the deny-list when its file changed (one stat) and ends the live technician
   * connections of newly revoked tokens with FERRY_ERR_TOKEN_REVOKED.
   */
  checkRevocations(): void {
    let added: string[];
    try {
      added = this.#deny.refresh();
    } catch (err) {
      this.#ctx.logger.error({ err, file: this.#deny.file }, 'cannot read the token deny-list');
      return;
    }
    for (const jti of added) {
      const peers = this.#byJti.get(jti);
      if (peers === undefined) continue;
      this.#byJti.delete(jti);
      for (const peer of peers) {
        if (peer.state === PeerState.CLOSED) continue;
        this.#ctx.logger.info({ conn: peer.id, jti, name: peer.name }, 'technician token revoked');
        this.#ctx.fail(peer, Codes.TOKEN_REVOKED, `technician token ${jti} was revoked`);
      }
    }
  }

  /** Forgets per-address PIN buckets that have refilled (memory stays bounded). */
  prune(nowMs: number): void {
    this.#pinPerAddress.prune(nowMs);
    for (const [jti, peers] of this.#byJti) {
      for (const peer of peers) if (peer.state === PeerState.CLOSED) peers.delete(peer);
      if (peers.size === 0) this.#byJti.delete(jti);
    }
  }

  onHello(peer: RelayPeer, bytes: Uint8Array): void {
    const ctx = this.#ctx;
    // HEARTBEAT before the Hello: a probe (a Ping) is answered, anything else is not a Hello
    if (bytes[1] === Channel.CHANNEL_HEARTBEAT) {
      let ping: ferry.v1.IPing | null | undefined;
      try {
        ping = ferry.v1.Frame.decode(bytes).heartbeat?.ping;
      } catch {
        ping = null;
      }
      if (ping == null) {
        const text = 'send Hello first (a HEARTBEAT before it may only be a Ping probe)';
        ctx.fail(peer, Codes.HELLO_REQUIRED, text, 0, Channel.CHANNEL_HEARTBEAT);
      } else this.#probe(peer, ping.seq ?? 0);
      return;
    }
    if (this.#verifying.has(peer) || this.#lookingUp.has(peer)) {
      ctx.fail(peer, Codes.HELLO_DUPLICATE, 'wait for the Welcome of the first Hello');
      return;
    }
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
    // copies for a resume's replay only for a client that counts and acknowledges
    peer.keepsReplay = hello.countsReliable === true || hello.replay != null;
    if (hello.direct === true) ctx.directCapable.add(peer);
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
    this.checkRevocations();
    const check = this.#verifier.check(hello.token ?? '');
    if (!(check instanceof Promise)) {
      // an ft1 or a malformed token: answered in this frame's turn
      this.#admitTechnician(peer, hello, requestId, check);
      return;
    }
    this.#verifying.add(peer);
    const work = check
      .then((verdict) => {
        // closed (or timed out) while the token was verified: nothing to admit
        if (peer.state === PeerState.AWAITING_HELLO) {
          this.#admitTechnician(peer, hello, requestId, verdict);
        }
      })
      .finally(() => {
        this.#verifying.delete(peer);
      });
    this.#ctx.settle(peer, 'hello', work, requestId);
  }

  #admitTechnician(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    requestId: number,
    check: Awaited<ReturnType<TechnicianVerifier['check']>>,
  ): void {
    const ctx = this.#ctx;
    if (!check.ok) {
      ctx.fail(peer, Codes[codeName(check.code)], check.message, requestId);
      return;
    }
    // a place this gateway does not hold may be another's of the deployment: it goes there
    const token = hello.resumeToken ?? '';
    if (token !== '' && ctx.fleet?.available && !ctx.registry.holdsResume(token)) {
      const seat = () => this.#seatTechnician(peer, hello, requestId, check.claims, check.legacy);
      this.#lookUp(peer, requestId, this.#findResume(token), seat, seat);
      return;
    }
    this.#seatTechnician(peer, hello, requestId, check.claims, check.legacy);
  }

  /** A technician whose token was verified takes its place: a resumed one, or a new one. */
  #seatTechnician(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    requestId: number,
    claims: TokenClaims,
    legacy: boolean,
  ): void {
    const ctx = this.#ctx;
    if (legacy && !this.#warnedLegacy.has(claims.sub)) {
      if (this.#warnedLegacy.size >= 10_000) this.#warnedLegacy.clear();
      this.#warnedLegacy.add(claims.sub);
      ctx.logger.warn(
        { name: claims.sub, jti: claims.jti },
        'deprecated ft1 technician token: issue a JWT with `ferry token issue`; ft1 tokens stop working in the next release',
      );
    }
    if (claims.jti !== '') {
      const peers = this.#byJti.get(claims.jti) ?? new Set<RelayPeer>();
      peers.add(peer);
      this.#byJti.set(claims.jti, peers);
    }
    peer.role = Role.ROLE_TECHNICIAN;
    peer.name = claims.sub;
    peer.state = PeerState.READY;
    const grants = ctx.admit(peer, claims);
    this.#unattended.onTechnician(peer, grants);
    // A technician is authenticated by its token: a stale resume token just starts afresh.
    const claimed = hello.resumeToken ? ctx.registry.claimResume(peer, hello.resumeToken) : null;
    const seat = claimed === null || isRefusal(claimed) ? ctx.registry.seatOf(peer) : claimed;
    seat.client = clientRecord(hello.client);
    seat.relayRtts = relayRttsOf(hello.relayRtts);
    // spec session-tools B2: a picture stored earlier stays the technician's until it names another
    const stored = ctx.tools.avatars.refOf(peer.name);
    if (seat.client.avatarRef === '' && stored !== undefined) {
      seat.client = { ...seat.client, avatarRef: stored };
    }
    // D1 and the other operator permissions: the token's claim, else the gateway's defaults
    seat.permissions = grants.perms;
    const resumed = claimed !== null && !isRefusal(claimed);
    welcome(ctx, peer, requestId, '', seat, resumed, 0);
    if (resumed) ctx.registry.completeResume(peer, seat, replayPoint(hello));
  }

  #customer(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const ctx = this.#ctx;
    if (hello.resumeToken) {
      this.#resumeCustomer(peer, hello, replayPoint(hello), requestId, true);
      return;
    }
    if (hello.jumpClientId || hello.supportButtonId) {
      // jump client keys and support button ids are guessed no faster than PINs
      if (!this.#admitAttempt(peer, requestId)) return;
      this.#admitShared(peer, requestId, () => this.#unattendedHello(peer, hello, requestId));
      return;
    }
    if (!hello.pin) {
      const text = 'a customer Hello needs the PIN from the technician';
      ctx.fail(peer, Codes.ROLE_INVALID, text, requestId);
      return;
    }
    if (!this.#admitAttempt(peer, requestId)) return;
    this.#admitShared(peer, requestId, () => this.#joinByPin(peer, hello, requestId));
  }

  /**
   * In a deployment, a guess counts against its address on every gateway at once (the shared
   * directory counts them per minute): spreading guesses over gateways gains nothing. Without a
   * directory, or while it is unreachable, the local limits alone apply.
   */
  #admitShared(peer: RelayPeer, requestId: number, next: () => void): void {
    const fleet = this.#ctx.fleet;
    if (fleet === null || !fleet.available) {
      next();
      return;
    }
    const release = this.#waitOnDirectory(peer);
    const work = fleet.shared
      .countAttempt(peer.remoteAddress)
      .then(
        (count) => {
          if (peer.state !== PeerState.AWAITING_HELLO) return;
          if (count <= this.#ctx.config.pinAttemptsPerMinute) next();
          else this.#refuseAttempt(peer, requestId, 'across the gateways of the deployment');
        },
        () => {
          // the count could not be made: the local limits stood, the Hello goes on
          if (peer.state === PeerState.AWAITING_HELLO) next();
        },
      )
      .finally(release);
    this.#ctx.settle(peer, 'hello', work, requestId);
  }

  /**
   * A jump client or support button Hello: answered at once by the file registry, or once the
   * shared directory's registry answers (the connection waits, as for a PIN lookup).
   */
  #unattendedHello(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const work = this.#unattended.onCustomerHello(peer, hello, requestId);
    if (work === undefined) return;
    const release = this.#waitOnDirectory(peer);
    this.#ctx.settle(peer, 'hello', work.finally(release), requestId);
  }

  /** Marks `peer` as waiting on the directory (a second Hello meanwhile is refused). */
  #waitOnDirectory(peer: RelayPeer): () => void {
    const mark = {};
    this.#lookingUp.set(peer, mark);
    return () => {
      if (this.#lookingUp.get(peer) === mark) this.#lookingUp.delete(peer);
    };
  }

  #joinByPin(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const ctx = this.#ctx;
    const pin = (hello.pin ?? '').replace(/[\s-]/g, '');
    const session = ctx.registry.claimPin(pin);
    if (!isRefusal(session)) {
      ctx.fleet?.pinTaken(pin);
      joinCustomer(ctx, this.#joined, peer, hello, session, requestId);
      // relay choice: with both legs' measurements, the session may go where the worse is faster
      const rtts = relayRttsOf(hello.relayRtts);
      if (rtts.length > 0) ctx.place(session, rtts);
      return;
    }
    const fleet = ctx.fleet;
    if (fleet === null) {
      ctx.fail(peer, session.entry, session.message, requestId);
      return;
    }
    // not this gateway's: another of the deployment may hold it
    if (!fleet.available) {
      this.#directoryDown(peer, requestId, 'find the PIN');
      return;
    }
    const refuse = () => ctx.fail(peer, session.entry, session.message, requestId);
    this.#lookUp(peer, requestId, fleet.ownerOfPin(pin), refuse, refuse);
  }

  /**
   * Where a resume token's place is in the deployment: another live gateway (a redirect), here
   * once a session whose owner died is taken over (HERE), or nowhere (null).
   */
  async #findResume(token: string): Promise<RedirectTarget | typeof HERE | null> {
    const fleet = this.#ctx.fleet!;
    const found = await fleet.findResume(token);
    if (found === null || 'member' in found) return found;
    if (await this.#ctx.adopt(found.sessionId, found.from)) return HERE;
    // another survivor took it over first: the place is there now
    return fleet.ownerOfResume(token);
  }

  /**
   * Waits for the shared directory's answer to where something a Hello named lives: a redirect
   * there, or `otherwise()` when no other live gateway holds it. No other frame of the
   * connection is handled meanwhile; a connection closed meanwhile is left alone.
   */
  #lookUp(
    peer: RelayPeer,
    requestId: number,
    owner: Promise<RedirectTarget | typeof HERE | null>,
    here: () => void,
    otherwise: () => void,
  ): void {
    const release = this.#waitOnDirectory(peer);
    const work = owner
      .then(
        (target) => {
          if (peer.state !== PeerState.AWAITING_HELLO) return;
          if (target === HERE) here();
          else if (target === null) otherwise();
          else this.#ctx.redirect(peer, requestId, target);
        },
        (err: unknown) => {
          this.#ctx.logger.warn({ err, conn: peer.id }, 'shared directory lookup failed');
          if (peer.state === PeerState.AWAITING_HELLO) {
            this.#directoryDown(peer, requestId, 'look it up');
          }
        },
      )
      .finally(release);
    this.#ctx.settle(peer, 'hello', work, requestId);
  }

  #directoryDown(peer: RelayPeer, requestId: number, what: string): void {
    const text = `the shared directory cannot be reached to ${what}; try again in a moment`;
    this.#ctx.fail(peer, Codes.DIRECTORY_UNAVAILABLE, text, requestId);
  }

  /**
   * A Ping before the Hello: a client measuring its RTT to the gateways it may use (relay
   * choice). Answered at once with the seq, this gateway's id and its load; a few per
   * connection, then it must say Hello.
   */
  #probe(peer: RelayPeer, seq: number): void {
    const ctx = this.#ctx;
    const count = (this.#probes.get(peer) ?? 0) + 1;
    this.#probes.set(peer, count);
    if (count > MAX_PROBES) {
      const text = `at most ${MAX_PROBES} probes before the Hello`;
      ctx.fail(peer, Codes.HELLO_REQUIRED, text, 0, Channel.CHANNEL_HEARTBEAT);
      return;
    }
    // at once: the client times the answer
    peer.sendFrame(
      encodeFrame({
        channel: Channel.CHANNEL_HEARTBEAT,
        heartbeat: {
          pong: { seq, gatewayId: ctx.gatewayId, sessions: ctx.registry.sessions.size },
        },
      }),
      true,
    );
  }

  /** spec: PIN attempts are limited per address and globally, before any book is consulted. */
  #admitAttempt(peer: RelayPeer, requestId: number): boolean {
    const now = performance.now();
    if (this.#pinPerAddress.take(peer.remoteAddress, now) && this.#pinGlobal.take(now)) return true;
    this.#refuseAttempt(peer, requestId, 'on this gateway');
    return false;
  }

  #refuseAttempt(peer: RelayPeer, requestId: number, where: string): void {
    this.#ctx.registry.pinRateLimited++;
    this.#ctx.logger.warn({ address: peer.remoteAddress, where }, 'PIN attempts rate-limited');
    this.#ctx.fail(peer, Codes.RATE_LIMITED, 'too many PIN attempts; wait a minute', requestId);
  }

  #resumeCustomer(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    received: number | null,
    requestId: number,
    lookUp: boolean,
  ): void {
    const ctx = this.#ctx;
    const token = hello.resumeToken ?? '';
    peer.role = Role.ROLE_CUSTOMER;
    const seat = ctx.registry.claimResume(peer, token);
    if (isRefusal(seat)) {
      peer.role = 0 as RelayPeer['role'];
      const refuse = () => ctx.fail(peer, seat.entry, seat.message, requestId);
      // a place this gateway does not hold may be another's, or a dead owner's to take over
      if (
        !lookUp ||
        ctx.fleet === null ||
        !ctx.fleet.available ||
        ctx.registry.holdsResume(token)
      ) {
        refuse();
        return;
      }
      const again = () => this.#resumeCustomer(peer, hello, received, requestId, false);
      this.#lookUp(peer, requestId, this.#findResume(token), again, refuse);
      return;
    }
    peer.name = seat.name;
    peer.state = PeerState.READY;
    const session = [...seat.sessions][0]!;
    welcome(ctx, peer, requestId, session.id, seat, true, statusToWire(session.status));
    ctx.registry.completeResume(peer, seat, received);
    this.#unattended.onCustomerResumed(peer, session, hello);
  }
}

/** How many reliable frames of its lost connection the client received, if it counts them. */
function replayPoint(hello: ferry.v1.Hello.$Properties): number | null {
  const received = hello.replay?.received;
  return received == null ? null : Number(received);
}

function codeName(code: string): keyof typeof Codes {
  return code.replace('FERRY_ERR_', '') as keyof typeof Codes;
}
