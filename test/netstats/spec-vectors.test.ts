/**
 * docs/spec/network-stats.md section 8, driven end to end: Heartbeat on a fake clock -> LinkStats ->
 * classify -> QualityAlertTracker, the way the gateway wires them. Vectors 1-6 (pure
 * thresholds) are in grades.test.ts. Vector 13 (peer-to-peer) feeds the row from a direct path's
 * client reports (src/direct/path.ts); test/direct/ drives it with real data channels.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirectPath } from '../../src/direct/path.js';
import { Connectivity, connectivityName } from '../../src/netstats/grades.js';
import { Heartbeat } from '../../src/netstats/heartbeat.js';
import type { AlertAction } from '../../src/netstats/quality-alerts.js';
import { buildParticipantRow } from '../../src/netstats/snapshot.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import type { RelayPeer } from '../../src/relay/peer.js';
import { FakeClock, FakeTarget } from './fakes.js';

interface Evaluation {
  readonly avgMs: number;
  readonly status: string;
  readonly action: AlertAction;
}

function gateway() {
  const clock = new FakeClock();
  const evaluations: Evaluation[] = [];
  const heartbeat = new Heartbeat<FakeTarget>({
    now: clock.now,
    onSample: (target) => {
      const status = target.link.status;
      evaluations.push({
        avgMs: target.link.avgRttMs,
        status: connectivityName(status),
        action: target.alerts.evaluate(status),
      });
    },
  });
  const target = new FakeTarget();
  /** One probe round whose pong comes back after `rttMs`, then idle to the next tick. */
  const probe = (rttMs: number): Evaluation => {
    heartbeat.tick([target]);
    clock.advance(rttMs);
    assert.equal(heartbeat.onPong(target, target.lastSeq), rttMs);
    clock.advance(heartbeat.intervalMs - rttMs);
    return evaluations.at(-1)!;
  };
  return { clock, heartbeat, target, probe, evaluations };
}

test('vector 7: with only 2 samples the class is UNKNOWN and no alert is raised', () => {
  const { probe } = gateway();
  assert.deepEqual(probe(400), { avgMs: 400, status: 'UNKNOWN', action: null });
  assert.deepEqual(probe(400), { avgMs: 400, status: 'UNKNOWN', action: null });
});

test('vector 8: ten 40 ms samples then k 400 ms samples average 40 + 36k and raise at k=8', () => {
  const { probe } = gateway();
  for (let i = 0; i < 10; i++) assert.equal(probe(40).action, null);
  const expected: Record<number, Evaluation> = {
    1: { avgMs: 76, status: 'GOOD', action: null },
    3: { avgMs: 148, status: 'GOOD', action: null },
    4: { avgMs: 184, status: 'AVERAGE', action: null },
    7: { avgMs: 292, status: 'AVERAGE', action: null },
    8: { avgMs: 328, status: 'POOR', action: 'raise' },
  };
  for (let k = 1; k <= 8; k++) {
    const e = probe(400);
    assert.equal(e.avgMs, 40 + 36 * k, `k=${k}`);
    assert.deepEqual(e, expected[k] ?? { ...e, action: null }, `k=${k}`);
  }
});

test('vector 9: after vector 8, 40 ms samples clear the alert at the second non-POOR class', () => {
  const { probe } = gateway();
  for (let i = 0; i < 10; i++) probe(40);
  const raised = [];
  for (let k = 1; k <= 10; k++) raised.push(probe(400).action);
  assert.deepEqual(raised.indexOf('raise'), 7, 'raised at k=8 only');
  assert.equal(raised.filter((a) => a !== null).length, 1);
  assert.deepEqual(probe(40), { avgMs: 364, status: 'POOR', action: null });
  assert.deepEqual(probe(40), { avgMs: 328, status: 'POOR', action: null });
  assert.deepEqual(probe(40), { avgMs: 292, status: 'AVERAGE', action: null });
  assert.deepEqual(probe(40), { avgMs: 256, status: 'AVERAGE', action: 'clear' });
});

