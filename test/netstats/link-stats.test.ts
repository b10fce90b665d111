import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connectivity } from '../../src/netstats/grades.js';
import {
  LinkStats,
  MIN_RATE_SNAPSHOTS,
  PENDING_CAPACITY,
  RATE_SNAPSHOTS,
  RTT_WINDOW,
  rateSnapshotsFor,
} from '../../src/netstats/link-stats.js';

/** Deterministic samples in [0, 600) ms with some exact 5000 ms censored ones mixed in. */
function* samples(count: number): Generator<{ ms: number; censored: boolean }> {
  let x = 12345;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const censored = x % 7 === 0;
    yield { ms: censored ? 5000 : (x % 600_000) / 1000, censored };
  }
}

test('the running mean, jitter and stalled count equal a naive pass over the last 10 samples', () => {
  const link = new LinkStats();
  const history: { ms: number; censored: boolean }[] = [];
  for (const s of samples(1000)) {
    if (s.censored) link.addCensoredSample(s.ms);
    else link.addSample(s.ms);
    history.push(s);
    const window = history.slice(-RTT_WINDOW);
    const mean = window.reduce((a, w) => a + w.ms, 0) / window.length;
    let absDiff = 0;
    for (let i = 1; i < window.length; i++) absDiff += Math.abs(window[i]!.ms - window[i - 1]!.ms);
    const jitter = window.length < 2 ? 0 : absDiff / (window.length - 1);
    assert.ok(Math.abs(link.avgRttMs - mean) < 1e-9, `mean after ${history.length}`);
    assert.ok(Math.abs(link.jitterMs - jitter) < 1e-9, `jitter after ${history.length}`);
    assert.equal(link.stalledProbes, window.filter((w) => w.censored).length);
    assert.equal(link.sampleCount, window.length);
    assert.equal(link.lastRttMs, s.ms);
  }
});

test('jitter is the mean absolute difference of consecutive samples', () => {
  const link = new LinkStats();
  link.addSample(10);
  assert.equal(link.jitterMs, 0);
  link.addSample(20);
  link.addSample(10);
  link.addSample(40);
  assert.equal(link.jitterMs, (10 + 10 + 30) / 3);
});

test('a censored sample leaves the stalled count once ten newer samples have pushed it out', () => {
  const link = new LinkStats();
  link.addCensoredSample(5000);
  for (let i = 0; i < RTT_WINDOW - 1; i++) link.addSample(20);
  assert.equal(link.stalledProbes, 1);
  link.addSample(20);
  assert.equal(link.stalledProbes, 0);
  assert.equal(link.avgRttMs, 20);
});

test('several pings may be pending and are taken by seq in any order', () => {
  const link = new LinkStats();
  assert.ok(link.addPending(1, 100));
  assert.ok(link.addPending(2, 200));
  assert.ok(link.addPending(3, 300));
  assert.equal(link.takePending(2), 200);
  assert.equal(link.takePending(2), -1);
  assert.equal(link.oldestPendingSentAtMs(), 100);
  link.dropOldestPending();
  assert.equal(link.oldestPendingSentAtMs(), 300);
  assert.equal(link.takePending(1), -1);
  assert.equal(link.takePending(3), 300);
  assert.equal(link.pendingCount, 0);
  assert.equal(link.oldestPendingSentAtMs(), -1);
});

test('the pending list refuses a ping beyond its capacity instead of forgetting one', () => {
  const link = new LinkStats();
  for (let seq = 1; seq <= PENDING_CAPACITY; seq++) assert.ok(link.addPending(seq, seq));
  assert.equal(link.addPending(99, 99), false);
  assert.equal(link.takePending(1), 1);
  assert.equal(link.takePending(99), -1);
});

