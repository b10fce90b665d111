/**
 * The console's connection to its gateway: a browser WebSocket to /v1/ws of the page's own
 * origin, speaking the same protobuf frames as the Node clients (the generated codec of
 * src/protocol/gen, no second one). Says Hello, answers pings at once, matches CONTROL replies to
 * requests by request_id and hands everything else to listeners. The gateway enforces every
 * rule; nothing here is a check.
 *
 * Resume (with `reconnect` options, the technician console): as the Node reference client
 * (src/clients/client.ts) does, a welcomed connection that is lost (not closed on purpose, not
 * refused) is dialled again with backoff, and the Hello is said again with the latest Welcome's
 * resume token and `replay.received`, the reliable frames (all but SCREEN and HEARTBEAT, see
 * docs/protocol.md "Resume and replay") that arrived on the lost connection. Every Pong says that
 * count for the current connection. Listeners persist across sockets; `disconnected` and
 * `resumed` mark the gap, `close` is final.
 *
 * Redirect (gateways sharing a directory, docs/operations.md "Scale-out"): a Hello answered with CONTROL
 * `redirect` names the gateway that owns the PIN or place; as the Node client does, the Conn
 * says the same Hello there (ws:// or wss:// only, never from wss:// down to ws://, at most
 * MAX_REDIRECTS in a row), unseen by the page: the old socket's close (4010) is neither a
 * `close` nor a `disconnected`, and every later dial (resumes) goes to the new URL.
 *
 * Direct path (docs/direct-path.md, src/console/web/direct.ts): with a DirectLink attached
 * (`direct`), the Conn does what the Node client does: its Hello says `direct`, the direct
 * CONTROL operations go to the link instead of the listeners, DirectStatus goes to the link (and
 * the listeners), `sendRaw` puts SCREEN and INPUT frames on the channel while it is up (the
 * relay takes any frame the channel would not), frames from the channel reach the `frame`
 * listeners as frames from the gateway do, and a lost socket stops the link.
 */
import { type DirectLink, Route } from '../../clients/direct-link.js';
import { Codes } from '../../protocol/codes.js';
import { isReliableFrame } from '../../protocol/frames.js';
import { ferry } from '../../protocol/gen/ferry.js';
import {
  finalRefusal,
  givesUp,
  type ReconnectOptions,
  resumableClose,
  retryDelayMs,
} from '../../protocol/resume-policy.js';

const C = ferry.v1.Channel;

export class GatewayError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface ConnListeners {
  frame: (frame: ferry.v1.Frame, bytes: number) => void;
  event: (event: ferry.v1.Event) => void;
  control: (control: ferry.v1.Control, stream: number) => void;
  chat: (chat: ferry.v1.ChatMessage, channel: number) => void;
  /** Final: the connection is gone and will not be resumed. */
  close: (code: number, reason: string) => void;
  /** A welcomed connection was lost; the Conn is dialling again with its resume token. */
  disconnected: (code: number, reason: string) => void;
  /** A reconnect was welcomed (`welcome.resumed` says whether the place was taken back). */
  resumed: (welcome: ferry.v1.Welcome) => void;
  /** A Redirect sent the Conn to the gateway that owns its PIN or place (`url` from now on). */
  redirected: (url: string, reason: string) => void;
  /** The direct path changed: its state, its counters or the gateway's DirectStatus. */
  direct: (link: DirectLink) => void;
}

type Listeners = { [K in keyof ConnListeners]: ConnListeners[K][] };

interface Pending {
  resolve(control: ferry.v1.Control): void;
  reject(err: Error): void;
  timer: number;
}

/** The console's backoff: 250 ms doubling to 5 s, given up 10 minutes after the loss. */
export const CONSOLE_RECONNECT: Required<ReconnectOptions> = {
  initialDelayMs: 250,
  maxDelayMs: 5000,
  giveUpAfterMs: 600_000,
};

