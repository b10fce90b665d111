/**
 * The per-frame path. For every binary message: count it, peek its channel, read its row from
 * the channel table, check role, size, state and the customer's grant from the row, then forward
 * the same bytes (SCREEN, INPUT) or hand them to the row's handler. Every refusal is one coded
 * Error to the sender (src/relay/refusals.ts); nothing here throws on client input, and nothing
 * here decodes a frame.
 *
 * Consent (docs/architecture.md): the grant check is one read of `Session.grants` and an AND, per
 * frame, so a revocation applies to the very next frame routed. INPUT also needs the control seat.
 * A SCREEN or INPUT frame refused for its grant, the control seat or the session state within
 * `inputGraceMs` of the session's last such change is excused: dropped and counted, no strike.
 *
 * A handler that throws is caught here, at the dispatch point: the sender gets
 * FERRY_ERR_INTERNAL, the failure is logged with the session id and counted by handler
 * (`ferry_handler_errors_total`), the session is ended if its state is in doubt, and every other
 * session goes on.
 *
 * Hot-path rules: the message ArrayBuffer is forwarded inside the uWS callback and never kept;
 * no decode, JSON, string building or allocation for SCREEN and INPUT beyond the one view the
 * caller made.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { Channel, controlFrame, Role } from '../protocol/frames.js';
import { PeekResult, PeekStatus, peek } from '../protocol/peek.js';
import { Delivery } from '../session/seat.js';
import type { Session } from '../session/session.js';
import { PeerState, type RelayPeer, SendStatus } from './peer.js';
import type { Refusals } from './refusals.js';
import { type ChannelRow, type ChannelTable, RouteKind } from './routes.js';
import type { SendBudget } from './send-budget.js';
import { DropReason, type RelayStats } from './stats.js';

const peekErrors: Record<number, CodeEntry> = {
  [PeekStatus.EMPTY]: Codes.FRAME_EMPTY,
  [PeekStatus.NO_CHANNEL]: Codes.FRAME_NO_CHANNEL,
  [PeekStatus.TRUNCATED]: Codes.FRAME_TRUNCATED,
  [PeekStatus.UNKNOWN_CHANNEL]: Codes.UNKNOWN_CHANNEL,
};

/** What the router does when a handler throws: end a session whose state is in doubt. */
export interface HandlerFailureSink {
  handlerFailed(row: ChannelRow, peer: RelayPeer, session: Session | null, err: unknown): void;
}

export interface RouterOptions {
  readonly config: Config;
  readonly table: ChannelTable;
  /** The handler of the Hello that must open every connection (a CONTROL frame). */
  readonly hello: (peer: RelayPeer, bytes: Uint8Array) => void;
  readonly stats: RelayStats;
  readonly refusals: Refusals;
  /** Shared with the connections, which report their buffer levels to it. */
  readonly budget: SendBudget;
  readonly failures: HandlerFailureSink;
  readonly logger: Logger;
  /** The session clock (`Session.changedAtMs` is read against it); default `Date.now`. */
  readonly now?: () => number;
}

export class Router {
  readonly stats: RelayStats;
  readonly budget: SendBudget;
  readonly #peek = new PeekResult();
  readonly #config: Config;
  readonly #table: ChannelTable;
  readonly #hello: (peer: RelayPeer, bytes: Uint8Array) => void;
  readonly #refusals: Refusals;
  readonly #failures: HandlerFailureSink;
  readonly #logger: Logger;
  readonly #keyFrameRequest: Uint8Array;
  readonly #now: () => number;

