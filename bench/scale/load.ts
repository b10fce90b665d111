/**
 * The load of the workers part: P technician/customer pairs on raw WebSocket links (the relay
 * bench's `WsLink`, pre-framed frames, one shared read buffer), all dialled on the shared client
 * port. The technician lands on whichever worker the kernel picks (SO_REUSEPORT) and creates its
 * session there; the customer dials the shared port too and, when it lands on another worker,
 * follows the Redirect to the owner's own port (as the reference clients do). Then the relay
 * bench's handshake: PickUp, status ACTIVE, the customer grants VIEW and CONTROL.
 *
 * Traffic: each customer sends SCREEN frames of `size` bytes to its technician, pipelined with a
 * window of `window` frames in flight, topped up when half has arrived (the relay bench's
 * throughput load, on every pair at once). Heartbeat pings are answered on both legs.
 */
import { performance } from 'node:perf_hooks';
import type { ferry } from '../../src/protocol/gen/ferry.js';
import { Histogram, type LatencySummary } from '../relay/histogram.js';
import { answerPing, Inbox, SetupError } from '../relay/pairing.js';
import {
  CHANNEL_SCREEN,
  createSession,
  grantViewAndControl,
  helloCustomer,
  helloTechnician,
  pickUp,
  STAMP_BYTES,
  STATUS_ACTIVE,
  screenFrame,
  stamp,
  TAG_CHANNEL,
} from '../relay/wire.js';
import { preframe, WriteStatus, WsLink } from '../relay/ws-link.js';

const HOST = '127.0.0.1';
const PATH = '/v1/ws';
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const STALL_MS = 1000;
const WATCHDOG_MS = 250;

function mustSend(link: WsLink, bytes: Uint8Array, what: string): void {
  if (link.sendBinary(bytes) === WriteStatus.NOT_OPEN)
    throw new SetupError('BENCH_CLOSED', `cannot send ${what}`);
}

async function dial(port: number): Promise<{ link: WsLink; inbox: Inbox }> {
  const inbox = new Inbox();
  const link = await WsLink.connect(HOST, port, PATH, inbox.handler, CONNECT_TIMEOUT_MS, null);
  inbox.bind(link);
  return { link, inbox };
}

export interface LoadPair {
  readonly tech: WsLink;
  readonly cust: WsLink;
  /** The worker that owns the session (the technician's Welcome.gateway_id). */
  readonly gatewayId: string;
  /** The customer landed on another worker and followed a Redirect. */
  readonly redirected: boolean;
  seq: number;
  next: number;
  inflight: number;
  progressMs: number;
}

/** Opens one pair through the shared `port`, following a Redirect for the customer. */
export async function openPair(port: number, token: string): Promise<LoadPair> {
  const t = await dial(port);
  try {
    mustSend(t.link, helloTechnician(token, 1), 'Hello');
    const welcome = await t.inbox.wait(
      'Welcome',
      (f) => f.control?.requestId === 1 && f.control.welcome != null,
    );
    const gatewayId = welcome.control!.welcome!.gatewayId ?? '';
    mustSend(t.link, createSession(2), 'CreateSession');
    const created = await t.inbox.wait('SessionCreated', (f) => f.control?.sessionCreated != null);
    const { sessionId, pin } = created.control!.sessionCreated!;
    let c = await dial(port);
    let redirected = false;
    try {
      mustSend(c.link, helloCustomer(pin!, 1), 'customer Hello');
      let reply: ferry.v1.Frame = await c.inbox.wait(
        'customer Welcome or Redirect',
        (f) => f.control?.welcome != null || f.control?.redirect != null,
      );
      const redirect = reply.control?.redirect;
      if (redirect != null) {
        // the PIN is another worker's: the same Hello on that worker's own port
        redirected = true;
        c.link.destroy();
        c = await dial(Number(new URL(redirect.url ?? '').port));
        mustSend(c.link, helloCustomer(pin!, 1), 'customer Hello after the redirect');
        reply = await c.inbox.wait('customer Welcome', (f) => f.control?.welcome != null);
      }
      await t.inbox.wait('SessionQueued', (f) => f.event?.sessionQueued?.sessionId === sessionId);
      mustSend(t.link, pickUp(sessionId!, 3), 'PickUp');
      await t.inbox.wait(
        'status ACTIVE',
        (f) =>
          f.event?.statusChanged?.sessionId === sessionId &&
          f.event?.statusChanged?.status === STATUS_ACTIVE,
      );
      mustSend(c.link, grantViewAndControl(2), 'ConsentResponse');
      await c.inbox.wait(
        'consent Done',
        (f) => f.control?.requestId === 2 && f.control.done != null,
      );
      t.inbox.done();
      c.inbox.done();
      return {
        tech: t.link,
        cust: c.link,
        gatewayId,
        redirected,
        seq: 0,
        next: 0,
        inflight: 0,
        progressMs: 0,
      };
    } catch (err) {
      c.link.destroy();
      throw err;
    }
  } catch (err) {
    t.link.destroy();
    throw err;
  }
}

