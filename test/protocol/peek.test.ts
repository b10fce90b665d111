/**
 * peek() against wire bytes written out as hex, and against frames from the generated codec:
 * it must agree with a full decode on every channel, and refuse everything the routing header
 * does not allow with the one status that names the problem, leaving the caller's result alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { MAX_CHANNEL, PeekResult, PeekStatus, peek } from '../../src/protocol/peek.js';

/** `'0801 1003'` -> bytes; spaces are for reading only. */
function hex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  assert.match(digits, /^([0-9a-f]{2})*$/i, `fixture '${text}' is not whole hex bytes`);
  return Buffer.from(digits, 'hex');
}

function peekHex(text: string): { status: number; result: PeekResult } {
  const result = new PeekResult();
  const status = peek(hex(text), result);
  return { status, result };
}

const channelValues = Object.values(ferry.v1.Channel).filter(
  (v): v is ferry.v1.Channel => typeof v === 'number' && v !== 0,
);

test('a minimal SCREEN frame 0801 peeks as channel 1, stream 0, header of 2 bytes', () => {
  const { status, result } = peekHex('0801');
  assert.equal(status, PeekStatus.OK);
  assert.equal(result.channel, ferry.v1.Channel.CHANNEL_SCREEN);
  assert.equal(result.stream, 0);
  assert.equal(result.headerLength, 2);
});

test('a channel followed by a stream field reads both and stops before the body', () => {
  // SCREEN, stream 3, then field 16 (opaque) of length 2
  const { status, result } = peekHex('0801 1003 8201 02 0a00');
  assert.equal(status, PeekStatus.OK);
  assert.equal(result.channel, 1);
  assert.equal(result.stream, 3);
  assert.equal(result.headerLength, 4);
});

test('a multi-byte stream varint is decoded little-endian in 7-bit groups', () => {
  const cases: [string, number, number][] = [
    ['0805 10ac02', 300, 5],
    ['0805 10808001', 16384, 6],
    ['0805 10ffffffff0f', 0xffffffff, 8],
  ];
  for (const [bytes, stream, headerLength] of cases) {
    const { status, result } = peekHex(bytes);
    assert.equal(status, PeekStatus.OK, bytes);
    assert.equal(result.channel, ferry.v1.Channel.CHANNEL_SHELL, bytes);
    assert.equal(result.stream, stream, bytes);
    assert.equal(result.headerLength, headerLength, bytes);
  }
});

test('a frame after the header starts with the body field (stream absent)', () => {
  // CHAT with a chat body (field 13, tag 0x6a) and no stream
  const { status, result } = peekHex('0803 6a03 0a0168');
  assert.equal(status, PeekStatus.OK);
  assert.equal(result.channel, ferry.v1.Channel.CHANNEL_CHAT);
  assert.equal(result.stream, 0);
  assert.equal(result.headerLength, 2);
});

test('peek agrees with a full decode for a codec-encoded frame on every channel', () => {
  assert.equal(channelValues.length, 10);
  const streams = [0, 1, 127, 128, 300, 0xffffffff];
  for (const channel of channelValues) {
    for (const stream of streams) {
      const bytes = ferry.v1.Frame.encode({
        channel,
        stream,
        opaque: { data: Uint8Array.of(0x08, 0x01, 0x10, 0x02) },
      }).finish();
      const decoded = ferry.v1.Frame.decode(bytes);
      const header = ferry.v1.Frame.encode({ channel, stream }).finish();
      const result = new PeekResult();
      assert.equal(peek(bytes, result), PeekStatus.OK, `channel ${channel} stream ${stream}`);
      assert.equal(result.channel, decoded.channel, `channel ${channel} stream ${stream}`);
      assert.equal(result.stream, decoded.stream, `channel ${channel} stream ${stream}`);
      assert.equal(result.headerLength, header.length, `channel ${channel} stream ${stream}`);
    }
  }
});

test('peek agrees with a full decode for frames the gateway builds with real bodies', () => {
  const frames: ferry.v1.Frame.$Properties[] = [
    { channel: ferry.v1.Channel.CHANNEL_CONTROL, control: { requestId: 7, hello: { pin: '1' } } },
    { channel: ferry.v1.Channel.CHANNEL_HEARTBEAT, heartbeat: { ping: { seq: 5 } } },
    { channel: ferry.v1.Channel.CHANNEL_EVENT, event: { error: { code: 'FERRY_ERR_X' } } },
    {
      channel: ferry.v1.Channel.CHANNEL_SCREEN,
      stream: 2,
      screen: { frameSeq: 1, data: new Uint8Array(200) },
    },
    { channel: ferry.v1.Channel.CHANNEL_INPUT, input: { seq: 1, move: { x: -1, y: 2 } } },
  ];
  for (const frame of frames) {
    const bytes = ferry.v1.Frame.encode(frame).finish();
    const decoded = ferry.v1.Frame.decode(bytes);
    const result = new PeekResult();
    assert.equal(peek(bytes, result), PeekStatus.OK);
    assert.equal(result.channel, decoded.channel);
    assert.equal(result.stream, decoded.stream);
  }
});

test('empty input is EMPTY', () => {
  assert.equal(peekHex('').status, PeekStatus.EMPTY);
});

