/**
 * What a connection keeps so that a resume loses nothing in flight: private copies of the
 * reliable frames written to it (every frame but SCREEN and HEARTBEAT), numbered from 1 per
 * connection in the order they were handed to uWS, until the client says it received them
 * (`Pong.received`). On a resume the client says how many arrived (`Hello.replay`); what
 * follows is written again to the new connection, before anything new (docs/protocol.md,
 * "Resume and replay").
 *
 * Invariants: `frames[head..]` are frames `first..sent`, in order; their bytes are `bytes`;
 * never more than `maxBytes` are kept: past it the oldest go, and `after` says they are missing.
 * The connection is closed after a reliable frame uWS refused, so the client always received a
 * prefix of the numbered frames and its count names exactly where the replay starts.
 */
export { isReliableFrame } from '../protocol/frames.js';

export interface Replay {
  /** Frames after the client's count, oldest first (copies: safe to send on any socket). */
  readonly frames: readonly Uint8Array[];
  /** Frames after the count that are no longer kept (past `maxBytes` before an ack). */
  readonly missing: number;
}

export class ReplayLog {
  /** Reliable frames written to the connection (the number of the newest). */
  sent = 0;
  readonly #maxBytes: number;
  #frames: Uint8Array[] = [];
  #head = 0;
  /** Number of `#frames[#head]`. */
  #first = 1;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get keptBytes(): number {
    return this.#bytes;
  }

  get keptFrames(): number {
    return this.#frames.length - this.#head;
  }

  /** A reliable frame was handed to uWS: numbered, and a copy kept (uWS buffers are transient). */
  record(bytes: ArrayBuffer | Uint8Array): void {
    this.sent++;
    const length = bytes.byteLength;
    if (length > this.#maxBytes) {
      // too large to keep at all: everything before it is of no use to a replay either
      this.#drop(this.keptFrames);
      this.#first = this.sent + 1;
      return;
    }
    const copy = new Uint8Array(length);
    copy.set(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    this.#frames.push(copy);
    this.#bytes += length;
    while (this.#bytes > this.#maxBytes) this.#drop(1);
  }

  /** The client received `received` frames: their copies go. */
  acknowledge(received: number): void {
    const n = Math.min(received, this.sent) - this.#first + 1;
    if (n > 0) this.#drop(n);
  }

  /**
   * What the client lacks after receiving `received` frames, or null when the count cannot be
   * (more than was sent): then nothing is replayed.
   */
  after(received: number): Replay | null {
    if (!Number.isSafeInteger(received) || received < 0 || received > this.sent) return null;
    const from = Math.max(received + 1, this.#first);
    const missing = from - (received + 1);
    const frames = this.#frames.slice(this.#head + (from - this.#first));
    return { frames, missing };
  }

  #drop(n: number): void {
    for (let i = 0; i < n && this.#head < this.#frames.length; i++) {
      this.#bytes -= this.#frames[this.#head]!.byteLength;
      this.#head++;
      this.#first++;
    }
    // compact once the dropped prefix outweighs what is kept
    if (this.#head > 64 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
  }
}
