/**
 * WebSocket conformance (issue 7, item 6): hand-built frames on a raw TCP connection to
 * ws://127.0.0.1:<port>/v1/ws, and what the gateway (native uWebSockets.js v20, with Ferry's
 * handlers above it) answers. RFC 6455 asks for a close frame with 1002 (protocol error) for
 * most of these and 1007 for invalid UTF-8; native uWS departs from that in the ways the table
 * records, and the tests assert what it does, so that a change in uWS shows up here.
 *
 * "drop" = the server closes the TCP connection without sending a close frame (a client reports
 * 1006). "close -" = a close frame without a status code (a client reports 1005).
 * Gateway limits here: maxFrameBytes 4096, maxControlBytes 1024, so uWS maxPayloadLength 8192.
 *
 * | case                                                   | RFC 6455         | observed                       |
 * |--------------------------------------------------------|------------------|--------------------------------|
 * | RSV1, RSV2 or RSV3 set (no extension negotiated)       | 1002             | drop                           |
 * | opcode 3-7 (reserved data)                             | 1002             | drop                           |
 * | opcode 0xB-0xF (reserved control)                      | 1002             | drop                           |
 * | ping / close with FIN=0 (fragmented control frame)     | 1002             | drop                           |
 * | ping, pong or close with a 126-byte payload            | 1002             | drop                           |
 * | ping with a 125-byte payload                           | pong, same bytes | pong, same bytes               |
 * | unmasked client frame                                  | 1002             | NOT DETECTED: uWS ignores the MASK bit and reads the next 4 bytes as the masking key (an unmasked ping of 4 bytes + 4 more is answered with a pong of payload XOR those bytes) |
 * | continuation frame with no message started             | 1002             | drop                           |
 * | binary frame inside a fragmented binary message        | 1002             | ACCEPTED as a continuation: the joined message reaches Ferry (here: FERRY_ERR_HELLO_REQUIRED, close 4002) |
 * | text frame inside a fragmented binary message          | 1002             | drop                           |
 * | ping between the fragments of a message                | pong; message ok | pong; message delivered        |
 * | 64-bit length with the most significant bit set        | 1002             | drop                           |
 * | message over maxPayloadLength (8193 > 8192)            | 1009             | drop                           |
 * | message of exactly maxPayloadLength                    | delivered        | delivered (Ferry answers FERRY_ERR_FRAME_NO_CHANNEL, stays open) |
 * | close code 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 | 1002    | close - (no status code)        |
 * | close code 1012, 1013, 1014, 3000, 3999 (valid, registered) | echo        | close - (uWS accepts only 1000-1003, 1007-1011, 4000-4999) |
 * | close with a 1-byte payload                            | 1002             | close -                        |
 * | close with a reason that is not UTF-8                  | 1007             | close -                        |
 * | close with no payload                                  | close -          | close -                        |
 * | close 1000-1003, 1007-1011, 4000, 4999                 | echo the code    | echo the code (and the reason) |
 * | text message, valid UTF-8                              | (application)    | Ferry: Error FERRY_ERR_TEXT_FRAME, then close 1003 |
 * | text message, valid UTF-8 split inside a character     | (application)    | same as above (checked when joined) |
 * | text message that is not UTF-8 (0xFF; CESU surrogate)  | 1007             | drop                           |
 * | fragmented text, not UTF-8 once joined                 | 1007             | drop                           |
 *
 * After all of them, a session opened before the first case still relays byte-identical frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activeSession, startGateway } from '../integration/harness.js';
import { closeCodeOf, closePayload, Opcode, RawWs, type ServerFrame, wsFrame } from './raw-ws.js';

const Channel = ferry.v1.Channel;
const CASE_TIMEOUT_MS = 5000;

/** What the server does: drop the TCP connection, or send a close frame with this code (null: none). */
type Answer =
  | { readonly drop: true }
  | { readonly close: number | null; readonly reason?: string; readonly ferryError?: string };

interface Case {
  readonly name: string;
  readonly rfc: string;
  readonly frames: () => Buffer[];
  readonly answer: Answer;
}

const DROP = { drop: true } as const;
const bin = (...bytes: number[]) => Buffer.from(bytes);