  constructor(options: RouterOptions) {
    this.#now = options.now ?? Date.now;
    this.#config = options.config;
    this.#table = options.table;
    this.#hello = options.hello;
    this.stats = options.stats;
    this.budget = options.budget;
    this.#refusals = options.refusals;
    this.#failures = options.failures;
    this.#logger = options.logger;
    this.#keyFrameRequest = controlFrame({
      keyFrameRequest: { reason: 'receiver caught up after drops' },
    });
  }

  onMessage(peer: RelayPeer, message: ArrayBuffer, isBinary: boolean): void {
    // read in the turn its close waits for (a customer let go at a session's end): no session
    // is left to take it, and nothing is refused to a connection that is going
    if (peer.ending) return;
    const length = message.byteLength;
    peer.rxFrames++;
    peer.rxBytes += length;
    if (++peer.windowFrames > this.#config.maxMessagesPerSecond) {
      this.fail(
        peer,
        Codes.RATE_LIMITED,
        `over ${this.#config.maxMessagesPerSecond} frames per second`,
      );
      return;
    }
    if (!isBinary) {
      this.fail(peer, Codes.TEXT_FRAME, 'text messages are not part of the Ferry protocol');
      return;
    }
    const bytes = new Uint8Array(message);
    const status = peek(bytes, this.#peek);
    const route = status === PeekStatus.OK ? this.#table[this.#peek.channel] : undefined;
    if (route === undefined) {
      this.stats.malformed++;
      const entry = status === PeekStatus.OK ? Codes.UNKNOWN_CHANNEL : peekErrors[status]!;
      this.fail(peer, entry, 'malformed frame start');
      return;
    }
    const channel = route.channel;
    this.stats.inFrames[channel]!++;
    this.stats.inBytes[channel]! += length;

    if (peer.state !== PeerState.READY) {
      // a probe (Ping before Hello, relay choice) goes to the Hello handler, which answers it
      const probe =
        channel === Channel.CHANNEL_HEARTBEAT && peer.state === PeerState.AWAITING_HELLO;
      if (channel !== Channel.CHANNEL_CONTROL && !probe) {
        this.fail(peer, Codes.HELLO_REQUIRED, 'send Hello first', 0, channel);
        return;
      }
      if (length > this.#config.maxControlBytes) {
        this.fail(
          peer,
          Codes.FRAME_TOO_LARGE,
          `Hello over ${this.#config.maxControlBytes} bytes`,
          0,
          channel,
        );
        return;
      }
      this.#dispatch(route, peer, bytes, this.#hello);
      return;
    }
    if ((route.from & (1 << peer.role)) === 0) {
      const text =
        route.kind === RouteKind.GATEWAY_ONLY
          ? `${route.name} frames flow from the gateway only`
          : `a ${roleLabel(peer.role)} may not send on this channel`;
      this.fail(peer, Codes.WRONG_ROLE, text, 0, channel);
      return;
    }
    const limit = route.small ? this.#config.maxControlBytes : this.#config.maxFrameBytes;
    if (length > limit) {
      this.fail(
        peer,
        Codes.FRAME_TOO_LARGE,
        `frame of ${length} bytes exceeds the channel limit of ${limit}`,
        0,
        channel,
      );
      return;
    }
    const session = peer.session;
    if (route.state !== null && (session === null || !route.state(session))) {
      if (this.#excused(route, peer, session, Codes.WRONG_STATE)) return;
      this.fail(peer, Codes.WRONG_STATE, route.stateText, 0, channel);
      return;
    }
    if (route.grant !== 0 && (session === null || (session.grants & route.grant) === 0)) {
      if (this.#excused(route, peer, session, Codes.NOT_GRANTED)) return;
      // cold path (a refusal): the asker's request id, so its client can match the Error
      const requestId = route.requestIdOf === null ? 0 : route.requestIdOf(bytes);
      this.fail(peer, Codes.NOT_GRANTED, route.grantText, requestId, channel, this.#peek.stream);
      return;
    }
    if (route.activity && session !== null) session.activityFrames++;
    switch (route.kind) {
      case RouteKind.SCREEN:
        this.#forwardScreen(session!, message, channel, length);
        return;
      case RouteKind.INPUT:
        this.#forwardInput(peer, session!, message, channel, length);
        return;
      case RouteKind.HANDLER:
        this.#dispatch(route, peer, bytes, route.handler!);
        return;
      default:
        this.fail(peer, Codes.WRONG_ROLE, 'this channel flows from the gateway only', 0, channel);
    }
  }

  /**
   * The revoke race (cold path, a refusal): a SCREEN or INPUT frame refused within the grace after
   * the session's last grant, control or status change is dropped and counted, never a strike.
   * The one who made the change has seen it: its frames are not excused.
   */
  #excused(route: ChannelRow, peer: RelayPeer, session: Session | null, entry: CodeEntry): boolean {
    if (session === null || (route.kind !== RouteKind.SCREEN && route.kind !== RouteKind.INPUT)) {
      return false;
    }
    if (session.changedBy === peer.name) return false;
    if (!this.#refusals.excusable(entry, session.changedAtMs, this.#now())) return false;
    this.#refusals.excuse(route.channel);
    return true;
  }

  /** Runs a handler; one that throws costs its sender an Error, never the process. */
  #dispatch(
    route: ChannelRow,
    peer: RelayPeer,
    bytes: Uint8Array,
    handler: (peer: RelayPeer, bytes: Uint8Array, session: Session | null, stream: number) => void,
  ): void {
    const stream = this.#peek.stream;
    try {
      handler(peer, bytes, peer.session, stream);
    } catch (err) {
      const session = peer.session;
      const name = route.name;
      this.stats.handlerErrors.set(name, (this.stats.handlerErrors.get(name) ?? 0) + 1);
      this.#logger.error(
        { err, handler: name, conn: peer.id, session: session?.id ?? null },
        'handler failed',
      );
      const text = `the gateway failed handling this ${name} frame`;
      this.fail(peer, Codes.INTERNAL, text, 0, route.channel, stream);
      this.#failures.handlerFailed(route, peer, session, err);
    }
  }

  /**
   * SCREEN: customer -> every technician but one on a direct path; dropped per receiver when its
   * buffer is over the threshold.
   */
  #forwardScreen(session: Session, message: ArrayBuffer, channel: number, length: number): void {
    const technicians = session.technicians;
    const budget = this.budget;
    for (let i = 0; i < technicians.length; i++) {
      const tech = technicians[i] as RelayPeer;
      if (tech.screenDirect === session) continue; // it gets them on its direct path
      if (!budget.admitsScreen(tech.queuedBytes)) {
        this.#dropScreen(session, tech, channel, DropReason.SLOW_CONSUMER);
        continue;
      }
      const sent = tech.forward(message);
      if (sent === SendStatus.DROPPED) {
        this.#dropScreen(session, tech, channel, DropReason.BACKPRESSURE_LIMIT);
        continue;
      }
      this.stats.outFrames[channel]!++;
      this.stats.outBytes[channel]! += length;
      session.relayedFrames[channel]!++;
      session.relayedBytes[channel]! += length;
    }
  }

  #dropScreen(session: Session, tech: RelayPeer, channel: number, reason: number): void {
    tech.droppedFrames++;
    tech.screenStarved = true;
    tech.starvedStream = this.#peek.stream;
    session.droppedFrames[channel]!++;
    this.stats.drop(channel, reason);
  }

  /** INPUT: controlling technician -> customer; never dropped. */
  #forwardInput(
    peer: RelayPeer,
    session: Session,
    message: ArrayBuffer,
    channel: number,
    length: number,
  ): void {
    if (session.controller !== peer) {
      if (this.#excused(this.#table[channel]!, peer, session, Codes.NOT_CONTROLLER)) return;
      this.fail(peer, Codes.NOT_CONTROLLER, 'you do not hold control of this session', 0, channel);
      return;
    }
    const customer = session.customer as RelayPeer | null;
    if (customer === null || !this.sendReliable(customer, message, channel, length)) {
      // The customer is away (or was just closed as a slow consumer): keep a copy for its resume.
      // Past the resume buffer the others get one FramesLost event, not an error per frame.
      const seat = session.customerSeat;
      const away = seat !== null && seat.conn === null;
      if (!away || session.deliver(seat, message) !== Delivery.HELD) {
        if (customer === null) this.stats.drop(channel, DropReason.NO_RECIPIENT);
        const row = this.#table[channel]!;
        if (seat === null && !this.#excused(row, peer, session, Codes.WRONG_STATE)) {
          this.fail(peer, Codes.WRONG_STATE, 'the customer is not connected', 0, channel);
        }
        return;
      }
    }
    session.relayedFrames[channel]!++;
    session.relayedBytes[channel]! += length;
  }

  /**
   * Writes a reliable frame. One the send budget cannot admit (receiver past its hard cap, or the
   * gateway past its budget while the receiver is congested), or that uWS refuses, closes the
   * receiver with FERRY_ERR_SLOW_CONSUMER rather than losing the frame silently.
   */
  sendReliable(
    to: RelayPeer,
    bytes: ArrayBuffer | Uint8Array,
    channel: number,
    length: number,
  ): boolean {
    const admitted = this.budget.admitsReliable(to.queuedBytes, length);
    const sent = admitted ? to.forward(bytes, true) : SendStatus.DROPPED;
    if (sent === SendStatus.DROPPED) {
      this.stats.drop(channel, DropReason.BACKPRESSURE_LIMIT);
      if (to.state !== PeerState.CLOSED && !to.ending) {
        this.stats.error(Codes.SLOW_CONSUMER.code);
        to.end(Codes.SLOW_CONSUMER.close, Codes.SLOW_CONSUMER.code);
      }
      return false;
    }
    this.stats.outFrames[channel]!++;
    this.stats.outBytes[channel]! += length;
    return true;
  }

  /** The receiver's buffer drained: a technician that missed screen frames gets a fresh key frame. */
  onDrain(peer: RelayPeer): void {
    if (!peer.screenStarved || peer.queuedBytes > this.#config.screenDropBytes / 2) return;
    peer.screenStarved = false;
    const customer = peer.session?.customer;
    if (customer != null) customer.sendFrame(this.#keyFrameRequest);
  }

  fail(
    peer: RelayPeer,
    entry: CodeEntry,
    message: string,
    requestId = 0,
    channel = 0,
    stream = 0,
  ): void {
    this.#refusals.fail(peer, entry, message, requestId, channel, stream);
  }
}

function roleLabel(role: number): string {
  return role === Role.ROLE_TECHNICIAN
    ? 'technician'
    : role === Role.ROLE_CUSTOMER
      ? 'customer'
      : 'client';
}
