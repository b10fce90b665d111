/**
 * One shard of the offered load: a slice of the pairs (or of the churn loops), driven from one
 * thread, with its own counters and histograms. The generator runs one shard on its main thread
 * or one per worker thread and merges their results.
 *
 * Phases, each started by the generator: setup (open the pairs; not measured) -> start (traffic)
 * -> mark 'measure' (counters snapshot, latency recording on) -> mark 'stop' (snapshot, sending
 * stops) -> finish (wait for frames in flight, then close). Frames in flight when the drain ends
 * count as dropped.
 *
 * Hot path: a frame is sent as a pre-framed template with a fresh 12-byte stamp (copied whole
 * below 4 KiB; above, the shared prefix and the stamp go out as one writev); on receipt only the
 * channel byte and the stamp are read. Every write result is counted: a leg whose unsent queue
 * passes 4 MiB is not written to (the target is not reading) and the skip is counted.
 */
import { performance } from 'node:perf_hooks';
import { issueToken } from '../../src/session/tokens.js';
import { Histogram, type HistogramData } from './histogram.js';
import { answerPing, closePair, openPair, type PairLinks, pings } from './pairing.js';
import type { GeneratorSpec } from './scenarios.js';
import {
  CHANNEL_SCREEN,
  inputFrame,
  STAMP_BYTES,
  screenFrame,
  stamp,
  TAG_CHANNEL,
} from './wire.js';
import { preframe, WriteStatus, type WriteStatusValue, type WsLink } from './ws-link.js';

const COPY_BELOW_BYTES = 4096;
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const SETUP_CONCURRENCY = 32;
const SLOT_MS = 1;
const MAX_CATCHUP_SLOTS = 20;
const STALL_MS = 1000;
const WATCHDOG_MS = 250;
const DRAIN_POLL_MS = 20;
const MAX_ERROR_SAMPLES = 5;
const MAX_CHURN_ERRORS = 200;

export interface ShardSpec extends GeneratorSpec {
  readonly shard: number;
  /** Global pair indexes [pairFrom, pairTo) (churn: loop indexes). */
  readonly pairFrom: number;
  readonly pairTo: number;
}

export type MarkKind = 'measure' | 'stop';

export interface ShardResult {
  readonly shard: number;
  readonly pairs: number;
  readonly setupMs: number;
  readonly setupErrors: number;
  /** Between the 'measure' and 'stop' marks, on this shard's clock. */
  readonly windowMs: number;
  readonly sent: number;
  readonly sentBytes: number;
  readonly received: number;
  readonly receivedBytes: number;
  readonly totalSent: number;
  readonly totalReceived: number;
  /** Sent but never received, after the drain. */
  readonly dropped: number;
  /** Sequence numbers skipped at a receiver (frames lost in the middle of a stream). */
  readonly gaps: number;
  readonly reordered: number;
  /** Frames received that were not bench frames (Ferry events, control). */
  readonly other: number;
  /** Sends skipped: the leg's unsent queue was over the cap (target not reading). */
  readonly skipped: number;
  /** Writes that left data queued in Node above the socket high-water mark. */
  readonly queuedWrites: number;
  /** Sends refused: the leg was closed. */
  readonly unsent: number;
  /** throughput/pingpong: windows restarted after STALL_MS without progress. */
  readonly stalls: number;
  /** fleet: 1 ms send slots skipped because the generator fell behind (more than 20 ms). */
  readonly lateSlots: number;
  readonly pongs: number;
  readonly closedLegs: number;
  readonly cycles: number;
  /** churn: sessions set up and torn down in the warm-up, before the 'measure' mark. */
  readonly warmupCycles: number;
  readonly cycleErrors: number;
  readonly errorSamples: string[];
  readonly screen: HistogramData;
  readonly input: HistogramData;
  readonly setup: HistogramData;
}

interface Template {
  readonly size: number;
  readonly framed: Buffer;
  /** framed without the stamp, for the writev path. */
  readonly prefix: Buffer;
  readonly copy: boolean;
}

