/**
 * A minimal STUN server (RFC 5389) on its own UDP port (`--stun-port`), so WebRTC clients can
 * learn their server-reflexive address from the gateway itself instead of a third-party service.
 *
 * It answers one thing: a well-formed Binding Request (§6 header, §7.3 checks, §15 attributes)
 * gets a Binding Success Response carrying XOR-MAPPED-ADDRESS (§15.2), SOFTWARE (§15.10) and a
 * FINGERPRINT (§15.5) last. Everything else is dropped without a reply and counted. Where
 * §7.3.1 asks for a 420 error on an unknown comprehension-required attribute this server drops
 * instead, and it never answers a Binding Request with an error at all: a reply goes only to
 * a request that passed every check, is at most 64 bytes larger than that request, and each
 * source address (IP, not port) is held to a token bucket. Spoofed sources therefore cannot
 * turn the port into an amplifier, and the per-address table is bounded so a flood from many
 * spoofed addresses cannot grow memory either.
 *
 * No authentication is done (§10 leaves credentials to the usage; an address lookup needs none,
 * the reply tells a client only the address it sent from): MESSAGE-INTEGRITY (§15.4) and
 * USERNAME (§15.3), as in ICE connectivity checks, are accepted as known but not verified.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** §6: the fixed header. */
const HEADER_BYTES = 20;
/** §6: the magic cookie, also the high half of the XOR key of §15.2. */
const MAGIC_COOKIE = 0x2112a442;
/** §15.5: the FINGERPRINT value is the CRC-32 XORed with this ("STUN"). */
const FINGERPRINT_XOR = 0x5354554e;
/** §7.1: with no known path MTU, fit a 576-byte IPv4 datagram (less 28 bytes of IP + UDP). */
const MAX_REQUEST_BYTES = 548;
/** No reply may exceed its request by more than this (no amplification beyond it). */
const MAX_GROWTH_BYTES = 64;
const TRANSACTION_ID_BYTES = 12;

/** §6 and §18.1: method Binding, classes request and success response. */
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;

/** §18.2 (and RFC 8445 §16.1 for the ICE attributes). */
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_PRIORITY = 0x0024;
const ATTR_USE_CANDIDATE = 0x0025;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
const ATTR_ICE_CONTROLLED = 0x8029;
const ATTR_ICE_CONTROLLING = 0x802a;
/** §15: types below this are comprehension-required, the rest comprehension-optional. */
const COMPREHENSION_OPTIONAL = 0x8000;

/** Attributes a request may carry. Unknown comprehension-optional ones are skipped (§7.3). */
const KNOWN_ATTRIBUTES: ReadonlySet<number> = new Set([
  ATTR_USERNAME,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_PRIORITY,
  ATTR_USE_CANDIDATE,
  ATTR_SOFTWARE,
  ATTR_FINGERPRINT,
  ATTR_ICE_CONTROLLED,
  ATTR_ICE_CONTROLLING,
]);

/** §15.2: address families of XOR-MAPPED-ADDRESS. */
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

const SOFTWARE = new TextEncoder().encode('ferry');

const DEFAULT_RATE_PER_SECOND = 20;
const DEFAULT_BURST = 40;
const DEFAULT_MAX_ADDRESSES = 10_000;
/** Answers per second from all sources together. */
const DEFAULT_GLOBAL_RATE_PER_SECOND = 2000;
/** A failing send is logged at most this often, so a storm of them cannot flood the log. */
const SEND_WARN_INTERVAL_MS = 10_000;

export interface StunLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface StunServerOptions {
  port: number;
  /** Default '0.0.0.0' ('::' with `ipv6`). */
  host?: string;
  /** Bind a udp6 socket (dual-stack where the OS allows it). Implied by an IPv6 `host`. */
  ipv6?: boolean;
  /** Sustained Binding Requests per second per source address. Default 20. */
  ratePerSecond?: number;
  /** Requests a source address may send at once. Default 40. */
  burst?: number;
  /** Source addresses tracked by the rate limiter at most. Default 10,000. */
  maxAddresses?: number;
  /** Answers per second from all sources together (default 2000). */
  globalRatePerSecond?: number;
  /** Milliseconds on a clock that does not go back. Default `performance.now`. */
  now?: () => number;
  logger?: StunLogger;
}