/** Redirects followed in a row before the Conn gives up (a loop between gateways). */
export const MAX_REDIRECTS = 3;

/**
 * Where a Redirect sends a Conn connected to `from`: a ws:// or wss:// URL, or why it is not
 * followed. Never from wss:// to ws:// (the Hello, token included, would go in clear).
 */
export function redirectTarget(url: string, hops: number, from: string): string | GatewayError {
  if (hops >= MAX_REDIRECTS) {
    return new GatewayError(Codes.PROTOCOL.code, `more than ${MAX_REDIRECTS} redirects in a row`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return new GatewayError(Codes.PROTOCOL.code, `redirect to a malformed URL: ${url}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return new GatewayError(Codes.PROTOCOL.code, 'redirect to a URL that is not ws:// or wss://');
  }
  if (parsed.protocol === 'ws:' && /^wss:/i.test(from)) {
    return new GatewayError(
      Codes.PROTOCOL.code,
      `redirect from wss:// to ws:// refused (the Hello would go in clear): ${parsed.toString()}`,
    );
  }
  return parsed.toString();
}

export function gatewayUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/ws`;
}

export class Conn {
  /** The gateway this Conn talks to: the page's own, or where a Redirect sent it. */
  #url: string;
  ws: WebSocket | null = null;
  welcome: ferry.v1.Welcome | null = null;
  framesIn = 0;
  bytesIn = 0;
  bytesOut = 0;
  closeCode = 0;
  closeReason = '';
  /** From the latest Welcome: sent in Hello to take this place back. */
  resumeToken = '';
  /** Successful reconnects. */
  reconnects = 0;
  /** This page's end of the direct path (direct.ts attaches it before the Hello), or null. */
  direct: DirectLink | null = null;
  readonly #reconnect: Required<ReconnectOptions> | null;
  readonly #listeners: Listeners = {
    frame: [],
    event: [],
    control: [],
    chat: [],
    close: [],
    disconnected: [],
    resumed: [],
    redirected: [],
    direct: [],
  };
  readonly #pending = new Map<number, Pending>();
  #nextRequestId = 1;
  #hello: ferry.v1.Hello.$Properties | null = null;
  /** Our own close(): nothing is resumed after it. */
  #closing = false;
  /** The current socket has been welcomed: frames other than the Hello may go out. */
  #welcomed = false;
  /** Reliable frames received on the current socket (Pong.received). */
  #received = 0;
  /** ... and on the socket that was lost: the resume asks for what followed. */
  #lostReceived = 0;
  /** The gateway said it keeps this place's sessions over its restart (Closing.resume). */
  #resumeAfterGoingAway = false;
  #reconnecting = false;
  #retryTimer: number | null = null;
  #attempt = 0;
  #lostAtMs = 0;

  /** `reconnect`: resume after a lost connection with these options; false: a loss is final. */
  constructor(url = gatewayUrl(), reconnect: ReconnectOptions | false = false) {
    this.#url = url;
    this.#reconnect = reconnect === false ? null : { ...CONSOLE_RECONNECT, ...reconnect };
  }

  on<K extends keyof ConnListeners>(kind: K, listener: ConnListeners[K]): void {
    (this.#listeners[kind] as ConnListeners[K][]).push(listener);
  }

  #emit<K extends keyof ConnListeners>(kind: K, ...args: Parameters<ConnListeners[K]>): void {
    for (const l of this.#listeners[kind] as ((...a: Parameters<ConnListeners[K]>) => void)[]) {
      l(...args);
    }
  }

  /** The gateway's URL now: the constructor's, or the owner a Redirect named (resumes go there). */
  get url(): string {
    return this.#url;
  }

  /** Welcomed and open (false while reconnecting). */
  get open(): boolean {
    return this.#welcomed && this.ws?.readyState === WebSocket.OPEN;
  }

  /** True between a lost connection and its resume (or the final close). */
  get reconnecting(): boolean {
    return this.#reconnecting;
  }

  /** Opens, says Hello, resolves with the Welcome (or rejects with the gateway's coded error). */
  hello(hello: ferry.v1.Hello.$Properties): Promise<ferry.v1.Welcome> {
    this.#hello = hello;
    this.#closing = false;
    return this.#dial(hello, false);
  }

  /**
   * Opens a socket and says Hello. A `resuming` dial (a retry) reports its failure through its
   * promise only: the retry decides whether the Conn goes on or closes, once. `hops`: redirects
   * followed so far for this Hello.
   */
  #dial(said: ferry.v1.Hello.$Properties, resuming: boolean, hops = 0): Promise<ferry.v1.Welcome> {
    // a Conn that resumes counts reliable frames and acknowledges them: the gateway keeps copies
    const counted = this.#reconnect !== null ? { ...said, countsReliable: true } : said;
    // a page with a direct-path end says so: the gateway offers a path only to such clients
    const hello = this.direct !== null ? { ...counted, direct: true } : counted;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#url);
    } catch (err) {
      // a URL the browser refuses outright (a blocked port, a malformed URL): no socket at all
      return Promise.reject(
        new GatewayError(Codes.CLOSED.code, `cannot reach ${this.#url}: ${(err as Error).message}`),
      );
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.#welcomed = false;
    this.#received = 0;
    return new Promise((resolve, reject) => {
      let settled = false;
      let welcomed = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      ws.addEventListener('error', () => {
        if (this.ws === ws) fail(new GatewayError(Codes.CLOSED.code, 'cannot reach the gateway'));
      });
      ws.addEventListener('message', (e: MessageEvent) => {
        if (this.ws !== ws || !(e.data instanceof ArrayBuffer)) return;
        const bytes = new Uint8Array(e.data);
        if (isReliableFrame(bytes)) this.#received++;
        this.#onMessage(bytes);
      });
      ws.addEventListener('close', (e: CloseEvent) => {
        if (this.ws !== ws) return;
        this.#welcomed = false;
        this.closeCode = e.code;
        this.closeReason = e.reason;
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(
            new GatewayError(e.reason || Codes.CLOSED.code, `connection closed (${e.code})`),
          );
        }
        this.#pending.clear();
        fail(new GatewayError(e.reason || Codes.CLOSED.code, `connection closed with ${e.code}`));
        if (welcomed) {
          // the gateway ends the attempt on its side: this end stops quietly
          this.direct?.onDisconnected();
          this.#onLost(e.code, e.reason);
        } else if (!resuming && !this.#reconnecting) this.#emit('close', e.code, e.reason);
      });
      ws.addEventListener('open', () => {
        if (this.ws !== ws) return;
        this.#request({ hello }, 15_000, true).then((control) => {
          const redirect = control.redirect;
          if (redirect != null) {
            // another gateway owns what the Hello named: the same Hello there. The old socket
            // (closed by the gateway with 4010) is forgotten once `this.ws` is the new one.
            if (settled) return;
            settled = true;
            const next = redirectTarget(redirect.url ?? '', hops, this.#url);
            if (next instanceof GatewayError) {
              reject(next);
              ws.close();
              return;
            }
            this.#url = next;
            this.#emit('redirected', next, redirect.reason ?? '');
            this.#dial(said, resuming, hops + 1).then(resolve, reject);
            ws.close();
            return;
          }
          const welcome = (control.welcome as ferry.v1.Welcome | null) ?? null;
          if (welcome === null) {
            fail(new GatewayError(Codes.PROTOCOL.code, 'no Welcome after Hello'));
            return;
          }
          welcomed = true;
          settled = true;
          this.#welcomed = true;
          this.#resumeAfterGoingAway = false;
          this.welcome = welcome;
          if (welcome.resumeToken) this.resumeToken = welcome.resumeToken;
          resolve(welcome);
        }, fail);
      });
    });
  }

  /** A welcomed socket closed: resume it, or finish. */
  #onLost(code: number, reason: string): void {
    const resumable =
      this.#reconnect !== null &&
      !this.#closing &&
      this.resumeToken !== '' &&
      resumableClose(code, this.#resumeAfterGoingAway);
    if (!resumable) {
      this.#emit('close', code, reason);
      return;
    }
    this.#lostReceived = this.#received;
    this.#reconnecting = true;
    this.#attempt = 0;
    this.#lostAtMs = Date.now();
    this.#emit('disconnected', code, reason);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    const opts = this.#reconnect!;
    const delay = retryDelayMs(opts, this.#attempt);
    if (givesUp(opts, this.#lostAtMs, Date.now(), delay)) {
      this.#finish(this.closeCode, Codes.RESUME_GAVE_UP.code);
      return;
    }
    this.#retryTimer = window.setTimeout(() => this.#retry(), delay);
  }

  #retry(): void {
    this.#retryTimer = null;
    if (this.#closing || this.#hello === null) return;
    this.#attempt++;
    // what arrived of the lost socket: the gateway replays the rest before anything new
    const hello: ferry.v1.Hello.$Properties = {
      ...this.#hello,
      pin: '',
      resumeToken: this.resumeToken,
      replay: { received: this.#lostReceived },
    };
    this.#dial(hello, true).then(
      (welcome) => {
        this.#reconnecting = false;
        this.reconnects++;
        this.#emit('resumed', welcome);
      },
      (err: unknown) => {
        if (this.#closing || !this.#reconnecting) return;
        const code = err instanceof GatewayError ? err.code : '';
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
    this.#emit('close', code, reason);
  }

  #onMessage(data: Uint8Array): void {
    this.framesIn++;
    this.bytesIn += data.length;
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(data);
    } catch (err) {
      console.warn('ferry: dropped a frame that does not decode', err);
      return;
    }
    this.#emit('frame', frame, data.length);
    switch (frame.channel) {
      case C.CHANNEL_HEARTBEAT:
        if (frame.heartbeat?.ping) {
          this.send({
            channel: C.CHANNEL_HEARTBEAT,
            heartbeat: { pong: { seq: frame.heartbeat.ping.seq ?? 0, received: this.#received } },
          });
        }
        return;
      case C.CHANNEL_EVENT:
        if (frame.event) this.#onEvent(frame.event as ferry.v1.Event);
        return;
      case C.CHANNEL_CONTROL:
        if (frame.control) this.#onControl(frame.control as ferry.v1.Control, frame.stream);
        return;
      case C.CHANNEL_CHAT:
      case C.CHANNEL_CHAT_PRIVATE:
        if (frame.chat) this.#emit('chat', frame.chat as ferry.v1.ChatMessage, frame.channel);
        return;
      default:
    }
  }

  #onEvent(event: ferry.v1.Event): void {
    if (event.closing) this.#resumeAfterGoingAway = event.closing.resume === true;
    if (event.directStatus) this.direct?.onStatus(event.directStatus as ferry.v1.DirectStatus);
    const err = event.error as ferry.v1.Error | null;
    if (err?.requestId) {
      const pending = this.#pending.get(err.requestId);
      if (pending !== undefined) {
        this.#pending.delete(err.requestId);
        clearTimeout(pending.timer);
        pending.reject(new GatewayError(err.code, err.message));
        return;
      }
    }
    this.#emit('event', event);
  }

  #onControl(control: ferry.v1.Control, stream: number): void {
    const pending = control.requestId ? this.#pending.get(control.requestId) : undefined;
    if (pending !== undefined) {
      this.#pending.delete(control.requestId);
      clearTimeout(pending.timer);
      pending.resolve(control);
      return;
    }
    if (this.direct?.onControl(control) === true) return;
    this.#emit('control', control, stream);
  }

  /** Sends a CONTROL operation; resolves with the reply carrying its request id. */
  request(
    control: Omit<ferry.v1.Control.$Properties, 'requestId'>,
    timeoutMs = 15_000,
  ): Promise<ferry.v1.Control> {
    return this.#request(control, timeoutMs, false);
  }

  #request(
    control: Omit<ferry.v1.Control.$Properties, 'requestId'>,
    timeoutMs: number,
    beforeWelcome: boolean,
  ): Promise<ferry.v1.Control> {
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new GatewayError(Codes.TIMEOUT.code, `no reply to request ${requestId}`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      const bytes = ferry.v1.Frame.encode({
        channel: C.CHANNEL_CONTROL,
        control: { ...control, requestId },
      }).finish();
      if (!this.#write(bytes, beforeWelcome)) {
        this.#pending.delete(requestId);
        clearTimeout(timer);
        reject(new GatewayError(Codes.CLOSED.code, 'not connected'));
      }
    });
  }

  /** A session operation answered with Done. */
  async operate(control: Omit<ferry.v1.Control.$Properties, 'requestId'>): Promise<ferry.v1.Done> {
    const reply = await this.request(control);
    const done = reply.done as ferry.v1.Done | null;
    if (!done) throw new GatewayError(Codes.PROTOCOL.code, 'no Done in reply');
    return done;
  }

  /** A CONTROL operation without reply. */
  notify(control: ferry.v1.Control.$Properties, stream = 0): void {
    this.send({ channel: C.CHANNEL_CONTROL, stream, control });
  }

  send(frame: ferry.v1.Frame.$Properties): boolean {
    return this.sendRaw(ferry.v1.Frame.encode(frame).finish());
  }

  /**
   * Writes a frame on the welcomed socket; false while there is none (closed, reconnecting).
   * While the direct path is up, SCREEN (customer) and INPUT (technician) go on its channel
   * instead, or as well (the customer's SCREEN while another technician watches on the relay).
   */
  sendRaw(bytes: Uint8Array): boolean {
    const direct = this.direct;
    if (direct?.up) {
      const route = direct.route(bytes);
      // a frame the channel would not take goes on the relay, as before the path
      if (route === Route.DIRECT && direct.send(bytes)) return true;
      if (route === Route.BOTH) direct.send(bytes);
    }
    return this.#write(bytes, false);
  }

  /**
   * A frame that came on the direct path (the link decoded it and checked its channel and body,
   * the page its grants): handed to the `frame` listeners as one from the gateway.
   */
  receiveDirect(frame: ferry.v1.Frame, bytes: Uint8Array): boolean {
    this.#emit('frame', frame, bytes.length);
    return true;
  }

  /** The direct path's host reports a change (direct.ts): the `direct` listeners hear of it. */
  directChanged(link: DirectLink): void {
    this.#emit('direct', link);
  }

  #write(bytes: Uint8Array, beforeWelcome: boolean): boolean {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
    // nothing but the Hello goes before the Welcome: a resume's frames follow its Welcome
    if (!beforeWelcome && !this.#welcomed) return false;
    ws.send(bytes as Uint8Array<ArrayBuffer>);
    this.bytesOut += bytes.length;
    return true;
  }

  /** Sends a chat message; false when not connected (nothing was sent). */
  chat(text: string, techniciansOnly = false): boolean {
    return this.send({
      channel: techniciansOnly ? C.CHANNEL_CHAT_PRIVATE : C.CHANNEL_CHAT,
      chat: {
        text,
        audience: techniciansOnly
          ? ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
          : ferry.v1.ChatAudience.CHAT_AUDIENCE_ALL,
      },
    });
  }

  /**
   * Bytes the socket, and the direct path's channel while it is up, still have to write (the
   * customer's sender backs off on it).
   */
  get buffered(): number {
    return (this.ws?.bufferedAmount ?? 0) + (this.direct?.bufferedAmount ?? 0);
  }

  /** Closes for good: no resume after it. */
  close(): void {
    this.#closing = true;
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    if (this.#reconnecting) this.#finish(this.closeCode, 'closed by the user');
    this.ws?.close(1000, 'closed by the user');
  }
}
