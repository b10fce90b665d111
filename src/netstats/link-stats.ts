/**
 * Measurements of one leg (gateway <-> one participant connection): the RTT window with its
 * running mean and jitter, the pings still awaiting a pong, and snapshots of the connection's
 * cumulative byte counters for the upload/download rates (docs/spec/network-stats.md 3.1-3.5).
 *
 * Invariants: every field is set in the constructor and storage is one preallocated array of
 * doubles per leg (the RTT ring, the pending pings and the rate snapshots side by side; the
 * censored flags of the RTT ring are bits of one integer), so recording a sample or a snapshot
 * allocates nothing and a leg costs one array, not one per measurement, and a plain one, not a
 * typed array (src/session/doubles.ts; memory per idle session: docs/benchmarks.md). There is no clock here: callers pass
 * monotonic milliseconds. Pending pings are kept in send order (oldest first), so the oldest one
 * is the first to stall.
 */
import { doubles } from '../session/doubles.js';
import { type ConnectivityValue, classify } from './grades.js';

/** spec NS-D3 (at most 31: the censored flags of the window are the bits of one integer) */
export const RTT_WINDOW = 10;
/** More than ceil(stallMs / intervalMs) + 1 = 4 with the spec's 5 s / 2 s. */
export const PENDING_CAPACITY = 8;
/** spec NS-D8 */
export const RATE_WINDOW_MS = 10_000;
export const MIN_RATE_ELAPSED_MS = 2000;
/** Enough to span RATE_WINDOW_MS with ticks at least 0.7 s apart; a link's ring is at most this. */
export const RATE_SNAPSHOTS = 16;
/** The newest snapshot, one at least RATE_WINDOW_MS old, and one to spare for a late tick. */
export const MIN_RATE_SNAPSHOTS = 3;

/**
 * The snapshots a link keeps when the byte counters are sampled every `intervalMs` (each probe
 * tick): enough for one at least RATE_WINDOW_MS old, with two to spare for late ticks, and never
 * more than RATE_SNAPSHOTS. 7 at the default 2 s, 16 from 0.7 s down: a smaller ring at the usual
 * interval is 216 bytes less a link (memory per idle session: docs/benchmarks.md).
 */
export function rateSnapshotsFor(intervalMs: number): number {
  if (!(intervalMs > 0)) return RATE_SNAPSHOTS;
  return Math.min(
    RATE_SNAPSHOTS,
    Math.max(MIN_RATE_SNAPSHOTS, Math.ceil(RATE_WINDOW_MS / intervalMs) + 2),
  );
}

const SNAP_T = 0;
const SNAP_RX = 1;
const SNAP_TX = 2;
const SNAP_STRIDE = 3;

/** Where each part lives in the one array: RTT ring, (seq, sentAtMs) pairs, snapshots. */
const RTT_AT = 0;
const PINGS_AT = RTT_AT + RTT_WINDOW;
const SNAPS_AT = PINGS_AT + PENDING_CAPACITY * 2;

export class LinkStats {
  /** The latest sample, censored or not; 0 before the first one. */
  lastRttMs = 0;
  /** Start of the current connection (constructor or last `clear`), on the caller's clock. */
  connectedAtMs: number;

  /** RTT ring at RTT_AT, pending pings at PINGS_AT, rate snapshots at SNAPS_AT. */
  private readonly slots: number[];
  /** Capacity of the snapshot ring (rateSnapshotsFor). */
  private readonly snapshots: number;
  /** Bit i set: the RTT sample in ring slot i is censored. */
  private censoredBits = 0;
  /** Index the next sample goes to; when the window is full it holds the oldest sample. */
  private nextSample = 0;
  private samples = 0;
  private rttSum = 0;
  private absDiffSum = 0;
  private censoredInWindow = 0;

  /** (seq, sentAtMs) pairs at PINGS_AT, oldest first, `pending` of them in use. */
  private pending = 0;

  /** (time, rx, tx) triples in a ring at SNAPS_AT; the oldest may be the connect baseline. */
  private nextSnap = 0;
  private snapCount = 0;

  constructor(connectedAtMs = 0, rxTotal = 0, txTotal = 0, snapshots = RATE_SNAPSHOTS) {
    this.snapshots = Math.min(RATE_SNAPSHOTS, Math.max(MIN_RATE_SNAPSHOTS, Math.floor(snapshots)));
    this.slots = doubles(SNAPS_AT + this.snapshots * SNAP_STRIDE);
    this.connectedAtMs = connectedAtMs;
    this.sampleBytes(connectedAtMs, rxTotal, txTotal);
  }

  /**
   * spec NS-D3: a reconnect starts a new window (status UNKNOWN until 3 samples), forgets the
   * pings sent on the old connection and rebases the rates on the new connection's counters.
   */
  clear(nowMs: number, rxTotal = 0, txTotal = 0): void {
    this.lastRttMs = 0;
    this.connectedAtMs = nowMs;
    this.nextSample = 0;
    this.samples = 0;
    this.rttSum = 0;
    this.absDiffSum = 0;
    this.censoredInWindow = 0;
    this.censoredBits = 0;
    this.pending = 0;
    this.nextSnap = 0;
    this.snapCount = 0;
    this.sampleBytes(nowMs, rxTotal, txTotal);
  }

  get sampleCount(): number {
    return this.samples;
  }

  /** spec NS-D3: mean of the window; 0 while empty. */
  get avgRttMs(): number {
    return this.samples === 0 ? 0 : this.rttSum / this.samples;
  }

  /** Mean absolute difference of consecutive samples in the window; 0 below 2 samples. */
  get jitterMs(): number {
    return this.samples < 2 ? 0 : this.absDiffSum / (this.samples - 1);
  }