export interface StunCounters {
  /** Binding Success Responses sent. */
  answered: number;
  /** Datagrams that are not a well-formed Binding Request (or cannot be answered). */
  malformed: number;
  /** Well-formed Binding Requests dropped by the per-address token bucket. */
  rateLimited: number;
}

export interface RateTableOptions {
  ratePerSecond: number;
  burst: number;
  maxAddresses: number;
  now: () => number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * Token buckets keyed by source address, at most `maxAddresses` of them. The map is kept in
 * order of last use (an entry is moved to the end when touched), so:
 * - an entry idle long enough to have refilled completely is the same as no entry, and all such
 *   entries sit at the front: each `take` drops them from there, amortised O(1);
 * - when the table is still full, a new address evicts the least recently used one (which then
 *   starts again with a full bucket: the price of bounded memory under a spoofed flood).
 */
export class RateTable {
  readonly #buckets = new Map<string, Bucket>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Idle time after which a bucket is full again. */
  readonly #refillMs: number;

  constructor(options: RateTableOptions) {
    const { ratePerSecond, burst, maxAddresses, now } = options;
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`burst must be at least 1, got ${burst}`);
    }
    if (!Number.isInteger(maxAddresses) || maxAddresses < 1) {
      throw new RangeError(`maxAddresses must be a positive integer, got ${maxAddresses}`);
    }
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#max = maxAddresses;
    this.#now = now;
    this.#refillMs = (burst / ratePerSecond) * 1000;
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Spends one token of `key`'s bucket: true if there was one, false if over the limit. */
  take(key: string): boolean {
    const now = this.#now();
    this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#max) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done !== true) this.#buckets.delete(oldest.value);
      }
      bucket = { tokens: this.#burst, last: now };
    } else {
      this.#buckets.delete(key);
      const elapsed = Math.max(0, now - bucket.last);
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (elapsed * this.#rate) / 1000);
      bucket.last = Math.max(bucket.last, now);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Drops the buckets (at the front, least recently used first) that have refilled. */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.last < this.#refillMs) return;
      this.#buckets.delete(key);
    }
  }
}

/**
 * A UDP STUN server answering Binding Requests only. `counters` are live and never reset.
 * The socket never throws into the process: socket errors and failed sends are logged.
 */
export class StunServer {
  readonly counters: StunCounters = { answered: 0, malformed: 0, rateLimited: 0 };
  readonly #requestedPort: number;
  readonly #host: string;
  readonly #type: 'udp4' | 'udp6';
  readonly #rates: RateTable;
  /** Every answer, whatever its source: a spoofed flood from many addresses is capped too. */
  readonly #global: RateTable;
  readonly #now: () => number;
  readonly #logger: StunLogger | undefined;
  #socket: dgram.Socket | null = null;
  #port = 0;
  #abortListen: ((err: Error) => void) | null = null;
  #lastSendWarn = Number.NEGATIVE_INFINITY;

