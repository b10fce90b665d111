/**
 * The STUN server (src/transport/stun.ts): RFC 5769 known-answer vectors for the parser and the
 * encoder, then the server over real UDP on 127.0.0.1. Nothing sleeps: a reply is awaited as a
 * 'message' event on the client socket, "no reply" is shown by a later request's reply arriving
 * first (loopback keeps order), and time only moves when the test moves the injected clock.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import {
  bindingSuccess,
  crc32,
  parseBindingRequest,
  RateTable,
  rateKey,
  StunServer,
} from '../../src/transport/stun.js';

const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
const DEFAULT_BURST = 40;

function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  return Uint8Array.from({ length: digits.length / 2 }, (_, i) =>
    Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16),
  );
}

// RFC 5769 §2.1, §2.2 and §2.3, byte for byte (their padding is spaces, which is allowed).
const RFC5769_REQUEST = hex(`
  00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
  00 24 00 04  6e 00 01 ff
  80 29 00 08  93 2f f9 b1  51 26 3b 36
  00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
  00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
  80 28 00 04  e5 7a 3b cf`);
const RFC5769_IPV4_RESPONSE = hex(`
  01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 08  00 01 a1 47  e1 12 a6 43
  00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
  80 28 00 04  c0 7d 4c 96`);
const RFC5769_IPV6_RESPONSE = hex(`
  01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
  00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
  80 28 00 04  c8 fb 0b 4c`);
const RFC5769_TRANSACTION_ID = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');

interface Attribute {
  type: number;
  value: Uint8Array;
}

/** A message of `type` with `attributes` (zero-padded), then a FINGERPRINT unless told not to. */
function message(
  type: number,
  transactionId: Uint8Array,
  attributes: Attribute[] = [],
  fingerprint = true,
): Uint8Array {
  const body: number[] = [];
  for (const { type: attrType, value } of attributes) {
    body.push(attrType >> 8, attrType & 0xff, value.length >> 8, value.length & 0xff, ...value);
    while (body.length % 4 !== 0) body.push(0);
  }
  const length = body.length + (fingerprint ? 8 : 0);
  const out = new Uint8Array(20 + length);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, length);
  view.setUint32(4, MAGIC_COOKIE);
  out.set(transactionId, 8);
  out.set(body, 20);
  if (fingerprint) {
    const at = 20 + body.length;
    view.setUint16(at, ATTR_FINGERPRINT);
    view.setUint16(at + 2, 4);
    view.setUint32(at + 4, (crc32(out.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

function transactionId(n: number): Uint8Array {
  const id = new Uint8Array(12);
  new DataView(id.buffer).setUint32(8, n);
  id[0] = 0xfe;
  return id;
}

function bindingRequest(n: number, attributes: Attribute[] = []): Uint8Array {
  return message(0x0001, transactionId(n), attributes);
}

/** The attributes of a message, with offsets; asserts the TLVs tile the body exactly. */
function attributesOf(msg: Uint8Array): (Attribute & { offset: number })[] {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  assert.equal(view.getUint16(2), msg.length - 20, 'header length covers the body');
  const out: (Attribute & { offset: number })[] = [];
  let offset = 20;
  while (offset < msg.length) {
    const length = view.getUint16(offset + 2);
    out.push({
      type: view.getUint16(offset),
      offset,
      value: msg.subarray(offset + 4, offset + 4 + length),
    });
    offset += 4 + ((length + 3) & ~3);
  }
  assert.equal(offset, msg.length, 'attributes end with the message');
  return out;
}

/** Decodes XOR-MAPPED-ADDRESS independently of the module under test (RFC 5389 §15.2). */
function xorMapped(msg: Uint8Array): { family: number; address: string; port: number } {
  const attr = attributesOf(msg).find((a) => a.type === ATTR_XOR_MAPPED_ADDRESS);
  assert.ok(attr, 'XOR-MAPPED-ADDRESS present');
  const key = msg.subarray(4, 20);
  const family = attr.value[1]!;
  const port = ((attr.value[2]! << 8) | attr.value[3]!) ^ 0x2112;
  const raw = Array.from(attr.value.subarray(4), (b, i) => b ^ key[i]!);
  if (family === 1) return { family, address: raw.join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i]! << 8) | raw[i + 1]!).toString(16));
  return { family, address: groups.join(':'), port };
}

/** Asserts FINGERPRINT is the last attribute and matches everything before it. */
function assertFingerprint(msg: Uint8Array): void {
  const attrs = attributesOf(msg);
  const last = attrs.at(-1);
  assert.ok(last && last.type === ATTR_FINGERPRINT, 'FINGERPRINT is last');
  assert.equal(last.value.length, 4);
  const value = new DataView(msg.buffer, msg.byteOffset + last.offset + 4, 4).getUint32(0);
  assert.equal(value, (crc32(msg.subarray(0, last.offset)) ^ FINGERPRINT_XOR) >>> 0);
}

/** A plain Uint8Array copy (a Buffer does not deep-equal a Uint8Array under strict assert). */
function transactionIdOf(msg: Uint8Array): Uint8Array {
  return new Uint8Array(msg.subarray(8, 20));
}

/** The replies a client socket receives, in order, awaited one by one. */
class Inbox {
  readonly #queue: Buffer[] = [];
  readonly #waiters: ((msg: Buffer) => void)[] = [];
  constructor(socket: dgram.Socket) {
    socket.on('message', (msg) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(msg);
      else this.#queue.push(msg);
    });
  }
  next(): Promise<Buffer> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

interface Client {
  socket: dgram.Socket;
  inbox: Inbox;
  port: number;
  send(bytes: Uint8Array): Promise<void>;
}

async function startServer(
  t: TestContext,
  options: { now?: () => number; globalRatePerSecond?: number } = {},
): Promise<StunServer> {
  const server = new StunServer({ port: 0, host: '127.0.0.1', ...options });
  const port = await server.listen();
  assert.ok(port > 0);
  assert.equal(server.port, port);
  t.after(() => server.close());
  return server;
}

async function startClient(t: TestContext, serverPort: number): Promise<Client> {
  const socket = dgram.createSocket('udp4');
  const inbox = new Inbox(socket);
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    socket,
    inbox,
    port: socket.address().port,
    send: (bytes) =>
      new Promise<void>((resolve, reject) =>
        socket.send(bytes, serverPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
      ),
  };
}

test('crc32 and FINGERPRINT match the known answers (CRC-32 check value, RFC 5769)', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  for (const msg of [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
    assertFingerprint(msg);
  }
});

test('the RFC 5769 §2.1 sample request parses, with its transaction id copied out', () => {
  const parsed = parseBindingRequest(RFC5769_REQUEST);
  assert.ok(parsed);
  assert.deepEqual(parsed.transactionId, RFC5769_TRANSACTION_ID);
  assert.notEqual(parsed.transactionId.buffer, RFC5769_REQUEST.buffer, 'a copy, not a view');
  // Also from a Buffer view at an offset into a larger allocation (how dgram hands it over).
  const backing = Buffer.alloc(RFC5769_REQUEST.length + 7);
  backing.set(RFC5769_REQUEST, 7);
  assert.deepEqual(parseBindingRequest(backing.subarray(7))?.transactionId, RFC5769_TRANSACTION_ID);
  // Any flipped bit under the fingerprint (here one in SOFTWARE, one in the CRC) is rejected.
  for (const at of [30, RFC5769_REQUEST.length - 1]) {
    const tampered = RFC5769_REQUEST.slice();
    tampered[at] ^= 0x01;
    assert.equal(parseBindingRequest(tampered), null, `bit flipped at ${at}`);
  }
  // The sample's responses are responses, not requests.
  assert.equal(parseBindingRequest(RFC5769_IPV4_RESPONSE), null);
  assert.equal(parseBindingRequest(RFC5769_IPV6_RESPONSE), null);
});

test('bindingSuccess lays out the RFC 5769 §2.2 and §2.3 XOR-MAPPED-ADDRESS bytes', () => {
  const v4 = bindingSuccess(RFC5769_TRANSACTION_ID, '192.0.2.1', 32853, 'IPv4');
  const expected4 = hex(`
    01 01 00 20  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    00 20 00 08  00 01 a1 47  e1 12 a6 43
    80 22 00 05  66 65 72 72  79 00 00 00
    80 28 00 04`);
  assert.equal(v4.length, 52);
  assert.deepEqual(v4.subarray(0, expected4.length), expected4);
  assertFingerprint(v4);
  // The same XOR-MAPPED-ADDRESS value as the RFC's own response.
  const rfcValue = attributesOf(RFC5769_IPV4_RESPONSE).find((a) => a.type === 0x0020)?.value;
  assert.deepEqual(rfcValue, hex('00 01 a1 47 e1 12 a6 43'));
  assert.deepEqual(xorMapped(v4), { family: 1, address: '192.0.2.1', port: 32853 });

  const v6 = bindingSuccess(
    RFC5769_TRANSACTION_ID,
    '2001:db8:1234:5678:11:2233:4455:6677',
    32853,
    'IPv6',
  );
  assert.equal(v6.length, 64, 'the largest response: 20-byte minimum request + 44');
  const attrs = attributesOf(v6);
  assert.deepEqual(
    attrs.map((a) => a.type),
    [ATTR_XOR_MAPPED_ADDRESS, ATTR_SOFTWARE, ATTR_FINGERPRINT],
  );
  assert.deepEqual(
    attrs[0]!.value,
    hex('00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9'),
  );
  assert.equal(new TextDecoder().decode(attrs[1]!.value), 'ferry');
  assertFingerprint(v6);
  assert.deepEqual(new DataView(v6.buffer).getUint16(0), 0x0101);
});

test('bindingSuccess writes compressed and IPv4-tailed IPv6 forms, and refuses bad input', () => {
  const id = transactionId(1);
  const cases: [string, string][] = [
    ['::1', '0:0:0:0:0:0:0:1'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:1'],
    ['::ffff:192.0.2.1', '0:0:0:0:0:ffff:c000:201'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['2001:DB8::a:b', '2001:db8:0:0:0:0:a:b'],
  ];
  for (const [input, decoded] of cases) {
    const msg = bindingSuccess(id, input, 65535, 'IPv6');
    assert.deepEqual(xorMapped(msg), { family: 2, address: decoded, port: 65535 }, input);
    assertFingerprint(msg);
  }
  assert.throws(() => bindingSuccess(new Uint8Array(11), '192.0.2.1', 1, 'IPv4'), RangeError);
  assert.throws(() => bindingSuccess(id, '::1', 1, 'IPv4'), RangeError);
  assert.throws(() => bindingSuccess(id, '192.0.2.1', 1, 'IPv6'), RangeError);
  assert.throws(() => bindingSuccess(id, '192.0.2.1', 65536, 'IPv4'), RangeError);
  assert.throws(() => bindingSuccess(id, 'example.com', 1, 'IPv4'), RangeError);
});

const ID = transactionId(7);
const BAD_FINGERPRINT = (() => {
  const msg = bindingRequest(7);
  msg[msg.length - 1] ^= 0xff;
  return msg;
})();
/** Each is not a well-formed Binding Request, with why. */
const JUNK: [string, Uint8Array][] = [
  ['random bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 7) & 0xff)],
  ['empty', new Uint8Array(0)],
  ['19 bytes', bindingRequest(7, []).subarray(0, 19)],
  [
    'wrong cookie',
    (() => {
      const msg = message(0x0001, ID, [], false);
      msg[4] = 0x21 ^ 0xff;
      return msg;
    })(),
  ],
  [
    'length not the datagram',
    (() => {
      const msg = message(0x0001, ID, [{ type: ATTR_SOFTWARE, value: hex('61 62 63 64') }], false);
      return msg.subarray(0, msg.length - 4);
    })(),
  ],
  [
    'length not a multiple of 4',
    (() => {
      const msg = new Uint8Array(22);
      msg.set(message(0x0001, ID, [], false));
      new DataView(msg.buffer).setUint16(2, 2);
      return msg;
    })(),
  ],
  ['first two bits set', message(0xc001, ID)],
  ['binding success response', message(0x0101, ID)],
  ['binding error response', message(0x0111, ID)],
  ['binding indication', message(0x0011, ID)],
  ['other method (Allocate)', message(0x0003, ID)],
  [
    'truncated attribute',
    (() => {
      const msg = message(0x0001, ID, [{ type: ATTR_SOFTWARE, value: hex('61 62 63 64') }], false);
      new DataView(msg.buffer).setUint16(22, 8); // says 8 value bytes, has 4
      return msg;
    })(),
  ],
  ['bad fingerprint', BAD_FINGERPRINT],
  [
    'fingerprint not last',
    (() => {
      const fingerprinted = bindingRequest(7);
      const fp = fingerprinted.subarray(20);
      return message(0x0001, ID, [
        { type: ATTR_FINGERPRINT, value: fp.subarray(4) },
        { type: ATTR_SOFTWARE, value: hex('61') },
      ]);
    })(),
  ],
  [
    'fingerprint of the wrong size',
    message(0x0001, ID, [{ type: ATTR_FINGERPRINT, value: hex('00 00 00 00 00 00 00 00') }], false),
  ],
  [
    'unknown comprehension-required attribute',
    message(0x0001, ID, [{ type: 0x0003 /* CHANGE-REQUEST, RFC 5780 */, value: hex('00000004') }]),
  ],
  [
    'oversized (552 bytes, the next size up from 548)',
    message(0x0001, ID, [{ type: 0x8055, value: new Uint8Array(552 - 32) }]),
  ],
];

test('the parser accepts well-formed requests and refuses each kind of junk', () => {
  assert.deepEqual(parseBindingRequest(message(0x0001, ID, [], false))?.transactionId, ID);
  assert.deepEqual(parseBindingRequest(bindingRequest(7))?.transactionId, ID);
  // Unknown comprehension-optional attributes are skipped; padding need not be zero.
  const optional = message(0x0001, ID, [{ type: 0xc057, value: hex('01 02 03') }], false);
  optional[27] = 0x20;
  assert.deepEqual(parseBindingRequest(optional)?.transactionId, ID);
  // The largest allowed request, 548 bytes.
  const largest = message(0x0001, ID, [{ type: 0x8055, value: new Uint8Array(548 - 32) }]);
  assert.equal(largest.length, 548);
  assert.ok(parseBindingRequest(largest));
  for (const [why, bytes] of JUNK) assert.equal(parseBindingRequest(bytes), null, why);
  assert.equal(JUNK.at(-1)?.[1].length, 552);
});

test('the parser never throws, and accepts only Binding Requests of the right length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const parsed = parseBindingRequest(bytes);
      if (parsed === null) return;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      assert.equal(view.getUint16(0), 0x0001);
      assert.equal(view.getUint32(4), MAGIC_COOKIE);
      assert.equal(view.getUint16(2), bytes.length - 20);
    }),
  );
  // Requests built from known attributes always parse, with or without FINGERPRINT.
  const known = [0x0006, 0x0008, 0x0024, 0x0025, 0x8022, 0x8029, 0x802a, 0xc001];
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.array(
        fc.record({
          type: fc.constantFrom(...known),
          value: fc.uint8Array({ maxLength: 40 }),
        }),
        { maxLength: 8 },
      ),
      fc.boolean(),
      (id, attributes, fingerprint) => {
        const bytes = message(0x0001, id, attributes, fingerprint);
        assert.deepEqual(parseBindingRequest(bytes)?.transactionId, id);
      },
    ),
  );
});

