/**
 * The per-frame path. For every binary message: count it, peek its channel, look up its route,
 * check role, size, state, the customer's grant and control, then forward the same bytes
 * (SCREEN, INPUT) or hand it to the decoding handlers (CONTROL, CHAT, HEARTBEAT, and SYSINFO,
 * SHELL and FILE once their grant is checked). Every refusal is one coded Error frame to the sender (plus a close
 * where the code says so); nothing here throws on client input.
 *
 * Consent (DESIGN.md): SCREEN needs VIEW, INPUT needs CONTROL (and the control seat), SYSINFO
 * needs SYSINFO, SHELL needs SHELL, FILE needs FILE. The check is one read of `Session.grants` and an AND, per frame, so a
 * revocation applies to the very next frame routed.
 *
 * Hot-path rules (DESIGN.md): the message ArrayBuffer is forwarded inside the uWS callback and
 * never kept; no decode, JSON, string building or allocation for SCREEN and INPUT beyond the one
 * view the caller made.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Codes } from '../protocol/codes.js';
import { Channel, controlFrame, decodeFrame, errorFrame, Role } from '../protocol/frames.js';
import { PeekResult, PeekStatus, peek } from '../protocol/peek.js';
import {
  GRANT_CONTROL,
  GRANT_FILE,
  GRANT_SHELL,
  GRANT_SYSINFO,
  GRANT_VIEW,
} from '../session/consent.js';
import { FileRelay } from '../session/files.js';
import type { SessionRegistry } from '../session/registry.js';
import { Delivery } from '../session/seat.js';
import type { Session } from '../session/session.js';
import { ShellRelay, type ToolRelayOptions } from '../session/shells.js';
import { ControlHandlers, type PongSink } from './control.js';
import { PeerState, type RelayPeer, SendStatus } from './peer.js';
import { RouteKind, routes } from './routes.js';
import { SendBudget } from './send-budget.js';
import { DropReason, RelayStats } from './stats.js';

type CodeEntry = (typeof Codes)[keyof typeof Codes];

const peekErrors: Record<number, CodeEntry> = {
  [PeekStatus.EMPTY]: Codes.FRAME_EMPTY,
  [PeekStatus.NO_CHANNEL]: Codes.FRAME_NO_CHANNEL,
  [PeekStatus.TRUNCATED]: Codes.FRAME_TRUNCATED,
  [PeekStatus.UNKNOWN_CHANNEL]: Codes.UNKNOWN_CHANNEL,
};

/** Screen and input flow (Active, Collaborating, or Reconnecting from one of them). */
function relaying(session: Session): boolean {
  return session.flowing;
}

/** Chat is open until the session is closed, timed out or over (spec session-tools B1). */
function chatOpen(session: Session): boolean {
  const s = session.status;
  return !session.terminal && s !== 'CLOSED' && s !== 'TIMED_OUT';
}

export interface RouterOptions {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly heartbeat: PongSink;
  readonly gatewayId: string;
  readonly version: string;
  readonly stats?: RelayStats;
  readonly logger?: Logger;
  /** Shared with the connections, which report their buffer levels to it. */
  readonly budget?: SendBudget;
}

export class Router {
  readonly stats: RelayStats;
  readonly budget: SendBudget;
  readonly #peek = new PeekResult();
  readonly #config: Config;
  readonly #heartbeat: PongSink;
  readonly #control: ControlHandlers;
  readonly #keyFrameRequest: Uint8Array;
  /** Command shells and file transfers (session tools II). */
  readonly shells: ShellRelay;
  readonly files: FileRelay;

