/**
 * The load generator's WebSocket client: a plain TCP socket speaking RFC 6455 directly, so that
 * the generator spends its core on the target and not on a client library.
 *
 * - Frames we send are masked (clients must mask) with the all-zero key: XOR with zero leaves the
 *   payload as it is, so a message is pre-framed once (header + payload) and written as bytes;
 *   the target still unmasks every byte, as it does for any client.
 * - Frames we receive are parsed in place: every socket of a thread reads into one shared
 *   buffer (net `onread`), so reading allocates nothing; only a frame split across reads is
 *   copied, into the link's own carry buffer. `onBinary` gets a view that is valid only during
 *   the call.
 * - Pings are answered, close frames are echoed, fragmented messages are a protocol error (no
 *   target here fragments).
 * - Over TLS (wss://) the socket is a node:tls client that verifies the target's certificate
 *   against a given CA (one secure context per thread, `linkTls`); it reads through the same
 *   shared buffer (tls `onread`: decrypted bytes land there), so the read path stays the same.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HANDSHAKE_BYTES = 16 * 1024;

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Header of a client frame: FIN, opcode, MASK bit, length and a zero masking key. */
export function clientHeader(length: number, opcode: number = Opcode.BINARY): Buffer {
  let header: Buffer;
  if (length < 126) {
    header = Buffer.alloc(6);
    header[1] = 0x80 | length;
  } else if (length < 0x10000) {
    header = Buffer.alloc(8);
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(14);
    header[1] = 0x80 | 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  header[0] = 0x80 | opcode;
  return header; // the masking key, the last 4 bytes, stays zero
}

/** Header and payload in one buffer, ready to be written any number of times. */
export function preframe(payload: Uint8Array, opcode: number = Opcode.BINARY): Buffer {
  const header = clientHeader(payload.length, opcode);
  const out = Buffer.allocUnsafe(header.length + payload.length);
  header.copy(out, 0);
  out.set(payload, header.length);
  return out;
}

export const WriteStatus = {
  /** Handed to the kernel or queued below the socket's high-water mark. */
  WRITTEN: 0,
  /** Queued in Node above the high-water mark: the target is not reading fast enough. */
  QUEUED: 1,
  /** Not written: the link is not open. */
  NOT_OPEN: 2,
} as const;
export type WriteStatusValue = (typeof WriteStatus)[keyof typeof WriteStatus];

export type BinaryHandler = (payload: Buffer, link: WsLink) => void;

/** One read buffer for every socket of this thread: data is parsed before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** A TLS client side: the verifying context and the server name to send and check. */
export interface LinkTls {
  readonly context: tls.SecureContext;
  readonly servername: string;
}

const contexts = new Map<string, tls.SecureContext>();

/** The TLS side for a CA file, its secure context built once per thread (not per connection). */
export function linkTls(caFile: string, servername: string): LinkTls {
  let context = contexts.get(caFile);
  if (context === undefined) {
    context = tls.createSecureContext({ ca: fs.readFileSync(caFile) });
    contexts.set(caFile, context);
  }
  return { context, servername };
}

export class WsLink {
  readonly socket: net.Socket;
  onBinary: BinaryHandler;
  open = false;
  closeCode = 0;
  protocolError = '';
  /** Pongs and close frames that were queued in Node rather than taken by the kernel at once. */
  controlQueued = 0;
  readonly closed: Promise<void>;
  /** Bytes of an incomplete frame (or handshake) kept between reads. */
  #carry: Buffer = Buffer.alloc(0);
  #carryLength = 0;
  /** Bytes needed before the next frame can be parsed. */
  #need = 2;
  #closeSent = false;
  #handshake: ((rest: Buffer | null, err: Error | null) => void) | null = null;
  readonly #accept: string;

  private constructor(
    host: string,
    port: number,
    onBinary: BinaryHandler,
    accept: string,
    secure: LinkTls | null,
  ) {
    this.onBinary = onBinary;
    this.#accept = accept;
    const onread = {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Uint8Array) => {
        this.#onRead(buf as Buffer, n);
        return true;
      },
    };
    if (secure === null) {
      this.socket = net.connect({ host, port, noDelay: true, onread });
    } else {
      // verifies the chain and the name (rejectUnauthorized is the default)
      // node:tls takes `onread` as net does (decrypted bytes land in the buffer); @types omits it
      const options: tls.ConnectionOptions & { onread: typeof onread } = {
        host,
        port,
        servername: secure.servername,
        secureContext: secure.context,
        onread,
      };
      this.socket = tls.connect(options);
      this.socket.setNoDelay(true);
    }
    this.closed = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.open = false;
        resolve();
      });
    });
    this.socket.on('error', (err) => {
      if (this.protocolError === '') this.protocolError = err.message;
      this.#handshake?.(null, err);
    });
  }

  /** Opens a TCP connection and performs the HTTP upgrade; rejects on any non-101 answer. */
  static connect(
    host: string,
    port: number,
    path: string,
    onBinary: BinaryHandler,
    timeoutMs = 10_000,
    secure: LinkTls | null = null,
  ): Promise<WsLink> {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const link = new WsLink(host, port, onBinary, accept, secure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        link.#handshake?.(null, new Error(`WebSocket handshake with ${path} timed out`));
      }, timeoutMs);
      link.#handshake = (rest, err) => {
        link.#handshake = null;
        clearTimeout(timer);
        if (err !== null) {
          link.socket.destroy();
          reject(err);
          return;
        }
        link.open = true;
        resolve(link);
        if (rest !== null && rest.length > 0) link.#onFrames(rest, rest.length);
      };
      link.socket.once(secure === null ? 'connect' : 'secureConnect', () => {
        link.socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      void link.closed.then(() =>
        link.#handshake?.(null, new Error(`connection closed during the handshake with ${path}`)),
      );
    });
  }

  /** Bytes queued in Node that the kernel has not taken yet. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  #status(): WriteStatusValue {
    return this.socket.writableLength > 0 ? WriteStatus.QUEUED : WriteStatus.WRITTEN;
  }

  /** Writes pre-framed bytes (from `preframe`, or a header followed by its payload). */
  write(framed: Uint8Array): WriteStatusValue {
    if (!this.open || this.#closeSent) return WriteStatus.NOT_OPEN;
    this.socket.write(framed);
    return this.#status();
  }

  /** Writes several buffers as one writev (e.g. a shared frame prefix and a fresh stamp). */
  writeParts(parts: readonly Uint8Array[]): WriteStatusValue {
    if (!this.open || this.#closeSent) return WriteStatus.NOT_OPEN;
    this.socket.cork();
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
    return this.#status();
  }

  /** Frames and writes one binary message (copies: for setup and rare frames). */
  sendBinary(payload: Uint8Array): WriteStatusValue {
    return this.write(preframe(payload));
  }

  /** Sends a close frame; the socket ends when the peer answers (or after `timeoutMs`). */
  close(code = 1000, timeoutMs = 3000): Promise<void> {
    if (this.open && !this.#closeSent) {
      this.#sendClose(code);
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      void this.closed.then(() => clearTimeout(timer));
    } else if (!this.open) this.socket.destroy();
    return this.closed;
  }

  /** Drops the TCP connection without a close handshake. */
  destroy(): void {
    this.socket.destroy();
  }

  #sendClose(code: number): void {
    this.#closeSent = true;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.#writeControl(preframe(body, Opcode.CLOSE));
  }

  #writeControl(framed: Buffer): void {
    this.socket.write(framed);
    if (this.socket.writableLength > 0) this.controlQueued++;
  }

  #fail(message: string): void {
    this.protocolError = message;
    this.socket.destroy();
  }

  /** Appends bytes to the carry buffer, growing it to at least `need`. */
  #keep(from: Buffer, start: number, end: number): void {
    const length = this.#carryLength + (end - start);
    if (this.#carry.length < Math.max(length, this.#need)) {
      const grown = Buffer.allocUnsafe(Math.max(length, this.#need, 2 * this.#carry.length, 1024));
      this.#carry.copy(grown, 0, 0, this.#carryLength);
      this.#carry = grown;
    }
    from.copy(this.#carry, this.#carryLength, start, end);
    this.#carryLength = length;
  }

  #onRead(buf: Buffer, n: number): void {
    if (this.#handshake !== null) {
      this.#keep(buf, 0, n);
      const head = this.#carry.subarray(0, this.#carryLength);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HANDSHAKE_BYTES)
          this.#handshake(null, new Error('oversized handshake response'));
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      const m = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(text);
      let err: Error | null = null;
      if (!text.startsWith('HTTP/1.1 101'))
        err = new Error(`upgrade refused: ${text.split('\r\n')[0]}`);
      else if (m === null || m[1] !== this.#accept) err = new Error('bad Sec-WebSocket-Accept');
      const rest = Buffer.from(head.subarray(end + 4));
      this.#carryLength = 0;
      this.#handshake(err === null ? rest : null, err);
      return;
    }
    if (this.#carryLength === 0) {
      this.#onFrames(buf, n);
      return;
    }
    this.#keep(buf, 0, n);
    if (this.#carryLength < this.#need) return;
    const length = this.#carryLength;
    this.#carryLength = 0;
    // parse from the carry; a remainder is moved to its start by #keep (copy within one buffer)
    this.#onFrames(this.#carry, length);
  }

  /** Parses whole frames from buf[0, end); keeps the incomplete rest in the carry buffer. */
  #onFrames(buf: Buffer, end: number): void {
    let pos = 0;
    // each turn consumes one whole frame (>= 2 bytes) or stops
    while (this.open) {
      const left = end - pos;
      if (left < 2) {
        this.#need = 2;
        break;
      }
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (left < 4) {
          this.#need = 4;
          break;
        }
        length = buf.readUInt16BE(pos + 2);
        header = 4;
      } else if (length === 127) {
        if (left < 10) {
          this.#need = 10;
          break;
        }
        length = buf.readUInt32BE(pos + 2) * 2 ** 32 + buf.readUInt32BE(pos + 6);
        header = 10;
      }
      if ((b1 & 0x80) !== 0) {
        this.#fail('server sent a masked frame');
        return;
      }
      if (left < header + length) {
        this.#need = header + length;
        break;
      }
      const payload = buf.subarray(pos + header, pos + header + length);
      pos += header + length;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x80) === 0 || opcode === Opcode.CONTINUATION) {
        this.#fail('fragmented messages are not supported');
        return;
      }
      if (opcode === Opcode.BINARY) this.onBinary(payload, this);
      else if (opcode === Opcode.PING) {
        if (!this.#closeSent) this.#writeControl(preframe(payload, Opcode.PONG));
      } else if (opcode === Opcode.CLOSE) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!this.#closeSent) this.#sendClose(this.closeCode === 1005 ? 1000 : this.closeCode);
        this.socket.end();
        this.open = false;
      }
      // TEXT and PONG: nothing to do
    }
    if (pos < end && this.open) {
      if (buf === this.#carry) {
        this.#carry.copyWithin(0, pos, end);
        this.#carryLength = end - pos;
        if (this.#carry.length < this.#need) this.#keep(this.#carry, 0, 0);
      } else this.#keep(buf, pos, end);
    }
  }
}