  /** spec NS-D6: censored samples currently in the window. */
  get stalledProbes(): number {
    return this.censoredInWindow;
  }

  get status(): ConnectivityValue {
    return classify(this.avgRttMs, this.samples);
  }

  addSample(rttMs: number): void {
    this.push(rttMs, 0);
  }

  /** spec NS-D6: a stalled probe counts as a sample of exactly `valueMs`. */
  addCensoredSample(valueMs: number): void {
    this.push(valueMs, 1);
  }

  private push(ms: number, censored: number): void {
    const i = this.nextSample;
    const rtt = this.slots;
    if (this.samples === RTT_WINDOW) {
      const oldest = rtt[RTT_AT + i]!;
      this.rttSum -= oldest;
      this.absDiffSum -= Math.abs(rtt[RTT_AT + ((i + 1) % RTT_WINDOW)]! - oldest);
      this.censoredInWindow -= (this.censoredBits >>> i) & 1;
    } else {
      this.samples++;
    }
    if (this.samples > 1) this.absDiffSum += Math.abs(ms - this.lastRttMs);
    rtt[RTT_AT + i] = ms;
    this.censoredBits = (this.censoredBits & ~(1 << i)) | (censored << i);
    this.rttSum += ms;
    this.censoredInWindow += censored;
    this.lastRttMs = ms;
    this.nextSample = (i + 1) % RTT_WINDOW;
    if (this.nextSample === 0) this.resyncSums();
  }

  /** Recomputes the running sums once per lap of the ring so float error cannot accumulate. */
  private resyncSums(): void {
    const first = (this.nextSample - this.samples + RTT_WINDOW) % RTT_WINDOW;
    let sum = 0;
    let absDiff = 0;
    const rtt = this.slots;
    let prev = rtt[RTT_AT + first]!;
    for (let k = 0; k < this.samples; k++) {
      const v = rtt[RTT_AT + ((first + k) % RTT_WINDOW)]!;
      sum += v;
      if (k > 0) absDiff += Math.abs(v - prev);
      prev = v;
    }
    this.rttSum = sum;
    this.absDiffSum = absDiff;
  }

  get pendingCount(): number {
    return this.pending;
  }

  /** Records a ping that was written. Returns false (nothing recorded) when the list is full. */
  addPending(seq: number, sentAtMs: number): boolean {
    if (this.pending === PENDING_CAPACITY) return false;
    this.slots[PINGS_AT + this.pending * 2] = seq;
    this.slots[PINGS_AT + this.pending * 2 + 1] = sentAtMs;
    this.pending++;
    return true;
  }

  /** Send time of the oldest unanswered ping, or -1 when none is pending. */
  oldestPendingSentAtMs(): number {
    return this.pending === 0 ? -1 : this.slots[PINGS_AT + 1]!;
  }

  /** Forgets the oldest pending ping (it stalled). */
  dropOldestPending(): void {
    if (this.pending === 0) return;
    this.slots.copyWithin(PINGS_AT, PINGS_AT + 2, PINGS_AT + this.pending * 2);
    this.pending--;
  }

  /** Removes `seq` from the pending list and returns its send time, or -1 if it is not pending. */
  takePending(seq: number): number {
    const pings = this.slots;
    for (let k = 0; k < this.pending; k++) {
      const at = PINGS_AT + k * 2;
      if (pings[at] !== seq) continue;
      const sentAtMs = pings[at + 1]!;
      pings.copyWithin(at, at + 2, PINGS_AT + this.pending * 2);
      this.pending--;
      return sentAtMs;
    }
    return -1;
  }

  /** Called on every probe tick with the connection's cumulative frame byte counters. */
  sampleBytes(nowMs: number, rxTotal: number, txTotal: number): void {
    const o = SNAPS_AT + this.nextSnap * SNAP_STRIDE;
    this.slots[o + SNAP_T] = nowMs;
    this.slots[o + SNAP_RX] = rxTotal;
    this.slots[o + SNAP_TX] = txTotal;
    this.nextSnap = (this.nextSnap + 1) % this.snapshots;
    if (this.snapCount < this.snapshots) this.snapCount++;
  }

  /** Participant -> gateway (bytes the gateway received), bits/s. The customer's upload rate. */
  uploadBps(nowMs: number): number {
    return this.rate(nowMs, SNAP_RX);
  }

  /** Gateway -> participant (bytes written to it), bits/s. A technician's download rate. */
  downloadBps(nowMs: number): number {
    return this.rate(nowMs, SNAP_TX);
  }

  /**
   * spec NS-D8: bytes since the newest snapshot at least RATE_WINDOW_MS old, x 8 over the time
   * since it. Until such a snapshot exists the base is the connect baseline, i.e. the time since
   * the leg connected, never less than MIN_RATE_ELAPSED_MS.
   */
  private rate(nowMs: number, column: number): number {
    const snaps = this.slots;
    const cap = this.snapshots;
    const newest = SNAPS_AT + ((this.nextSnap - 1 + cap) % cap) * SNAP_STRIDE;
    let base = SNAPS_AT + ((this.nextSnap - this.snapCount + cap) % cap) * SNAP_STRIDE;
    const windowStartMs = nowMs - RATE_WINDOW_MS;
    for (let k = 1; k <= this.snapCount; k++) {
      const o = SNAPS_AT + ((this.nextSnap - k + cap) % cap) * SNAP_STRIDE;
      if (snaps[o + SNAP_T]! <= windowStartMs) {
        base = o;
        break;
      }
    }
    const bytes = snaps[newest + column]! - snaps[base + column]!;
    if (bytes <= 0) return 0;
    const elapsedMs = Math.max(nowMs - snaps[base + SNAP_T]!, MIN_RATE_ELAPSED_MS);
    return Math.round((bytes * 8000) / elapsedMs);
  }
}
