/**
 * Opening one technician/customer pair on a target, over WsLinks (cold path, not measured):
 * - Ferry: technician Hello(token) -> Welcome; CreateSession -> SessionCreated{pin}; customer
 *   Hello(pin) -> Welcome; technician sees SessionQueued, sends PickUp (which gives it control),
 *   sees status ACTIVE; the customer grants VIEW and CONTROL (ConsentResponse, consent id 0).
 *   Setup frames are decoded into an Inbox; heartbeat pings are answered from the first frame.
 * - bare-uws, naive-ws: side a then side b on `/?pair=ID&side=...`. Each relay registers a
 *   socket before its 101 reaches us, so once both are open the pair forwards.
 * Leg a is the customer (sends SCREEN, receives INPUT); leg b is the technician. A target that
 * serves TLS (TLS scenarios) is reached over wss://, verified against the bench CA.
 */
import type { ferry } from '../../src/protocol/gen/ferry.js';
import type { TargetInfo } from './scenarios.js';
import {
  CHANNEL_CONTROL,
  CHANNEL_EVENT,
  CHANNEL_HEARTBEAT,
  closeSession,
  createSession,
  decodeFrame,
  grantViewAndControl,
  helloCustomer,
  helloTechnician,
  pickUp,
  pongFor,
  STATUS_ACTIVE,
  TAG_CHANNEL,
} from './wire.js';
import { type BinaryHandler, type LinkTls, linkTls, WriteStatus, WsLink } from './ws-link.js';

export const HOST = '127.0.0.1';
const MAX_INBOX = 64;
const CONNECT_TIMEOUT_MS = 10_000;

/** One leg to `target` on `path` (wss:// when the target serves TLS). */
function connect(target: TargetInfo, path: string, onBinary: BinaryHandler): Promise<WsLink> {
  const secure: LinkTls | null =
    target.tls === undefined ? null : linkTls(target.tls.caFile, target.tls.servername);
  return WsLink.connect(HOST, target.port, path, onBinary, CONNECT_TIMEOUT_MS, secure);
}

export class SetupError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'SetupError';
    this.code = code;
  }
}

/** Heartbeat pings answered by this thread, and pongs that could not be sent (leg closing). */
export const pings = { answered: 0, unsent: 0 };

/** Answers a Ferry heartbeat ping on `link`; false when `payload` is not one. */
export function answerPing(payload: Buffer, link: WsLink): boolean {
  if (payload.length < 2 || payload[0] !== TAG_CHANNEL || payload[1] !== CHANNEL_HEARTBEAT)
    return false;
  const pong = pongFor(payload);
  if (pong === null) return true;
  if (link.sendBinary(pong) === WriteStatus.NOT_OPEN) pings.unsent++;
  else pings.answered++;
  return true;
}

interface Waiter {
  readonly match: (f: ferry.v1.Frame) => boolean;
  readonly resolve: (f: ferry.v1.Frame) => void;
  readonly reject: (err: Error) => void;
}

/**
 * CONTROL and EVENT frames received on one leg during setup, and one waiter for the next expected
 * one. `done()` drops everything once the leg is set up (the hot handler replaces this one).
 */
export class Inbox {
  readonly #frames: ferry.v1.Frame[] = [];
  #waiter: Waiter | null = null;
  #closed = false;
  #link: WsLink | null = null;

