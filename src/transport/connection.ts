/**
 * Per-socket state, created at upgrade and held as the uWS user data (typed, never patched onto
 * the socket). Implements the relay's `RelayPeer` and the heartbeat's `HeartbeatTarget`. Counters
 * are plain fields bumped in place; metrics and statistics read them.
 *
 * Sends to one socket within one event-loop turn are coalesced (see `Coalescer`).
 */
import type { TokenBucket } from '../limits/token-bucket.js';
import { LinkStats, RATE_SNAPSHOTS } from '../netstats/link-stats.js';
import { Codes } from '../protocol/codes.js';
import type { RoleValue } from '../protocol/frames.js';
import { PeerState, type PeerStateValue, type RelayPeer, SendStatus } from '../relay/peer.js';
import type { SendBudget } from '../relay/send-budget.js';
import { DOUBLE_FIELD } from '../session/doubles.js';
import type { Session } from '../session/session.js';
import { isReliableFrame, ReplayLog } from './replay-log.js';
import type { Uws } from './uws.js';

export interface SocketData {
  readonly conn: Connection;
}

/** The part of a uWS WebSocket a Connection writes to (a fake in tests). */
export type SendSocket = Pick<
  Uws.WebSocket<SocketData>,
  'send' | 'cork' | 'getBufferedAmount' | 'end'
>;

/**
 * Coalesces sends to the same socket within one event-loop turn.
 *
 * Why: inside a uWS message callback the *receiving* socket is the corked one, so every frame
 * forwarded to its peer is written with its own send syscall (that is all a bare relay can do).
 * A burst of small frames (input events, small screen tiles, pipelined traffic) then costs one
 * syscall per frame on the gateway and one TCP segment per frame on the receiver.
 *
 * How: the first frame to a socket in a turn is written at once, so a lone frame (ping-pong, a
 * keystroke) waits for nothing. Later frames of up to `maxFrameBytes` to the same socket in the
 * same turn are copied into one shared arena (preallocated; no allocation per frame beyond the
 * view of the source) and written when the turn ends, in `setImmediate`: after uWS has read
 * every readable socket of this poll phase. They go out corked, as separate WebSocket messages,
 * so a burst leaves in one syscall per 16 KiB cork buffer and clients see exactly the frames the
 * sender sent.
 *
 * Frames the gateway makes itself (`sendFrame`: replies, events, status changes) are staged from
 * the first: a session's set-up step sends several to each leg, often from the other leg's
 * callback, and they then leave in one write per leg instead of one each (churn: 25 → 15 send
 * syscalls a session, docs/benchmarks.md, churn finding 12). Relayed frames, heartbeats and
 * answers the client times (`sendFrame(bytes, true)`) keep the rule above.
 *
 * Order is kept per socket: once a socket has staged frames every later small frame is staged
 * behind them, and a larger frame or `end()` first writes the staged ones. Staged bytes count
 * as queued bytes for the send budget, so drop and slow-consumer decisions see them.
 */
export class Coalescer {
  readonly maxFrameBytes: number;
  readonly #arena: Buffer;
  #used = 0;
  /** Staged frames: offset and length in the arena, and the next entry of the same socket. */
  readonly #offset: Int32Array;
  readonly #length: Int32Array;
  readonly #next: Int32Array;
  #entries = 0;
  /** Connections written to in this turn (each once). */
  readonly #touched: Connection[] = [];
  #scheduled = false;
  readonly #flush = () => this.flush();
  /** Frames that went out staged (copied once) instead of written at once. */
  stagedFrames = DOUBLE_FIELD;
  /** Corked writes of staged frames (each carries one socket's frames of one turn). */
  flushes = DOUBLE_FIELD;

  constructor(arenaBytes = 1 << 20, maxEntries = 16_384, maxFrameBytes = 4096) {
    // process-wide counts, past 2^31 in time: doubles from the start (src/session/doubles.ts)
    this.stagedFrames = 0;
    this.flushes = 0;
    this.#arena = Buffer.allocUnsafe(arenaBytes);
    this.#offset = new Int32Array(maxEntries);
    this.#length = new Int32Array(maxEntries);
    this.#next = new Int32Array(maxEntries);
    this.maxFrameBytes = maxFrameBytes;
  }