const cases: Case[] = [
  ...(
    [
      [4, 'RSV1'],
      [2, 'RSV2'],
      [1, 'RSV3'],
    ] as const
  ).map(([rsv, bit]) => ({
    name: `${bit} set on a binary frame, no extension negotiated`,
    rfc: '1002',
    frames: () => [wsFrame({ rsv, opcode: Opcode.BINARY, payload: bin(8, 8) })],
    answer: DROP,
  })),
  {
    name: 'RSV1 set on a ping',
    rfc: '1002',
    frames: () => [wsFrame({ rsv: 4, opcode: Opcode.PING })],
    answer: DROP,
  },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
    name: `reserved opcode 0x${opcode.toString(16)}`,
    rfc: '1002',
    frames: () => [wsFrame({ opcode, payload: bin(8, 8) })],
    answer: DROP,
  })),
  {
    name: 'ping with FIN=0 (fragmented control frame)',
    rfc: '1002',
    frames: () => [wsFrame({ fin: false, opcode: Opcode.PING, payload: bin(1) })],
    answer: DROP,
  },
  {
    name: 'close with FIN=0 (fragmented control frame)',
    rfc: '1002',
    frames: () => [wsFrame({ fin: false, opcode: Opcode.CLOSE, payload: closePayload(1000) })],
    answer: DROP,
  },
  ...[Opcode.PING, Opcode.PONG].map((opcode) => ({
    name: `${opcode === Opcode.PING ? 'ping' : 'pong'} with a 126-byte payload`,
    rfc: '1002',
    frames: () => [wsFrame({ opcode, payload: Buffer.alloc(126, 0x61) })],
    answer: DROP,
  })),
  {
    name: 'close with a 126-byte payload',
    rfc: '1002',
    frames: () => [
      wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000, Buffer.alloc(124, 0x61)) }),
    ],
    answer: DROP,
  },
  {
    name: 'continuation frame with no message started',
    rfc: '1002',
    frames: () => [wsFrame({ opcode: Opcode.CONTINUATION, payload: bin(8, 8) })],
    answer: DROP,
  },
  {
    name: 'text frame inside a fragmented binary message',
    rfc: '1002',
    frames: () => [
      wsFrame({ fin: false, opcode: Opcode.BINARY, payload: bin(8) }),
      wsFrame({ opcode: Opcode.TEXT, payload: bin(0x41) }),
    ],
    answer: DROP,
  },
  {
    name: 'binary frame inside a fragmented binary message (uWS joins it as a continuation)',
    rfc: '1002',
    // [08] + [08] joined is a CONTROL frame with no Hello: Ferry's own refusal proves the join
    frames: () => [
      wsFrame({ fin: false, opcode: Opcode.BINARY, payload: bin(8) }),
      wsFrame({ opcode: Opcode.BINARY, payload: bin(8) }),
    ],
    answer: { close: 4002, ferryError: 'FERRY_ERR_HELLO_REQUIRED' },
  },
  {
    name: '64-bit payload length with the most significant bit set',
    rfc: '1002',
    frames: () => [bin(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3, 4)],
    answer: DROP,
  },
  {
    name: 'message over maxPayloadLength (8193 bytes declared, header only)',
    rfc: '1009',
    frames: () => [bin(0x82, 0xfe, 0x20, 0x01, 1, 2, 3, 4)],
    answer: DROP,
  },
  ...[999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code) => ({
    name: `close with invalid status code ${code}`,
    rfc: '1002',
    frames: () => [wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(code) })],
    answer: { close: null },
  })),
  ...[1012, 1013, 1014, 3000, 3999].map((code) => ({
    name: `close with registered status code ${code} (refused by uWS)`,
    rfc: `echo ${code}`,
    frames: () => [wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(code) })],
    answer: { close: null },
  })),
  {
    name: 'close with a 1-byte payload',
    rfc: '1002',
    frames: () => [wsFrame({ opcode: Opcode.CLOSE, payload: bin(3) })],
    answer: { close: null },
  },
  {
    name: 'close with a reason that is not UTF-8',
    rfc: '1007',
    frames: () => [wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000, bin(0xff, 0xfe)) })],
    answer: { close: null },
  },
  {
    name: 'close with no payload',
    rfc: 'close without code',
    frames: () => [wsFrame({ opcode: Opcode.CLOSE })],
    answer: { close: null },
  },
  ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 4000, 4999].map((code) => ({
    name: `close with valid status code ${code}`,
    rfc: `echo ${code}`,
    frames: () => [wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(code) })],
    answer: { close: code },
  })),
  {
    name: 'close 1000 with a UTF-8 reason',
    rfc: 'echo 1000',
    frames: () => [
      wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000, Buffer.from('bye é')) }),
    ],
    answer: { close: 1000, reason: 'bye é' },
  },
  {
    name: 'text message (valid UTF-8)',
    rfc: 'application: Ferry speaks binary',
    frames: () => [wsFrame({ opcode: Opcode.TEXT, payload: Buffer.from('hello?') })],
    answer: { close: 1003, ferryError: 'FERRY_ERR_TEXT_FRAME' },
  },
  {
    name: 'text message split inside a UTF-8 character',
    rfc: 'application: Ferry speaks binary',
    frames: () => [
      wsFrame({ fin: false, opcode: Opcode.TEXT, payload: bin(0xc3) }),
      wsFrame({ opcode: Opcode.CONTINUATION, payload: bin(0xa9) }),
    ],
    answer: { close: 1003, ferryError: 'FERRY_ERR_TEXT_FRAME' },
  },
  {
    name: 'text message that is not UTF-8 (0xFF)',
    rfc: '1007',
    frames: () => [wsFrame({ opcode: Opcode.TEXT, payload: bin(0x61, 0xff) })],
    answer: DROP,
  },
  {
    name: 'text message with an encoded UTF-16 surrogate (ED A0 80)',
    rfc: '1007',
    frames: () => [wsFrame({ opcode: Opcode.TEXT, payload: bin(0xce, 0xba, 0xed, 0xa0, 0x80) })],
    answer: DROP,
  },
  {
    name: 'fragmented text message that is not UTF-8 once joined',
    rfc: '1007',
    frames: () => [
      wsFrame({ fin: false, opcode: Opcode.TEXT, payload: bin(0xce) }),
      wsFrame({ opcode: Opcode.CONTINUATION, payload: bin(0x41) }),
    ],
    answer: DROP,
  },
];

