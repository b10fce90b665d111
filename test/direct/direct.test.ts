/**
 * The direct path between two Node reference clients on loopback (docs/direct-path.md): werift
 * data channels, every candidate outside 127.0.0.0/8 kept back by the clients and refused by the
 * gateway (`--p2p-networks 127.0.0.0/8`), so no packet leaves the machine.
 * - frames go direct and the gateway's SCREEN counters stop while the technician still paints;
 *   the P2P flag reads true in the statistics, the API and /metrics;
 * - a closed or silent channel falls back to the relay within 2 s, with no chat lost, and the
 *   path comes back after the back-off;
 * - a revoked CONTROL closes the path at once and no further input is applied;
 * - `--p2p off`: nothing is offered and the flag stays false.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { DirectLink } from '../../src/clients/direct-link.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import type { ConfigKey } from '../../src/config/schema.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { adminRequest } from '../api/harness.js';
import { startGateway } from '../integration/harness.js';

const SCREEN = ferry.v1.Channel.CHANNEL_SCREEN;
const DIRECT = ferry.v1.DirectState.DIRECT_STATE_DIRECT;
const LOOPBACK = { networks: ['127.0.0.0/8'] };

interface DirectSession {
  gateway: Gateway;
  tech: TechnicianClient;
  customer: CustomerClient;
  sessionId: string;
}

/** A technician and a customer, both with a direct path allowed, in an Active session. */
async function directSession(
  t: TestContext,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
  grants: ('view' | 'control')[] = ['view', 'control'],
): Promise<DirectSession> {
  const { gateway, url } = await startGateway(t, { p2pNetworks: '127.0.0.0/8', ...overrides });
  const tech = new TechnicianClient({
    url,
    token: issueToken(gateway.config.secret, 'tech-1', 3600),
    name: 'tech-1',
    direct: LOOPBACK,
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url,
    pin,
    name: 'Alice',
    screen: { tileBytes: 512, columns: 2, rows: 2 },
    consent: ['view', 'control'],
    direct: LOOPBACK,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  if (grants.length > 0) await tech.requestConsent(grants);
  return { gateway, tech, customer, sessionId };
}

/** Resolves once `link`'s client says the gateway reports frames flowing direct. */
function direct(client: TechnicianClient | CustomerClient): Promise<unknown> {
  const link = client.direct!;
  if (link.up && link.status?.state === DIRECT) return Promise.resolve();
  return waitFor(client, 'direct', (l: DirectLink) => l.up && l.status?.state === DIRECT);
}

function relayedScreenFrames(gateway: Gateway): number {
  return gateway.router.stats.outFrames[SCREEN]!;
}

/** Resolves once `check` holds, looking after every frame the client receives. */
function until(client: TechnicianClient | CustomerClient, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const look = () => {
      if (!check()) return;
      client.off('frame', look);
      client.off('direct', look);
      resolve();
    };
    client.on('frame', look);
    client.on('direct', look);
  });
}

async function statsRow(
  tech: TechnicianClient,
  role: ferry.v1.Role,
): Promise<ferry.v1.IParticipantNetStats> {
  const answered = waitFor(tech, 'event', (e: ferry.v1.Event) => e.networkStats != null);
  tech.requestNetworkStats();
  const [event] = await answered;
  const row = event.networkStats!.participants!.find((p) => p.role === role);
  assert.ok(row, 'a row for the participant');
  return row;
}

