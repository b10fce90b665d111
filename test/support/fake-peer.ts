/**
 * The one fake connection of the unit-level tests (router, lifecycle, hardening): a `RelayPeer`
 * that keeps a copy of every write, made at send time as uWS copies into its send buffer, so a
 * caller that reuses or loses its bytes afterwards cannot change what was "sent". Its close is
 * recorded, and `onEnd` runs synchronously inside `end()` as the transport's close handler does.
 * The test controls the send-buffer level (`buffered`) and the send result (`sendResult`).
 */

import { randomBytes } from 'node:crypto';
import type { TokenBucket } from '../../src/limits/token-bucket.js';
import { LinkStats } from '../../src/netstats/link-stats.js';
import { CloseCodes, Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeerState, type RelayPeer, SendStatus } from '../../src/relay/peer.js';
import type { Session } from '../../src/session/session.js';

let nextPeer = 1;

export interface FakePeerOptions {
  /** Default: long and random, so no fuzzed string names a peer by chance. */
  readonly id?: string;
  readonly role?: ferry.v1.Role;
  readonly name?: string;
  /** Default READY (the test set the peer up without a Hello); AWAITING_HELLO for a new socket. */
  readonly state?: RelayPeer['state'];
  /** Names the peer in assertion messages (default: the name). */
  readonly label?: string;
}

export class FakePeer implements RelayPeer {
  readonly id: string;
  readonly label: string;
  state: RelayPeer['state'];
  role: ferry.v1.Role;
  name: string;
  session: Session | null = null;
  screenStarved = false;
  screenDirect: Session | null = null;
  starvedStream = 0;
  readonly openedAtMs = 0;
  readonly link = new LinkStats(0);
  rxFrames = 0;
  rxBytes = 0;
  txFrames = 0;
  txBytes = 0;
  windowFrames = 0;
  chatBucket: TokenBucket | null = null;
  strikes = 0;
  droppedFrames = 0;
  /** Like a connection whose close waits for the end of the turn. */
  ending = false;
  readonly remoteAddress = '127.0.0.1';
  /** The send-buffer level the relay sees (`queuedBytes`). */
  buffered = 0;
  /** What the next writes return; DROPPED writes are not kept. */
  sendResult: number = SendStatus.SUCCESS;
  readonly sent: Uint8Array[] = [];
  closedWith: [number, string] | null = null;
  /** The resume token of this participant's place (its Welcome's), when a test keeps it. */
  resumeToken = '';
  /** The transport's close handler (the registry's `leave`). */
  onEnd: ((code: number) => void) | null = null;

  constructor(options: FakePeerOptions = {}) {
    this.id = options.id ?? `fake-${nextPeer++}-${randomBytes(6).toString('hex')}`;
    this.role = options.role ?? ferry.v1.Role.ROLE_UNSPECIFIED;
    this.name = options.name ?? '';
    this.state = options.state ?? PeerState.READY;
    this.label = options.label ?? this.name;
  }

  get connected(): boolean {
    return this.state !== PeerState.CLOSED;
  }

  forward(message: ArrayBuffer | Uint8Array): number {
    if (this.state === PeerState.CLOSED) return SendStatus.DROPPED;
    if (this.sendResult !== SendStatus.DROPPED) this.sent.push(new Uint8Array(message).slice());
    return this.sendResult;
  }

  /** Reliable frames the client said it received (Pong.received). */
  acknowledged = 0;
  keepsReplay = false;

  acknowledge(received: number): void {
    this.acknowledged = received;
  }

  /** Like the transport: a gateway frame uWS refuses closes the slow receiver. */
  sendFrame(bytes: Uint8Array): boolean {
    const status = this.forward(bytes);
    if (status === SendStatus.DROPPED) {
      this.end(CloseCodes.SLOW_CONSUMER, Codes.SLOW_CONSUMER.code);
    }
    return status !== SendStatus.DROPPED;
  }

  sendHeartbeat(): boolean {
    return true;
  }

  get queuedBytes(): number {
    return this.buffered;
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  /** Like uWS: closing runs the close handler at once; a second end is a no-op. */
  end(code: number, reason: string): void {
    if (this.state === PeerState.CLOSED) return;
    this.state = PeerState.CLOSED;
    this.closedWith = [code, reason];
    this.onEnd?.(code);
  }

  /** Every frame written to this peer, decoded. */
  frames(): ferry.v1.Frame[] {
    return this.sent.map((b) => ferry.v1.Frame.decode(b));
  }

  /** Frames written to this peer from index `from` on, decoded. */
  framesSince(from: number): ferry.v1.Frame[] {
    return this.sent.slice(from).map((b) => ferry.v1.Frame.decode(b));
  }

  /** Frames written to this peer on `channel`, decoded. */
  received(channel: number): ferry.v1.Frame[] {
    return this.frames().filter((f) => f.channel === channel);
  }

  /** Error events written to this peer from index `from` on. */
  errorsSince(from = 0): ferry.v1.Error[] {
    const out: ferry.v1.Error[] = [];
    for (const f of this.framesSince(from)) {
      if (f.channel === ferry.v1.Channel.CHANNEL_EVENT && f.event?.error) {
        out.push(f.event.error as ferry.v1.Error);
      }
    }
    return out;
  }

  errors(): ferry.v1.Error[] {
    return this.errorsSince(0);
  }

  /** StatusChanged events received (from frame `since` on), as [previous, status, trigger]. */
  statusChanges(sessionId?: string, since = 0): [string, string, string][] {
    const out: [string, string, string][] = [];
    for (const f of this.framesSince(since)) {
      const s = f.event?.statusChanged;
      if (s == null || (sessionId !== undefined && s.sessionId !== sessionId)) continue;
      out.push([statusName(s.previous ?? 0), statusName(s.status ?? 0), s.trigger ?? '']);
    }
    return out;
  }
}

/** `SESSION_STATUS_ACTIVE` (wire number) -> `ACTIVE`. */
export function statusName(wire: number): string {
  return (ferry.v1.SessionStatus[wire] ?? 'UNSPECIFIED').replace('SESSION_STATUS_', '');
}
