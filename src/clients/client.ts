/**
 * The reference client core shared by the technician and the customer: a `ws` connection that
 * says Hello, answers heartbeat pings at once, matches CONTROL replies to requests by
 * `request_id`, and emits typed events. Imports the protocol only, never gateway code.
 *
 * Reconnect: when a welcomed connection is lost (not closed on purpose, not refused), the client
 * dials again with exponential backoff and says Hello with the Welcome's resume token, taking its
 * place back; the gateway then delivers what it held meanwhile. `disconnected` and `resumed`
 * mark the gap; `close` is emitted once, when the client is finished for good.
 */

import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { CloseCodes, Codes } from '../protocol/codes.js';
import { Channel, encodeFrame, isReliableFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  finalRefusal,
  givesUp,
  type ReconnectOptions,
  resumableClose,
  retryDelayMs,
} from '../protocol/resume-policy.js';
import { DirectLink, Route } from './direct-link.js';
import { type DirectClientOptions, weriftPeers } from './direct-werift.js';
import { fastest, type Measurement, measureAll, relayRtts } from './probe.js';
import type { LostConnection, SentAt } from './recent-input.js';
import { type ClientTls, tlsConnectOptions, verificationError } from './tls.js';

export type { ReconnectOptions } from '../protocol/resume-policy.js';

const RECONNECT_DEFAULTS: Required<ReconnectOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  giveUpAfterMs: 3_600_000,
};

export interface ClientOptions {
  /** Gateway WebSocket URL, e.g. ws://127.0.0.1:8080/v1/ws */
  readonly url: string;
  readonly name?: string;
  /** Answer pings this many ms late (tests of RTT measurement); 0 = at once. */
  readonly pongDelayMs?: number;
  /** How long `request()` waits for a reply. */
  readonly requestTimeoutMs?: number;
  /** Resume after a lost connection (default on); false = a lost connection is final. */
  readonly reconnect?: ReconnectOptions | false;
  /** wss:// URLs: extra trusted CA (`--ca`); the certificate is always verified unless skipped by name. */
  readonly tls?: ClientTls;
  /**
   * Other gateways of the deployment (relay choice): before its first Hello the client measures
   * its RTT to `url` and to each of these (three probes each), connects to the fastest and
   * tells the gateway its measurements.
   */
  readonly gateways?: readonly string[];
  /**
   * Try a direct path for SCREEN and INPUT when the gateway offers one (docs/direct-path.md);
   * `networks` limits the addresses this end offers and probes. Off by default.
   */
  readonly direct?: DirectClientOptions | boolean;
}

export class FerryError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'FerryError';
    this.code = code;
  }
}

