/**
 * What the session layer needs of a connected client. The transport's connection implements it;
 * session code never sees a socket.
 */
import type { RoleValue } from '../protocol/frames.js';
import type { Session } from './session.js';

/** What a connection kept of the reliable frames written to it (src/transport/replay-log.ts). */
export interface ReplaySource {
  after(
    received: number,
  ): { readonly frames: readonly Uint8Array[]; readonly missing: number } | null;
}

export interface Participant {
  /** Gateway-assigned id, unique for the gateway's lifetime. */
  readonly id: string;
  readonly role: RoleValue;
  /** Display name: the token's technician name, or the customer's self-chosen name. */
  readonly name: string;
  readonly remoteAddress: string;
  session: Session | null;
  /** False from the moment the transport reports the connection closed. */
  readonly connected: boolean;
  /**
   * Writes a frame the gateway made (never dropped: reliable), at the end of the event-loop turn
   * with the connection's other frames of the turn; `now`: at once (an answer the client times).
   * Returns false when the connection is gone, is closing, or was just closed for passing its
   * hard send-buffer cap.
   */
  sendFrame(bytes: ArrayBuffer | Uint8Array, now?: boolean): boolean;
  /** The reliable frames written to this connection, for a resume's replay (null: none). */
  readonly replayLog?: ReplaySource | null;
  /** Frames received from the client on this connection, the Hello included. */
  readonly rxFrames?: number;
  /**
   * Closes the connection with a WebSocket close code and short reason. Idempotent. `afterTurn`:
   * the close waits for the end of this event-loop turn, after the frames written to it in the
   * turn (one write for them instead of one each); it takes no frame meanwhile.
   */
  end(code: number, reason: string, afterTurn?: boolean): void;
}