test('vector 10: a ping unanswered for 5000 ms records a 5000 ms sample; its late pong is ignored', () => {
  const { clock, heartbeat, target, evaluations } = gateway();
  heartbeat.tick([target]);
  const unanswered = target.lastSeq;
  clock.advance(5000);
  heartbeat.tick([target]);
  assert.equal(evaluations.length, 1);
  assert.equal(target.link.lastRttMs, 5000);
  assert.equal(target.link.stalledProbes, 1);
  clock.advance(250);
  assert.equal(heartbeat.onPong(target, unanswered), -1);
  assert.equal(evaluations.length, 1, 'the late pong adds no sample');
  assert.equal(target.link.sampleCount, 1);
});

test('vector 11: 1,250,000 customer bytes within the trailing 10 s give upload_bps 1,000,000', () => {
  const { clock, heartbeat, target } = gateway();
  for (let t = 2000; t <= 30_000; t += 2000) {
    clock.ms = t;
    target.rxBytes += t <= 20_000 ? 700_000 : 250_000;
    heartbeat.tick([target]);
  }
  assert.equal(target.link.uploadBps(clock.ms), 1_000_000);
  const row = buildParticipantRow(
    target.link,
    { participantId: 'c', displayName: 'Customer', role: ferry.v1.Role.ROLE_CUSTOMER },
    clock.ms,
  );
  assert.equal(row.uploadBps, 1_000_000);
});

test('vector 12: a reconnect clears the window and the class is UNKNOWN until 3 samples', () => {
  const { clock, heartbeat, target, probe } = gateway();
  for (let i = 0; i < 10; i++) probe(400);
  assert.equal(target.link.status, Connectivity.CONNECTIVITY_POOR);
  heartbeat.tick([target]);
  const beforeReconnect = target.lastSeq;
  target.link.clear(clock.ms);
  assert.equal(target.link.sampleCount, 0);
  assert.equal(target.link.status, Connectivity.CONNECTIVITY_UNKNOWN);
  clock.advance(30);
  assert.equal(heartbeat.onPong(target, beforeReconnect), -1, 'old connection ping forgotten');
  clock.advance(heartbeat.intervalMs - 30);
  assert.equal(probe(30).status, 'UNKNOWN');
  assert.equal(probe(30).status, 'UNKNOWN');
  assert.deepEqual(probe(30), { avgMs: 30, status: 'EXCELLENT', action: null });
});

test('vector 13: a technician row with P2P active says peer_to_peer, CLIENT_REPORTED, and keeps the gateway-measured RTT', () => {
  const { clock, probe, target } = gateway();
  for (let i = 0; i < 3; i++) probe(40);
  const tech = { id: 't' } as unknown as RelayPeer;
  const customer = { id: 'c' } as unknown as RelayPeer;
  const path = new DirectPath(1, 's', tech, customer, 'token', 0, clock.ms);
  path.upAtMs = clock.ms;
  const [techEnd, customerEnd] = path.reports;
  // both ends report every 2 s: 500,000 bytes received in 2 s is 2,000,000 bit/s
  techEnd.record(clock.ms, 0, 100_000, 0, 10, 1.5);
  customerEnd.record(clock.ms, 100_000, 0, 10, 0, 1.5);
  clock.advance(2000);
  techEnd.record(clock.ms, 0, 600_000, 0, 60, 1.2);
  customerEnd.record(clock.ms, 600_000, 0, 60, 0, 1.2);
  assert.equal(path.flowing(clock.ms, 5000), true);
  const row = buildParticipantRow(
    target.link,
    { participantId: 't', displayName: 'tech-1', role: ferry.v1.Role.ROLE_TECHNICIAN },
    clock.ms,
    { peerToPeer: path.flowing(clock.ms, 5000), bps: techEnd.bps(true) },
  );
  assert.equal(row.peerToPeer, true);
  assert.equal(row.rateSource, ferry.v1.RateSource.RATE_SOURCE_CLIENT_REPORTED);
  assert.equal(row.avgRttMs, 40, 'RTT still gateway-measured');
  assert.equal(row.downloadBps, target.link.downloadBps(clock.ms) + 2_000_000);
  // reports stop (the channel stalled): the flag drops with them
  clock.advance(5001);
  assert.equal(path.flowing(clock.ms, 5000), false);
  const relayed = buildParticipantRow(
    target.link,
    { participantId: 't', displayName: 'tech-1', role: ferry.v1.Role.ROLE_TECHNICIAN },
    clock.ms,
    null,
  );
  assert.equal(relayed.peerToPeer, false);
  assert.equal(relayed.rateSource, ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED);
});
