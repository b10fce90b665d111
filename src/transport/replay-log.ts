/**
 * What a connection keeps so that a resume loses nothing in flight: copies of the reliable
 * frames written to it (every frame but SCREEN and HEARTBEAT), numbered from 1 per connection
 * in the order they were handed to uWS, until the client says it received them
 * (`Pong.received`). On a resume the client says how many arrived (`Hello.replay`); what
 * follows is written again to the new connection, before anything new (docs/protocol.md,
 * "Resume and replay"). Kept only for a client that counts (`Hello.counts_reliable`).
 *
 * The copies live in one byte buffer per connection (frames back to back, their lengths in a
 * second, integer buffer), grown by doubling up to `maxBytes` and compacted in place: no
 * allocation per frame, so a busy link does not churn the heap.
 *
 * Invariants: the kept frames are `first..sent`, in order, `bytes[start..end)` and
 * `lengths[head..tail)`; never more than `maxBytes` bytes are kept: past it the oldest go, and
 * `after` says they are missing. The connection is closed after a reliable frame uWS refused,
 * so the client always received a prefix of the numbered frames and its count names exactly
 * where the replay starts.
 */
export { isReliableFrame } from '../protocol/frames.js';

export interface Replay {
  /** Frames after the client's count, oldest first (views: send them before the log changes). */
  readonly frames: readonly Uint8Array[];
  /** Frames after the count that are no longer kept (past `maxBytes` before an ack). */
  readonly missing: number;
}

/** The buffers a log starts with once its first frame comes. */
const INITIAL_BYTES = 4096;
const INITIAL_FRAMES = 64;
/**
 * A log that empties keeps buffers up to this many times what it needed since it last emptied;
 * larger ones (grown by a burst, a resume's replay) go back to what that need rounds up to.
 */
const SLACK = 4;

export class ReplayLog {
  /** Reliable frames written to the connection (the number of the newest). */
  sent = 0;
  readonly #maxBytes: number;
  #bytes: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #lengths: Int32Array = new Int32Array(0);
  #head = 0;
  #tail = 0;
  /** Number of the oldest kept frame. */
  #first = 1;
  /** The most bytes and frames kept at once since the log last emptied. */
  #peakBytes = 0;
  #peakFrames = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get keptBytes(): number {
    return this.#end - this.#start;
  }

  get keptFrames(): number {
    return this.#tail - this.#head;
  }

  /** A reliable frame was handed to uWS: numbered, and a copy kept (uWS buffers are transient). */
  record(message: ArrayBuffer | Uint8Array): void {
    this.sent++;
    const length = message.byteLength;
    if (length > this.#maxBytes) {
      // too large to keep at all: everything before it is of no use to a replay either
      this.#drop(this.keptFrames);
      this.#first = this.sent + 1;
      return;
    }
    while (this.keptBytes + length > this.#maxBytes) this.#drop(1);
    this.#roomFor(length);
    this.#bytes.set(message instanceof Uint8Array ? message : new Uint8Array(message), this.#end);
    this.#end += length;
    this.#lengths[this.#tail++] = length;
    if (this.#end - this.#start > this.#peakBytes) this.#peakBytes = this.#end - this.#start;
    if (this.#tail - this.#head > this.#peakFrames) this.#peakFrames = this.#tail - this.#head;
  }

  /** Bytes the log's buffers hold, kept or not (what it costs in memory). */
  get capacityBytes(): number {
    return this.#bytes.byteLength + this.#lengths.byteLength;
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
    const frames: Uint8Array[] = [];
    let at = this.#start;
    for (let i = this.#head, n = this.#first; i < this.#tail; i++, n++) {
      const length = this.#lengths[i]!;
      if (n >= from) frames.push(this.#bytes.subarray(at, at + length));
      at += length;
    }
    return { frames, missing };
  }

  #drop(n: number): void {
    for (let i = 0; i < n && this.#head < this.#tail; i++) {
      this.#start += this.#lengths[this.#head++]!;
      this.#first++;
    }
    if (this.#head === this.#tail) {
      this.#start = this.#end = this.#head = this.#tail = 0;
      // a burst is over once a whole cycle needed far less than it: give its memory back
      const bytes = fitted(this.#bytes.length, this.#peakBytes, INITIAL_BYTES);
      if (bytes !== this.#bytes.length) this.#bytes = new Uint8Array(bytes);
      const frames = fitted(this.#lengths.length, this.#peakFrames, INITIAL_FRAMES);
      if (frames !== this.#lengths.length) this.#lengths = new Int32Array(frames);
      this.#peakBytes = this.#peakFrames = 0;
    }
  }

  /** Makes room for one more frame of `length` bytes: compacts, or grows by doubling. */
  #roomFor(length: number): void {
    if (this.#end + length > this.#bytes.length) {
      const kept = this.keptBytes;
      if (kept + length <= this.#bytes.length) {
        this.#bytes.copyWithin(0, this.#start, this.#end);
      } else {
        let size = Math.max(this.#bytes.length, INITIAL_BYTES);
        while (size < kept + length) size *= 2;
        const grown = new Uint8Array(Math.min(size, Math.max(this.#maxBytes, kept + length)));
        grown.set(this.#bytes.subarray(this.#start, this.#end));
        this.#bytes = grown;
      }
      this.#start = 0;
      this.#end = kept;
    }
    if (this.#tail === this.#lengths.length) {
      const count = this.keptFrames;
      if (count < this.#lengths.length) {
        this.#lengths.copyWithin(0, this.#head, this.#tail);
      } else {
        const grown = new Int32Array(Math.max(INITIAL_FRAMES, this.#lengths.length * 2));
        grown.set(this.#lengths.subarray(this.#head, this.#tail));
        this.#lengths = grown;
      }
      this.#head = 0;
      this.#tail = count;
    }
  }
}

/**
 * The size a buffer of `size` keeps once its log emptied after needing at most `peak`: itself
 * while within SLACK times that need, else the need rounded up to a power of two times
 * `initial`. A steady link keeps its buffer; one grown by a burst shrinks a cycle later.
 */
function fitted(size: number, peak: number, initial: number): number {
  const need = Math.max(peak, initial);
  if (size <= need * SLACK) return size;
  let fit = initial;
  while (fit < need) fit *= 2;
  return fit;
}