function template(frame: Buffer): Template {
  const framed = preframe(frame);
  return {
    size: frame.length,
    framed,
    prefix: framed.subarray(0, framed.length - STAMP_BYTES),
    copy: frame.length < COPY_BELOW_BYTES,
  };
}

class Pair {
  readonly index: number;
  readonly links: PairLinks;
  screenSeq = 0;
  inputSeq = 0;
  screenNext = 0;
  inputNext = 0;
  inflight = 0;
  progressMs = 0;

  constructor(index: number, links: PairLinks) {
    this.index = index;
    this.links = links;
  }
}

interface Counts {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
  cycles: number;
  atMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Shard {
  readonly spec: ShardSpec;
  readonly pairs: Pair[] = [];
  #token = '';
  #running = false;
  #measuring = false;
  #screenTpl: Template;
  #inputTpl: Template;
  #halfWindow: number;
  #timers: NodeJS.Timeout[] = [];
  #loops: Promise<void>[] = [];
  #screenSlots: Pair[][] = [];
  #inputSlots: Pair[][] = [];
  #slot = 0;
  #startMs = 0;
  #marks: { start: Counts | null; measure: Counts | null; stop: Counts | null } = {
    start: null,
    measure: null,
    stop: null,
  };
  #setupMs = 0;
  #setupErrors = 0;
  #errorSamples: string[] = [];
  sent = 0;
  sentBytes = 0;
  received = 0;
  receivedBytes = 0;
  gaps = 0;
  reordered = 0;
  other = 0;
  skipped = 0;
  queuedWrites = 0;
  unsent = 0;
  stalls = 0;
  lateSlots = 0;
  cycles = 0;
  cycleErrors = 0;
  readonly screenLatency = new Histogram();
  readonly inputLatency = new Histogram();
  readonly setupLatency = new Histogram();

  constructor(spec: ShardSpec) {
    this.spec = spec;
    const s = spec.scenario;
    const screenBytes = s.kind === 'fleet' ? s.screenBytes : s.size;
    const inputBytes = s.kind === 'fleet' ? s.inputBytes : s.size;
    this.#screenTpl = template(screenFrame(screenBytes));
    this.#inputTpl = template(inputFrame(inputBytes));
    this.#halfWindow = Math.max(1, Math.floor(s.window / 2));
  }

  #noteError(err: unknown): void {
    if (this.#errorSamples.length < MAX_ERROR_SAMPLES)
      this.#errorSamples.push((err as Error).message ?? String(err));
  }

