import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/metrics/metrics.js';
import type { MeteredConnection } from '../../src/metrics/source.js';
import { Connectivity } from '../../src/netstats/grades.js';
import { Channel, Role } from '../../src/protocol/frames.js';
import { DropReason, dropReasonNames, RefusalReasons, RelayStats } from '../../src/relay/stats.js';
import { Status } from '../../src/session/states.js';
import { parseExposition, value } from './exposition.js';

/** A plain-object MetricsSource with the gateway's label sets; tests set its numbers directly. */
function fakeSource() {
  const fake = {
    id: 'gw-test',
    uwsSource: 'uWebSockets.js',
    region: 'eu-central',
    startedAtMs: Date.now() - 5000,
    draining: false,
    connections: new Set<MeteredConnection>(),
    relay: new RelayStats(),
    sessionTotals: {
      byStatus: {} as Record<string, number>,
      counts() {
        return { ...this.byStatus };
      },
      created: 0,
      ended: 0,
      pinAccepted: 0,
      pinRejected: 0,
      pinRateLimited: 0,
      refusedTransitions: 0,
      openPins: 0,
    },
    sendBudget: { used: 0, limitBytes: 1000 },
    retained: { used: 0, limit: 1000, spills: 0, spilledBytes: 0 },
    refused: { address_limit: 0, origin: 0, draining: 0 },
    netstats: { alertsRaised: 0, alertsCleared: 0 },
    labels: {
      statuses: Object.values(Status),
      dropReasons: dropReasonNames,
      refusalReasons: RefusalReasons,
    },
  };
  const metrics = new GatewayMetrics(fake, { defaultMetrics: false });
  return { fake, metrics, scrape: async () => parseExposition(await metrics.text()) };
}

test('relay counters mirror RelayStats at every scrape and are exposed as counters', async () => {
  const { fake, scrape } = fakeSource();
  const stats = fake.relay;
  stats.inFrames[Channel.CHANNEL_SCREEN] = 5;
  stats.outBytes[Channel.CHANNEL_SCREEN] = 5120;
  let exp = await scrape();
  assert.equal(value(exp, 'ferry_relayed_frames_total', { channel: 'screen', direction: 'in' }), 5);
  assert.equal(
    value(exp, 'ferry_relayed_bytes_total', { channel: 'screen', direction: 'out' }),
    5120,
  );
  assert.equal(value(exp, 'ferry_relayed_frames_total', { channel: 'input', direction: 'out' }), 0);
  stats.inFrames[Channel.CHANNEL_SCREEN] = 8;
  exp = await scrape();
  assert.equal(value(exp, 'ferry_relayed_frames_total', { channel: 'screen', direction: 'in' }), 8);
  for (const name of [
    'ferry_relayed_frames_total',
    'ferry_relayed_bytes_total',
    'ferry_dropped_frames_total',
  ]) {
    assert.equal(exp.types.get(name), 'counter', name);
  }
  assert.equal(exp.types.get('ferry_rtt_seconds'), 'histogram');
});

test('dropped frames are reported by channel and reason', async () => {
  const { fake, scrape } = fakeSource();
  const stats = fake.relay;
  stats.drop(Channel.CHANNEL_SCREEN, DropReason.SLOW_CONSUMER);
  stats.drop(Channel.CHANNEL_SCREEN, DropReason.SLOW_CONSUMER);
  stats.drop(Channel.CHANNEL_INPUT, DropReason.NO_RECIPIENT);
  const exp = await scrape();
  assert.equal(
    value(exp, 'ferry_dropped_frames_total', { channel: 'screen', reason: 'slow_consumer' }),
    2,
  );
  assert.equal(
    value(exp, 'ferry_dropped_frames_total', { channel: 'input', reason: 'no_recipient' }),
    1,
  );
  assert.equal(
    value(exp, 'ferry_dropped_frames_total', { channel: 'screen', reason: 'backpressure_limit' }),
    0,
  );
});

