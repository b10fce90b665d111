/**
 * The bookkeeping of the faults soak: the seeded PRNG that places every fault, the sender side
 * of a chat stream (acknowledged by the sender's own echo, resent after a resume once a sync
 * message proved what the gateway never got), the input ledger (an input is acknowledged when a
 * later chat on the same connection was), the gaps of each client (disconnected by what, resumed
 * or not) and the RSS growth of each gateway life after its warm-up.
 */
import type { SequenceTracker } from './sequence.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What ended a client's connection. */
export const Cause = {
  CUT: 'cut',
  RESTART: 'restart',
  /** A gateway exit nobody planned. */
  CRASH: 'crash',
  /** Not caused by the bench: a finding in itself. */
  OTHER: 'other',
} as const;
export type Cause = (typeof Cause)[keyof typeof Cause];

export interface GapCounts {
  /** Connections lost (the client's 'disconnected'). */
  disconnected: number;
  /** Gaps ended by a Welcome that took the place back (`welcome.resumed`). */
  resumed: number;
  /** Gaps ended otherwise: refused, given up, started afresh, or still open at the end. */
  notResumed: number;
}

export const emptyGaps = (): Record<Cause, GapCounts> => ({
  cut: { disconnected: 0, resumed: 0, notResumed: 0 },
  restart: { disconnected: 0, resumed: 0, notResumed: 0 },
  crash: { disconnected: 0, resumed: 0, notResumed: 0 },
  other: { disconnected: 0, resumed: 0, notResumed: 0 },
});

/** The gaps of one client: the cause the bench set before the loss, and the open gap. */
export class ClientGaps {
  readonly gaps = emptyGaps();
  /** Set by the bench just before it causes a loss (a cut, the restart). */
  expected: Cause | null = null;
  /** The cause of the gap open now; null while connected. */
  open: Cause | null = null;
  /** The client will not come back (not resumed, or finished). */
  dead = false;
  /** Close code and reason of the final close, if any. */
  finalClose: { code: number; reason: string } | null = null;

  disconnected(): void {
    const cause = this.expected ?? Cause.OTHER;
    this.expected = null;
    this.open = cause;
    this.gaps[cause].disconnected++;
  }

  /**
   * The restart (or a crash) took over: an open gap becomes its gap, and so does the next one
   * (the connection it is about to lose).
   */
  retarget(cause: Cause): void {
    if (this.open === null || this.open === cause) {
      if (this.open === null && !this.dead) this.expected = cause;
      return;
    }
    this.gaps[this.open].disconnected--;
    this.gaps[cause].disconnected++;
    this.open = cause;
  }

  ended(resumed: boolean): void {
    if (this.open === null) return;
    if (resumed) this.gaps[this.open].resumed++;
    else this.gaps[this.open].notResumed++;
    this.open = null;
    if (!resumed) this.dead = true;
  }
}

export function addGaps(into: Record<Cause, GapCounts>, from: Record<Cause, GapCounts>): void {
  for (const cause of Object.keys(into) as Cause[]) {
    into[cause].disconnected += from[cause].disconnected;
    into[cause].resumed += from[cause].resumed;
    into[cause].notResumed += from[cause].notResumed;
  }
}

/** Where the technician's inputs stand against its acknowledged chat, per connection. */
export class InputLedger {
  /** Per connection (epoch): first and last input number sent on it, highest acknowledged. */
  readonly #epochs: { first: number; last: number; confirmed: number }[] = [];

  /** A new connection: inputs from `nextSeq` on go out on it. */
  startEpoch(nextSeq: number): number {
    this.#epochs.push({ first: nextSeq, last: nextSeq - 1, confirmed: nextSeq - 1 });
    return this.#epochs.length - 1;
  }

  sent(seq: number): void {
    const e = this.#epochs.at(-1);
    if (e !== undefined) e.last = seq;
  }

  /** A chat sent on `epoch` after input `mark` was acknowledged: so was every input before it. */
  acknowledge(epoch: number, mark: number, tracker: SequenceTracker): void {
    const e = this.#epochs[epoch];
    if (e === undefined || mark <= e.confirmed) return;
    tracker.confirm(Math.max(e.first, e.confirmed + 1), mark);
    e.confirmed = mark;
  }
}

/** One chat message the sender wrote: its number (0 = a sync), connection and input mark. */
interface Sent {
  readonly epoch: number;
  readonly inputMark: number;
}