test('a Binding Request over UDP gets its own reflexive address back', async (t) => {
  const server = await startServer(t);
  const client = await startClient(t, server.port);
  const request = bindingRequest(42, [{ type: ATTR_SOFTWARE, value: hex('74 65 73 74') }]);
  await client.send(request);
  const reply = await client.inbox.next();
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  assert.equal(view.getUint16(0), 0x0101, 'Binding Success Response');
  assert.equal(view.getUint32(4), MAGIC_COOKIE);
  assert.deepEqual(transactionIdOf(reply), transactionId(42));
  assert.deepEqual(xorMapped(reply), { family: 1, address: '127.0.0.1', port: client.port });
  assertFingerprint(reply);
  assert.ok(reply.length <= request.length + 64);
  assert.deepEqual(server.counters, { answered: 1, malformed: 0, rateLimited: 0 });
});

test('junk gets no answer and is counted as malformed', async (t) => {
  const server = await startServer(t);
  const client = await startClient(t, server.port);
  for (const [, bytes] of JUNK) await client.send(bytes);
  await client.send(bindingRequest(99));
  const reply = await client.inbox.next();
  assert.deepEqual(transactionIdOf(reply), transactionId(99), 'the first reply is to the request');
  assert.deepEqual(server.counters, { answered: 1, malformed: JUNK.length, rateLimited: 0 });
});

