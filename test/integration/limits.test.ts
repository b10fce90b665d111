import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from '../../src/clients/client.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  activeSession,
  helloCustomer,
  helloTechnician,
  rawPeer,
  startGateway,
  technician,
} from './harness.js';

/** Resolves with the HTTP status of a refused upgrade, or 101 when it was accepted. */
function upgradeStatus(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; ws: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, ws }));
    ws.once('error', () => undefined);
  });
}

test('connections past the per-address cap are refused with 429 and counted', async (t) => {
  const { gateway, url } = await startGateway(t, { maxConnectionsPerAddress: 2 });
  const open: WebSocket[] = [];
  t.after(() => {
    for (const ws of open) ws.close();
  });
  for (let i = 0; i < 2; i++) {
    const { status, ws } = await upgradeStatus(url);
    assert.equal(status, 101);
    open.push(ws);
  }
  const { status } = await upgradeStatus(url);
  assert.equal(status, 429);
  assert.equal(gateway.refused.address_limit, 1);
  // A slot frees up when a connection closes.
  const closed = new Promise((resolve) => open[0]!.once('close', resolve));
  open[0]!.close();
  await closed;
  await waitUntil(() => gateway.connections.size === 1, gateway);
  const again = await upgradeStatus(url);
  assert.equal(again.status, 101);
  open.push(again.ws);
});

test('with an Origin allow-list, browsers from other origins are refused with 403; clients without Origin pass', async (t) => {
  const { gateway, url } = await startGateway(t, {
    allowedOrigins: 'https://support.example.com, https://help.example.com',
  });
  const good = await upgradeStatus(url, { Origin: 'https://help.example.com' });
  assert.equal(good.status, 101);
  good.ws.close();
  const bad = await upgradeStatus(url, { Origin: 'https://evil.example.net' });
  assert.equal(bad.status, 403);
  const none = await upgradeStatus(url);
  assert.equal(none.status, 101);
  none.ws.close();
  assert.equal(gateway.refused.origin, 1);
});

test('PIN guessing from one address is cut off after the per-minute allowance, with a metric-backed count', async (t) => {
  const { gateway, url } = await startGateway(t, {
    pinAttemptsPerMinute: 3,
    pinAttemptsPerSecond: 1000,
  });
  const tech = await technician(t, gateway);
  const { pin } = await tech.createSession();
  const codes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const peer = await rawPeer(t, url);
    peer.send(helloCustomer(String(100_000_000_000 + i)));
    codes.push((await peer.nextError()).code);
  }
  assert.deepEqual(codes, [
    'FERRY_ERR_PIN_INVALID',
    'FERRY_ERR_PIN_INVALID',
    'FERRY_ERR_PIN_INVALID',
    'FERRY_ERR_RATE_LIMITED',
  ]);
  // Even the right PIN is refused while the address is limited: the book is not consulted.
  const right = await rawPeer(t, url);
  right.send(helloCustomer(pin));
  const err = await right.nextError();
  assert.equal(err.code, 'FERRY_ERR_RATE_LIMITED');
  assert.equal((await right.closed).code, CloseCodes.RATE_LIMITED);
  assert.equal(gateway.registry.pinRateLimited, 2);
  assert.equal(gateway.registry.pinRejected, 3);
  const metrics = await (await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`)).text();
  assert.match(metrics, /ferry_pin_attempts_total\{result="rate_limited"\} 2/);
});

test('the global PIN allowance protects the book from many addresses at once', async (t) => {
  const { gateway, url } = await startGateway(t, {
    pinAttemptsPerMinute: 1000,
    pinAttemptsPerSecond: 1,
  });
  // Burst of 5 seconds' worth, then refused.
  const codes: string[] = [];
  for (let i = 0; i < 7; i++) {
    const peer = await rawPeer(t, url);
    peer.send(helloCustomer(String(200_000_000_000 + i)));
    codes.push((await peer.nextError()).code);
  }
  assert.deepEqual(codes.slice(0, 5), Array(5).fill('FERRY_ERR_PIN_INVALID'));
  assert.equal(codes[6], 'FERRY_ERR_RATE_LIMITED');
  assert.ok(gateway.registry.pinRateLimited >= 1);
});

test('a connection that sends nothing, not even pongs, is closed after the idle timeout', async (t) => {
  const { gateway, url } = await startGateway(t, {
    idleTimeoutSeconds: 1,
    heartbeatIntervalMs: 200,
  });
  const silent = await rawPeer(t, url);
  silent.send(helloTechnician(issueToken(gateway.config.secret, 'silent', 60)));
  // The reference client answers every ping, so it stays although it sends nothing else.
  const live = await technician(t, gateway, 'live');
  const err = await silent.nextError();
  assert.equal(err.code, 'FERRY_ERR_IDLE_TIMEOUT');
  assert.equal((await silent.closed).code, CloseCodes.POLICY_VIOLATION);
  assert.ok(live.pongsSent > 0);
  assert.equal(live.ws?.readyState, WebSocket.OPEN);
});

test('a relayed frame the customer cannot decode is counted and dropped, never a crash', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activeSession(t, gateway);
  const bad = waitFor(customer, 'badFrame');
  // A valid routing header (INPUT) over a body that is not protobuf: the gateway forwards by peek.
  tech.sendRaw(Buffer.from('08027a0501', 'hex'));
  await bad;
  assert.equal(customer.badFrames, 1);
  const still = waitFor(customer, 'input', (i) => i.seq === 7);
  tech.sendRaw(
    ferry.v1.Frame.encode({
      channel: ferry.v1.Channel.CHANNEL_INPUT,
      input: { seq: 7, move: { x: 1, y: 1 } },
    }).finish(),
  );
  await still;
});

/** Waits for a condition the gateway reaches on its own clock (checked on each tick). */
function waitUntil(
  cond: () => boolean,
  gateway: { hooks: { onTick?: (now: number) => void } },
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve) => {
    const previous = gateway.hooks.onTick;
    gateway.hooks.onTick = (now) => {
      previous?.(now);
      if (cond()) {
        gateway.hooks.onTick = previous;
        resolve();
      }
    };
  });
}