/**
 * The sender side of one chat direction. A number is acknowledged when the sender sees its own
 * message come back with the gateway's sequence (the gateway sends chat to every participant,
 * sender included, and holds it for those away). After a resume the sender sends a sync message
 * first: once its echo is back, every echo the gateway had for it has arrived (held frames leave
 * in order, before later ones), so whatever is still unacknowledged never reached the gateway
 * and is sent again, with its number, before anything new.
 */
export class ChatSender {
  readonly tracker: SequenceTracker;
  readonly #pending = new Map<number, Sent>();
  readonly #syncs = new Map<number, Sent>();
  /** The sync whose echo is awaited (0 = none): nothing new is sent meanwhile. */
  awaitedSync = 0;
  #nextSync = 0;
  epoch = 0;
  /** Echoes of numbers already acknowledged (a held copy delivered twice would show here). */
  echoDuplicates = 0;

  constructor(tracker: SequenceTracker) {
    this.tracker = tracker;
  }

  /** Acknowledgements not back yet. */
  get unacknowledged(): number {
    return this.#pending.size;
  }

  get settled(): boolean {
    return this.#pending.size === 0 && this.awaitedSync === 0;
  }

  /** Records a message numbered `seq` sent now. */
  sent(seq: number, inputMark: number): void {
    this.#pending.set(seq, { epoch: this.epoch, inputMark });
  }

  /** A new sync number, awaited from now. */
  sync(inputMark: number): number {
    const id = ++this.#nextSync;
    this.#syncs.set(id, { epoch: this.epoch, inputMark });
    this.awaitedSync = id;
    return id;
  }

  /** The echo of `seq` came back; returns what it acknowledges (undefined for a repeat). */
  acknowledge(seq: number): Sent | undefined {
    const sent = this.#pending.get(seq);
    if (sent === undefined) {
      this.echoDuplicates++;
      return undefined;
    }
    this.#pending.delete(seq);
    this.tracker.confirm(seq);
    return sent;
  }

  /**
   * The echo of sync `id` came back. Returns what it acknowledges and, when it was the awaited
   * one, the numbers to send again (ascending).
   */
  synced(id: number): { sent: Sent | undefined; resend: number[] } {
    const sent = this.#syncs.get(id);
    this.#syncs.delete(id);
    if (id !== this.awaitedSync) return { sent, resend: [] };
    this.awaitedSync = 0;
    const resend = [...this.#pending.keys()].sort((a, b) => a - b);
    return { sent, resend };
  }
}

/** A gateway RSS sample stamped with the runner's clock and the gateway life it belongs to. */
export interface LifeSample {
  readonly life: number;
  readonly atSeconds: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  readonly newSpaceMiB: number;
}

export interface LifeGrowth {
  readonly life: number;
  readonly startSeconds: number;
  /** First sample at least the life's warm-up into it, and the last one. */
  readonly fromSeconds: number;
  readonly toSeconds: number;
  readonly fromMiB: number;
  readonly toMiB: number;
  readonly growthMB: number;
}

/**
 * RSS growth of each gateway life from the end of its warm-up to its last sample. The first life
 * warms up for `warmupSeconds`: its sessions build their working set from nothing (each log's
 * window fills). A life after a restart gets the sessions back from their journals with their
 * windows full, so it warms up for `restartWarmupSeconds`.
 */
export function rssGrowth(
  samples: readonly LifeSample[],
  lifeStarts: readonly number[],
  warmupSeconds: number,
  restartWarmupSeconds: number = warmupSeconds,
): LifeGrowth[] {
  const out: LifeGrowth[] = [];
  lifeStarts.forEach((start, life) => {
    const warmup = life === 0 ? warmupSeconds : restartWarmupSeconds;
    const after = samples.filter((s) => s.life === life && s.atSeconds - start >= warmup);
    const first = after[0];
    const last = after.at(-1);
    if (first === undefined || last === undefined || last === first) return;
    out.push({
      life,
      startSeconds: start,
      fromSeconds: first.atSeconds,
      toSeconds: last.atSeconds,
      fromMiB: first.rssMiB,
      toMiB: last.rssMiB,
      growthMB: Number((((last.rssMiB - first.rssMiB) * 1024 * 1024) / 1e6).toFixed(2)),
    });
  });
  return out;
}