test('clear empties the window and the pending pings and rebases the rates (NS-D3)', () => {
  const link = new LinkStats(0);
  for (let i = 0; i < RTT_WINDOW; i++) link.addSample(400);
  link.addPending(7, 1000);
  link.sampleBytes(20_000, 5_000_000, 1_000_000);
  link.clear(30_000);
  assert.equal(link.sampleCount, 0);
  assert.equal(link.avgRttMs, 0);
  assert.equal(link.lastRttMs, 0);
  assert.equal(link.status, Connectivity.CONNECTIVITY_UNKNOWN);
  assert.equal(link.pendingCount, 0);
  assert.equal(link.connectedAtMs, 30_000);
  link.sampleBytes(34_000, 500_000, 0);
  assert.equal(link.uploadBps(34_000), 1_000_000);
});

test('rates divide by the time since connecting, at least 2 s, until 10 s of history exist', () => {
  const link = new LinkStats(1000);
  link.sampleBytes(2000, 250_000, 0);
  assert.equal(link.uploadBps(2000), 1_000_000, '1 s after connecting divides by 2 s');
  link.sampleBytes(5000, 500_000, 125_000);
  assert.equal(link.uploadBps(5000), 1_000_000);
  assert.equal(link.downloadBps(5000), 250_000);
});

test('rates count only the bytes of the trailing 10 s once that much history exists', () => {
  const link = new LinkStats(0);
  let rx = 0;
  for (let t = 2000; t <= 30_000; t += 2000) {
    rx += t <= 20_000 ? 1_000_000 : 250_000;
    link.sampleBytes(t, rx, 0);
  }
  assert.equal(link.uploadBps(30_000), 1_000_000);
});

test('a ring sized for the probe interval reads the rates the full ring does, late ticks included', () => {
  assert.equal(rateSnapshotsFor(2000), 7);
  assert.equal(rateSnapshotsFor(5000), 4);
  assert.equal(rateSnapshotsFor(60_000), 3);
  assert.equal(rateSnapshotsFor(700), RATE_SNAPSHOTS);
  assert.equal(rateSnapshotsFor(100), RATE_SNAPSHOTS);
  assert.equal(rateSnapshotsFor(0), RATE_SNAPSHOTS);
  for (const intervalMs of [2000, 3000, 5000]) {
    const small = new LinkStats(0, 0, 0, rateSnapshotsFor(intervalMs));
    const full = new LinkStats(0);
    let rx = 0;
    let tx = 0;
    let t = 0;
    for (let i = 1; i <= 40; i++) {
      // ticks up to 30% late, the traffic changing as they go
      t += intervalMs + ((i * 7919) % 10) * intervalMs * 0.03;
      rx += (i % 5) * 100_000;
      tx += (i % 3) * 50_000;
      small.sampleBytes(t, rx, tx);
      full.sampleBytes(t, rx, tx);
      // a stats push may read at any time before the next tick
      for (const readAt of [t, t + intervalMs * 0.5, t + intervalMs * 0.99]) {
        assert.equal(
          small.uploadBps(readAt),
          full.uploadBps(readAt),
          `${intervalMs} ms, tick ${i}`,
        );
        assert.equal(small.downloadBps(readAt), full.downloadBps(readAt));
      }
    }
  }
});

test('a ring asked for fewer snapshots than the rate needs keeps the minimum, as the sizing does', () => {
  assert.equal(rateSnapshotsFor(3_600_000), MIN_RATE_SNAPSHOTS);
  const asked = new LinkStats(0, 0, 0, 1);
  const sized = new LinkStats(0, 0, 0, MIN_RATE_SNAPSHOTS);
  const full = new LinkStats(0);
  let t = 0;
  let rx = 0;
  for (let i = 1; i <= 12; i++) {
    // a tick every 4 s, every other one 3 s late: only a third snapshot keeps one 10 s old
    t += 4000 + (i % 2) * 3000;
    rx += i * 10_000;
    for (const link of [asked, sized, full]) link.sampleBytes(t, rx, 0);
    assert.equal(asked.uploadBps(t), full.uploadBps(t), `tick ${i}`);
    assert.equal(sized.uploadBps(t), full.uploadBps(t));
  }
});

test('rates never go negative when a counter moves backwards', () => {
  const link = new LinkStats(0, 1000, 1000);
  link.sampleBytes(4000, 0, 0);
  assert.equal(link.uploadBps(4000), 0);
  assert.equal(link.downloadBps(4000), 0);
});