  /** `conn` wrote a frame at once: later frames to it in this turn are staged. */
  touch(conn: Connection): void {
    this.#touched.push(conn);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Copies a frame into the arena; -1 when it is full (the caller writes at once instead). */
  stage(bytes: ArrayBuffer | Uint8Array, prev: number): number {
    const length = bytes.byteLength;
    const at = this.#used;
    if (this.#entries === this.#offset.length || at + length > this.#arena.length) return -1;
    this.#arena.set(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), at);
    const entry = this.#entries++;
    this.#used = at + length;
    this.#offset[entry] = at;
    this.#length[entry] = length;
    this.#next[entry] = -1;
    if (prev !== -1) this.#next[prev] = entry;
    this.stagedFrames++;
    return entry;
  }

  /**
   * Writes the chain of staged frames from `head` to `ws`; returns how many uWS refused. Corked
   * only at the end of a turn (`flush`), where no socket is: inside a uWS callback the receiving
   * socket holds the cork buffer, so there the frames are written one by one.
   */
  write(ws: SendSocket, head: number, corked: boolean): number {
    this.#refused = 0;
    this.#head = head;
    this.#ws = ws;
    if (corked) {
      ws.cork(this.#sendChain);
      this.flushes++;
    } else this.#sendChain();
    this.#ws = null;
    return this.#refused;
  }

  #refused = 0;
  #head = -1;
  #ws: SendSocket | null = null;
  /** Bound once: a corked write allocates no closure. */
  readonly #sendChain = () => {
    const ws = this.#ws!;
    const arena = this.#arena;
    for (let e = this.#head; e !== -1; e = this.#next[e]!) {
      const at = this.#offset[e]!;
      if (ws.send(arena.subarray(at, at + this.#length[e]!), true) === SendStatus.DROPPED) {
        this.#refused++;
      }
    }
  };

  /** End of the turn: every touched connection writes what it staged; the arena is reused. */
  flush(): void {
    this.#scheduled = false;
    const touched = this.#touched;
    for (let i = 0; i < touched.length; i++) touched[i]!.endTurn(this);
    touched.length = 0;
    this.#used = 0;
    this.#entries = 0;
  }
}

/** The gateway's coalescer: one per process, shared by every connection. */
export const coalescer = new Coalescer();

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
  screenDirect: Session | null = null;
  starvedStream = 0;
  rxFrames = 0;
  // a screen stream passes 2^31 bytes within hours: doubles from the start, zeroed in the
  // constructor (DOUBLE_FIELD); a frame count would take more than a year of a busy link
  rxBytes = DOUBLE_FIELD;
  txFrames = 0;
  txBytes = DOUBLE_FIELD;
  droppedFrames = 0;
  /** Bytes waiting in this socket's send buffer, as last seen (after a send or a drain). */
  queuedBytes = 0;
  /** Frames received in the current one-second window (rate limit). */
  windowFrames = 0;
  /** Refused frames in the current one-minute window (bad-frame limit). */
  strikes = 0;
  /** Chat allowance, made on the first chat message (handlers/chat.ts). */
  chatBucket: TokenBucket | null = null;
  /** `rxFrames` when the idle check last ran, and how long it has stayed the same. */
  idleMark = 0;
  idleSinceMs: number;
  /** Which slice of the shared clock pings this connection (see Gateway: heartbeats spread). */
  slot = 0;
  /** Hello deadline on the monotonic clock. */
  readonly helloDeadlineMs: number;
  readonly #budget: SendBudget;
  readonly #coalescer: Coalescer;
  /** Copies of the reliable frames written, for a resume's replay (created on the first). */
  #replay: ReplayLog | null = null;
  readonly #replayBytes: number;
  /** Reliable frames among those staged this turn. */
  #stagedReliable = 0;
  #ws: SendSocket | null = null;
  /** Written to in this turn: later small frames are staged (see Coalescer). */
  #inTurn = false;
  /** First and last staged entry of this socket in the coalescer's arena, -1 when none. */
  #stageHead = -1;
  #stageTail = -1;
  #stagedBytes = 0;

  constructor(
    id: string,
    remoteAddress: string,
    nowMs: number,
    helloDeadlineMs: number,
    budget: SendBudget,
    coalesce: Coalescer = coalescer,
    replayBytes = 1 << 20,
    rateSnapshots = RATE_SNAPSHOTS,
  ) {
    this.rxBytes = 0;
    this.txBytes = 0;
    this.#replayBytes = replayBytes;
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.openedAtMs = nowMs;
    this.idleSinceMs = nowMs;
    this.helloDeadlineMs = helloDeadlineMs;
    this.#budget = budget;
    this.#coalescer = coalesce;
    this.link = new LinkStats(nowMs, 0, 0, rateSnapshots);
  }

  attach(ws: SendSocket): void {
    this.#ws = ws;
  }

  get connected(): boolean {
    return this.state !== PeerState.CLOSED;
  }

  /** Its close waits for the end of the turn (end with afterTurn): it takes no frame meanwhile. */
  get ending(): boolean {
    return this.#ending !== null;
  }

  /**
   * Writes a frame (zero copy, coalesced within a turn). `reliable` frames are numbered and a
   * copy is kept for a resume's replay (src/transport/replay-log.ts); the caller closes the
   * connection when one is DROPPED, so the client always holds a prefix of them.
   */
  forward(message: ArrayBuffer | Uint8Array, reliable = false, staged = false): number {
    const ws = this.#ws;
    if (ws === null || this.state === PeerState.CLOSED || this.#ending !== null) {
      return SendStatus.DROPPED;
    }
    if (this.#held !== null) return this.#hold(message, reliable);
    const length = message.byteLength;
    if (staged && !this.#inTurn && length <= this.#coalescer.maxFrameBytes) {
      // a gateway-made frame waits for the end of the turn, with whatever else this socket gets
      this.#inTurn = true;
      this.#coalescer.touch(this);
    }
    if (this.#inTurn) {
      if (length <= this.#coalescer.maxFrameBytes) {
        const entry = this.#coalescer.stage(message, this.#stageTail);
        if (entry !== -1) {
          if (this.#stageHead === -1) this.#stageHead = entry;
          this.#stageTail = entry;
          this.#stagedBytes += length;
          this.#settle(this.queuedBytes + length);
          this.txFrames++;
          this.txBytes += length;
          if (reliable) {
            this.#stagedReliable++;
            this.#record(message);
          }
          return SendStatus.SUCCESS;
        }
      }
      // too large to stage, or the arena is full: what is staged goes first
      this.#writeStaged(ws);
    } else {
      this.#inTurn = true;
      this.#coalescer.touch(this);
    }
    const status = ws.send(message, true);
    if (status === SendStatus.SUCCESS) {
      // SUCCESS means uWS holds nothing back for this socket any more.
      if (this.queuedBytes !== 0) this.#settle(0);
    } else if (status === SendStatus.BACKPRESSURE) {
      this.#settle(ws.getBufferedAmount());
    }
    if (status !== SendStatus.DROPPED) {
      this.txFrames++;
      this.txBytes += length;
      if (reliable) this.#record(message);
    }
    return status;
  }

  /** Frames written while held (copies: a relayed frame's bytes live only in its callback). */
  #held: { frame: Uint8Array; reliable: boolean }[] | null = null;
  /** Their bytes, within the same per-connection budget as bytes queued in uWS. */
  #heldBytes = 0;

  hold(): void {
    this.#held ??= [];
  }

  #hold(message: ArrayBuffer | Uint8Array, reliable: boolean): number {
    const length = message.byteLength;
    // past the budget a reliable frame closes the connection as a slow consumer (sendFrame)
    if (!this.#budget.admitsReliable(this.#heldBytes, length)) return SendStatus.DROPPED;
    // new Uint8Array(view) copies (a Buffer's slice() would not)
    const copy =
      message instanceof Uint8Array ? new Uint8Array(message) : new Uint8Array(message.slice(0));
    this.#held!.push({ frame: copy, reliable });
    this.#heldBytes += length;
    return SendStatus.SUCCESS;
  }

  /**
   * Writes what was held, in order, and stops holding. A reliable frame refused closes the
   * connection as a slow consumer, and ends the writing; a refused heartbeat is only skipped.
   */
  release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#heldBytes = 0;
    for (const { frame, reliable } of held) {
      if (this.state === PeerState.CLOSED) return;
      if (reliable) this.sendFrame(frame);
      else this.forward(frame);
    }
  }

  /**
   * The client counts reliable frames and acknowledges them (Hello.counts_reliable, or a resume
   * with a replay point): only then are copies kept for a replay. Others get none, so a client
   * that never acknowledges costs no memory.
   */
  keepsReplay = false;

  #record(message: ArrayBuffer | Uint8Array): void {
    if (!this.keepsReplay) return;
    // the client counts by channel: a gateway-made frame on SCREEN or HEARTBEAT is not numbered
    if (message instanceof Uint8Array && !isReliableFrame(message)) return;
    this.#replay ??= new ReplayLog(this.#replayBytes);
    this.#replay.record(message);
  }

  /** The reliable frames written to this connection and the copies kept (null before the first). */
  get replayLog(): ReplayLog | null {
    return this.#replay;
  }

  /** The client received `received` reliable frames (Pong.received): their copies go. */
  acknowledge(received: number): void {
    this.#replay?.acknowledge(received);
  }

  /** Frames staged for this socket and not yet written (tests, status). */
  get stagedBytes(): number {
    return this.#stagedBytes;
  }

  /** Writes the staged frames, oldest first (corked: only from the end of the turn). */
  #writeStaged(ws: SendSocket, corked = false): void {
    const head = this.#stageHead;
    if (head === -1) return;
    this.#stageHead = -1;
    this.#stageTail = -1;
    this.#stagedBytes = 0;
    const reliable = this.#stagedReliable;
    this.#stagedReliable = 0;
    const refused = this.#coalescer.write(ws, head, corked);
    this.#settle(ws.getBufferedAmount());
    if (refused > 0) {
      this.droppedFrames += refused;
      // uWS refuses from the first frame past its limit on: a reliable frame among them would
      // leave a gap, so the client must resume and have them replayed
      if (reliable > 0) this.end(Codes.SLOW_CONSUMER.close, Codes.SLOW_CONSUMER.code);
    }
  }

  /** The coalescer's turn is over: write what was staged; the next frame is written at once. */
  endTurn(from: Coalescer): void {
    this.#inTurn = false;
    const ws = this.#ws;
    if (from !== this.#coalescer || ws === null || this.state === PeerState.CLOSED) return;
    const ending = this.#ending;
    if (ending === null) {
      this.#writeStaged(ws, true);
      return;
    }
    this.#ending = null;
    // the staged frames in one corked write, then the close frame and FIN (uWS holds a FIN back
    // while the socket is corked, until the client answers the close or the socket times out)
    this.#writeStaged(ws, true);
    this.end(ending.code, ending.reason);
  }

  /** A close that waits for the end of the turn (end with afterTurn), or null. */
  #ending: { readonly code: number; readonly reason: string } | null = null;

  #settle(level: number): void {
    this.#budget.settle(this.queuedBytes, level);
    this.queuedBytes = level;
  }

  /**
   * Reliable: never dropped. A frame the budget cannot admit (this socket past its hard cap, or
   * the gateway past its budget while this socket is congested) closes the connection as a
   * slow consumer; the participant resumes through the lifecycle. The frame is staged for the
   * end of the turn (see Coalescer); `now` writes it at once, for an answer the client times.
   */
  sendFrame(bytes: ArrayBuffer | Uint8Array, now = false): boolean {
    if (this.state === PeerState.CLOSED || this.#ending !== null) return false;
    if (
      this.#budget.admitsReliable(this.queuedBytes, bytes.byteLength) &&
      this.forward(bytes, true, !now) !== SendStatus.DROPPED
    ) {
      return true;
    }
    this.end(Codes.SLOW_CONSUMER.close, Codes.SLOW_CONSUMER.code);
    return false;
  }

  /** Heartbeats are latest-wins: never queued behind a full buffer, never a reason to close. */
  sendHeartbeat(frame: Uint8Array): boolean {
    // a ping held would be timed from its hold, not from its write: none until released
    if (this.state !== PeerState.READY || this.#held !== null) return false;
    return this.forward(frame) !== SendStatus.DROPPED;
  }

  bufferedAmount(): number {
    return this.#ws === null ? 0 : this.#ws.getBufferedAmount() + this.#stagedBytes;
  }

  /**
   * Closes the socket after the frames it was given. `afterTurn` (within a turn, nothing held):
   * the frames staged in this turn leave in one corked write at its end, then the close frame,
   * where a close from another socket's callback would write each of them on its own (that
   * socket holds uWS's cork buffer); no frame is taken meanwhile, and uWS's close handler runs
   * then. A plain end() meanwhile closes at once, with the waiting close's code and reason.
   */
  end(code: number, reason: string, afterTurn = false): void {
    if (this.state === PeerState.CLOSED || this.#ws === null) return;
    const ending = this.#ending;
    if (ending !== null) {
      if (afterTurn) return;
      // a close that cannot wait (a shutdown may exit before the turn ends): the one waiting,
      // at once, with its frames
      this.#ending = null;
      this.end(ending.code, ending.reason);
      return;
    }
    if (afterTurn && this.#inTurn && this.#held === null) {
      this.#ending = { code, reason };
      return;
    }
    // what was held goes before the close frame, as what was staged does; a frame of it past
    // the budget may close the connection meanwhile (as a slow consumer)
    this.release();
    if (!this.connected || this.#ws === null) return;
    // what the relay accepted for this socket goes out before the close frame; uWS refusing a
    // reliable one of them closes the socket meanwhile (as a slow consumer)
    this.#writeStaged(this.#ws);
    if (!this.connected || this.#ws === null) return;
    this.state = PeerState.CLOSED;
    // uWS calls the close handler synchronously from end(); the socket is invalid afterwards.
    this.#ws.end(code, reason);
  }

  /** uWS drained some of this socket's buffer. */
  onDrained(): void {
    if (this.#ws !== null) this.#settle(this.#ws.getBufferedAmount() + this.#stagedBytes);
  }

  /** Called from the uWS close handler: the socket is gone, and so are its queued bytes. */
  onClosed(): void {
    this.state = PeerState.CLOSED;
    this.#ws = null;
    this.#ending = null;
    this.#held = null;
    this.#heldBytes = 0;
    this.#stageHead = -1;
    this.#stageTail = -1;
    this.#stagedBytes = 0;
    this.#stagedReliable = 0;
    this.#settle(0);
  }
}
