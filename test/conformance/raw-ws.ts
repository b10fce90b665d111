/**
 * A WebSocket client on a bare TCP socket (node:net) for conformance tests: it performs the
 * RFC 6455 opening handshake itself, writes hand-built frames byte for byte (reserved bits,
 * reserved opcodes, unmasked or oversized frames: whatever a test asks for) and parses what the
 * server sends back into frames, ending with `null` when the TCP connection closes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export interface FrameSpec {
  readonly fin?: boolean;
  /** RSV1..RSV3 as the three bits 0b100, 0b010, 0b001. */
  readonly rsv?: number;
  readonly opcode: number;
  readonly payload?: Uint8Array;
  /** Clients must mask (RFC 6455 5.3); false writes the payload in the clear. */
  readonly mask?: boolean;
}

/** One frame on the wire, as a client writes it. */
export function wsFrame(spec: FrameSpec): Buffer {
  const payload = Buffer.from(spec.payload ?? new Uint8Array(0));
  const masked = spec.mask ?? true;
  const first = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  const maskBit = masked ? 0x80 : 0;
  let head: Buffer;
  if (payload.length < 126) head = Buffer.from([first, maskBit | payload.length]);
  else if (payload.length < 0x10000) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
  return Buffer.concat([head, key, payload]);
}

/** A close frame's payload: a 2-byte status code and a reason. */
export function closePayload(code: number, reason: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(2 + reason.length);
  out.writeUInt16BE(code, 0);
  out.set(reason, 2);
  return out;
}

export interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Status code of a close frame, or null when it carries none (the peer then reports 1005). */
export function closeCodeOf(frame: ServerFrame): number | null {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
}

export class RawWs {
  readonly socket: net.Socket;
  /** The server reset the connection instead of closing it in order (ECONNRESET, EPIPE). */
  reset = false;
  /** Any other socket error. */
  error: Error | null = null;
  #buffer = Buffer.alloc(0);
  readonly #queue: (ServerFrame | null)[] = [];
  readonly #waiters: ((frame: ServerFrame | null) => void)[] = [];
  #closed = false;

  private constructor(socket: net.Socket, rest: Buffer) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset is one way a server drops a connection; tests read `reset` and `error`.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true;
      else this.error = err;
    });
    socket.on('close', () => this.#push(null));
    if (rest.length > 0) this.#onData(rest);
  }

  /** Connects and completes the opening handshake (RFC 6455 4.1), checking the server's accept key. */
  static open(port: number, path = '/v1/ws'): Promise<RawWs> {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect(port, '127.0.0.1');
    return new Promise((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('error', reject);
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = lines[0] ?? '';
        const headers = new Map(
          lines.slice(1).map((l) => {
            const i = l.indexOf(':');
            return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
          }),
        );
        const accept = createHash('sha1')
          .update(key + GUID)
          .digest('base64');
        try {
          assert.match(status, /^HTTP\/1\.1 101 /, `handshake refused: ${status}`);
          assert.equal(headers.get('sec-websocket-accept'), accept, 'Sec-WebSocket-Accept');
        } catch (err) {
          socket.destroy();
          reject(err);
          return;
        }
        resolve(new RawWs(socket, head.subarray(end + 4)));
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  send(...frames: Uint8Array[]): void {
    for (const f of frames) this.socket.write(f);
  }

  /** The next frame from the server, or null once the TCP connection has closed. */
  next(): Promise<ServerFrame | null> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Every frame the server sends until it closes the TCP connection. */
  async untilClosed(): Promise<ServerFrame[]> {
    const frames: ServerFrame[] = [];
    for (let f = await this.next(); f !== null; f = await this.next()) frames.push(f);
    return frames;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #push(frame: ServerFrame | null): void {
    if (this.#closed) return;
    if (frame === null) this.#closed = true;
    const waiter = this.#waiters.shift();
    if (waiter) waiter(frame);
    else this.#queue.push(frame);
    if (frame === null) for (const w of this.#waiters.splice(0)) w(null);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      assert.equal(b[1]! & 0x80, 0, 'a server must not mask its frames (RFC 6455 5.1)');
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      this.#push({
        fin: (b[0]! & 0x80) !== 0,
        opcode: b[0]! & 0x0f,
        payload: Buffer.from(b.subarray(offset, offset + length)),
      });
      this.#buffer = b.subarray(offset + length);
    }
  }
}