test('each source address is held to its burst until time refills the bucket', async (t) => {
  let clock = 0;
  let reads = 0;
  let allSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    allSeen = resolve;
  });
  // The limiters read the clock twice per well-formed request (the global bucket, then the
  // source's): the last read for the burst + 5 requests tells the test all were judged.
  const now = (): number => {
    reads++;
    if (reads === 2 * (DEFAULT_BURST + 5)) allSeen();
    return clock;
  };
  const server = await startServer(t, { now });
  const client = await startClient(t, server.port);
  for (let i = 0; i < DEFAULT_BURST + 5; i++) await client.send(bindingRequest(i));
  for (let i = 0; i < DEFAULT_BURST; i++) {
    const reply = await client.inbox.next();
    assert.deepEqual(transactionIdOf(reply), transactionId(i));
  }
  await seen;
  assert.equal(server.counters.rateLimited, 5);

  clock += 1000; // 20 tokens back at the default 20/s
  await client.send(bindingRequest(1_000));
  const marker = await client.inbox.next();
  assert.deepEqual(transactionIdOf(marker), transactionId(1_000), 'the next reply is the marker');
  assert.deepEqual(server.counters, {
    answered: DEFAULT_BURST + 1,
    malformed: 0,
    rateLimited: 5,
  });
});