interface Pending {
  resolve(control: ferry.v1.Control): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A request answered on a channel other than CONTROL (SYSINFO), matched by its own request id. */
interface PendingFrame {
  resolve(frame: ferry.v1.Frame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export interface ClientEvents {
  frame: [frame: ferry.v1.Frame, raw: Uint8Array];
  event: [event: ferry.v1.Event];
  error: [err: Error];
  gatewayError: [err: ferry.v1.Error];
  status: [status: ferry.v1.StatusChanged];
  chat: [chat: ferry.v1.ChatMessage, channel: number];
  control: [control: ferry.v1.Control, stream: number];
  ping: [seq: number];
  badFrame: [data: Buffer, err: Error];
  input: [input: ferry.v1.InputEvent];
  framesLost: [lost: ferry.v1.FramesLost];
  /** An entry of the session log other than chat (status, joins, consent, tool use; B7). */
  sessionEvent: [event: ferry.v1.SessionEvent];
  /** The permissions in force changed (grant, denial or revocation). */
  consentChanged: [changed: ferry.v1.ConsentChanged];
  /** Another technician holds control now. */
  controlChanged: [changed: ferry.v1.ControlChanged];
  /** Customer: a technician asks for permissions (answered by the customer's consent policy). */
  consentRequest: [request: ferry.v1.ConsentRequest];
  /** The connection was lost; the client is reconnecting with its resume token. */
  disconnected: [code: number, reason: string];
  /** A reconnect was welcomed (`welcome.resumed` says whether the place was taken back). */
  resumed: [welcome: ferry.v1.Welcome];
  /** Final: the client will not reconnect. */
  close: [code: number, reason: string];
  /**
   * A Redirect sent this client to the gateway that owns its PIN, session or place (answering
   * its Hello), or that holds what an operation asked for (a jump client: `followed()`).
   */
  redirected: [url: string, reason: string];
  /** The gateways this client would resume at if its own died changed (EVENT Alternates). */
  alternates: [urls: readonly string[]];
  /** The direct path changed: its state, its counters or the gateway's DirectStatus. */
  direct: [link: DirectLink];
}

/** The ws:// and wss:// URLs of `urls` a client at `from` may go to (others are ignored). */
function validUrls(urls: readonly string[], from: string): string[] {
  return urls
    .map((u) => redirectTarget(u, 0, from))
    .filter((u): u is string => typeof u === 'string');
}

/** Redirects followed in a row before the client gives up (a loop between gateways). */
const MAX_REDIRECTS = 3;

/**
 * Where a Redirect (or a resume URL, or an alternate) sends a client connected to `from`: a
 * ws:// or wss:// URL, or why it is not followed. Never from wss:// to ws://: whoever can write
 * the directory (or answer in a gateway's name) would otherwise have the client send its Hello,
 * token or key included, in clear.
 */
export function redirectTarget(url: string, hops: number, from: string): string | FerryError {
  if (hops >= MAX_REDIRECTS) {
    return new FerryError(Codes.PROTOCOL.code, `more than ${MAX_REDIRECTS} redirects in a row`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return new FerryError(Codes.PROTOCOL.code, `redirect to a malformed URL: ${url}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return new FerryError(Codes.PROTOCOL.code, `redirect to a URL that is not ws:// or wss://`);
  }
  if (parsed.protocol === 'ws:' && /^wss:/i.test(from)) {
    return new FerryError(
      Codes.PROTOCOL.code,
      `redirect from wss:// to ws:// refused (the Hello would go in clear): ${parsed.toString()}`,
    );
  }
  return parsed.toString();
}

export class FerryClient extends EventEmitter<ClientEvents> {
  readonly options: ClientOptions;
  ws: WebSocket | null = null;
  welcome: ferry.v1.Welcome | null = null;
  readonly #pending = new Map<number, Pending>();
  readonly #pendingFrames = new Map<number, PendingFrame>();
  #nextRequestId = 1;
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  pongsSent = 0;
  /** Frames from the gateway that did not decode (relayed garbage); dropped. */
  badFrames = 0;
  closeCode = 0;
  closeReason = '';
  /** From the latest Welcome: sent in Hello to take this client's place back. */
  resumeToken = '';
  /** Successful reconnects. */
  reconnects = 0;
  #hello: ferry.v1.Hello.$Properties | null = null;
  #closing = false;
  /** Chat catch-ups after a resume that the gateway refused (the session ended, the link broke). */
  chatCatchUpFailures = 0;
  /** The session of the newest chat message seen, and its log seq (catch-up after a restart). */
  #chatSession = '';
  #chatSeq = 0;
  /** Chat that arrived during a catch-up, emitted once the history is in. */
  #chatWaiting: [ferry.v1.ChatMessage, number][] | null = null;
  #catchingUp = false;
  /** Reliable frames received on the current connection (see ReplayPoint in the .proto). */
  #received = 0;
  /** The current connection's number (one per dial), and the frames written to it. */
  #connection = 0;
  #sent = 0;
  /** The number of the connection that was lost (Welcome.replay speaks of it). */
  #lostConnection = 0;
  /** ... and on the connection that was lost: the resume asks for what followed. */
  #lostReceived = 0;
  /** The gateway said it keeps this client's sessions over its restart (Closing.resume). */
  #resumeAfterGoingAway = false;
  #reconnecting = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #attempt = 0;
  #lostAtMs = 0;
  /** Delay of the next reconnect attempt instead of the backoff (a customer restarting). */
  protected nextRetryDelayMs: number | null = null;

  /** The gateway this client talks to: `options.url`, or where a Redirect sent it. */
  #url: string;
  /** The number of the connection that was welcomed last (a Redirect on it is followed). */
  #welcomedConnection = 0;
  /**
   * A Redirect that answered an operation on the welcomed connection: followed once the gateway
   * closes it with 4010 (`settle` gets the new connection's Welcome, or why there is none).
   */
  #redirect: {
    readonly target: ferry.v1.IRedirect;
    readonly settle: (welcome: Promise<ferry.v1.Welcome>) => void;
  } | null = null;
  /** The Welcome at the gateway the latest such Redirect named (`followed()`). */
  #moved: Promise<ferry.v1.Welcome> | null = null;
  /** The URL of the gateway that welcomed this client last, and the others it named. */
  #welcomedAt = '';
  #alternates: string[] = [];

  constructor(options: ClientOptions) {
    super();
    this.options = options;
    this.#url = options.url;
  }

  /** The other gateways of the deployment, where this client resumes if its own dies. */
  get alternates(): readonly string[] {
    return this.#alternates;
  }

  /** The gateway's URL now: `options.url`, or the owner a Redirect named (resumes go there). */
  get url(): string {
    return this.#url;
  }

  /** True between a lost connection and its resume (or the final close). */
  get reconnecting(): boolean {
    return this.#reconnecting;
  }

  /** The relay choice's measurements (empty without `gateways`). */
  measurements: readonly Measurement[] = [];

  /** This end of the direct path, when `options.direct` is on (made by the first `open`). */
  direct: DirectLink | null = null;

  /** The direct path dropped SCREEN frames for a full channel, and it drained. */
  protected onDirectDrained(): void {
    // only a customer sends SCREEN frames
  }

  /** Which frames that came on the direct path this client takes (its role's, its grants). */
  protected acceptsDirect(_frame: ferry.v1.Frame): boolean {
    return false;
  }

  async #prepareDirect(role: 'technician' | 'customer'): Promise<void> {
    const want = this.options.direct;
    if (want === undefined || want === false || this.direct !== null) return;
    const peers = await weriftPeers(want === true ? {} : want);
    this.direct = new DirectLink({
      role,
      sendControl: (control) => this.notify(control),
      createPeer: (open) => peers.create(open),
      keepsCandidate: (line) => peers.keepsCandidate(line),
      deliver: (frame, bytes) => this.#deliverDirect(frame, bytes),
      changed: (link) => this.emit('direct', link),
      drained: () => this.onDirectDrained(),
      now: () => performance.now(),
    });
  }

  /**
   * A frame from the direct path (the link decoded it and checked its channel and body), handled
   * as one from the gateway when this client takes it.
   */
  #deliverDirect(frame: ferry.v1.Frame, bytes: Uint8Array): boolean {
    if (!this.acceptsDirect(frame)) return false;
    this.emit('frame', frame, bytes);
    return true;
  }

  /** Opens the connection, sends Hello, resolves with the Welcome (or rejects with the coded Error). */
  protected async open(said: ferry.v1.Hello.$Properties): Promise<ferry.v1.Welcome> {
    let hello = said;
    const others = this.options.gateways ?? [];
    if (others.length > 0 && this.measurements.length === 0) {
      this.measurements = await measureAll([this.options.url, ...others], this.options.tls);
      const best = fastest(this.measurements);
      if (best !== null) this.#url = best.url;
      hello = { ...said, relayRtts: relayRtts(this.measurements) };
    }
    if (this.options.direct !== undefined && this.options.direct !== false) {
      await this.#prepareDirect(
        said.role === ferry.v1.Role.ROLE_CUSTOMER ? 'customer' : 'technician',
      );
      hello = { ...hello, direct: true };
    }
    this.#hello = hello;
    this.#closing = false;
    return this.#dial(hello);
  }

