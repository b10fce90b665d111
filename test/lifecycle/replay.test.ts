/**
 * Nothing in flight is lost on a resume: frames the gateway wrote to a connection that silently
 * stopped delivering (a proxy of the test's own swallows them, then cuts the link) reach the
 * client after it resumes, exactly once and in order, because the client says how many reliable
 * frames it received (Hello.replay) and the gateway writes the rest again.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { issueToken } from '../../src/session/tokens.js';
import { helloTechnician, rawPeer, startGateway, technician } from '../integration/harness.js';
import { joinAndPickUp } from '../support/pairing.js';

/** A TCP proxy that can swallow what the gateway sends, and cut every link it carries. */
async function swallowingProxy(t: TestContext, port: number) {
  const links = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const state = { swallow: false, swallowed: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    const link = { client, upstream };
    links.add(link);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (state.swallow) state.swallowed += d.length;
      else client.write(d);
    });
    const drop = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port: (server.address() as net.AddressInfo).port,
    state,
    cut(): void {
      state.swallow = false;
      for (const { client, upstream } of [...links]) {
        client.resetAndDestroy();
        upstream.destroy();
      }
    },
  };
}

test('chat the gateway wrote into a link that stopped delivering arrives after the resume, once and in order', {
  timeout: 60_000,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const proxy = await swallowingProxy(t, gateway.port);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, {
    url: `ws://127.0.0.1:${proxy.port}/v1/ws`,
    pin,
    name: 'Alice',
    reconnect: { initialDelayMs: 20, maxDelayMs: 100, giveUpAfterMs: 30_000 },
  });
  const heard: string[] = [];
  customer.on('chat', (c) => heard.push(c.text));
  const first = waitFor(customer, 'chat', (c) => c.text === 'before');
  tech.chat('before');
  await first;

  // the link goes quiet toward the customer: what the gateway writes now never arrives
  proxy.state.swallow = true;
  const texts = Array.from({ length: 20 }, (_, i) => `in flight ${i}`);
  const echoed = waitFor(tech, 'chat', (c) => c.text === texts.at(-1));
  for (const text of texts) tech.chat(text);
  await echoed; // the gateway took every one (its echo to the sender)
  assert.ok(proxy.state.swallowed > 0, 'the proxy swallowed the frames');
  assert.deepEqual(heard, ['before']);

  const resumed = waitFor(customer, 'resumed', () => true, 20_000);
  proxy.cut();
  await resumed;
  const last = heard.includes(texts.at(-1)!)
    ? Promise.resolve()
    : waitFor(customer, 'chat', (c) => c.text === texts.at(-1), 10_000);
  await last;
  assert.deepEqual(heard, ['before', ...texts]);
  assert.ok(gateway.registry.replayed >= texts.length, `replayed ${gateway.registry.replayed}`);
  // and the session goes on
  const after = waitFor(customer, 'chat', (c) => c.text === 'after');
  tech.chat('after');
  await after;
});

test('a client that does not count (no Hello.replay) gets no replay, only what was held', async (t) => {
  const { gateway, url } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, {
    url,
    pin,
    name: 'Alice',
    reconnect: false,
  });
  const away = waitFor(tech, 'status', (s) => s.trigger === 'connection_lost');
  customer.dropConnection();
  await away;
  const echoed = waitFor(tech, 'chat', (c) => c.text === 'while away');
  tech.chat('while away');
  await echoed;
  // a client of another make resumes with its token and no replay point
  const other = new CustomerClient({ url, pin: '', resumeToken: customer.resumeToken });
  t.after(() => other.close());
  const held = waitFor(other, 'chat', (c) => c.text === 'while away');
  assert.equal((await other.connect()).resumed, true);
  await held;
  assert.equal(gateway.registry.replayed, 0);
});

test('copies for a replay are kept only for a client that counts, and only until it acknowledges them', async (t) => {
  const { gateway, url } = await startGateway(t, { heartbeatIntervalMs: 100 });
  const token = issueToken(gateway.config.secret, 'tech-raw', 3600);
  const raw = await rawPeer(t, url);
  const welcomed = new Promise<void>((resolve) => {
    raw.ws.on('message', () => {
      if (raw.frames.some((f) => f.control?.welcome)) resolve();
    });
  });
  raw.send(helloTechnician(token));
  await welcomed;
  const reference = await technician(t, gateway, 'tech-ref');
  await reference.createSession();
  const byName = (name: string) => [...gateway.connections].find((c) => c.name === name)!;
  // a client of another make that says nothing: nothing copied, however much it is sent
  assert.equal(byName('tech-raw').keepsReplay, false);
  assert.equal(byName('tech-raw').replayLog, null);
  // the reference client counts: its frames are numbered and kept until it acknowledges them
  const ref = byName('tech-ref');
  assert.equal(ref.keepsReplay, true);
  assert.ok((ref.replayLog?.sent ?? 0) >= 2, 'the Welcome and the SessionCreated');
  // its pongs say what it received: after the next ping answered, nothing is kept
  await waitFor(reference, 'ping', () => true);
  await waitFor(reference, 'ping', () => true);
  assert.equal(ref.replayLog?.keptFrames, 0);
  assert.equal(ref.replayLog?.keptBytes, 0);
});
