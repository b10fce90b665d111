import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, isReliableFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { ReplayLog } from '../../src/transport/replay-log.js';

const C = ferry.v1.Channel;
const chat = (text: string) =>
  encodeFrame({ channel: C.CHANNEL_CHAT, chat: { text, seq: 1 } }) as Uint8Array;
const texts = (frames: readonly Uint8Array[]) =>
  frames.map((f) => ferry.v1.Frame.decode(f).chat?.text);

test('every frame but SCREEN and HEARTBEAT counts as reliable', () => {
  assert.equal(isReliableFrame(chat('x')), true);
  assert.equal(isReliableFrame(encodeFrame({ channel: C.CHANNEL_CONTROL, control: {} })), true);
  assert.equal(isReliableFrame(encodeFrame({ channel: C.CHANNEL_SCREEN })), false);
  assert.equal(isReliableFrame(encodeFrame({ channel: C.CHANNEL_HEARTBEAT })), false);
});

test('a replay gives back exactly the frames after the count, as copies', () => {
  const log = new ReplayLog(1 << 20);
  const original = chat('a');
  log.record(original);
  log.record(chat('b'));
  log.record(chat('c'));
  original.fill(0); // the transport's buffer is reused: the log kept a copy
  assert.deepEqual(texts(log.after(1)!.frames), ['b', 'c']);
  assert.deepEqual(texts(log.after(0)!.frames), ['a', 'b', 'c']);
  assert.deepEqual(log.after(3), { frames: [], missing: 0 });
  // a count above what was sent is not believed: nothing is replayed
  assert.equal(log.after(4), null);
  assert.equal(log.after(-1), null);
});

test('acknowledged frames are forgotten, and a replay never reaches before them', () => {
  const log = new ReplayLog(1 << 20);
  for (const t of ['a', 'b', 'c', 'd']) log.record(chat(t));
  log.acknowledge(2);
  assert.equal(log.keptFrames, 2);
  assert.deepEqual(texts(log.after(2)!.frames), ['c', 'd']);
  // a client that claims less than it acknowledged lacks frames nobody kept
  assert.deepEqual(log.after(1)!.missing, 1);
  log.acknowledge(10);
  assert.equal(log.keptFrames, 0);
  assert.equal(log.keptBytes, 0);
});

test('past its byte bound the oldest copies go, and a replay that needs them says how many are missing', () => {
  const one = chat('x').byteLength;
  const log = new ReplayLog(one * 3);
  for (const t of ['a', 'b', 'c', 'd', 'e']) log.record(chat(t));
  assert.equal(log.sent, 5);
  assert.equal(log.keptFrames, 3);
  assert.ok(log.keptBytes <= one * 3);
  const replay = log.after(0)!;
  assert.equal(replay.missing, 2);
  assert.deepEqual(texts(replay.frames), ['c', 'd', 'e']);
});

test('a frame larger than the bound is numbered but not kept, and neither is anything before it', () => {
  const log = new ReplayLog(64);
  log.record(chat('a'));
  log.record(chat('y'.repeat(100)));
  log.record(chat('b'));
  assert.equal(log.sent, 3);
  const replay = log.after(0)!;
  assert.equal(replay.missing, 2);
  assert.deepEqual(texts(replay.frames), ['b']);
});

test('copies survive compaction and growth of the log buffers, across thousands of frames', () => {
  const log = new ReplayLog(10_000);
  let acked = 0;
  for (let i = 0; i < 5000; i++) {
    log.record(chat(`m${i}-${'z'.repeat(i % 97)}`));
    // the client acknowledges in bursts, as its pongs do
    if (i % 37 === 36) {
      acked = i - 5;
      log.acknowledge(acked);
    }
  }
  assert.ok(log.keptBytes <= 10_000);
  const replay = log.after(acked)!;
  assert.equal(replay.missing + replay.frames.length, 5000 - acked);
  const got = texts(replay.frames);
  const first = 5000 - got.length;
  assert.deepEqual(
    got,
    Array.from({ length: got.length }, (_, k) => `m${first + k}-${'z'.repeat((first + k) % 97)}`),
  );
});

test('a buffer grown by a burst shrinks once a later cycle needs far less, a steady one stays', () => {
  const log = new ReplayLog(1 << 20);
  const big = chat('x'.repeat(1000));
  // a burst: 200 frames unacknowledged (a resume's replay, a slow client)
  for (let i = 0; i < 200; i++) log.record(big);
  const grown = log.capacityBytes;
  assert.ok(grown >= 200 * big.byteLength, `grown to ${grown}`);
  log.acknowledge(log.sent);
  // the cycle that held the burst needed it all: nothing is given back yet
  assert.equal(log.capacityBytes, grown);
  // the next cycles are small: the memory goes back, and the frames still replay
  for (let cycle = 0; cycle < 3; cycle++) {
    log.record(chat('a'));
    log.record(chat('b'));
    assert.deepEqual(texts(log.after(log.sent - 2)!.frames), ['a', 'b']);
    log.acknowledge(log.sent);
  }
  const settled = log.capacityBytes;
  assert.ok(settled <= 8192, `settled at ${settled}`);
  // a steady link needing a few KiB keeps its buffer from cycle to cycle (no churn)
  let steady = -1;
  for (let cycle = 0; cycle < 5; cycle++) {
    for (let i = 0; i < 6; i++) log.record(big);
    log.acknowledge(log.sent);
    if (cycle === 0) steady = log.capacityBytes;
    else assert.equal(log.capacityBytes, steady, `cycle ${cycle}`);
  }
  assert.ok(steady >= 6 * big.byteLength);
});