  /** Opens this shard's pairs (churn: nothing to open). Resolves with the time it took. */
  async setup(): Promise<number> {
    const { target, scenario } = this.spec;
    if (target.name === 'ferry') this.#token = issueToken(target.secret, 'bench-tech', 24 * 3600);
    if (scenario.kind === 'churn') return 0;
    const started = performance.now();
    let next = this.spec.pairFrom;
    const end = this.spec.pairTo;
    const opener = async () => {
      while (next < end) {
        const index = next++;
        try {
          const links = await openPair(target, `p${index}`, this.#token);
          this.#adopt(new Pair(index, links));
        } catch (err) {
          this.#setupErrors++;
          this.#noteError(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY, end - next) }, opener));
    this.#setupMs = performance.now() - started;
    const wanted = end - this.spec.pairFrom;
    if (this.pairs.length < wanted * 0.99) {
      throw new Error(
        `only ${this.pairs.length} of ${wanted} pairs opened: ${this.#errorSamples.join('; ')}`,
      );
    }
    return this.#setupMs;
  }

  #adopt(pair: Pair): void {
    this.pairs.push(pair);
    pair.links.a.onBinary = (payload, link) => this.#onFrame(pair, payload, link);
    pair.links.b.onBinary = (payload, link) => this.#onFrame(pair, payload, link);
  }

  #onFrame(pair: Pair, payload: Buffer, link: WsLink): void {
    const n = payload.length;
    if (n < 2 || payload[0] !== TAG_CHANNEL) {
      this.other++;
      return;
    }
    const channel = payload[1]!;
    if (channel > 2 || channel === 0 || n < STAMP_BYTES) {
      if (!answerPing(payload, link)) this.other++;
      return;
    }
    const nowMs = performance.now();
    const seq = payload.readUInt32LE(n - 4);
    this.received++;
    this.receivedBytes += n;
    pair.progressMs = nowMs;
    const isScreen = channel === CHANNEL_SCREEN;
    if (this.#measuring) {
      const us = (nowMs - payload.readDoubleLE(n - STAMP_BYTES)) * 1000;
      (isScreen ? this.screenLatency : this.inputLatency).record(us);
    }
    let lost = 0;
    const expected = isScreen ? pair.screenNext : pair.inputNext;
    if (seq === expected || seq > expected) {
      lost = seq - expected;
      this.gaps += lost;
      if (isScreen) pair.screenNext = seq + 1;
      else pair.inputNext = seq + 1;
    } else this.reordered++;

    switch (this.spec.scenario.kind) {
      case 'throughput':
        pair.inflight -= 1 + lost;
        if (this.#running && pair.inflight <= this.#halfWindow) this.#refill(pair);
        return;
      case 'pingpong':
        if (!this.#running) {
          pair.inflight = 0;
          return;
        }
        if (isScreen) this.#send(pair.links.b, this.#inputTpl, pair.inputSeq++);
        else {
          pair.inflight = 0;
          this.#pingScreen(pair);
        }
        return;
      default:
    }
  }

  #count(status: WriteStatusValue, frames: number, bytes: number): boolean {
    if (status === WriteStatus.NOT_OPEN) {
      this.unsent += frames;
      return false;
    }
    if (status === WriteStatus.QUEUED) this.queuedWrites++;
    this.sent += frames;
    this.sentBytes += bytes;
    return true;
  }

  /** One stamped frame; false when not written (skipped or leg closed). */
  #send(link: WsLink, tpl: Template, seq: number): boolean {
    if (link.queuedBytes > MAX_QUEUED_BYTES) {
      this.skipped++;
      return false;
    }
    const nowMs = performance.now();
    if (tpl.copy) {
      const buf = Buffer.allocUnsafe(tpl.framed.length);
      tpl.framed.copy(buf, 0);
      stamp(buf, buf.length, nowMs, seq);
      return this.#count(link.write(buf), 1, tpl.size);
    }
    const tail = Buffer.allocUnsafe(STAMP_BYTES);
    stamp(tail, STAMP_BYTES, nowMs, seq);
    return this.#count(link.writeParts([tpl.prefix, tail]), 1, tpl.size);
  }

  #pingScreen(pair: Pair): void {
    const seq = pair.screenSeq;
    if (this.#send(pair.links.a, this.#screenTpl, seq)) {
      pair.screenSeq++;
      pair.inflight = 1;
      pair.progressMs = performance.now();
    }
  }