test('two Node clients go direct on loopback: the relay stops carrying SCREEN, the technician still gets frames, and the P2P flag is true in the statistics, the API and /metrics', async (t) => {
  const { gateway, tech, customer, sessionId } = await directSession(t);
  await Promise.all([direct(tech), direct(customer)]);
  assert.equal(customer.direct!.relayScreen, false, 'no other technician: SCREEN goes direct only');

  customer.startScreen(50);
  t.after(() => customer.stopScreen());
  const relayedBefore = relayedScreenFrames(gateway);
  const paintedBefore = tech.screenFrames;
  await until(tech, () => tech.direct!.framesReceived >= 20);
  assert.ok(tech.screenFrames - paintedBefore >= 20, 'the technician painted the direct frames');
  assert.equal(relayedScreenFrames(gateway), relayedBefore, 'the relay forwarded no SCREEN frame');

  // input goes direct too
  const applied = customer.inputEvents;
  tech.movePointer(10, 20);
  tech.movePointer(11, 21);
  await until(customer, () => customer.inputEvents >= applied + 2);
  assert.equal(customer.direct!.framesReceived, 2);
  assert.deepEqual([customer.pointer.x, customer.pointer.y], [11, 21]);

  // both ends report every 2 s; the first reports come at once when the path is up
  const techRow = await statsRow(tech, ferry.v1.Role.ROLE_TECHNICIAN);
  assert.equal(techRow.peerToPeer, true);
  assert.equal(techRow.rateSource, ferry.v1.RateSource.RATE_SOURCE_CLIENT_REPORTED);
  const customerRow = await statsRow(tech, ferry.v1.Role.ROLE_CUSTOMER);
  assert.equal(customerRow.peerToPeer, true, 'the customer row: a technician is direct');

  const detail = await adminRequest(gateway, `/api/v1/sessions/${sessionId}`, {
    token: gateway.adminToken,
  });
  const p2p = detail.json.network.participants.map((p: { role: string; peerToPeer: boolean }) => [
    p.role,
    p.peerToPeer,
  ]);
  assert.deepEqual(p2p, [
    ['customer', true],
    ['technician', true],
  ]);
  const metrics = (await adminRequest(gateway, '/metrics', { token: gateway.adminToken })).text;
  assert.match(metrics, /^ferry_direct_p2p_legs 1$/m);
  assert.match(metrics, /^ferry_direct_paths\{state="up"\} 1$/m);
});

test('a closed data channel falls back to the relay within 2 s, no chat message is lost, and the path is tried again after the back-off', async (t) => {
  const { gateway, tech, customer } = await directSession(t);
  await Promise.all([direct(tech), direct(customer)]);
  customer.startScreen(50);
  t.after(() => customer.stopScreen());
  await until(tech, () => tech.direct!.framesReceived >= 5);

  const chats: string[] = [];
  tech.on('chat', (c) => chats.push(c.text));
  const broken = performance.now();
  customer.direct!.breakChannel();
  for (let i = 0; i < 20; i++) customer.chat(`message ${i}`);
  // back on the relay: both ends idle, and the relay carries the screen to the technician again
  const relayed = relayedScreenFrames(gateway);
  await until(
    tech,
    () => tech.direct!.state === 'idle' && relayedScreenFrames(gateway) >= relayed + 5,
  );
  await until(customer, () => customer.direct!.state === 'idle');
  const fellBackMs = performance.now() - broken;
  assert.ok(fellBackMs < 2000, `fell back in ${Math.round(fellBackMs)} ms`);
  assert.equal(gateway.relay.direct.flowingCount(), 0);
  assert.equal((await statsRow(tech, ferry.v1.Role.ROLE_TECHNICIAN)).peerToPeer, false);
  await until(tech, () => chats.length >= 20);
  assert.deepEqual(
    chats,
    Array.from({ length: 20 }, (_, i) => `message ${i}`),
  );

  // the gateway retries after its back-off (2 s for a first failure)
  await until(tech, () => tech.direct!.ups === 2 && tech.direct!.status?.state === DIRECT);
  assert.equal(gateway.relay.direct.counters.closed.get('DIRECT_CLOSE_CLOSED'), 1);
});

test('a channel gone silent (a dead route) stalls and falls back within 2 s', async (t) => {
  const { gateway, tech, customer } = await directSession(t);
  await Promise.all([direct(tech), direct(customer)]);
  const silent = performance.now();
  customer.direct!.silence();
  await until(tech, () => tech.direct!.state === 'idle');
  await until(customer, () => customer.direct!.state === 'idle');
  const ms = performance.now() - silent;
  assert.ok(ms < 2000, `fell back in ${Math.round(ms)} ms`);
  // the stall counts from the last keepalive heard, up to one keepalive (250 ms) before
  assert.ok(ms >= 1250, `not before the stall time (${Math.round(ms)} ms)`);
  // both ends hear nothing: the first to stall closes the path, the other's close is too late
  await Promise.all([
    tech.request({ chatHistoryRequest: {} }),
    customer.request({ chatHistoryRequest: {} }),
  ]);
  assert.deepEqual([...gateway.relay.direct.counters.closed], [['DIRECT_CLOSE_STALLED', 1]]);
  const reasons = [tech.direct!.lastCloseReason, customer.direct!.lastCloseReason];
  assert.ok(
    reasons.some((r) => /nothing received on the channel/.test(r)),
    reasons.join('; '),
  );
});

