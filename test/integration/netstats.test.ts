import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activeSession, startGateway, technician } from './harness.js';

const Connectivity = ferry.v1.Connectivity;
const fastProbes = { heartbeatIntervalMs: 100, heartbeatStallMs: 2000, statsIntervalMs: 200 };

test('a customer that answers pings 350 ms late is measured at about 350 ms, graded POOR, and the technician is alerted', async (t) => {
  const { gateway, url } = await startGateway(t, {
    ...fastProbes,
    locationName: 'Frankfurt, DE',
    locationRegion: 'eu-central',
  });
  const tech = await technician(t, gateway);
  // Listen before the customer exists, so the alert cannot come before the listener.
  const alerted = waitFor(tech, 'event', (e) => e.networkQualityAlert != null);
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url, pin, name: 'Alice', pongDelayMs: 350 });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  const [alertEvent] = await alerted;
  const raised = alertEvent.networkQualityAlert as ferry.v1.NetworkQualityAlert;
  assert.equal(raised.cleared, false);
  assert.equal(raised.participantId, customer.welcome!.participantId);
  assert.equal(raised.role, ferry.v1.Role.ROLE_CUSTOMER);
  assert.equal(raised.status, Connectivity.CONNECTIVITY_POOR);
  assert.equal(raised.displayName, 'Alice');
  assert.ok(raised.avgRttMs > 300, `avg ${raised.avgRttMs}`);

  const [event] = await waitFor(
    tech,
    'event',
    (e) => (e.networkStats?.participants?.length ?? 0) === 2,
  );
  const stats = event.networkStats as ferry.v1.NetworkStats;
  assert.equal(stats.gatewayLocation?.name, 'Frankfurt, DE');
  assert.equal(stats.gatewayLocation?.region, 'eu-central');
  assert.equal(stats.overall, Connectivity.CONNECTIVITY_POOR);
  const [customerRow, techRow] = stats.participants as ferry.v1.ParticipantNetStats[];
  assert.equal(customerRow!.role, ferry.v1.Role.ROLE_CUSTOMER);
  assert.ok(
    customerRow!.avgRttMs >= 350 && customerRow!.avgRttMs < 500,
    `customer avg ${customerRow!.avgRttMs}`,
  );
  assert.equal(customerRow!.status, Connectivity.CONNECTIVITY_POOR);
  assert.equal(customerRow!.peerToPeer, false);
  assert.equal(techRow!.role, ferry.v1.Role.ROLE_TECHNICIAN);
  assert.ok(techRow!.avgRttMs < 50, `technician avg ${techRow!.avgRttMs}`);
  assert.equal(techRow!.status, Connectivity.CONNECTIVITY_EXCELLENT);
  assert.ok(customer.pongsSent >= 3);
});

test('a technician gets a NetworkStats snapshot on request, with rates from the byte counters', async (t) => {
  const { gateway } = await startGateway(t, { ...fastProbes, statsIntervalMs: 0 });
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  for (let i = 0; i < 10; i++) customer.sendScreenFrame();
  // Three probe rounds: enough samples for a grade and a byte-counter snapshot after the frames.
  await waitFor(customer, 'ping', () => customer.pongsSent >= 3);
  await waitFor(tech, 'ping', () => tech.pongsSent >= 4);
  const reply = waitFor(tech, 'event', (e) => e.networkStats != null);
  tech.requestNetworkStats(sessionId);
  const [event] = await reply;
  const rows = (event.networkStats as ferry.v1.NetworkStats)
    .participants as ferry.v1.ParticipantNetStats[];
  const customerRow = rows.find((r) => r.role === ferry.v1.Role.ROLE_CUSTOMER)!;
  const techRow = rows.find((r) => r.role === ferry.v1.Role.ROLE_TECHNICIAN)!;
  assert.ok(Number(customerRow.uploadBps) > 0, 'customer upload rate');
  assert.ok(Number(techRow.downloadBps) > 0, 'technician download rate');
  assert.equal(customerRow.downloadBps, null, 'no download rate on the customer row');
  assert.equal(techRow.uploadBps, null, 'no upload rate on the technician row');
  // Rates are at most the bytes counted so far over the minimum 2 s window (NS-D8).
  const conn = [...gateway.connections].find((c) => c.role === ferry.v1.Role.ROLE_CUSTOMER)!;
  assert.ok(
    Number(customerRow.uploadBps) <= (conn.rxBytes * 8) / 2,
    'upload never exceeds bytes over 2 s',
  );
  assert.notEqual(customerRow.status, ferry.v1.Connectivity.CONNECTIVITY_UNKNOWN);
});

test('the customer may not ask for network statistics', async (t) => {
  const { gateway } = await startGateway(t, fastProbes);
  const { customer, sessionId } = await activeSession(t, gateway);
  const refused = waitFor(customer, 'gatewayError');
  customer.notify({ networkStatsRequest: { sessionId } });
  assert.equal((await refused)[0].code, 'FERRY_ERR_WRONG_ROLE');
});

test("the customer is told the session's link grade (never the figures) and its screen follows it", async (t) => {
  const { gateway, url } = await startGateway(t, fastProbes);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url, pin, name: 'Alice', pongDelayMs: 350 });
  t.after(() => customer.close());
  const figures: unknown[] = [];
  customer.on('event', (e) => {
    if (e.networkStats != null || e.networkQualityAlert != null) figures.push(e);
  });
  const advised = waitFor(customer, 'event', (e) => e.linkAdvice != null);
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  const [event] = await advised;
  const advice = event.linkAdvice as ferry.v1.LinkAdvice;
  assert.equal(advice.sessionId, sessionId);
  // 350 ms late answers: the first grade the gateway can give is POOR (NS-D4 needs 3 samples)
  assert.equal(advice.overall, Connectivity.CONNECTIVITY_POOR);
  // a poor link asks for the speed preset: small tiles, high frame rate
  assert.equal(customer.screens[0]!.preset, ferry.v1.QualityPreset.QUALITY_PRESET_SPEED);
  // the technician's table was pushed meanwhile, the customer saw none of it
  await waitFor(tech, 'event', (e) => (e.networkStats?.participants?.length ?? 0) === 2);
  assert.deepEqual(figures, []);
  assert.ok(gateway.netstats.advicesSent >= 1);
});