  /**
   * Opens a connection and says Hello. A `resuming` dial (a retry) reports its failure through
   * its promise only: the retry decides whether the client goes on or closes, once.
   */
  #dial(said: ferry.v1.Hello.$Properties, resuming = false, hops = 0): Promise<ferry.v1.Welcome> {
    // this client counts reliable frames and acknowledges them: the gateway keeps copies to replay
    const hello = { ...said, countsReliable: true };
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.#url, {
        perMessageDeflate: false,
        ...tlsConnectOptions(this.options.tls),
      });
      this.ws = ws;
      this.#received = 0;
      this.#connection++;
      this.#sent = 0;
      ws.binaryType = 'nodebuffer';
      let settled = false;
      let welcomed = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      ws.on('error', (error) => {
        const err = verificationError(error, this.#url);
        if (!settled) fail(err);
        else this.emit('error', err);
      });
      ws.on('close', (code, reason) => {
        if (this.ws !== ws) return;
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const p of [...this.#pending.values(), ...this.#pendingFrames.values()]) {
          clearTimeout(p.timer);
          p.reject(
            new FerryError(Codes.CLOSED.code, `connection closed (${code} ${this.closeReason})`),
          );
        }
        this.#pending.clear();
        this.#pendingFrames.clear();
        fail(
          new FerryError(this.closeReason || Codes.CLOSED.code, `connection closed with ${code}`),
        );
        const redirect = this.#redirect;
        this.#redirect = null;
        if (welcomed && redirect !== null) {
          if (code === CloseCodes.REDIRECT && !this.#closing) {
            redirect.settle(this.#follow(redirect.target));
            return;
          }
          redirect.settle(
            Promise.reject(new FerryError(Codes.CLOSED.code, `connection closed with ${code}`)),
          );
        }
        if (welcomed) this.#onLost(code, this.closeReason);
        else if (!resuming && !this.#reconnecting) this.emit('close', code, this.closeReason);
      });
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) return;
        if (this.ws === ws && isReliableFrame(data)) this.#received++;
        this.#onMessage(data);
      });
      ws.on('open', () => {
        this.request({ hello }).then((control) => {
          const redirect = control.redirect;
          if (redirect != null) {
            // another gateway of the deployment owns what the Hello named: the same Hello there
            settled = true;
            const next = redirectTarget(redirect.url ?? '', hops, this.#url);
            if (next instanceof FerryError) {
              ws.close();
              reject(next);
              return;
            }
            this.#url = next;
            this.emit('redirected', next, redirect.reason ?? '');
            ws.close();
            this.#dial(said, resuming, hops + 1).then(resolve, reject);
            return;
          }
          // Decoded sub-messages are full instances at run time; the generated types only say $Properties.
          const welcome = (control.welcome as ferry.v1.Welcome | null) ?? null;
          if (welcome === null) {
            fail(new FerryError(Codes.PROTOCOL.code, 'no Welcome after Hello'));
            return;
          }
          welcomed = true;
          this.#welcomedConnection = this.#connection;
          this.#resumeAfterGoingAway = false;
          settled = true;
          this.welcome = welcome;
          this.#welcomedAt = this.#url;
          this.#alternates = validUrls(welcome.alternates ?? [], this.#url);
          if (welcome.resumeToken) this.resumeToken = welcome.resumeToken;
          resolve(welcome);
        }, fail);
      });
    });
  }

  /**
   * Follows a Redirect that answered an operation (the gateway closed with 4010): the same Hello
   * at the gateway it names, without a resume token (a place there is not this one's; that
   * gateway would send it back). Resolves with the new Welcome; a failure is final ('close').
   */
  #follow(target: ferry.v1.IRedirect): Promise<ferry.v1.Welcome> {
    const next = redirectTarget(target.url ?? '', 0, this.#url);
    if (next instanceof FerryError || this.#hello === null) {
      this.emit('close', CloseCodes.REDIRECT, 'redirect');
      return Promise.reject(
        next instanceof FerryError ? next : new FerryError(Codes.PROTOCOL.code, 'no Hello'),
      );
    }
    this.#url = next;
    this.resumeToken = '';
    this.emit('redirected', next, target.reason ?? '');
    const { resumeToken: _, replay: __, ...hello } = this.#hello;
    return this.#dial(hello);
  }

  /**
   * The Welcome at the gateway a Redirect answering an operation named (the reference
   * technician's StartJumpSession to a jump client another gateway holds): resolves once this
   * client said its Hello there, rejects when it could not (the connection ended otherwise).
   */
  followed(): Promise<ferry.v1.Welcome> {
    return this.#moved ?? Promise.reject(new FerryError(Codes.PROTOCOL.code, 'no Redirect'));
  }

  /** A welcomed connection closed: resume it, or finish. */
  #onLost(code: number, reason: string): void {
    const resumable =
      !this.#closing &&
      resumableClose(code, this.#resumeAfterGoingAway) &&
      this.options.reconnect !== false &&
      this.resumeToken !== '';
    if (!resumable) {
      this.direct?.onDisconnected();
      this.emit('close', code, reason);
      return;
    }
    this.#lostReceived = this.#received;
    this.#lostConnection = this.#connection;
    this.#reconnecting = true;
    this.#attempt = 0;
    this.#lostAtMs = Date.now();
    this.direct?.onDisconnected();
    this.emit('disconnected', code, reason);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    const opts = { ...RECONNECT_DEFAULTS, ...(this.options.reconnect || {}) };
    const delay = this.nextRetryDelayMs ?? retryDelayMs(opts, this.#attempt);
    this.nextRetryDelayMs = null;
    if (givesUp(opts, this.#lostAtMs, Date.now(), delay)) {
      this.#finish(this.closeCode, Codes.RESUME_GAVE_UP.code);
      return;
    }
    this.#retryTimer = setTimeout(() => this.#retry(), delay);
    // A client waiting to reconnect does not keep the process alive on its own.
    this.#retryTimer.unref();
  }

  #retry(): void {
    this.#retryTimer = null;
    if (this.#closing || this.#hello === null) return;
    this.#attempt++;
    // the gateway that welcomed this client first, then in turn the others it named: one of
    // them takes the session over if that one died
    const candidates = [this.#welcomedAt || this.options.url, ...this.#alternates];
    this.#url = candidates[(this.#attempt - 1) % candidates.length]!;
    // what arrived of the lost connection: the gateway replays the rest before anything new
    const hello = {
      ...this.#hello,
      pin: '',
      resumeToken: this.resumeToken,
      replay: { received: this.#lostReceived },
    };
    this.#dial(hello, true).then(
      (welcome) => {
        this.#reconnecting = false;
        this.reconnects++;
        if (welcome.resumed) {
          // what the gateway received of the lost connection, if it knows (not after a restart)
          const received = welcome.replay?.received;
          this.onResumed(
            received == null
              ? null
              : { connection: this.#lostConnection, received: Number(received) },
          );
        }
        this.emit('resumed', welcome);
        this.#catchUpChat();
      },
      (err: unknown) => {
        if (this.#closing || !this.#reconnecting) return;
        const code = err instanceof FerryError ? err.code : '';
        if (finalRefusal(code)) {
          this.#finish(this.closeCode, code);
          return;
        }
        this.#scheduleRetry();
      },
    );
  }

  #finish(code: number, reason: string): void {
    this.#reconnecting = false;
    this.emit('close', code, reason);
  }

  /** Reconnects at once instead of waiting out the backoff (the network is known to be back). */
  resumeNow(): void {
    if (!this.#reconnecting || this.#retryTimer === null) return;
    clearTimeout(this.#retryTimer);
    this.#retry();
  }

  /** Kills the socket without a close handshake, as a network failure would (tests, demos). */
  dropConnection(): void {
    this.ws?.terminate();
  }

  #onMessage(data: Buffer): void {
    this.framesIn++;
    this.bytesIn += data.length;
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(data);
    } catch (err) {
      // Relayed INPUT/SCREEN are not decoded by the gateway: a peer can send garbage. Count it
      // and drop it; an unhandled 'error' event would crash the client.
      this.badFrames++;
      this.emit('badFrame', data, err as Error);
      return;
    }
    this.emit('frame', frame, data);
    switch (frame.channel) {
      case Channel.CHANNEL_HEARTBEAT:
        if (frame.heartbeat?.ping) this.#onPing(frame.heartbeat.ping.seq ?? 0);
        return;
      case Channel.CHANNEL_EVENT:
        if (frame.event) this.#onEvent(frame.event as ferry.v1.Event);
        return;
      case Channel.CHANNEL_CONTROL:
        if (frame.control) this.#onControl(frame.control as ferry.v1.Control, frame.stream);
        return;
      case Channel.CHANNEL_CHAT:
      case Channel.CHANNEL_CHAT_PRIVATE:
        if (frame.chat) this.#onChat(frame.chat as ferry.v1.ChatMessage, frame.channel);
        return;
      case Channel.CHANNEL_SYSINFO: {
        const id = frame.sysinfoResponse?.requestId ?? 0;
        const pending = id !== 0 ? this.#pendingFrames.get(id) : undefined;
        if (pending !== undefined) {
          this.#pendingFrames.delete(id);
          clearTimeout(pending.timer);
          pending.resolve(frame);
        }
        return;
      }
      default:
    }
  }

  /** Where the frame written last went: this connection's number and its count of frames. */
  protected get sentAt(): SentAt {
    return { connection: this.#connection, frame: this.#sent };
  }

  /**
   * The place was taken back: what a subclass sends again goes before anything new. `lost`:
   * what the gateway received of the lost connection, or null when it cannot know.
   */
  protected onResumed(_lost: LostConnection | null): void {
    // nothing of its own: a customer's place has nothing to send again
  }

  /** The session whose chat this client follows (a customer's; a technician says its own). */
  protected chatSessionId(): string {
    return this.welcome?.sessionId ?? '';
  }

  /**
   * After a resume, chat the gateway could not replay (it restarted: its copies were in memory)
   * is read back from the session log. Until the history arrives, live chat waits, so that what
   * the history brings (older) is emitted first: every message once, in the log's order.
   */
  #catchUpChat(): void {
    const sessionId = this.chatSessionId();
    const waiting = this.#chatWaiting ?? [];
    if (sessionId === '' || sessionId !== this.#chatSession || this.#catchingUp) {
      if (!this.#catchingUp) this.#releaseChat(waiting);
      return;
    }
    this.#chatWaiting = waiting;
    this.#catchingUp = true;
    // only what followed the newest message emitted: the gateway answers it from memory
    this.request({ chatHistoryRequest: { sessionId, afterSeq: this.#chatSeq } }).then(
      (reply) => {
        for (const e of reply.chatHistory?.entries ?? []) {
          const chat = e.chat as ferry.v1.ChatMessage | null | undefined;
          if (chat == null) continue;
          const channel =
            chat.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
              ? Channel.CHANNEL_CHAT_PRIVATE
              : Channel.CHANNEL_CHAT;
          this.#emitChat(chat, channel);
        }
        this.#releaseChat(waiting);
      },
      () => {
        // the session may have ended meanwhile; the history stays readable on request
        this.chatCatchUpFailures++;
        this.#releaseChat(waiting);
      },
    );
  }

  /** The catch-up is over: chat that waited for it is emitted, in order, once. */
  #releaseChat(waiting: [ferry.v1.ChatMessage, number][]): void {
    this.#catchingUp = false;
    if (this.#chatWaiting === waiting) this.#chatWaiting = null;
    for (const [chat, channel] of waiting) this.#emitChat(chat, channel);
  }

  /** A chat frame arrived: emitted now, or after the catch-up under way. */
  #onChat(chat: ferry.v1.ChatMessage, channel: number): void {
    const sessionId = this.chatSessionId();
    if (sessionId !== this.#chatSession) {
      this.#chatSession = sessionId;
      this.#chatSeq = 0;
    }
    if (this.#chatWaiting !== null) this.#chatWaiting.push([chat, channel]);
    else this.#emitChat(chat, channel);
  }

  /** Emits a chat message unless one with its log seq (or a later one) was emitted already. */
  #emitChat(chat: ferry.v1.ChatMessage, channel: number): void {
    const seq = Number(chat.seq);
    if (seq !== 0 && seq <= this.#chatSeq) return;
    if (seq > this.#chatSeq) this.#chatSeq = seq;
    this.emit('chat', chat, channel);
  }

  #onPing(seq: number): void {
    this.emit('ping', seq);
    const pong = () => {
      this.pongsSent++;
      const received = this.#received;
      this.send({ channel: Channel.CHANNEL_HEARTBEAT, heartbeat: { pong: { seq, received } } });
    };
    const delay = this.options.pongDelayMs ?? 0;
    if (delay > 0) setTimeout(pong, delay);
    else pong();
  }

  #onEvent(event: ferry.v1.Event): void {
    if (event.closing) {
      this.#resumeAfterGoingAway = event.closing.resume === true;
      // the session moved to another gateway: the resume goes there
      const moved = redirectTarget(event.closing.resumeUrl ?? '', 0, this.#url);
      if (event.closing.resume === true && typeof moved === 'string') {
        this.#welcomedAt = moved;
        this.#url = moved;
      }
    }
    if (event.directStatus) this.direct?.onStatus(event.directStatus as ferry.v1.DirectStatus);
    this.emit('event', event);
    if (event.error) {
      const err = event.error as ferry.v1.Error;
      const pending = err.requestId
        ? (this.#pending.get(err.requestId) ?? this.#pendingFrames.get(err.requestId))
        : undefined;
      if (pending !== undefined) {
        this.#pending.delete(err.requestId);
        this.#pendingFrames.delete(err.requestId);
        clearTimeout(pending.timer);
        pending.reject(new FerryError(err.code, err.message));
      } else this.emit('gatewayError', err);
    }
    if (event.statusChanged) this.emit('status', event.statusChanged as ferry.v1.StatusChanged);
    if (event.alternates) {
      this.#alternates = validUrls(event.alternates.urls ?? [], this.#url);
      this.emit('alternates', this.#alternates);
    }
    if (event.framesLost) this.emit('framesLost', event.framesLost as ferry.v1.FramesLost);
    if (event.sessionEvent) {
      this.emit('sessionEvent', event.sessionEvent as ferry.v1.SessionEvent);
    }
    if (event.consentChanged) {
      this.emit('consentChanged', event.consentChanged as ferry.v1.ConsentChanged);
    }
    if (event.controlChanged) {
      this.emit('controlChanged', event.controlChanged as ferry.v1.ControlChanged);
    }
  }

  #onControl(control: ferry.v1.Control, stream: number): void {
    if (control.redirect != null && this.#welcomedConnection === this.#connection) {
      // an operation's answer: the gateway closes with 4010 next, and the client goes there
      let settle: (welcome: Promise<ferry.v1.Welcome>) => void = () => undefined;
      const moved = new Promise<ferry.v1.Welcome>((resolve) => {
        settle = resolve;
      });
      moved.catch(() => undefined);
      this.#moved = moved;
      this.#redirect = { target: control.redirect, settle };
    }
    // A resume's Welcome: chat that comes with it or after it waits for the catch-up, which
    // starts once the Welcome's promise settles (after the frames read with it are handled).
    if (control.welcome && this.#reconnecting && this.#chatSession !== '') {
      this.#chatWaiting ??= [];
    }
    const pending = control.requestId ? this.#pending.get(control.requestId) : undefined;
    if (pending !== undefined) {
      this.#pending.delete(control.requestId);
      clearTimeout(pending.timer);
      pending.resolve(control);
      return;
    }
    if (this.direct?.onControl(control) === true) return;
    this.emit('control', control, stream);
  }

  /**
   * Sends a CONTROL operation and waits for the reply carrying the same request id (at most
   * `timeoutMs`, default the client's `requestTimeoutMs`).
   */
  request(
    control: Omit<ferry.v1.Control.$Properties, 'requestId'>,
    timeoutMs = this.options.requestTimeoutMs ?? 10_000,
  ): Promise<ferry.v1.Control> {
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new FerryError(Codes.TIMEOUT.code, `no reply to request ${requestId}`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      this.send({ channel: Channel.CHANNEL_CONTROL, control: { ...control, requestId } });
    });
  }

  /**
   * Sends the frame `build` makes with a fresh request id and waits for the SYSINFO answer
   * carrying it (or the gateway's Error naming it).
   */
  protected requestFrame(
    build: (requestId: number) => ferry.v1.Frame.$Properties,
    timeoutMs: number,
  ): Promise<ferry.v1.Frame> {
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingFrames.delete(requestId);
        reject(new FerryError(Codes.TIMEOUT.code, `no answer to request ${requestId}`));
      }, timeoutMs);
      this.#pendingFrames.set(requestId, { resolve, reject, timer });
      if (!this.send(build(requestId))) {
        this.#pendingFrames.delete(requestId);
        clearTimeout(timer);
        reject(new FerryError(Codes.CLOSED.code, 'not connected'));
      }
    });
  }

  /** The picture behind a `ferry:avatar/` ref of a ParticipantProfile (spec B2). */
  async fetchAvatar(avatarRef: string): Promise<{ mimeType: string; image: Uint8Array }> {
    const reply = await this.request({ avatarRequest: { avatarRef } });
    const avatar = reply.avatar as ferry.v1.Avatar | null;
    if (!avatar) throw new FerryError(Codes.PROTOCOL.code, 'no Avatar in reply');
    return { mimeType: avatar.mimeType, image: avatar.image };
  }

  /** Sends a CONTROL operation that has no reply. */
  notify(control: ferry.v1.Control.$Properties, stream = 0): void {
    this.send({ channel: Channel.CHANNEL_CONTROL, stream, control });
  }

  send(frame: ferry.v1.Frame.$Properties): boolean {
    return this.sendRaw(encodeFrame(frame));
  }

  sendRaw(bytes: Uint8Array | Buffer | string): boolean {
    const direct = this.direct;
    if (direct?.up && typeof bytes !== 'string') {
      const route = direct.route(bytes);
      // a frame the channel would not take goes on the relay, as before the path
      if (route === Route.DIRECT && direct.send(bytes)) return true;
      if (route === Route.BOTH) direct.send(bytes);
    }
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(bytes);
    this.framesOut++;
    this.#sent++;
    this.bytesOut += typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    return true;
  }

  chat(text: string, techniciansOnly = false): void {
    this.send({
      channel: techniciansOnly ? Channel.CHANNEL_CHAT_PRIVATE : Channel.CHANNEL_CHAT,
      chat: {
        text,
        audience: techniciansOnly
          ? ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
          : ferry.v1.ChatAudience.CHAT_AUDIENCE_ALL,
      },
    });
  }

  /** Bytes the `ws` socket still has to write. */
  /** Bytes waiting to be sent: the WebSocket's, and the direct path's channel while it is up. */
  get bufferedAmount(): number {
    return (this.ws?.bufferedAmount ?? 0) + (this.direct?.bufferedAmount ?? 0);
  }

  /** Closes the connection for good (no reconnect); resolves once it is closed. */
  close(code = 1000, reason = ''): Promise<void> {
    this.#closing = true;
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    if (this.#reconnecting) this.#finish(this.closeCode, 'closed by the client');
    const ws = this.ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(code, reason);
    });
  }
}

/** Resolves with the first event `name` whose arguments satisfy `match`. */
export function waitFor<K extends keyof ClientEvents>(
  client: FerryClient,
  name: K,
  match: (...args: ClientEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(name, listener as never);
      reject(new Error(`timed out waiting for ${String(name)}`));
    }, timeoutMs);
    const listener = (...args: ClientEvents[K]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      client.off(name, listener as never);
      resolve(args);
    };
    client.on(name, listener as never);
  });
}
