/**
 * The shared clock spreads heartbeats and statistics pushes over its beats: with a 2 s interval
 * and a 10 ms beat each beat pings one two-hundredth of the connections and pushes one
 * two-hundredth of the sessions' statistics, and every connection and live session still gets
 * one per interval. One burst to every connection every 2 s made relayed frames wait behind it,
 * and so did an eighth of them every 250 ms and a fortieth every 50 ms (docs/benchmarks.md,
 * Fleet of 1000 pairs).
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { BEAT_MS, type Gateway } from '../../src/gateway.js';
import type { StatsSession } from '../../src/netstats/network-stats.js';
import { issueToken } from '../../src/session/tokens.js';
import type { Connection } from '../../src/transport/connection.js';
import { clientUrl, startGateway } from '../api/harness.js';

const CONNECTIONS = 48;

/** A gateway on a 2 s interval whose clock the test drives: `beat()` moves it one beat on. */
async function clockedGateway(
  t: TestContext,
  statsIntervalMs: number,
): Promise<{ gateway: Gateway; beat: () => void }> {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let now = 0;
  const gateway = await startGateway(
    t,
    { monotonic: () => now },
    { heartbeatIntervalMs: 2000, statsIntervalMs, idleTimeoutSeconds: 0 },
  );
  const beat = () => {
    now += BEAT_MS;
    t.mock.timers.tick(BEAT_MS);
  };
  return { gateway, beat };
}

test('heartbeats are spread over the clock beats, and each connection is pinged once per interval', async (t) => {
  const { gateway, beat } = await clockedGateway(t, 0);
  const pinged: string[][] = [];
  const tick = gateway.heartbeat.tick.bind(gateway.heartbeat);
  t.mock.method(gateway.heartbeat, 'tick', (targets: Iterable<Connection>) => {
    const list = [...targets];
    pinged.push(list.map((c) => c.id));
    tick(list);
  });
  for (let i = 0; i < CONNECTIONS; i++) {
    const tech = new TechnicianClient({
      url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
      token: issueToken(gateway.config.secret, `tech-${i}`, 3600),
      reconnect: false,
    });
    t.after(() => tech.close());
    await tech.connect();
  }
  // Past the first interval, then two whole intervals of beats.
  const ticksPerInterval = 2000 / BEAT_MS;
  for (let i = 0; i < 3 * ticksPerInterval; i++) beat();
  const last = pinged.slice(-2 * ticksPerInterval * 1);
  const perTick = last.map((ids) => ids.length);
  assert.ok(
    Math.max(...perTick) <= Math.ceil(CONNECTIONS / ticksPerInterval),
    `pings per tick ${perTick.join(',')}`,
  );
  // Over each whole interval every connection is pinged exactly once.
  for (const from of [pinged.length - 2 * ticksPerInterval, pinged.length - ticksPerInterval]) {
    const ids = pinged.slice(from, from + ticksPerInterval).flat();
    assert.equal(ids.length, CONNECTIONS);
    assert.equal(new Set(ids).size, CONNECTIONS);
  }
});

test('statistics pushes are spread over the beats, each live session once per interval, and an ended one is dropped', async (t) => {
  const { gateway, beat } = await clockedGateway(t, 2000);
  // the beat's pushes (the ones for one participant, on a join or a request, name it)
  let pushed: string[] = [];
  const beats: string[][] = [];
  const push = gateway.netstats.push.bind(gateway.netstats);
  t.mock.method(gateway.netstats, 'push', (session: StatsSession, only?: unknown) => {
    if (only === undefined) pushed.push(session.id);
    push(session, only as never);
  });
  const techs: TechnicianClient[] = [];
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const tech = new TechnicianClient({
      url: clientUrl(gateway),
      token: issueToken(gateway.config.secret, `tech-${i}`, 3600),
      reconnect: false,
    });
    t.after(() => tech.close());
    await tech.connect();
    const { sessionId, pin } = await tech.createSession(`customer ${i}`);
    const customer = new CustomerClient({ url: clientUrl(gateway), pin, name: `c${i}` });
    t.after(() => customer.close());
    const queued = tech.waitForCustomer(sessionId);
    await customer.connect();
    await queued;
    await tech.pickUp(sessionId);
    techs.push(tech);
    ids.push(sessionId);
  }
  const beatsPerInterval = 2000 / BEAT_MS;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      beat();
      beats.push(pushed);
      pushed = [];
    }
  };
  // past the first interval (sessions are placed at a tick), then two whole intervals
  run(3 * beatsPerInterval);
  for (const from of [beats.length - 2 * beatsPerInterval, beats.length - beatsPerInterval]) {
    const interval = beats.slice(from, from + beatsPerInterval);
    assert.ok(
      interval.every((b) => b.length <= 1),
      `pushes per beat ${interval.map((b) => b.length).join('')}`,
    );
    assert.deepEqual(interval.flat().sort(), [...ids].sort());
  }
  // an ended session leaves its slice; the others go on
  await techs[1]!.endSession(ids[1]);
  run(2 * beatsPerInterval);
  const last = beats.slice(-beatsPerInterval).flat();
  assert.deepEqual(last.sort(), [ids[0]!, ids[2]!].sort());
});