  readonly handler: BinaryHandler = (payload, link) => {
    if (answerPing(payload, link) || this.#closed) return;
    if (payload.length < 2 || (payload[1] !== CHANNEL_CONTROL && payload[1] !== CHANNEL_EVENT))
      return;
    // payload is a view into a read buffer: decode a copy (decoded bytes fields are views)
    const frame = decodeFrame(Buffer.from(payload));
    const waiter = this.#waiter;
    if (waiter !== null) {
      const err = frame.event?.error;
      if (err) {
        this.#waiter = null;
        waiter.reject(new SetupError(err.code ?? 'FERRY_ERR_?', err.message ?? ''));
        return;
      }
      if (waiter.match(frame)) {
        this.#waiter = null;
        waiter.resolve(frame);
        return;
      }
    }
    if (this.#frames.length >= MAX_INBOX) this.#frames.shift();
    this.#frames.push(frame);
  };

  /** Watches `link`: a close fails the pending wait. Call once, right after connecting. */
  bind(link: WsLink): void {
    this.#link = link;
    void link.closed.then(() => {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter?.reject(
        new SetupError('BENCH_CLOSED', `connection closed (${link.closeCode}) during setup`),
      );
    });
  }

  /** Setup is over: forget queued frames and ignore later ones. */
  done(): void {
    this.#closed = true;
    this.#frames.length = 0;
  }

  /** The first frame (queued or next) that matches; an Error event or a closed link rejects. */
  wait(
    what: string,
    match: (f: ferry.v1.Frame) => boolean,
    timeoutMs = 10_000,
  ): Promise<ferry.v1.Frame> {
    for (let i = 0; i < this.#frames.length; i++) {
      const f = this.#frames[i]!;
      const err = f.event?.error;
      if (err) return Promise.reject(new SetupError(err.code ?? 'FERRY_ERR_?', err.message ?? ''));
      if (match(f)) {
        this.#frames.splice(i, 1);
        return Promise.resolve(f);
      }
    }
    if (this.#link !== null && !this.#link.open) {
      return Promise.reject(new SetupError('BENCH_CLOSED', `connection closed before ${what}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(new SetupError('BENCH_TIMEOUT', `no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }
}

export interface PairLinks {
  /** Customer leg: sends SCREEN, receives INPUT. */
  readonly a: WsLink;
  /** Technician leg: sends INPUT, receives SCREEN. */
  readonly b: WsLink;
  /** Ferry: the session id; '' for the pair relays. */
  readonly sessionId: string;
}

function mustSend(link: WsLink, bytes: Uint8Array, what: string): void {
  if (link.sendBinary(bytes) === WriteStatus.NOT_OPEN)
    throw new SetupError('BENCH_CLOSED', `cannot send ${what}`);
}

async function openFerryPair(target: TargetInfo, token: string): Promise<PairLinks> {
  const techInbox = new Inbox();
  const tech = await connect(target, target.path, techInbox.handler);
  techInbox.bind(tech);
  try {
    mustSend(tech, helloTechnician(token, 1), 'Hello');
    await techInbox.wait('Welcome', (f) => f.control?.requestId === 1 && f.control.welcome != null);
    mustSend(tech, createSession(2), 'CreateSession');
    const created = await techInbox.wait(
      'SessionCreated',
      (f) => f.control?.sessionCreated != null,
    );
    const { sessionId, pin } = created.control!.sessionCreated!;
    const custInbox = new Inbox();
    const cust = await connect(target, target.path, custInbox.handler);
    custInbox.bind(cust);
    try {
      mustSend(cust, helloCustomer(pin!, 1), 'customer Hello');
      await custInbox.wait('customer Welcome', (f) => f.control?.welcome != null);
      await techInbox.wait('SessionQueued', (f) => f.event?.sessionQueued?.sessionId === sessionId);
      mustSend(tech, pickUp(sessionId!, 3), 'PickUp');
      await techInbox.wait(
        'status ACTIVE',
        (f) =>
          f.event?.statusChanged?.sessionId === sessionId &&
          f.event?.statusChanged?.status === STATUS_ACTIVE,
      );
      // consent is enforced by the gateway: without VIEW and CONTROL nothing is relayed
      mustSend(cust, grantViewAndControl(2), 'ConsentResponse');
      await custInbox.wait(
        'consent Done',
        (f) => f.control?.requestId === 2 && f.control.done != null,
      );
      techInbox.done();
      custInbox.done();
      return { a: cust, b: tech, sessionId: sessionId! };
    } catch (err) {
      cust.destroy();
      throw err;
    }
  } catch (err) {
    tech.destroy();
    throw err;
  }
}

const ignore: BinaryHandler = (payload, link) => {
  answerPing(payload, link);
};

async function openRelayPair(target: TargetInfo, id: string): Promise<PairLinks> {
  const a = await connect(target, `${target.path}?pair=${id}&side=a`, ignore);
  try {
    const b = await connect(target, `${target.path}?pair=${id}&side=b`, ignore);
    return { a, b, sessionId: '' };
  } catch (err) {
    a.destroy();
    throw err;
  }
}

/** Opens one pair; `id` names it on the pair relays, `token` authenticates Ferry technicians. */
export function openPair(target: TargetInfo, id: string, token: string): Promise<PairLinks> {
  return target.name === 'ferry' ? openFerryPair(target, token) : openRelayPair(target, id);
}

/**
 * Ends a pair the way each target expects: Ferry gets CloseSession from the technician (the
 * gateway then closes the customer), then both legs close; the relays just see both close.
 */
export async function closePair(
  target: TargetInfo,
  pair: PairLinks,
  timeoutMs = 5000,
): Promise<void> {
  if (target.name === 'ferry' && pair.b.open) {
    pair.b.onBinary = ignore;
    pair.a.onBinary = ignore;
    mustSend(pair.b, closeSession(pair.sessionId, 9), 'CloseSession');
    // the gateway ends the session and closes the customer leg itself
    const timer = setTimeout(() => pair.a.destroy(), timeoutMs);
    await pair.a.closed;
    clearTimeout(timer);
  }
  await Promise.all([pair.a.close(1000, timeoutMs), pair.b.close(1000, timeoutMs)]);
}