test('the rate table stays bounded: refilled entries are swept, then the oldest evicted', () => {
  let clock = 0;
  const table = new RateTable({ ratePerSecond: 1, burst: 2, maxAddresses: 3, now: () => clock });
  assert.equal(table.take('a'), true);
  assert.equal(table.take('a'), true);
  assert.equal(table.take('a'), false, 'burst of 2 spent');
  table.take('b');
  table.take('c');
  assert.equal(table.size, 3);
  assert.equal(table.take('a'), false, 'a is still tracked and still empty');
  // 'a' was used last, so 'b' is the least recently used and goes first.
  table.take('d');
  assert.equal(table.size, 3);
  assert.equal(table.take('a'), false, 'a survived the eviction');
  // Once every bucket has had time to refill (2 tokens at 1/s), they are all swept.
  clock += 2000;
  table.take('e');
  assert.equal(table.size, 1);
  assert.equal(table.take('a'), true, 'a starts again with a full bucket');

  // A flood from distinct (spoofed) sources never grows the table past its bound.
  const big = new RateTable({
    ratePerSecond: 20,
    burst: 40,
    maxAddresses: 10_000,
    now: () => clock,
  });
  for (let i = 0; i < 50_000; i++) {
    assert.equal(big.take(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`), true);
  }
  assert.equal(big.size, 10_000);
  assert.throws(
    () => new RateTable({ ratePerSecond: 0, burst: 1, maxAddresses: 1, now: () => 0 }),
    RangeError,
  );
  assert.throws(
    () => new RateTable({ ratePerSecond: 1, burst: 1, maxAddresses: 0, now: () => 0 }),
    RangeError,
  );
});

test('a failed bind rejects, close() is idempotent, a bad port is refused', async (t) => {
  const server = await startServer(t);
  const other = new StunServer({ port: server.port, host: '127.0.0.1' });
  await assert.rejects(other.listen(), { code: 'EADDRINUSE' });
  await other.close();
  await server.close();
  assert.equal(server.port, 0);
  await server.close();
  assert.throws(() => new StunServer({ port: 70_000 }), RangeError);
});

test('an IPv6 source is limited by its /64, and all sources together by the global rate', async (t) => {
  assert.equal(rateKey('2001:db8::1', 'IPv6'), rateKey('2001:db8::ffff:1', 'IPv6'));
  assert.notEqual(rateKey('2001:db8::1', 'IPv6'), rateKey('2001:db8:0:1::1', 'IPv6'));
  assert.equal(rateKey('192.0.2.1', 'IPv4'), '192.0.2.1');
  // 3 answered requests read the clock twice (global, then the source), 2 refused ones once
  let reads = 0;
  let judged: () => void = () => undefined;
  const allJudged = new Promise<void>((resolve) => {
    judged = resolve;
  });
  const now = (): number => {
    if (++reads === 3 * 2 + 2) judged();
    return 0;
  };
  const server = await startServer(t, { now, globalRatePerSecond: 3 });
  const client = await startClient(t, server.port);
  for (let i = 0; i < 5; i++) await client.send(bindingRequest(i));
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(transactionIdOf(await client.inbox.next()), transactionId(i));
  }
  await allJudged;
  assert.deepEqual(server.counters, { answered: 3, malformed: 0, rateLimited: 2 });
});