test('a frame that does not start with tag 0x08 is NO_CHANNEL', () => {
  const cases = [
    '1003', // stream only
    '1003 0801', // stream before channel: the gateway does not search for field 1
    '0a0101', // field 1 with wire type 2 (length-delimited) instead of varint
    '8201 00', // body only
    '00',
    'ff',
  ];
  for (const bytes of cases) assert.equal(peekHex(bytes).status, PeekStatus.NO_CHANNEL, bytes);
});

test('a codec-encoded frame whose channel is 0 has no field 1 and is NO_CHANNEL', () => {
  const withStream = ferry.v1.Frame.encode({ channel: 0, stream: 3 }).finish();
  assert.equal(Buffer.from(withStream).toString('hex'), '1003');
  assert.equal(peek(withStream, new PeekResult()), PeekStatus.NO_CHANNEL);
  const withBody = ferry.v1.Frame.encode({
    channel: 0,
    opaque: { data: Uint8Array.of(1) },
  }).finish();
  assert.equal(peek(withBody, new PeekResult()), PeekStatus.NO_CHANNEL);
});

test('a channel varint cut off before its last byte is TRUNCATED', () => {
  for (const bytes of ['08', '0880', '08ffffff', '08ffffffff']) {
    assert.equal(peekHex(bytes).status, PeekStatus.TRUNCATED, bytes);
  }
});

test('a varint with more than 5 bytes is TRUNCATED even when it ends later', () => {
  // 6 continuation bytes, then a terminator: a valid varint64 of value 1, not a varint32
  assert.equal(peekHex('08 808080808080 01').status, PeekStatus.TRUNCATED);
  assert.equal(peekHex('08 8180808000').status, PeekStatus.OK); // 5-byte padded 1 still fits
  assert.equal(peekHex('0801 10 808080808080 01').status, PeekStatus.TRUNCATED);
});

test('a stream varint cut off after its tag or mid-varint is TRUNCATED', () => {
  for (const bytes of ['0801 10', '0801 1080', '0801 10ffffffff']) {
    assert.equal(peekHex(bytes).status, PeekStatus.TRUNCATED, bytes);
  }
});

test('channel 0 written explicitly and channels above MAX_CHANNEL are UNKNOWN_CHANNEL', () => {
  const cases = [
    '0800', // CHANNEL_UNSPECIFIED on the wire
    '0840', // 64
    '08c801', // 200
    '08ffffffff0f', // 2^32-1
  ];
  for (const bytes of cases) assert.equal(peekHex(bytes).status, PeekStatus.UNKNOWN_CHANNEL, bytes);
});

test('a stream above 2^32-1 is TRUNCATED because a uint32 field cannot carry it and no conforming encoder writes it', () => {
  assert.equal(peekHex('0801 10 8080808010').status, PeekStatus.TRUNCATED); // 2^32
  assert.equal(peekHex('0801 10 ffffffff1f').status, PeekStatus.TRUNCATED); // 2^35-1
  assert.equal(peekHex('0801 10 ffffffff7f').status, PeekStatus.TRUNCATED);
  assert.equal(peekHex('08 8080808010').status, PeekStatus.TRUNCATED); // channel 2^32
});

test('peek reads a view with a non-zero byteOffset and never past its end', () => {
  const backing = hex('ffff 0802 1009 ff 0803 1004');
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 4);
  const result = new PeekResult();
  assert.equal(peek(view, result), PeekStatus.OK);
  assert.deepEqual(
    { ...result },
    { channel: ferry.v1.Channel.CHANNEL_INPUT, stream: 9, headerLength: 4 },
  );
  // the stream tag of the next frame lies just past the view: not part of this one
  const shortView = backing.subarray(7, 9);
  assert.equal(peek(shortView, result), PeekStatus.OK);
  assert.deepEqual({ ...result }, { channel: 3, stream: 0, headerLength: 2 });
  // the channel varint continues past the view: cut off here
  const cutView = hex('08 80 01').subarray(0, 2);
  assert.equal(peek(cutView, result), PeekStatus.TRUNCATED);
});

test('a reused result gets stream 0 when the next frame carries none', () => {
  const result = new PeekResult();
  assert.equal(peek(hex('0801 1007'), result), PeekStatus.OK);
  assert.equal(result.stream, 7);
  assert.equal(peek(hex('0802'), result), PeekStatus.OK);
  assert.deepEqual({ ...result }, { channel: 2, stream: 0, headerLength: 2 });
});

test('MAX_CHANNEL bounds the channel numbers peek reads, above every value of ferry.v1.Channel', () => {
  assert.ok(MAX_CHANNEL >= Math.max(...channelValues));
  const result = new PeekResult();
  assert.equal(peek(Uint8Array.of(0x08, MAX_CHANNEL), result), PeekStatus.OK);
  assert.equal(peek(Uint8Array.of(0x08, MAX_CHANNEL + 1), result), PeekStatus.UNKNOWN_CHANNEL);
});

test('peek leaves the result object untouched whenever it fails', () => {
  const failures = [
    '',
    '1003',
    '08',
    '0880',
    '08 808080808080 01',
    '0800',
    '08c801',
    '0801 10',
    '0801 1080',
    '0801 10 ffffffff1f',
  ];
  for (const bytes of failures) {
    const result = new PeekResult();
    result.channel = 7;
    result.stream = 9;
    result.headerLength = 4;
    assert.notEqual(peek(hex(bytes), result), PeekStatus.OK, bytes);
    assert.deepEqual({ ...result }, { channel: 7, stream: 9, headerLength: 4 }, bytes);
  }
});