  constructor(options: RouterOptions) {
    this.#config = options.config;
    this.#heartbeat = options.heartbeat;
    this.stats = options.stats ?? new RelayStats();
    const config = options.config;
    this.budget =
      options.budget ??
      new SendBudget(config.globalBufferedBytes, config.maxBufferedBytes, config.screenDropBytes);
    this.#control = new ControlHandlers({
      config: options.config,
      registry: options.registry,
      gatewayId: options.gatewayId,
      version: options.version,
      stats: this.stats,
      ...(options.logger ? { logger: options.logger } : {}),
      fail: (peer, entry, message, requestId, channel) =>
        this.fail(peer, entry, message, requestId, channel),
    });
    this.#keyFrameRequest = controlFrame({
      keyFrameRequest: { reason: 'receiver caught up after drops' },
    });
    const tools: ToolRelayOptions = {
      config,
      now: () => options.registry.now(),
      fail: (p, entry, message, channel, stream) =>
        this.fail(p as RelayPeer, entry, message, 0, channel, stream),
      count: (_session, channel, length) => {
        this.stats.outFrames[channel]!++;
        this.stats.outBytes[channel]! += length;
      },
      ...(options.logger ? { logger: options.logger } : {}),
    };
    this.shells = new ShellRelay(tools);
    this.files = new FileRelay(tools);
    options.registry.onSessionEnd = (session) => {
      this.shells.ended(session);
      this.files.ended(session);
    };
    options.registry.onLeave = (session, seat, actor) => {
      this.shells.left(session, seat, actor);
      this.files.left(session, seat, actor);
    };
    options.registry.onRevoke = (session, removed, actor) => {
      if ((removed & GRANT_SHELL) !== 0) this.shells.revoked(session, actor);
      if ((removed & GRANT_FILE) !== 0) this.files.revoked(session, actor);
    };
  }

  get control(): ControlHandlers {
    return this.#control;
  }

  onMessage(peer: RelayPeer, message: ArrayBuffer, isBinary: boolean): void {
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
    if (status !== PeekStatus.OK) {
      this.stats.malformed++;
      this.fail(peer, peekErrors[status]!, 'malformed frame start');
      return;
    }
    const channel = this.#peek.channel;
    this.stats.inFrames[channel]!++;
    this.stats.inBytes[channel]! += length;
    const route = routes[channel]!;

    if (peer.state !== PeerState.READY) {
      if (channel !== Channel.CHANNEL_CONTROL) {
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
      this.#control.onHello(peer, bytes);
      return;
    }
    if ((route.from & (1 << peer.role)) === 0) {
      this.fail(
        peer,
        Codes.WRONG_ROLE,
        `a ${roleLabel(peer.role)} may not send on this channel`,
        0,
        channel,
      );
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

    switch (route.kind) {
      case RouteKind.SCREEN:
        this.#forwardScreen(peer, message, channel, length);
        return;
      case RouteKind.INPUT:
        this.#forwardInput(peer, message, channel, length);
        return;
      case RouteKind.CHAT:
        this.#control.onChat(peer, bytes, channel, chatOpen);
        return;
      case RouteKind.CONTROL:
        this.#control.onControl(peer, bytes);
        return;
      case RouteKind.HEARTBEAT:
        this.#control.onHeartbeat(peer, bytes, this.#heartbeat);
        return;
      case RouteKind.SYSINFO: {
        const session = peer.session;
        if (session === null || (session.grants & GRANT_SYSINFO) === 0) {
          // cold path (a refusal): the asker's request id, so its client can match the Error
          const requestId = peer.role === Role.ROLE_TECHNICIAN ? sysinfoRequestId(bytes) : 0;
          this.fail(peer, Codes.NOT_GRANTED, NOT_GRANTED_SYSINFO, requestId, channel);
          return;
        }
        this.#control.onSysinfo(peer, bytes, session);
        return;
      }
      case RouteKind.SHELL:
      case RouteKind.FILE: {
        // the grant before the decode: an ungranted frame costs one field read
        const session = peer.session;
        const shell = route.kind === RouteKind.SHELL;
        if (session === null || (session.grants & (shell ? GRANT_SHELL : GRANT_FILE)) === 0) {
          const text = shell ? NOT_GRANTED_SHELL : NOT_GRANTED_FILE;
          this.fail(peer, Codes.NOT_GRANTED, text, 0, channel, this.#peek.stream);
          return;
        }
        if (shell) this.shells.onFrame(peer, bytes, session);
        else this.files.onFrame(peer, bytes, session);
        return;
      }
      case RouteKind.GRANTED:
        this.fail(peer, Codes.NOT_GRANTED, 'the customer has not granted this channel', 0, channel);
        return;
      default:
        this.fail(peer, Codes.WRONG_ROLE, 'EVENT frames flow from the gateway only', 0, channel);
    }
  }

  /** SCREEN: customer -> every technician; dropped per receiver when its buffer is over the threshold. */
  #forwardScreen(peer: RelayPeer, message: ArrayBuffer, channel: number, length: number): void {
    const session = peer.session;
    if (session === null || !relaying(session)) {
      this.fail(
        peer,
        Codes.WRONG_STATE,
        'screen frames flow only in an active session',
        0,
        channel,
      );
      return;
    }
    if ((session.grants & GRANT_VIEW) === 0) {
      this.fail(peer, Codes.NOT_GRANTED, NOT_GRANTED_VIEW, 0, channel);
      return;
    }
    const technicians = session.technicians;
    const budget = this.budget;
    for (let i = 0; i < technicians.length; i++) {
      const tech = technicians[i] as RelayPeer;
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
  #forwardInput(peer: RelayPeer, message: ArrayBuffer, channel: number, length: number): void {
    const session = peer.session;
    if (session === null || !relaying(session)) {
      this.fail(peer, Codes.WRONG_STATE, 'input flows only in an active session', 0, channel);
      return;
    }
    if ((session.grants & GRANT_CONTROL) === 0) {
      this.fail(peer, Codes.NOT_GRANTED, NOT_GRANTED_CONTROL, 0, channel);
      return;
    }
    if (session.controller !== peer) {
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
        if (seat === null) {
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
    const sent = admitted ? to.forward(bytes) : SendStatus.DROPPED;
    if (sent === SendStatus.DROPPED) {
      this.stats.drop(channel, DropReason.BACKPRESSURE_LIMIT);
      if (to.state !== PeerState.CLOSED) {
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

  /**
   * Refuses a frame: one coded Error to the sender, then the close its code names. A connection
   * that keeps sending refused frames (more than maxBadFrames a minute) is closed as well.
   */
  fail(
    peer: RelayPeer,
    entry: CodeEntry,
    message: string,
    requestId = 0,
    channel = 0,
    stream = 0,
  ): void {
    this.stats.error(entry.code);
    if (peer.state === PeerState.CLOSED) return;
    peer.sendFrame(errorFrame(entry, message, requestId, channel, stream));
    if (entry.close !== 0) peer.end(entry.close, entry.code);
    else if (++peer.strikes > this.#config.maxBadFrames) {
      this.stats.error(Codes.TOO_MANY_ERRORS.code);
      peer.sendFrame(
        errorFrame(
          Codes.TOO_MANY_ERRORS,
          `more than ${this.#config.maxBadFrames} refused frames in a minute`,
        ),
      );
      peer.end(Codes.TOO_MANY_ERRORS.close, Codes.TOO_MANY_ERRORS.code);
    }
  }
}

// constant refusal texts, hoisted: a refused frame builds no string
const NOT_GRANTED_VIEW = 'the customer has not granted screen view';
const NOT_GRANTED_CONTROL = 'the customer has not granted control';
const NOT_GRANTED_SYSINFO = 'the customer has not granted system information';
const NOT_GRANTED_SHELL = 'the customer has not granted command shells';
const NOT_GRANTED_FILE = 'the customer has not granted file transfer';

/** The request id of a SysinfoRequest frame, or 0 when it is none (or does not decode). */
function sysinfoRequestId(bytes: Uint8Array): number {
  try {
    return decodeFrame(bytes).sysinfoRequest?.requestId ?? 0;
  } catch {
    // not a SysinfoRequest: the refusal names no request
    return 0;
  }
}

function roleLabel(role: number): string {
  return role === Role.ROLE_TECHNICIAN
    ? 'technician'
    : role === Role.ROLE_CUSTOMER
      ? 'customer'
      : 'client';
}