test('revoking CONTROL during a direct session closes the path at once and no further input is applied', async (t) => {
  const { gateway, tech, customer } = await directSession(t);
  await Promise.all([direct(tech), direct(customer)]);
  tech.movePointer(5, 5);
  await until(customer, () => customer.inputEvents === 1);

  const closed = waitFor(tech, 'direct', (l: DirectLink) => l.state === 'idle');
  await customer.revoke(['control']);
  await closed;
  assert.equal(gateway.relay.direct.counters.closed.get('DIRECT_CLOSE_REVOKED'), 1);
  // the input now goes to the relay, which refuses it (quietly within the revoke's grace)
  tech.movePointer(6, 6);
  await tech.request({ chatHistoryRequest: {} });
  await customer.request({ chatHistoryRequest: {} });
  assert.equal(customer.inputEvents, 1);
  assert.equal(customer.direct!.framesReceived, 1, 'nothing more came direct');

  // VIEW is still granted: a new path comes up; the customer checks CONTROL itself on it
  await Promise.all([direct(tech), direct(customer)]);
  assert.equal(customer.granted.includes('control'), false);
  tech.movePointer(7, 7);
  await until(customer, () => customer.directInputRefused === 1);
  assert.equal(customer.inputEvents, 1, 'direct input without CONTROL is dropped by the customer');
});

test('--p2p off: no attempt, no candidate, the flag stays false and the technician is told why', async (t) => {
  const { gateway, tech } = await directSession(t, { p2p: 'off' });
  const status =
    tech.direct!.status ??
    (await waitFor(tech, 'direct', (l: DirectLink) => l.status !== null))[0].status;
  assert.equal(status?.state, ferry.v1.DirectState.DIRECT_STATE_RELAYED);
  assert.match(status?.reason ?? '', /off on this gateway/);
  const row = await statsRow(tech, ferry.v1.Role.ROLE_TECHNICIAN);
  assert.equal(row.peerToPeer, false);
  assert.equal(tech.direct!.opened, 0);
  assert.equal(gateway.relay.direct.counters.opened, 0);
  assert.equal(gateway.relay.direct.counters.candidatesPassed, 0);
});

test('without VIEW granted the session stays relayed and says why', async (t) => {
  const { gateway, tech } = await directSession(t, {}, []);
  const link = tech.direct!;
  await until(tech, () => /screen view/.test(link.status?.reason ?? ''));
  assert.equal(link.status?.state, ferry.v1.DirectState.DIRECT_STATE_RELAYED);
  assert.equal(link.opened, 0);
  assert.equal(gateway.relay.direct.counters.opened, 0);
});

/** A UDP port free on 127.0.0.1 now (the STUN port takes a fixed number). */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

test("--stun-port: the gateway names its own STUN server in DirectOpen and answers the clients' binding requests", async (t) => {
  const stunPort = await freeUdpPort();
  const { gateway, tech, customer } = await directSession(t, { stunPort, host: '127.0.0.1' });
  await Promise.all([direct(tech), direct(customer)]);
  const metrics = (await adminRequest(gateway, '/metrics', { token: gateway.adminToken })).text;
  const answered = Number(
    /^ferry_stun_requests_total\{outcome="answered"\} (\d+)$/m.exec(metrics)?.[1],
  );
  assert.ok(answered >= 2, `both ends asked the gateway's STUN port (${answered} answers)`);
  assert.equal(tech.direct!.opened, 1);
});

test("a technician working two sessions: one direct path, and the other session's screen still reaches it through the relay", async (t) => {
  const { gateway, tech, customer } = await directSession(t);
  await Promise.all([direct(tech), direct(customer)]);
  // a second session, its customer also able to go direct
  const { sessionId: second, pin } = await tech.createSession();
  const other = new CustomerClient({
    url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
    pin,
    name: 'Bob',
    screen: { tileBytes: 512, columns: 2, rows: 2 },
    consent: ['view', 'control'],
    direct: LOOPBACK,
  });
  t.after(() => other.close());
  const queued = tech.waitForCustomer(second);
  await other.connect();
  await queued;
  await tech.pickUp(second);
  await tech.requestConsent(['view', 'control'], '', second);
  await until(other, () =>
    /serves another of its sessions/.test(other.direct!.status?.reason ?? ''),
  );
  assert.equal(gateway.relay.direct.counters.opened, 1, 'no second attempt');
  assert.equal(tech.direct!.state, 'up', 'the first path is untouched');

  // Bob's screen goes through the relay, and the technician gets it
  const before = tech.screenFrames;
  other.startScreen(50);
  t.after(() => other.stopScreen());
  await until(tech, () => tech.screenFrames >= before + 10);
  assert.equal(tech.direct!.framesReceived, 0, 'none of them came direct');
});
