/**
 * The shared clock spreads heartbeats over its beats: with a 2 s interval and a 50 ms beat each
 * beat pings one fortieth of the connections, and every connection is still pinged once per
 * interval. One burst to every connection every 2 s made relayed frames wait behind it, and so
 * did an eighth of them every 250 ms (docs/benchmarks.md, Fleet of 1000 pairs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TechnicianClient } from '../../src/clients/technician.js';
import { BEAT_MS } from '../../src/gateway.js';
import { issueToken } from '../../src/session/tokens.js';
import type { Connection } from '../../src/transport/connection.js';
import { startGateway } from '../api/harness.js';

const CONNECTIONS = 48;

test('heartbeats are spread over the clock beats, and each connection is pinged once per interval', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let now = 0;
  const gateway = await startGateway(
    t,
    { monotonic: () => now },
    { heartbeatIntervalMs: 2000, statsIntervalMs: 0, idleTimeoutSeconds: 0 },
  );
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
  for (let i = 0; i < 3 * ticksPerInterval; i++) {
    now += BEAT_MS;
    t.mock.timers.tick(BEAT_MS);
  }
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