const describeFrames = (frames: ServerFrame[]) =>
  frames.map((f) => `op${f.opcode}:${f.payload.subarray(0, 40).toString('hex')}`).join(' ');

function ferryErrorOf(frame: ServerFrame | undefined): string | undefined {
  if (frame === undefined || frame.opcode !== Opcode.BINARY) return undefined;
  return ferry.v1.Frame.decode(frame.payload).event?.error?.code ?? undefined;
}

/** Sends a masked close 1000 and expects the echo, then the TCP close. */
async function closeCleanly(ws: RawWs): Promise<void> {
  ws.send(wsFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000) }));
  const rest = await ws.untilClosed();
  assert.deepEqual(
    rest.map((f) => [f.opcode, closeCodeOf(f)]),
    [[Opcode.CLOSE, 1000]],
  );
}

test('raw WebSocket frames get the close codes of the conformance table, and a parallel session keeps relaying', async (t) => {
  const { gateway } = await startGateway(t, {
    maxFrameBytes: 4096,
    maxControlBytes: 1024,
    helloTimeoutMs: 60_000,
    statsIntervalMs: 0,
  });
  const port = gateway.port;
  const healthy = await activeSession(t, gateway);

  for (const c of cases) {
    await t.test(`${c.name}: RFC 6455 ${c.rfc}`, { timeout: CASE_TIMEOUT_MS }, async () => {
      const ws = await RawWs.open(port);
      ws.send(...c.frames());
      const frames = await ws.untilClosed();
      assert.equal(ws.error, null);
      const seen = describeFrames(frames);
      if ('drop' in c.answer) {
        assert.deepEqual(seen, '', 'expected the TCP connection dropped with no frame at all');
        return;
      }
      const closes = frames.filter((f) => f.opcode === Opcode.CLOSE);
      assert.equal(closes.length, 1, `expected one close frame, got ${seen}`);
      const close = closes[0]!;
      assert.equal(frames.at(-1), close, `the close frame comes last: ${seen}`);
      assert.equal(closeCodeOf(close), c.answer.close, seen);
      if (c.answer.reason !== undefined) {
        assert.equal(close.payload.subarray(2).toString(), c.answer.reason);
      }
      const data = frames.filter((f) => f.opcode !== Opcode.CLOSE);
      if (c.answer.ferryError === undefined) assert.deepEqual(data, [], seen);
      else {
        assert.equal(data.length, 1, seen);
        assert.equal(ferryErrorOf(data[0]), c.answer.ferryError);
        assert.equal(close.payload.subarray(2).toString(), c.answer.ferryError, 'close reason');
      }
    });
  }

  await t.test('ping with a 125-byte payload: pong with the same bytes', async () => {
    const ws = await RawWs.open(port);
    const payload = Buffer.alloc(125, 0x5a);
    ws.send(wsFrame({ opcode: Opcode.PING, payload }));
    const pong = await ws.next();
    assert.equal(pong?.opcode, Opcode.PONG);
    assert.ok(pong.payload.equals(payload));
    await closeCleanly(ws);
  });

  await t.test('an unsolicited pong is ignored (RFC 6455 5.5.3)', async () => {
    const ws = await RawWs.open(port);
    ws.send(
      wsFrame({ opcode: Opcode.PONG, payload: bin(1) }),
      wsFrame({ opcode: Opcode.PING, payload: bin(2) }),
    );
    const pong = await ws.next();
    assert.deepEqual([pong?.opcode, pong?.payload[0]], [Opcode.PONG, 2]);
    await closeCleanly(ws);
  });

  await t.test(
    'a ping between the fragments of a message is answered and the message still arrives',
    async () => {
      const ws = await RawWs.open(port);
      ws.send(
        wsFrame({ fin: false, opcode: Opcode.BINARY, payload: bin(8) }),
        wsFrame({ opcode: Opcode.PING, payload: bin(7) }),
        wsFrame({ opcode: Opcode.CONTINUATION, payload: bin(8) }),
      );
      const frames = await ws.untilClosed();
      assert.deepEqual(
        frames.map((f) => f.opcode),
        [Opcode.PONG, Opcode.BINARY, Opcode.CLOSE],
      );
      assert.equal(ferryErrorOf(frames[1]), 'FERRY_ERR_HELLO_REQUIRED');
      assert.equal(closeCodeOf(frames[2]!), 4002);
    },
  );

  await t.test(
    'a message of exactly maxPayloadLength reaches the gateway, which answers with a coded Error and stays open',
    async () => {
      const ws = await RawWs.open(port);
      ws.send(wsFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(8192, 0x41) }));
      assert.equal(ferryErrorOf((await ws.next()) ?? undefined), 'FERRY_ERR_FRAME_NO_CHANNEL');
      await closeCleanly(ws);
    },
  );

  await t.test(
    'an unmasked client frame is NOT refused: uWS reads the next 4 bytes as the masking key (RFC 6455 5.1 wants 1002)',
    async () => {
      const ws = await RawWs.open(port);
      // ping, MASK bit clear, length 4, payload 01 02 03 04; then 61 62 63 64
      ws.send(bin(0x89, 0x04, 1, 2, 3, 4, 0x61, 0x62, 0x63, 0x64));
      const pong = await ws.next();
      assert.equal(pong?.opcode, Opcode.PONG);
      assert.equal(
        pong.payload.toString('hex'),
        '60606060',
        '61 62 63 64 unmasked with 01 02 03 04',
      );
      await closeCleanly(ws);
    },
  );

  await t.test(
    'the session opened before the first case still relays byte-identical frames',
    async () => {
      const received: Buffer[] = [];
      healthy.tech.on('frame', (f, raw) => {
        if (f.channel === Channel.CHANNEL_SCREEN) received.push(Buffer.from(raw));
      });
      const sent: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) sent.push(...healthy.customer.sendScreenFrame());
      const marker = waitFor(healthy.tech, 'chat', (c) => c.text === 'after conformance');
      healthy.customer.chat('after conformance');
      await marker;
      assert.equal(received.length, sent.length);
      for (let i = 0; i < sent.length; i++) assert.ok(received[i]!.equals(sent[i]!), `frame ${i}`);
    },
  );
});
