/**
 * The console's connection to its gateway: a browser WebSocket to /v1/ws of the page's own
 * origin, speaking the same protobuf frames as the Node clients (the generated codec of
 * src/protocol/gen, no second one). Says Hello, answers pings at once, matches CONTROL replies to
 * requests by request_id and hands everything else to listeners. The gateway enforces every
 * rule; nothing here is a check.
 */
import { Codes } from '../../protocol/codes.js';
import { ferry } from '../../protocol/gen/ferry.js';

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
  close: (code: number, reason: string) => void;
}

type Listeners = { [K in keyof ConnListeners]: ConnListeners[K][] };

interface Pending {
  resolve(control: ferry.v1.Control): void;
  reject(err: Error): void;
  timer: number;
}

export function gatewayUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/ws`;
}

export class Conn {
  readonly ws: WebSocket;
  welcome: ferry.v1.Welcome | null = null;
  framesIn = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly #listeners: Listeners = { frame: [], event: [], control: [], chat: [], close: [] };
  readonly #pending = new Map<number, Pending>();
  #nextRequestId = 1;
  #opened: Promise<void>;

  constructor(url = gatewayUrl()) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.#opened = new Promise((resolve, reject) => {
      this.ws.addEventListener('open', () => resolve(), { once: true });
      this.ws.addEventListener(
        'error',
        () => reject(new GatewayError(Codes.CLOSED.code, 'cannot reach the gateway')),
        { once: true },
      );
    });
    this.ws.addEventListener('message', (e: MessageEvent) => {
      if (e.data instanceof ArrayBuffer) this.#onMessage(new Uint8Array(e.data));
    });
    this.ws.addEventListener('close', (e: CloseEvent) => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new GatewayError(e.reason || Codes.CLOSED.code, `connection closed (${e.code})`));
      }
      this.#pending.clear();
      for (const l of this.#listeners.close) l(e.code, e.reason);
    });
  }

  on<K extends keyof ConnListeners>(kind: K, listener: ConnListeners[K]): void {
    (this.#listeners[kind] as ConnListeners[K][]).push(listener);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Opens, says Hello, resolves with the Welcome (or rejects with the gateway's coded error). */
  async hello(hello: ferry.v1.Hello.$Properties): Promise<ferry.v1.Welcome> {
    await this.#opened;
    const reply = await this.request({ hello });
    const welcome = reply.welcome as ferry.v1.Welcome | null;
    if (!welcome) throw new GatewayError(Codes.PROTOCOL.code, 'no Welcome after Hello');
    this.welcome = welcome;
    return welcome;
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
    for (const l of this.#listeners.frame) l(frame, data.length);
    switch (frame.channel) {
      case C.CHANNEL_HEARTBEAT:
        if (frame.heartbeat?.ping) {
          this.send({
            channel: C.CHANNEL_HEARTBEAT,
            heartbeat: { pong: { seq: frame.heartbeat.ping.seq ?? 0 } },
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
        if (frame.chat) {
          for (const l of this.#listeners.chat)
            l(frame.chat as ferry.v1.ChatMessage, frame.channel);
        }
        return;
      default:
    }
  }

  #onEvent(event: ferry.v1.Event): void {
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
    for (const l of this.#listeners.event) l(event);
  }

  #onControl(control: ferry.v1.Control, stream: number): void {
    const pending = control.requestId ? this.#pending.get(control.requestId) : undefined;
    if (pending !== undefined) {
      this.#pending.delete(control.requestId);
      clearTimeout(pending.timer);
      pending.resolve(control);
      return;
    }
    for (const l of this.#listeners.control) l(control, stream);
  }

  /** Sends a CONTROL operation; resolves with the reply carrying its request id. */
  request(
    control: Omit<ferry.v1.Control.$Properties, 'requestId'>,
    timeoutMs = 15_000,
  ): Promise<ferry.v1.Control> {
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new GatewayError(Codes.TIMEOUT.code, `no reply to request ${requestId}`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      if (!this.send({ channel: C.CHANNEL_CONTROL, control: { ...control, requestId } })) {
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

  sendRaw(bytes: Uint8Array): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(bytes as Uint8Array<ArrayBuffer>);
    this.bytesOut += bytes.length;
    return true;
  }

  chat(text: string, techniciansOnly = false): void {
    this.send({
      channel: techniciansOnly ? C.CHANNEL_CHAT_PRIVATE : C.CHANNEL_CHAT,
      chat: {
        text,
        audience: techniciansOnly
          ? ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
          : ferry.v1.ChatAudience.CHAT_AUDIENCE_ALL,
      },
    });
  }

  /** Bytes the socket still has to write (the customer's sender backs off on it). */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  close(): void {
    this.ws.close(1000, 'closed by the user');
  }
}
