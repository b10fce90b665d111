import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Heartbeat } from '../../src/netstats/heartbeat.js';
import { PENDING_CAPACITY } from '../../src/netstats/link-stats.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { FakeClock, FakeTarget } from './fakes.js';

function setup(options: { stallMs?: number } = {}) {
  const clock = new FakeClock();
  const samples: { target: FakeTarget; rttMs: number; censored: boolean }[] = [];
  const heartbeat = new Heartbeat<FakeTarget>({
    ...options,
    now: clock.now,
    onSample: (target, rttMs, censored) => samples.push({ target, rttMs, censored }),
  });
  return { clock, heartbeat, samples };
}

test('a pong that arrives after a controlled lag gives exactly that RTT', () => {
  const { clock, heartbeat, samples } = setup();
  const target = new FakeTarget();
  clock.ms = 1000;
  heartbeat.tick([target]);
  clock.advance(37.25);
  assert.equal(heartbeat.onPong(target, target.lastSeq), 37.25);
  assert.equal(target.link.lastRttMs, 37.25);
  assert.equal(target.link.sampleCount, 1);
  assert.deepEqual(samples, [{ target, rttMs: 37.25, censored: false }]);
});

test('the defaults are a 2 s interval and a 5 s stall (NS-D6)', () => {
  const { heartbeat } = setup();
  assert.equal(heartbeat.intervalMs, 2000);
  assert.equal(heartbeat.stallMs, 5000);
});

test('one tick pings every target with the same seq and times each on its own', () => {
  const { clock, heartbeat } = setup();
  const a = new FakeTarget();
  const b = new FakeTarget();
  heartbeat.tick([a, b]);
  assert.equal(a.lastSeq, b.lastSeq);
  clock.advance(20);
  assert.equal(heartbeat.onPong(b, b.lastSeq), 20);
  clock.advance(30);
  assert.equal(heartbeat.onPong(a, a.lastSeq), 50);
  assert.equal(heartbeat.onPong(a, a.lastSeq), -1, 'a second pong for the same seq is ignored');
});

test('several pings may be outstanding and their pongs resolve in any order', () => {
  const { clock, heartbeat } = setup();
  const target = new FakeTarget();
  heartbeat.tick([target]);
  clock.advance(2000);
  heartbeat.tick([target]);
  clock.advance(2000);
  heartbeat.tick([target]);
  const [first, second, third] = target.sent.map((p) => p.seq);
  assert.equal(target.link.pendingCount, 3);
  clock.advance(100);
  assert.equal(heartbeat.onPong(target, second!), 2100);
  assert.equal(heartbeat.onPong(target, third!), 100);
  assert.equal(heartbeat.onPong(target, first!), 4100);
  assert.equal(target.link.pendingCount, 0);
});

test('a pong for a seq never sent to that target is ignored', () => {
  const { heartbeat } = setup();
  const target = new FakeTarget();
  heartbeat.tick([target]);
  assert.equal(heartbeat.onPong(target, target.lastSeq + 1), -1);
  assert.equal(heartbeat.onPong(new FakeTarget(), target.lastSeq), -1);
  assert.equal(target.link.sampleCount, 0);
});

test('a stalled probe records exactly 5000 ms and its late pong is ignored', () => {
  const { clock, heartbeat, samples } = setup();
  const target = new FakeTarget();
  heartbeat.tick([target]);
  const stalled = target.lastSeq;
  clock.advance(4999);
  heartbeat.tick([target]);
  assert.equal(target.link.sampleCount, 0, 'not stalled before 5000 ms');
  clock.advance(1);
  heartbeat.tick([target]);
  assert.equal(target.link.sampleCount, 1);
  assert.equal(target.link.lastRttMs, 5000);
  assert.equal(target.link.stalledProbes, 1);
  assert.deepEqual(samples, [{ target, rttMs: 5000, censored: true }]);
  clock.advance(300);
  assert.equal(heartbeat.onPong(target, stalled), -1);
  assert.equal(target.link.sampleCount, 1);
  assert.equal(target.link.lastRttMs, 5000);
});