test('every session status is present and zero unless a live session has it', async () => {
  const { fake, scrape } = fakeSource();
  fake.sessionTotals.byStatus = { ACTIVE: 2, WAITING: 1 };
  const exp = await scrape();
  for (const status of Object.values(Status)) {
    const expected = status === 'ACTIVE' ? 2 : status === 'WAITING' ? 1 : 0;
    assert.equal(value(exp, 'ferry_sessions', { status }), expected, status);
  }
});

test('connections are counted by role and participants by role and grade, pending ones aside', async () => {
  const { fake, scrape } = fakeSource();
  const add = (role: number, status: number) => fake.connections.add({ role, link: { status } });
  add(0, Connectivity.CONNECTIVITY_UNKNOWN);
  add(Role.ROLE_TECHNICIAN, Connectivity.CONNECTIVITY_EXCELLENT);
  add(Role.ROLE_TECHNICIAN, Connectivity.CONNECTIVITY_POOR);
  add(Role.ROLE_CUSTOMER, Connectivity.CONNECTIVITY_POOR);
  const exp = await scrape();
  assert.equal(value(exp, 'ferry_connections', { role: 'pending' }), 1);
  assert.equal(value(exp, 'ferry_connections', { role: 'technician' }), 2);
  assert.equal(value(exp, 'ferry_connections', { role: 'customer' }), 1);
  assert.equal(value(exp, 'ferry_participants', { role: 'technician', grade: 'EXCELLENT' }), 1);
  assert.equal(value(exp, 'ferry_participants', { role: 'technician', grade: 'POOR' }), 1);
  assert.equal(value(exp, 'ferry_participants', { role: 'customer', grade: 'POOR' }), 1);
  assert.equal(value(exp, 'ferry_participants', { role: 'customer', grade: 'UNKNOWN' }), 0);
  const total = exp.samples
    .filter((s) => s.name === 'ferry_participants')
    .reduce((n, s) => n + s.value, 0);
  assert.equal(total, 3);
});

test('an RTT sample lands in its role histogram in seconds and a stalled probe is also counted', async () => {
  const { metrics, scrape } = fakeSource();
  const tech = { role: Role.ROLE_TECHNICIAN };
  const customer = { role: Role.ROLE_CUSTOMER };
  metrics.observeRtt(tech, 42);
  metrics.observeRtt(customer, 5000, true);
  const exp = await scrape();
  assert.equal(value(exp, 'ferry_rtt_seconds_count', { role: 'technician' }), 1);
  assert.equal(value(exp, 'ferry_rtt_seconds_sum', { role: 'technician' }), 0.042);
  assert.equal(value(exp, 'ferry_rtt_seconds_bucket', { role: 'technician', le: '0.05' }), 1);
  assert.equal(value(exp, 'ferry_rtt_seconds_bucket', { role: 'technician', le: '0.025' }), 0);
  assert.equal(value(exp, 'ferry_rtt_seconds_bucket', { role: 'customer', le: '5' }), 1);
  assert.equal(value(exp, 'ferry_heartbeat_stalls_total', { role: 'customer' }), 1);
  assert.equal(value(exp, 'ferry_heartbeat_stalls_total', { role: 'technician' }), 0);
});