  /** throughput: tops the window up with one write of `window - inflight` frames. */
  #refill(pair: Pair): void {
    const count = this.spec.scenario.window - pair.inflight;
    if (count <= 0) return;
    const link = pair.links.a;
    if (link.queuedBytes > MAX_QUEUED_BYTES) {
      this.skipped++;
      return;
    }
    const tpl = this.#screenTpl;
    const nowMs = performance.now();
    let status: WriteStatusValue;
    if (tpl.copy) {
      const len = tpl.framed.length;
      const buf = Buffer.allocUnsafe(len * count);
      for (let i = 0; i < count; i++) {
        tpl.framed.copy(buf, i * len);
        stamp(buf, (i + 1) * len, nowMs, pair.screenSeq + i);
      }
      status = link.write(buf);
    } else {
      const parts: Buffer[] = [];
      for (let i = 0; i < count; i++) {
        const tail = Buffer.allocUnsafe(STAMP_BYTES);
        stamp(tail, STAMP_BYTES, nowMs, pair.screenSeq + i);
        parts.push(tpl.prefix, tail);
      }
      status = link.writeParts(parts);
    }
    if (this.#count(status, count, count * tpl.size)) {
      pair.screenSeq += count;
      pair.inflight += count;
    }
  }

  /** Starts the traffic of the scenario. */
  start(): void {
    this.#running = true;
    this.#startMs = performance.now();
    this.#marks.start = this.#counts();
    const s = this.spec.scenario;
    for (const pair of this.pairs) pair.progressMs = this.#startMs;
    switch (s.kind) {
      case 'throughput':
        for (const pair of this.pairs) this.#refill(pair);
        this.#every(WATCHDOG_MS, () => this.#watchdog());
        return;
      case 'pingpong':
        for (const pair of this.pairs) this.#pingScreen(pair);
        this.#every(WATCHDOG_MS, () => this.#watchdog());
        return;
      case 'fleet': {
        const screenSlots = Math.max(1, Math.round(s.screenEveryMs / SLOT_MS));
        const inputSlots = Math.max(1, Math.round(s.inputEveryMs / SLOT_MS));
        this.#screenSlots = Array.from({ length: screenSlots }, () => []);
        this.#inputSlots = Array.from({ length: inputSlots }, () => []);
        for (const pair of this.pairs) {
          this.#screenSlots[pair.index % screenSlots]!.push(pair);
          this.#inputSlots[pair.index % inputSlots]!.push(pair);
        }
        this.#slot = 0;
        this.#every(SLOT_MS, () => this.#fleetTick());
        return;
      }
      default:
        for (let loop = this.spec.pairFrom; loop < this.spec.pairTo; loop++)
          this.#loops.push(this.#churnLoop(loop));
    }
  }

  #every(ms: number, fn: () => void): void {
    this.#timers.push(setInterval(fn, ms));
  }

  #watchdog(): void {
    if (!this.#running) return;
    const nowMs = performance.now();
    for (const pair of this.pairs) {
      if (pair.inflight > 0 && nowMs - pair.progressMs > STALL_MS) {
        this.stalls++;
        pair.inflight = 0;
        pair.progressMs = nowMs;
        if (this.spec.scenario.kind === 'throughput') this.#refill(pair);
        else this.#pingScreen(pair);
      }
    }
  }

  /** fleet: sends what every 1 ms slot since the last tick owes (at most 20 slots late). */
  #fleetTick(): void {
    if (!this.#running) return;
    const due = Math.floor((performance.now() - this.#startMs) / SLOT_MS);
    if (due - this.#slot > MAX_CATCHUP_SLOTS) {
      this.lateSlots += due - this.#slot - MAX_CATCHUP_SLOTS;
      this.#slot = due - MAX_CATCHUP_SLOTS;
    }
    while (this.#slot < due) {
      this.#slot++;
      for (const pair of this.#screenSlots[this.#slot % this.#screenSlots.length]!) {
        if (this.#send(pair.links.a, this.#screenTpl, pair.screenSeq)) pair.screenSeq++;
      }
      for (const pair of this.#inputSlots[this.#slot % this.#inputSlots.length]!) {
        if (this.#send(pair.links.b, this.#inputTpl, pair.inputSeq)) pair.inputSeq++;
      }
    }
  }

  /** churn: set up a session, relay one frame through it, tear it down; again until stopped. */
  async #churnLoop(loop: number): Promise<void> {
    const { target } = this.spec;
    for (let n = 0; this.#running && this.cycleErrors < MAX_CHURN_ERRORS; n++) {
      const t0 = performance.now();
      let links: PairLinks | null = null;
      try {
        links = await openPair(target, `c${loop}-${n}`, this.#token);
        await this.#probe(links);
        const setupMs = performance.now() - t0;
        await closePair(target, links);
        // counted from the start (the warm-up's sessions are reported apart); timed in the window
        this.cycles++;
        if (this.#measuring) this.setupLatency.record(setupMs * 1000);
      } catch (err) {
        this.cycleErrors++;
        this.#noteError(err);
        links?.a.destroy();
        links?.b.destroy();
        await sleep(20);
      }
    }
  }

  /** One 64 B SCREEN frame a -> b: the relay path of the new pair works. */
  #probe(links: PairLinks): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('probe frame not relayed within 5 s')), 5000);
      links.b.onBinary = (payload, link) => {
        if (payload.length >= 2 && payload[0] === TAG_CHANNEL && payload[1] === CHANNEL_SCREEN) {
          clearTimeout(timer);
          resolve();
        } else answerPing(payload, link);
      };
      if (!this.#send(links.a, this.#screenTpl, 0)) {
        clearTimeout(timer);
        reject(new Error('probe frame not sent'));
      }
    });
  }

  #counts(): Counts {
    return {
      sent: this.sent,
      sentBytes: this.sentBytes,
      received: this.received,
      receivedBytes: this.receivedBytes,
      cycles: this.cycles,
      atMs: performance.now(),
    };
  }

  mark(kind: MarkKind): void {
    if (kind === 'measure') {
      this.#marks.measure = this.#counts();
      this.#measuring = true;
      return;
    }
    this.#measuring = false;
    this.#running = false;
    this.#marks.stop = this.#counts();
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  /** Stops everything now (the generator is being shut down): no drain, no result. */
  abort(): void {
    this.mark('stop');
    for (const pair of this.pairs) {
      pair.links.a.destroy();
      pair.links.b.destroy();
    }
  }

  /** Waits for frames in flight (at most drainMs), closes every leg, returns the counts. */
  async finish(): Promise<ShardResult> {
    const { drainMs } = this.spec.timing;
    const deadline = performance.now() + drainMs;
    if (this.spec.scenario.kind === 'churn') {
      await Promise.race([Promise.all(this.#loops), sleep(drainMs + 5000)]);
    } else {
      while (this.received < this.sent && performance.now() < deadline) await sleep(DRAIN_POLL_MS);
    }
    let closedLegs = 0;
    for (const pair of this.pairs) {
      for (const link of [pair.links.a, pair.links.b]) {
        if (!link.open) closedLegs++;
        link.destroy();
      }
    }
    const a = this.#marks.measure ?? this.#counts();
    const b = this.#marks.stop ?? this.#counts();
    return {
      shard: this.spec.shard,
      pairs:
        this.spec.scenario.kind === 'churn'
          ? this.spec.pairTo - this.spec.pairFrom
          : this.pairs.length,
      setupMs: this.#setupMs,
      setupErrors: this.#setupErrors,
      windowMs: b.atMs - a.atMs,
      sent: b.sent - a.sent,
      sentBytes: b.sentBytes - a.sentBytes,
      received: b.received - a.received,
      receivedBytes: b.receivedBytes - a.receivedBytes,
      totalSent: this.sent,
      totalReceived: this.received,
      dropped: this.spec.scenario.kind === 'churn' ? 0 : Math.max(0, this.sent - this.received),
      gaps: this.gaps,
      reordered: this.reordered,
      other: this.other,
      skipped: this.skipped,
      queuedWrites: this.queuedWrites,
      unsent: this.unsent,
      stalls: this.stalls,
      lateSlots: this.lateSlots,
      pongs: pings.answered,
      closedLegs,
      cycles: b.cycles - a.cycles,
      warmupCycles: a.cycles - (this.#marks.start?.cycles ?? a.cycles),
      cycleErrors: this.cycleErrors,
      errorSamples: this.#errorSamples,
      screen: this.screenLatency.toData(),
      input: this.inputLatency.toData(),
      setup: this.setupLatency.toData(),
    };
  }
}
