/**
 * Per-socket state, created at upgrade and held as the uWS user data (typed, never patched onto
 * the socket). Implements the relay's `RelayPeer` and the heartbeat's `HeartbeatTarget`. Counters
 * are plain fields bumped in place; metrics and statistics read them.
 */
import { LinkStats } from '../netstats/link-stats.js';
import { Codes } from '../protocol/codes.js';
import type { RoleValue } from '../protocol/frames.js';
import { PeerState, type PeerStateValue, type RelayPeer, SendStatus } from '../relay/peer.js';
import type { SendBudget } from '../relay/send-budget.js';
import type { Session } from '../session/session.js';
import type { Uws } from './uws.js';

export interface SocketData {
  readonly conn: Connection;
}

export class Connection implements RelayPeer {
  readonly id: string;
  readonly remoteAddress: string;
  readonly openedAtMs: number;
  readonly link: LinkStats;
  state: PeerStateValue = PeerState.AWAITING_HELLO;
  role: RoleValue = 0;
  name = '';
  session: Session | null = null;
  screenStarved = false;
  starvedStream = 0;
  rxFrames = 0;
  rxBytes = 0;
  txFrames = 0;
  txBytes = 0;
  droppedFrames = 0;
  /** Bytes waiting in this socket's send buffer, as last seen (after a send or a drain). */
  queuedBytes = 0;
  /** Frames received in the current one-second window (rate limit). */
  windowFrames = 0;
  /** Refused frames in the current one-minute window (bad-frame limit). */
  strikes = 0;
  /** `rxFrames` when the idle check last ran, and how long it has stayed the same. */
  idleMark = 0;
  idleSinceMs: number;
  /** Hello deadline on the monotonic clock. */
  readonly helloDeadlineMs: number;
  readonly #budget: SendBudget;
  #ws: Uws.WebSocket<SocketData> | null = null;

  constructor(
    id: string,
    remoteAddress: string,
    nowMs: number,
    helloDeadlineMs: number,
    budget: SendBudget,
  ) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.openedAtMs = nowMs;
    this.idleSinceMs = nowMs;
    this.helloDeadlineMs = helloDeadlineMs;
    this.#budget = budget;
    this.link = new LinkStats(nowMs);
  }

  attach(ws: Uws.WebSocket<SocketData>): void {
    this.#ws = ws;
  }

  get connected(): boolean {
    return this.state !== PeerState.CLOSED;
  }

  forward(message: ArrayBuffer | Uint8Array): number {
    const ws = this.#ws;
    if (ws === null || this.state === PeerState.CLOSED) return SendStatus.DROPPED;
    const status = ws.send(message, true);
    if (status === SendStatus.SUCCESS) {
      // SUCCESS means uWS holds nothing back for this socket any more.
      if (this.queuedBytes !== 0) this.#settle(0);
    } else if (status === SendStatus.BACKPRESSURE) {
      this.#settle(ws.getBufferedAmount());
    }
    if (status !== SendStatus.DROPPED) {
      this.txFrames++;
      this.txBytes += message.byteLength;
    }
    return status;
  }

  #settle(level: number): void {
    this.#budget.settle(this.queuedBytes, level);
    this.queuedBytes = level;
  }

  /**
   * Reliable: never dropped. A frame the budget cannot admit (this socket past its hard cap, or
   * the gateway past its budget while this socket is congested) closes the connection as a
   * slow consumer; the participant resumes through the lifecycle.
   */
  sendFrame(bytes: ArrayBuffer | Uint8Array): boolean {
    if (this.state === PeerState.CLOSED) return false;
    if (
      this.#budget.admitsReliable(this.queuedBytes, bytes.byteLength) &&
      this.forward(bytes) !== SendStatus.DROPPED
    ) {
      return true;
    }
    this.end(Codes.SLOW_CONSUMER.close, Codes.SLOW_CONSUMER.code);
    return false;
  }

  /** Heartbeats are latest-wins: never queued behind a full buffer, never a reason to close. */
  sendHeartbeat(frame: Uint8Array): boolean {
    if (this.state !== PeerState.READY) return false;
    return this.forward(frame) !== SendStatus.DROPPED;
  }

  bufferedAmount(): number {
    return this.#ws === null ? 0 : this.#ws.getBufferedAmount();
  }

  end(code: number, reason: string): void {
    if (this.state === PeerState.CLOSED || this.#ws === null) return;
    this.state = PeerState.CLOSED;
    // uWS calls the close handler synchronously from end(); the socket is invalid afterwards.
    this.#ws.end(code, reason);
  }

  /** uWS drained some of this socket's buffer. */
  onDrained(): void {
    if (this.#ws !== null) this.#settle(this.#ws.getBufferedAmount());
  }

  /** Called from the uWS close handler: the socket is gone, and so are its queued bytes. */
  onClosed(): void {
    this.state = PeerState.CLOSED;
    this.#ws = null;
    this.#settle(0);
  }
}