test('totals of the registry, PIN book, errors and alerts are exposed with units and info labels', async () => {
  const { fake, scrape } = fakeSource();
  Object.assign(fake.sessionTotals, {
    created: 4,
    ended: 3,
    pinAccepted: 4,
    pinRejected: 2,
    pinRateLimited: 7,
    refusedTransitions: 5,
    openPins: 1,
  });
  Object.assign(fake.refused, { address_limit: 3, origin: 1 });
  fake.sendBudget.used = 640;
  Object.assign(fake.netstats, { alertsRaised: 2, alertsCleared: 1 });
  fake.relay.error('FERRY_ERR_WRONG_ROLE');
  fake.relay.error('FERRY_ERR_WRONG_ROLE');
  const exp = await scrape();
  assert.equal(value(exp, 'ferry_sessions_created_total'), 4);
  assert.equal(value(exp, 'ferry_sessions_ended_total'), 3);
  assert.equal(value(exp, 'ferry_pins_open'), 1);
  assert.equal(value(exp, 'ferry_pin_attempts_total', { result: 'accepted' }), 4);
  assert.equal(value(exp, 'ferry_pin_attempts_total', { result: 'rejected' }), 2);
  assert.equal(value(exp, 'ferry_pin_attempts_total', { result: 'rate_limited' }), 7);
  assert.equal(value(exp, 'ferry_transitions_refused_total'), 5);
  assert.equal(value(exp, 'ferry_connections_refused_total', { reason: 'address_limit' }), 3);
  assert.equal(value(exp, 'ferry_connections_refused_total', { reason: 'origin' }), 1);
  assert.equal(value(exp, 'ferry_connections_refused_total', { reason: 'draining' }), 0);
  assert.equal(value(exp, 'ferry_send_buffer_bytes'), 640);
  assert.equal(value(exp, 'ferry_send_budget_bytes'), 1000);
  assert.equal(value(exp, 'ferry_errors_total', { code: 'FERRY_ERR_WRONG_ROLE' }), 2);
  assert.equal(value(exp, 'ferry_errors_total', { code: 'FERRY_ERR_PIN_INVALID' }), 0);
  assert.equal(value(exp, 'ferry_network_alerts_total', { event: 'raised' }), 2);
  assert.equal(value(exp, 'ferry_network_alerts_total', { event: 'cleared' }), 1);
  const [info] = exp.samples.filter((s) => s.name === 'ferry_gateway_info');
  assert.deepEqual(info?.labels, {
    id: 'gw-test',
    version: info?.labels.version,
    region: 'eu-central',
    uws: 'uWebSockets.js',
  });
  assert.match(info!.labels.version!, /^\d+\.\d+\.\d+/);
  assert.ok(value(exp, 'ferry_uptime_seconds') >= 5);
  assert.equal(value(exp, 'ferry_draining'), 0);
});

test('handler failures are counted by handler at every scrape, and none are shown before any', async () => {
  const { fake, scrape } = fakeSource();
  let exp = await scrape();
  assert.equal(exp.types.get('ferry_handler_errors_total'), 'counter');
  assert.equal(exp.samples.filter((s) => s.name === 'ferry_handler_errors_total').length, 0);
  fake.relay.handlerErrors.set('chat', 2);
  fake.relay.handlerErrors.set('file', 1);
  exp = await scrape();
  assert.equal(value(exp, 'ferry_handler_errors_total', { handler: 'chat' }), 2);
  assert.equal(value(exp, 'ferry_handler_errors_total', { handler: 'file' }), 1);
  fake.relay.handlerErrors.set('chat', 3);
  exp = await scrape();
  assert.equal(value(exp, 'ferry_handler_errors_total', { handler: 'chat' }), 3);
});

test('no Ferry metric is labelled with anything that identifies a session or a connection', async () => {
  const { fake, scrape } = fakeSource();
  fake.connections.add({ role: Role.ROLE_CUSTOMER, link: { status: 0 } });
  fake.relay.handlerErrors.set('chat', 1);
  const exp = await scrape();
  const allowed = new Set([
    'role',
    'status',
    'channel',
    'direction',
    'reason',
    'grade',
    'result',
    'code',
    'event',
    'handler',
    'le',
  ]);
  const info = new Set(['id', 'version', 'region', 'uws']);
  for (const s of exp.samples) {
    assert.match(s.name, /^ferry_/);
    for (const label of Object.keys(s.labels)) {
      const ok = s.name === 'ferry_gateway_info' ? info.has(label) : allowed.has(label);
      assert.ok(ok, `${s.name} has label ${label}`);
    }
  }
});
