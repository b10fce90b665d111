/**
 * What the relay needs of a connection: the session-level `Participant` plus raw forwarding,
 * the send-buffer level and plain counters. Implemented by the transport's `Connection`.
 */
import type { TokenBucket } from '../limits/token-bucket.js';
import type { LinkStats } from '../netstats/link-stats.js';
import type { Participant } from '../session/participant.js';
import type { Session } from '../session/session.js';

export const PeerState = {
  AWAITING_HELLO: 0,
  READY: 1,
  CLOSED: 2,
} as const;
export type PeerStateValue = (typeof PeerState)[keyof typeof PeerState];

/** uWS `send` results (index.d.ts of uWebSockets.js v20.30). */
export const SendStatus = {
  BACKPRESSURE: 0,
  SUCCESS: 1,
  DROPPED: 2,
} as const;

export interface RelayPeer extends Participant {
  state: PeerStateValue;
  role: Participant['role'];
  name: string;
  /** Set by the relay when a SCREEN frame was dropped for this technician; cleared on drain. */
  screenStarved: boolean;
  starvedStream: number;
  /**
   * The session whose customer's SCREEN frames this technician gets on a direct path
   * (src/handlers/direct.ts): the relay does not forward that session's to it as well.
   */
  screenDirect: Session | null;
  readonly openedAtMs: number;
  readonly link: LinkStats;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  droppedFrames: number;
  /** Frames received in the current one-second window (the gateway clock resets it). */
  windowFrames: number;
  /** Refused frames in the current one-minute window (the gateway clock resets it). */
  strikes: number;
  /** Chat allowance (made on the first chat message: most connections never chat). */
  chatBucket: TokenBucket | null;
  /** Its close waits for the end of the turn: it takes no frame, and its frames are ignored. */
  readonly ending: boolean;
  /** Bytes waiting in the send buffer as last seen; the relay's congestion signal. */
  readonly queuedBytes: number;
  /**
   * Forwards client bytes as received (zero copy). Returns a `SendStatus`, or DROPPED when
   * closed. A `reliable` frame is numbered and kept for a resume's replay.
   */
  forward(message: ArrayBuffer | Uint8Array, reliable?: boolean): number;
  /** The client received this many reliable frames (Pong.received). */
  acknowledge(received: number): void;
  /** Copies of reliable frames are kept for a replay (the client counts and acknowledges). */
  keepsReplay: boolean;
  bufferedAmount(): number;
  /** Latest-wins heartbeat write: false when not written. */
  sendHeartbeat(frame: Uint8Array): boolean;
  /**
   * Holds every frame written from now on (copied, in order) until `release` writes them: a
   * customer's Welcome waits until its resume token is kept where a survivor would look for it.
   */
  hold?(): void;
  release?(): void;
}