export interface LoadCounts {
  readonly received: number;
  readonly receivedBytes: number;
  readonly atMs: number;
}

/** Drives the pairs' SCREEN traffic; counts what the technicians receive. */
export class ScreenLoad {
  readonly pairs: readonly LoadPair[];
  readonly #framed: Buffer;
  readonly #size: number;
  readonly #window: number;
  readonly #half: number;
  #running = false;
  #measuring = false;
  #watchdog: NodeJS.Timeout | null = null;
  received = 0;
  receivedBytes = 0;
  sent = 0;
  skipped = 0;
  stalls = 0;
  gaps = 0;
  reordered = 0;
  readonly latency = new Histogram();

  constructor(pairs: readonly LoadPair[], size: number, window: number) {
    this.pairs = pairs;
    this.#size = size;
    this.#framed = preframe(screenFrame(size));
    this.#window = window;
    this.#half = Math.max(1, Math.floor(window / 2));
    for (const pair of pairs) {
      pair.cust.onBinary = (payload, link) => {
        answerPing(payload, link);
      };
      pair.tech.onBinary = (payload, link) => this.#onTech(pair, payload, link);
    }
  }

  #onTech(pair: LoadPair, payload: Buffer, link: WsLink): void {
    const n = payload.length;
    if (n < STAMP_BYTES || payload[0] !== TAG_CHANNEL || payload[1] !== CHANNEL_SCREEN) {
      answerPing(payload, link);
      return;
    }
    const nowMs = performance.now();
    this.received++;
    this.receivedBytes += n;
    pair.progressMs = nowMs;
    if (this.#measuring)
      this.latency.record((nowMs - payload.readDoubleLE(n - STAMP_BYTES)) * 1000);
    const seq = payload.readUInt32LE(n - 4);
    let lost = 0;
    if (seq >= pair.next) {
      lost = seq - pair.next;
      this.gaps += lost;
      pair.next = seq + 1;
    } else this.reordered++;
    pair.inflight -= 1 + lost;
    if (this.#running && pair.inflight <= this.#half) this.#refill(pair);
  }

  /** Tops the pair's window up with one write. */
  #refill(pair: LoadPair): void {
    const count = this.#window - pair.inflight;
    if (count <= 0) return;
    if (pair.cust.queuedBytes > MAX_QUEUED_BYTES) {
      this.skipped++;
      return;
    }
    const len = this.#framed.length;
    const buf = Buffer.allocUnsafe(len * count);
    const nowMs = performance.now();
    for (let i = 0; i < count; i++) {
      this.#framed.copy(buf, i * len);
      stamp(buf, (i + 1) * len, nowMs, pair.seq + i);
    }
    if (pair.cust.write(buf) === WriteStatus.NOT_OPEN) return;
    pair.seq += count;
    pair.inflight += count;
    this.sent += count;
  }

  start(): void {
    this.#running = true;
    const now = performance.now();
    for (const pair of this.pairs) {
      pair.progressMs = now;
      this.#refill(pair);
    }
    this.#watchdog = setInterval(() => {
      const t = performance.now();
      for (const pair of this.pairs) {
        // a frame the gateway dropped (SCREEN under pressure) would hold the window forever
        if (this.#running && pair.inflight > 0 && t - pair.progressMs > STALL_MS) {
          this.stalls++;
          pair.inflight = 0;
          pair.progressMs = t;
          this.#refill(pair);
        }
      }
    }, WATCHDOG_MS);
  }

  /** Counters now; `measuring` turns latency recording on or off. */
  mark(measuring: boolean): LoadCounts {
    this.#measuring = measuring;
    return { received: this.received, receivedBytes: this.receivedBytes, atMs: performance.now() };
  }

  stop(): void {
    this.#running = false;
    this.#measuring = false;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  latencySummary(): LatencySummary {
    return this.latency.summary();
  }

  get size(): number {
    return this.#size;
  }

  close(): void {
    this.stop();
    for (const pair of this.pairs) {
      pair.tech.destroy();
      pair.cust.destroy();
    }
  }
}
