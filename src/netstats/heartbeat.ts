/**
 * The gateway's RTT probe (spec NS-D6): one instance per gateway, driven by the gateway's shared
 * clock through `tick`, fed pongs through `onPong`. It owns no timer and no socket; it sees a
 * connection only as a `HeartbeatTarget`, so tests drive it with a fake target and a fake clock.
 *
 * The ping frame is encoded once. Ping.seq is fixed32 and gateway_time_ms a double, so their
 * bytes sit at fixed offsets, found at construction by encoding marker values; each send only
 * rewrites those 12 bytes. Sequence numbers are per gateway: one seq per tick, shared by every
 * target pinged in that tick, wrapping at 2^32. Each target remembers which seqs it is owed.
 */
import { ferry } from '../protocol/gen/ferry.js';
import { type LinkStats, PENDING_CAPACITY } from './link-stats.js';

export interface HeartbeatTarget {
  readonly link: LinkStats;
  /**
   * Writes the ping now. Must copy or send the bytes before returning: the same buffer is
   * rewritten for the next target. False = not written (target is gone or congested).
   */
  sendHeartbeat(frame: Uint8Array): boolean;
  /** Cumulative frame byte counters of the connection (spec NS-D8). */
  readonly rxBytes: number;
  readonly txBytes: number;
}

export interface HeartbeatOptions<T extends HeartbeatTarget> {
  /** spec NS-D6: H = 2 s; the gateway calls `tick` at this period (no timer here) */
  readonly intervalMs?: number;
  /** spec NS-D6: an unanswered ping becomes a sample of exactly this many ms */
  readonly stallMs?: number;
  /** Monotonic milliseconds (`() => performance.now()` in the gateway). */
  readonly now: () => number;
  /** Called after every sample recorded, censored or not: the place to re-classify and alert. */
  readonly onSample?: (target: T, rttMs: number, censored: boolean) => void;
}

const SEQ_MARKER = 0xa1b2c3d4;
const TIME_MARKER = -123456789.125;

export class Heartbeat<T extends HeartbeatTarget = HeartbeatTarget> {
  readonly intervalMs: number;
  readonly stallMs: number;
  private readonly now: () => number;
  private readonly onSample: ((target: T, rttMs: number, censored: boolean) => void) | null;
  private readonly frame: Uint8Array;
  private readonly view: DataView;
  private readonly seqOffset: number;
  private readonly timeOffset: number;
  private seq = 0;

  constructor(options: HeartbeatOptions<T>) {
    this.intervalMs = options.intervalMs ?? 2000;
    this.stallMs = options.stallMs ?? 5000;
    this.now = options.now;
    this.onSample = options.onSample ?? null;
    // copied out of protobufjs' pooled slab so the frame owns its whole ArrayBuffer
    this.frame = new Uint8Array(
      ferry.v1.Frame.encode({
        channel: ferry.v1.Channel.CHANNEL_HEARTBEAT,
        heartbeat: { ping: { seq: SEQ_MARKER, gatewayTimeMs: TIME_MARKER } },
      }).finish(),
    );
    this.view = new DataView(this.frame.buffer);
    this.seqOffset = findMarker(this.frame, (v, at) => v.getUint32(at, true) === SEQ_MARKER, 4);
    this.timeOffset = findMarker(this.frame, (v, at) => v.getFloat64(at, true) === TIME_MARKER, 8);
  }

  /** The seq the next tick will send. */
  get nextSeq(): number {
    return (this.seq + 1) >>> 0;
  }

  /**
   * One probe round. Per target: stalled pings become censored samples (and are forgotten, so
   * their late pongs are ignored), a new ping is sent, and the byte counters are sampled.
   */
  tick(targets: Iterable<T>): void {
    this.seq = (this.seq + 1) >>> 0;
    this.view.setUint32(this.seqOffset, this.seq, true);
    for (const target of targets) {
      const link = target.link;
      const nowMs = this.now();
      this.censorStalled(target, link, nowMs);
      // a full pending list means pings are already owed; they will resolve or stall
      if (link.pendingCount < PENDING_CAPACITY) {
        this.view.setFloat64(this.timeOffset, nowMs, true);
        if (target.sendHeartbeat(this.frame)) link.addPending(this.seq, nowMs);
      }
      link.sampleBytes(nowMs, target.rxBytes, target.txBytes);
    }
  }

  /** Returns the RTT recorded for `seq`, or -1 when the pong is ignored (unknown or stalled seq). */
  onPong(target: T, seq: number): number {
    const nowMs = this.now();
    const link = target.link;
    const sentAtMs = link.takePending(seq);
    if (sentAtMs < 0) return -1;
    const rttMs = nowMs - sentAtMs;
    // spec NS-D6: past the stall deadline the sample is censored even if no tick has noticed yet
    if (rttMs >= this.stallMs) {
      this.record(target, link, this.stallMs, true);
      return -1;
    }
    this.record(target, link, rttMs, false);
    return rttMs;
  }

  private censorStalled(target: T, link: LinkStats, nowMs: number): void {
    // spec NS-D6: unanswered for stallMs -> a sample of exactly stallMs at that moment
    while (link.pendingCount > 0 && nowMs - link.oldestPendingSentAtMs() >= this.stallMs) {
      link.dropOldestPending();
      this.record(target, link, this.stallMs, true);
    }
  }

  private record(target: T, link: LinkStats, rttMs: number, censored: boolean): void {
    if (censored) link.addCensoredSample(rttMs);
    else link.addSample(rttMs);
    if (this.onSample !== null) this.onSample(target, rttMs, censored);
  }
}

function findMarker(
  frame: Uint8Array,
  matches: (view: DataView, at: number) => boolean,
  width: number,
): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let at = 0; at + width <= frame.length; at++) if (matches(view, at)) return at;
  throw new Error('heartbeat: marker not found in the encoded ping (ferry.v1.Ping changed?)');
}
