import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { loadUws } from '../../src/transport/uws.js';
import { activeSession, encode, startGateway, technician } from './harness.js';

const Channel = ferry.v1.Channel;
const Status = ferry.v1.SessionStatus;

test('the gateway runs on the native uWebSockets.js binary, never on the ws fallback', async (t) => {
  const { gateway, url } = await startGateway(t);
  const binding = loadUws();
  assert.match(binding.file, /\.node$|uWebSockets\.js/);
  assert.equal(gateway.uwsSource, binding.source);
  const require = createRequire(import.meta.url);
  const fallback = Object.keys(require.cache).filter((f) =>
    /uws-js-unofficial[\\/](dist|src)[\\/]/.test(f),
  );
  assert.deepEqual(fallback, [], 'the package entry point (with its ws fallback) was loaded');
  // The native server answers the WebSocket upgrade with its own signature header.
  const ws = new WebSocket(url);
  const [response] = await new Promise<[import('node:http').IncomingMessage]>((resolve, reject) => {
    ws.once('upgrade', (res) => resolve([res]));
    ws.once('error', reject);
  });
  t.after(() => ws.close());
  assert.equal(response.headers.uwebsockets, '20');
  const health = await fetch(`http://127.0.0.1:${gateway.adminPort}/healthz`);
  assert.equal(health.headers.get('uwebsockets'), '20');
});

test('a session goes Connecting, Waiting, Active as the customer joins and the technician picks up', async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await technician(t, gateway);
  const statuses: string[] = [];
  tech.on('status', (s) => statuses.push(Status[s.status]!.replace('SESSION_STATUS_', '')));
  const { sessionId, pin } = await tech.createSession();
  assert.equal(gateway.registry.get(sessionId)?.status, 'CONNECTING');
  assert.match(pin, /^\d{12}$/);
  const { CustomerClient } = await import('../../src/clients/customer.js');
  const customer = new CustomerClient({ url: `ws://127.0.0.1:${gateway.port}/v1/ws`, pin });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  const welcome = await customer.connect();
  assert.equal(welcome.sessionId, sessionId);
  await queued;
  assert.equal(gateway.registry.get(sessionId)?.status, 'WAITING');
  await tech.pickUp(sessionId);
  assert.deepEqual(statuses, ['WAITING', 'ACTIVE']);
  assert.equal(gateway.registry.get(sessionId)?.status, 'ACTIVE');
});

test('SCREEN frames reach the technician as the same bytes, in order', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activeSession(t, gateway);
  const received: Buffer[] = [];
  tech.on('frame', (frame, raw) => {
    if (frame.channel === Channel.CHANNEL_SCREEN) received.push(Buffer.from(raw));
  });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) sent.push(...customer.sendScreenFrame());
  // A chat from the customer after the frames arrives after them: ordering on one connection.
  const marker = waitFor(tech, 'chat', (c) => c.text === 'after-screen');
  customer.chat('after-screen');
  await marker;
  assert.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++)
    assert.ok(received[i]!.equals(sent[i]!), `frame ${i} differs`);
  assert.equal(gateway.router.stats.outFrames[Channel.CHANNEL_SCREEN], sent.length);
});

test('INPUT frames reach the customer as the same bytes, in order, and move its pointer', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activeSession(t, gateway);
  const received: Buffer[] = [];
  customer.on('frame', (frame, raw) => {
    if (frame.channel === Channel.CHANNEL_INPUT) received.push(Buffer.from(raw));
  });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    const bytes = encode({
      channel: Channel.CHANNEL_INPUT,
      input: { seq: i + 1, move: { x: i * 10, y: i * 5 } },
    });
    sent.push(bytes);
    tech.sendRaw(bytes);
  }
  const typed = encode({
    channel: Channel.CHANNEL_INPUT,
    input: { seq: 51, text: { text: 'héllo' } },
  });
  sent.push(typed);
  const applied = waitFor(customer, 'input', (i) => i.seq === 51);
  tech.sendRaw(typed);
  await applied;
  assert.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++)
    assert.ok(received[i]!.equals(sent[i]!), `input ${i} differs`);
  assert.deepEqual(
    { x: customer.pointer.x, y: customer.pointer.y, text: customer.pointer.text },
    { x: 490, y: 245, text: 'héllo' },
  );
});

test('chat is stamped by the gateway and technicians-only chat never reaches the customer', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  const customerSaw: string[] = [];
  customer.on('chat', (c) => customerSaw.push(c.text));
  const before = Date.now();
  const atCustomer = waitFor(customer, 'chat', (c) => c.text === 'hello from tech');
  tech.chat('hello from tech');
  const [msg] = await atCustomer;
  assert.equal(msg.senderName, 'tech-1');
  assert.equal(msg.senderRole, ferry.v1.Role.ROLE_TECHNICIAN);
  assert.ok(msg.seq > 0);
  assert.ok(Number(msg.serverTimeUnixMs) >= before);
  const privateEcho = waitFor(tech, 'chat', (c) => c.text === 'tech only');
  tech.chat('tech only', true);
  const [priv, channel] = await privateEcho;
  assert.equal(channel, Channel.CHANNEL_CHAT_PRIVATE);
  assert.ok(priv.seq > msg.seq);
  const reply = waitFor(tech, 'chat', (c) => c.text === 'hi back');
  const echo = waitFor(customer, 'chat', (c) => c.text === 'hi back');
  customer.chat('hi back');
  const [[back]] = await Promise.all([reply, echo]);
  assert.equal(back.senderName, 'Alice');
  assert.deepEqual(customerSaw, ['hello from tech', 'hi back']);
  const log = gateway.registry.get(sessionId)!.log.entries.filter((e) => e.kind === 'chat');
  assert.deepEqual(
    log.map((e) => (e.kind === 'chat' ? [e.text, e.audience] : [])),
    [
      ['hello from tech', 'all'],
      ['tech only', 'technicians'],
      ['hi back', 'all'],
    ],
  );
});