test('a pong past the stall deadline that beats the next tick still counts as 5000 ms', () => {
  const { clock, heartbeat, samples } = setup();
  const target = new FakeTarget();
  heartbeat.tick([target]);
  clock.advance(5500);
  assert.equal(heartbeat.onPong(target, target.lastSeq), -1);
  assert.equal(target.link.lastRttMs, 5000);
  assert.equal(target.link.stalledProbes, 1);
  assert.deepEqual(samples, [{ target, rttMs: 5000, censored: true }]);
});

test('the stall time is configurable and is the censored sample value', () => {
  const { clock, heartbeat } = setup({ stallMs: 3000 });
  const target = new FakeTarget();
  heartbeat.tick([target]);
  clock.advance(3000);
  heartbeat.tick([target]);
  assert.equal(target.link.lastRttMs, 3000);
});

test('a ping the target did not write is not awaited and never stalls', () => {
  const { clock, heartbeat } = setup();
  const target = new FakeTarget();
  target.accepting = false;
  heartbeat.tick([target]);
  assert.equal(target.link.pendingCount, 0);
  clock.advance(10_000);
  heartbeat.tick([target]);
  assert.equal(target.link.sampleCount, 0);
});

test('no ping is sent while the pending list is full', () => {
  const { clock, heartbeat } = setup({ stallMs: 60_000 });
  const target = new FakeTarget();
  for (let i = 0; i <= PENDING_CAPACITY; i++) {
    heartbeat.tick([target]);
    clock.advance(100);
  }
  assert.equal(target.sent.length, PENDING_CAPACITY);
  assert.equal(target.link.pendingCount, PENDING_CAPACITY);
});

test('the pre-encoded ping is one buffer whose seq and time bytes are rewritten in place', () => {
  const { clock, heartbeat } = setup();
  const a = new FakeTarget();
  const b = new FakeTarget();
  const before = heartbeat.nextSeq;
  for (let i = 0; i < 5; i++) {
    clock.advance(2000 + i * 0.125);
    heartbeat.tick([a, b]);
  }
  assert.deepEqual(
    a.sent.map((p) => p.seq),
    [0, 1, 2, 3, 4].map((i) => before + i),
  );
  assert.deepEqual(
    a.sent.map((p) => p.gatewayTimeMs),
    [2000, 4000.125, 6000.375, 8000.75, 10001.25],
  );
  const frame = a.sent[0]!.frame;
  for (const p of [...a.sent, ...b.sent]) assert.equal(p.frame, frame, 'same Uint8Array');
  assert.equal(frame.byteOffset, 0);
  assert.equal(frame.buffer.byteLength, frame.byteLength, 'owns its whole ArrayBuffer');
  const decoded = ferry.v1.Frame.decode(frame);
  assert.equal(decoded.channel, ferry.v1.Channel.CHANNEL_HEARTBEAT);
  assert.equal(decoded.heartbeat?.ping?.seq, before + 4);
  assert.equal(decoded.heartbeat?.ping?.gatewayTimeMs, 10001.25);
  const reference = ferry.v1.Frame.encode({
    channel: ferry.v1.Channel.CHANNEL_HEARTBEAT,
    heartbeat: { ping: { seq: before + 4, gatewayTimeMs: 10001.25 } },
  }).finish();
  assert.deepEqual(Array.from(frame), Array.from(reference), 'byte-identical to a fresh encode');
});

test('a gateway time of 0 is still written as explicit bytes, so the frame keeps its 20 bytes', () => {
  const { heartbeat } = setup();
  const target = new FakeTarget();
  heartbeat.tick([target]);
  const length = target.sent[0]!.frame.length;
  assert.equal(target.sent[0]!.gatewayTimeMs, 0);
  assert.equal(length, 20, '2 channel + 2 heartbeat tag/len + 2 ping tag/len + 5 seq + 9 time');
});

test('each tick samples the target byte counters for the rates', () => {
  const { clock, heartbeat } = setup();
  const target = new FakeTarget();
  for (let t = 2000; t <= 4000; t += 2000) {
    clock.ms = t;
    target.txBytes += 250_000;
    heartbeat.tick([target]);
  }
  assert.equal(target.link.downloadBps(4000), 1_000_000);
});