  constructor(options: StunServerOptions) {
    const { port } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`stun port must be an integer in 0..65535, got ${port}`);
    }
    const ipv6 = options.ipv6 === true || (options.host !== undefined && net.isIPv6(options.host));
    this.#requestedPort = port;
    this.#host = options.host ?? (ipv6 ? '::' : '0.0.0.0');
    this.#type = ipv6 ? 'udp6' : 'udp4';
    this.#now = options.now ?? (() => performance.now());
    this.#logger = options.logger;
    this.#rates = new RateTable({
      ratePerSecond: options.ratePerSecond ?? DEFAULT_RATE_PER_SECOND,
      burst: options.burst ?? DEFAULT_BURST,
      maxAddresses: options.maxAddresses ?? DEFAULT_MAX_ADDRESSES,
      now: this.#now,
    });
    const total = options.globalRatePerSecond ?? DEFAULT_GLOBAL_RATE_PER_SECOND;
    this.#global = new RateTable({
      ratePerSecond: total,
      burst: total,
      maxAddresses: 1,
      now: this.#now,
    });
  }

  /** The bound port; 0 when not listening. */
  get port(): number {
    return this.#port;
  }

  /** Binds the socket; resolves with the bound port (port 0 picks a free one). */
  listen(): Promise<number> {
    if (this.#socket !== null) return Promise.reject(new Error('stun server is already listening'));
    const socket = dgram.createSocket({ type: this.#type });
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => this.#onMessage(socket, msg, rinfo));
    socket.on('error', (err) => this.#logger?.warn({ err }, 'stun: socket error'));
    return new Promise<number>((resolve, reject) => {
      const fail = (err: Error): void => {
        socket.off('listening', onListening);
        socket.off('error', fail);
        this.#abortListen = null;
        if (this.#socket === socket) this.#socket = null;
        // a failed bind may have closed it already: close() would throw ERR_SOCKET_DGRAM_NOT_RUNNING
        try {
          socket.close();
        } catch (closeErr) {
          this.#logger?.info({ err: closeErr }, 'stun: the socket of a failed bind was closed');
        }
        reject(err);
      };
      const onListening = (): void => {
        socket.off('error', fail);
        this.#abortListen = null;
        this.#port = socket.address().port;
        this.#logger?.info({ host: this.#host, port: this.#port }, 'stun: listening');
        resolve(this.#port);
      };
      this.#abortListen = fail;
      socket.once('listening', onListening);
      socket.once('error', fail);
      socket.bind(this.#requestedPort, this.#host);
    });
  }

  /** Closes the socket (a pending `listen` rejects); resolves once it is closed. */
  close(): Promise<void> {
    const abort = this.#abortListen;
    if (abort !== null) {
      abort(new Error('stun server closed before it was listening'));
      return Promise.resolve();
    }
    const socket = this.#socket;
    this.#socket = null;
    this.#port = 0;
    if (socket === null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  #onMessage(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      const request = parseBindingRequest(msg);
      const source = reflexiveAddress(rinfo.address);
      if (request === null || source === null || rinfo.port === 0) {
        this.counters.malformed++;
        return;
      }
      // an IPv6 host owns at least a /64: a flood spread over one counts as one source; and all
      // sources together get at most the global rate, so spoofed sources cannot multiply it
      if (!this.#global.take('') || !this.#rates.take(rateKey(source.address, source.family))) {
        this.counters.rateLimited++;
        return;
      }
      const response = bindingSuccess(
        request.transactionId,
        source.address,
        rinfo.port,
        source.family,
      );
      // Unreachable while the largest response (64 bytes) fits the smallest request (20) + 64;
      // kept so a future attribute cannot quietly make the server an amplifier.
      if (response.length > msg.length + MAX_GROWTH_BYTES) return;
      this.counters.answered++;
      socket.send(response, rinfo.port, rinfo.address, (err) => {
        if (err) this.#warnSend(err);
      });
    } catch (err) {
      this.#logger?.warn({ err }, 'stun: message handler failed');
    }
  }

  #warnSend(err: Error): void {
    const now = this.#now();
    if (now - this.#lastSendWarn < SEND_WARN_INTERVAL_MS) return;
    this.#lastSendWarn = now;
    this.#logger?.warn({ err }, 'stun: send failed');
  }
}

/**
 * The transaction id of `buf` if it is a well-formed Binding Request (RFC 5389 §6, §7.3, §15),
 * else null. Never throws. The returned id is a copy.
 */
export function parseBindingRequest(buf: Uint8Array): { transactionId: Uint8Array } | null {
  const size = buf.length;
  if (size < HEADER_BYTES || size > MAX_REQUEST_BYTES) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The whole 16-bit type, so this also requires the first two bits to be zero (§6).
  if (view.getUint16(0) !== BINDING_REQUEST) return null;
  if (view.getUint32(4) !== MAGIC_COOKIE) return null;
  const length = view.getUint16(2);
  if (length % 4 !== 0 || length !== size - HEADER_BYTES) return null;

  let offset = HEADER_BYTES;
  // §15.4: attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are ignored.
  let afterIntegrity = false;
  while (offset < size) {
    if (size - offset < 4) return null;
    const type = view.getUint16(offset);
    const valueLength = view.getUint16(offset + 2);
    const next = offset + 4 + padded(valueLength);
    if (next > size) return null;
    if (type === ATTR_FINGERPRINT) {
      // §15.5: last, 4 bytes, CRC-32 of everything before it (whose header length covers it).
      if (valueLength !== 4 || next !== size) return null;
      const expected = (crc32(buf.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      if (view.getUint32(offset + 4) !== expected) return null;
    } else if (!afterIntegrity && type < COMPREHENSION_OPTIONAL && !KNOWN_ATTRIBUTES.has(type)) {
      return null;
    }
    if (type === ATTR_MESSAGE_INTEGRITY) afterIntegrity = true;
    offset = next;
  }
  return { transactionId: new Uint8Array(buf.subarray(8, HEADER_BYTES)) };
}

/**
 * A Binding Success Response (§7.3.1.1) for `transactionId`: XOR-MAPPED-ADDRESS of
 * `address`:`port` (§15.2), SOFTWARE "ferry" and FINGERPRINT last. 52 bytes for IPv4, 64 for
 * IPv6. Throws RangeError on an id that is not 12 bytes, a bad port or an address that is not
 * of `family`.
 */
export function bindingSuccess(
  transactionId: Uint8Array,
  address: string,
  port: number,
  family: 'IPv4' | 'IPv6',
): Uint8Array {
  if (transactionId.length !== TRANSACTION_ID_BYTES) {
    throw new RangeError(`transaction id must be ${TRANSACTION_ID_BYTES} bytes`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${port}`);
  }
  const ip = family === 'IPv4' ? ipv4Bytes(address) : ipv6Bytes(address);
  if (ip === null) throw new RangeError(`"${address}" is not an ${family} address`);

  const xorLength = 4 + ip.length;
  // Header, XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT.
  const total = HEADER_BYTES + (4 + xorLength) + (4 + padded(SOFTWARE.length)) + (4 + 4);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, BINDING_SUCCESS);
  view.setUint16(2, total - HEADER_BYTES);
  view.setUint32(4, MAGIC_COOKIE);
  out.set(transactionId, 8);

  let offset = HEADER_BYTES;
  view.setUint16(offset, ATTR_XOR_MAPPED_ADDRESS);
  view.setUint16(offset + 2, xorLength);
  out[offset + 5] = family === 'IPv4' ? FAMILY_IPV4 : FAMILY_IPV6;
  view.setUint16(offset + 6, port ^ (MAGIC_COOKIE >>> 16));
  // The XOR key is the cookie for IPv4 and cookie || transaction id for IPv6 (§15.2): exactly
  // header bytes 4.. of this message.
  for (let i = 0; i < ip.length; i++) out[offset + 8 + i] = ip[i]! ^ out[4 + i]!;
  offset += 4 + xorLength;

  view.setUint16(offset, ATTR_SOFTWARE);
  view.setUint16(offset + 2, SOFTWARE.length);
  out.set(SOFTWARE, offset + 4);
  offset += 4 + padded(SOFTWARE.length);

  view.setUint16(offset, ATTR_FINGERPRINT);
  view.setUint16(offset + 2, 4);
  view.setUint32(offset + 4, (crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0);
  return out;
}

/** Table for the reflected CRC-32 of ISO 3309 / ITU-T V.42 (polynomial 0xEDB88320), §15.5. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as used by STUN's FINGERPRINT (Node 20 has no `zlib.crc32` before 20.15). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

/** What to report for a datagram source: zone dropped, IPv4-mapped IPv6 reported as IPv4. */
function reflexiveAddress(raw: string): { address: string; family: 'IPv4' | 'IPv6' } | null {
  const address = raw.split('%', 1)[0] ?? '';
  if (net.isIPv4(address)) return { address, family: 'IPv4' };
  if (!net.isIPv6(address)) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined && net.isIPv4(mapped)) return { address: mapped, family: 'IPv4' };
  return { address, family: 'IPv6' };
}

/** The rate limit's key of a source: an IPv4 address, or the /64 of an IPv6 one. */
export function rateKey(address: string, family: 'IPv4' | 'IPv6'): string {
  if (family === 'IPv4') return address;
  const bytes = ipv6Bytes(address);
  if (bytes === null) return address;
  return Buffer.from(bytes.subarray(0, 8)).toString('hex');
}

function ipv4Bytes(address: string): Uint8Array | null {
  if (!net.isIPv4(address)) return null;
  return Uint8Array.from(address.split('.'), Number);
}

function ipv6Bytes(address: string): Uint8Array | null {
  let text = address.split('%', 1)[0] ?? '';
  if (!net.isIPv6(text)) return null;
  // A dotted IPv4 tail (::ffff:192.0.2.1) becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Bytes(tail);
    if (v4 === null) return null;
    const high = ((v4[0]! << 8) | v4[1]!).toString(16);
    const low = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = groups[i]!;
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null;
    const value = Number.parseInt(group, 16);
    out[2 * i] = value >>> 8;
    out[2 * i + 1] = value & 0xff;
  }
  return out;
}
