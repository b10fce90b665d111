/**
 * Gateways sharing a directory (`--directory redis://`), with a real redis-server: a customer
 * who dials a gateway that does not hold its PIN or place is redirected to the owner, both legs
 * meet there and the session relays; with the store stopped, new sessions are refused with a
 * code, `/readyz` says so, live sessions go on, and all of it comes back with the store.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { UnattendedCustomer } from '../../src/clients/unattended.js';
import { Fleet } from '../../src/directory/fleet.js';
import type { SharedDirectory } from '../../src/directory/shared.js';
import type { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { Codes } from '../../src/protocol/codes.js';
import { encodeFrame, Role } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { technician as accessTechnician, activePair } from '../handlers/access-harness.js';
import { helloCustomer, startGateway, technician } from '../integration/harness.js';
import { delayProxy } from '../support/delay-proxy.js';
import { availability, until } from '../support/directory.js';
import { joinAndPickUp } from '../support/pairing.js';
import { startRedis } from '../support/redis.js';

const redis = await startRedis({ after });
const SECRET = 'a-secret-every-gateway-of-the-deployment-shares';

/** A gateway of the deployment: its id is `id`, and it signs tokens with the shared secret. */
async function member(
  t: Parameters<typeof startGateway>[0],
  id: string,
  prefix: string,
  overrides: Parameters<typeof startGateway>[1] = {},
) {
  const { gateway, url } = await startGateway(t, {
    directory: `${redis.url}`,
    gatewayId: `${prefix}-${id}`,
    secret: SECRET,
    ...overrides,
  });
  return { gateway, url };
}

/** A member with an active session on it (technician and customer connected there). */
async function activeOn(t: Parameters<typeof startGateway>[0], prefix: string) {
  const a = await member(t, 'a', prefix);
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, { url: a.url, pin, name: 'customer' });
  return { a, tech, customer, sessionId };
}

/**
 * Stops the store from answering (SIGSTOP: its connections stay open, so what is sent waits for
 * an answer); the function returned lets it go on, and the test's end does if it did not.
 */
function stopStore(t: Parameters<typeof startGateway>[0]): () => void {
  redis.signal('SIGSTOP');
  let stopped = true;
  const resume = () => {
    if (!stopped) return;
    stopped = false;
    redis.signal('SIGCONT');
  };
  t.after(resume);
  return resume;
}

async function readyz(gateway: Gateway): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${gateway.adminPort}/readyz`);
  return { status: res.status, body: await res.json() };
}

test('a PIN made on one gateway is claimed through another: redirected, and the session relays', async (t) => {
  const a = await member(t, 'a', 'pin');
  const b = await member(t, 'b', 'pin');
  const c = await member(t, 'c', 'pin');
  // every member sees the others, with their URLs
  const res = await fetch(`http://127.0.0.1:${c.gateway.adminPort}/api/v1/gateways`);
  const { gateways } = (await res.json()) as { gateways: { id: string; url: string }[] };
  const ids = gateways.map((g) => g.id).filter((id) => id.startsWith('pin-'));
  assert.deepEqual(ids, ['pin-a', 'pin-b', 'pin-c']);
  assert.equal(gateways.find((g) => g.id === 'pin-a')?.url, a.url);

  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url: b.url, pin, name: 'customer' });
  t.after(() => customer.close());
  const redirected = once(customer, 'redirected');
  const queued = tech.waitForCustomer(sessionId);
  const welcome = await customer.connect();
  const [to, reason] = (await redirected) as [string, string];
  assert.equal(to, a.url);
  assert.equal(reason, 'pin');
  // both legs meet on the owner
  assert.equal(welcome.gatewayId, 'pin-a');
  assert.equal(welcome.sessionId, sessionId);
  assert.equal(customer.url, a.url);
  await queued;
  await tech.pickUp(sessionId);
  const heard = waitFor(tech, 'chat', (m) => m.text === 'hello from the customer');
  customer.chat('hello from the customer');
  await heard;
  assert.equal(b.gateway.fleet!.counters.redirects.pin, 1);
  assert.equal(b.gateway.registry.sessions.size, 0);
  // the PIN is single use everywhere: a second customer at C finds nothing
  const late = new CustomerClient({ url: c.url, pin, name: 'late' });
  t.after(() => late.close());
  await assert.rejects(late.connect(), (err: { code?: string }) => {
    assert.equal(err.code, Codes.PIN_INVALID.code);
    return true;
  });

  // a resume token presented at another gateway goes to the owner, which takes the place back
  const token = customer.resumeToken;
  const ws = new WebSocket(c.url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  const hello = { role: Role.ROLE_CUSTOMER, resumeToken: token };
  ws.send(
    encodeFrame({ channel: ferry.v1.Channel.CHANNEL_CONTROL, control: { requestId: 7, hello } }),
  );
  const [data] = (await once(ws, 'message')) as [Buffer];
  const reply = ferry.v1.Frame.decode(data).control;
  assert.equal(reply?.requestId, 7);
  assert.equal(reply?.redirect?.url, a.url);
  assert.equal(reply?.redirect?.gatewayId, 'pin-a');
  assert.equal(reply?.redirect?.reason, 'resume');
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 4010);
});

test('a PIN no gateway holds is refused as invalid by any of them, not redirected', async (t) => {
  const a = await member(t, 'a', 'none');
  const customer = new CustomerClient({ url: a.url, pin: '000000000000', name: 'guess' });
  t.after(() => customer.close());
  await assert.rejects(customer.connect(), (err: { code?: string }) => {
    assert.equal(err.code, Codes.PIN_INVALID.code);
    return true;
  });
  assert.equal(a.gateway.fleet!.counters.redirects.pin, 0);
});

test('with the store stopped: new sessions refused with a code, not ready, live sessions relay; back when it returns', async (t) => {
  const a = await member(t, 'a', 'outage');
  const b = await member(t, 'b', 'outage');
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, { url: a.url, pin, name: 'customer' });
  assert.equal((await readyz(a.gateway)).status, 200);

  await redis.stop();
  await availability(a.gateway, false);
  await availability(b.gateway, false);
  assert.deepEqual(await readyz(a.gateway), {
    status: 503,
    body: { status: 'directory unavailable' },
  });
  await assert.rejects(tech.createSession(), (err: { code?: string }) => {
    assert.equal(err.code, Codes.DIRECTORY_UNAVAILABLE.code);
    return true;
  });
  // a PIN that B does not hold cannot be looked up: said so, not "invalid"
  const lost = new CustomerClient({ url: b.url, pin: '123456789012', name: 'lost' });
  t.after(() => lost.close());
  await assert.rejects(lost.connect(), (err: { code?: string }) => {
    assert.equal(err.code, Codes.DIRECTORY_UNAVAILABLE.code);
    return true;
  });
  // the live session goes on relaying, both ways
  const toTech = waitFor(tech, 'chat', (m) => m.text === 'still here');
  customer.chat('still here');
  await toTech;
  const toCustomer = waitFor(customer, 'chat', (m) => m.text === 'me too');
  tech.chat('me too');
  await toCustomer;
  const metrics = await (await fetch(`http://127.0.0.1:${a.gateway.adminPort}/metrics`)).text();
  assert.match(metrics, /^ferry_directory_up 0$/m);

  await redis.start();
  await availability(a.gateway, true);
  await availability(b.gateway, true);
  assert.equal((await readyz(a.gateway)).status, 200);
  // the store came back empty (nothing persisted): the gateways said again what they hold
  const again = await tech.createSession();
  const second = new CustomerClient({ url: b.url, pin: again.pin, name: 'second' });
  t.after(() => second.close());
  const welcome = await second.connect();
  assert.equal(welcome.gatewayId, 'outage-a');
  const owner = await b.gateway.fleet!.shared.sessionOwner(sessionId);
  assert.equal(owner?.gatewayId, 'outage-a');
  // and the copy of its journal (what a survivor would take it over from), chat of the outage
  // included
  const copy = Buffer.concat(await b.gateway.fleet!.shared.readJournal(sessionId)).toString();
  assert.match(copy, /"still here"/);
  assert.match(copy, /"me too"/);
});

test('a PIN another gateway already holds is drawn again', async () => {
  let calls = 0;
  const held = new Set(['first']);
  const shared = {
    selfId: 'x',
    available: true,
    onAvailability: () => undefined,
    publishPin: async (pin: string) => {
      calls++;
      // the first draw collides, whatever digits it drew
      if (calls === 1) return false;
      held.add(pin);
      return true;
    },
  } as unknown as SharedDirectory;
  const fleet = new Fleet(shared, { logger: silentLogger(), pinLength: 9 });
  const pin = await fleet.reservePin(Date.now() + 60_000);
  assert.equal(calls, 2);
  assert.match(pin, /^\d{9}$/);
  assert.ok(held.has(pin));
  // a store that never has a free PIN makes the creation fail, not hang
  const full = new Fleet({ ...shared, publishPin: async () => false } as SharedDirectory, {
    logger: silentLogger(),
    pinLength: 9,
  });
  await assert.rejects(full.reservePin(Date.now() + 60_000), /no free PIN/);
});

test('a journal line copied while its session is being moved is kept once every move of it is over', async () => {
  const shared = {
    selfId: 'x',
    available: true,
    onAvailability: () => undefined,
    appendJournal: async () => undefined,
  } as unknown as SharedDirectory;
  const fleet = new Fleet(shared, { logger: silentLogger(), pinLength: 9 });
  const line = Buffer.from('x\n');
  let kept = false;
  // a drain and an operator's move of the same session overlap
  fleet.moving('s1');
  fleet.moving('s1');
  void fleet.mirrorJournal('s1', line).then(() => {
    kept = true;
  });
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  await turn();
  assert.equal(kept, false, 'waits for the moves');
  fleet.moved('s1');
  await turn();
  assert.equal(kept, false, 'one move is still under way');
  fleet.moved('s1');
  await turn();
  assert.equal(kept, true);
  // another session's lines never waited
  assert.equal(await fleet.mirrorJournal('s2', line), undefined);
});

test('drain with move: live sessions go to another gateway, both legs resume there, nothing lost', async (t) => {
  const a = await member(t, 'a', 'move');
  const b = await member(t, 'b', 'move');
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, { url: a.url, pin, name: 'customer' });
  const said: string[] = [];
  for (let i = 0; i < 5; i++) {
    const echoed = waitFor(customer, 'chat', (m) => m.text === `before ${i}`);
    customer.chat(`before ${i}`);
    await echoed;
    said.push(`before ${i}`);
  }

  const techBack = waitFor(tech, 'resumed');
  const customerBack = waitFor(customer, 'resumed');
  const res = await fetch(`http://127.0.0.1:${a.gateway.adminPort}/api/v1/drain?move=1`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${a.gateway.adminToken}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ reason: 'host maintenance' }),
  });
  assert.equal(res.status, 202);
  assert.equal(((await res.json()) as { move?: boolean }).move, true);
  const [[techWelcome], [customerWelcome]] = await Promise.all([techBack, customerBack]);
  assert.equal(techWelcome.gatewayId, 'move-b');
  assert.equal(customerWelcome.gatewayId, 'move-b');
  assert.equal(customerWelcome.resumed, true);
  assert.ok(b.gateway.registry.sessions.has(sessionId));
  await a.gateway.stopped();
  assert.equal(b.gateway.fleet!.counters.takeovers, 1);

  const history = await tech.chatHistory(sessionId);
  const texts = history.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  for (const text of said) assert.ok(texts.includes(text), `${text} moved with the session`);
  const heard = waitFor(tech, 'chat', (m) => m.text === 'on the new gateway');
  customer.chat('on the new gateway');
  await heard;
  const answered = waitFor(customer, 'chat', (m) => m.text === 'here too');
  tech.chat('here too');
  await answered;
});

test('drain with move: a chat sent while the other sessions are still being moved goes with its session, acknowledged by the last copy', async (t) => {
  const a = await member(t, 'a', 'window');
  await member(t, 'b', 'window');
  const tech1 = await technician(t, a.gateway, 'tech-1');
  const first = await tech1.createSession();
  const customer1 = await joinAndPickUp(t, tech1, first.sessionId, {
    url: a.url,
    pin: first.pin,
    name: 'one',
  });
  const tech2 = await technician(t, a.gateway, 'tech-2');
  const second = await tech2.createSession();
  await joinAndPickUp(t, tech2, second.sessionId, { url: a.url, pin: second.pin, name: 'two' });
  // the first session is moved in the store first; before the second is, its customer chats
  // on the gateway it is still on, where the store now refuses the line (it names the target)
  const shared = a.gateway.fleet!.shared;
  const moveTo = shared.moveTo.bind(shared);
  const echoes: string[] = [];
  customer1.on('chat', (m: ferry.v1.ChatMessage) => echoes.push(m.text));
  let echoedInWindow: string[] | null = null;
  const appendJournal = shared.appendJournal.bind(shared);
  let refused: Promise<void> | null = null;
  shared.appendJournal = (sessionId, line) => {
    const copied = appendJournal(sessionId, line);
    if (Buffer.from(line).includes('while moving')) refused = copied;
    return copied;
  };
  const history = () =>
    customer1.request({ chatHistoryRequest: { sessionId: first.sessionId, afterSeq: 0 } });
  shared.moveTo = async (sessionId, gatewayId) => {
    if (sessionId === second.sessionId) {
      customer1.chat('while moving');
      // a later request on the same connection: the chat was handled before its reply
      await history();
      assert.ok(refused !== null, 'the line was sent to the store');
      // the store answered (it wrote nothing: the session is the target's there), and anything
      // that answer released went out before the next turn, so before the next reply
      await refused;
      await new Promise((resolve) => setImmediate(resolve));
      await history();
      // the echo would acknowledge a line only the move's last copy will hold: not yet
      echoedInWindow = echoes.filter((text) => text === 'while moving');
    }
    return moveTo(sessionId, gatewayId);
  };
  const back = waitFor(tech1, 'resumed');
  const res = await fetch(`http://127.0.0.1:${a.gateway.adminPort}/api/v1/drain?move=1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.gateway.adminToken}` },
  });
  assert.equal(res.status, 202);
  const [welcome] = await back;
  assert.equal(welcome.gatewayId, 'window-b');
  assert.deepEqual(echoedInWindow, [], 'sent between the two moves, not acknowledged there');
  const moved = await tech1.chatHistory(first.sessionId);
  const texts = moved.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  assert.ok(texts.includes('while moving'), `the chat moved too: ${texts}`);
});

test('a chat is echoed once the store holds its copy: a gateway taking the session over has it', async (t) => {
  const { customer, sessionId } = await activeOn(t, 'echo');
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  const echoes: string[] = [];
  customer.on('chat', (m: ferry.v1.ChatMessage) => echoes.push(m.text));
  // the store stops answering: the chat's copy is sent, not kept yet
  const resume = stopStore(t);
  const echoed = waitFor(customer, 'chat', (m) => m.text === 'held');
  customer.chat('held');
  // a request on the same connection that the gateway answers from memory: what the chat sent at
  // once would have reached the customer before this reply
  const reply = await customer.request({ chatHistoryRequest: { sessionId, afterSeq: 0 } });
  const logged = (reply.chatHistory?.entries ?? []).flatMap((e) => (e.chat ? [e.chat.text] : []));
  assert.deepEqual(logged, ['held'], 'the message is in the session log');
  assert.deepEqual(echoes, [], 'not acknowledged while its copy is not kept');
  resume();
  await echoed;
  // acknowledged: the copy a survivor would take the session over from holds it
  const lines = await raw.lrangeBuffer(`ferry:journal:${sessionId}`, 0, -1);
  assert.ok(
    lines.some((line) => line.toString().includes('"text":"held"')),
    'the store holds the echoed message',
  );
});

test('a consent change is acknowledged once the store holds the state that has it', async (t) => {
  const { a, customer, sessionId } = await activeOn(t, 'consent');
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  const session = a.gateway.registry.sessions.get(sessionId)!;
  const seen: string[] = [];
  customer.on('consentChanged', () => seen.push('ConsentChanged'));
  const resume = stopStore(t);
  const granting = customer.grant(['sysinfo']).then(() => seen.push('Done'));
  // a later request on the same connection, answered from memory: anything the grant sent at
  // once would have reached the customer before this reply
  await customer.request({ chatHistoryRequest: { sessionId, afterSeq: 0 } });
  assert.ok(session.grantedList().length > 0, 'granted in the gateway at once');
  assert.deepEqual(seen, [], 'not acknowledged while the state is not kept');
  resume();
  await granting;
  assert.deepEqual(seen, ['ConsentChanged', 'Done'], 'the event, then the reply');
  // acknowledged: the newest state the store holds, which a survivor restores, has the grant
  const lines = await raw.lrangeBuffer(`ferry:journal:${sessionId}`, 0, -1);
  const states = lines
    .map((line) => JSON.parse(line.subarray(9).toString()) as { k: string; grants?: number })
    .filter((r) => r.k === 'state');
  assert.equal(states.at(-1)?.grants, session.grants);
});

test("a customer's Welcome, and every frame after it, waits until the store holds its resume token", async (t) => {
  const a = await member(t, 'a', 'welcome');
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  // the copies of the session's journal lines are answered, but their promises wait for the test
  const shared = a.gateway.fleet!.shared;
  const appendJournal = shared.appendJournal.bind(shared);
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  shared.appendJournal = (id, line) => appendJournal(id, line).then(() => gate);
  t.after(() => open());
  const ws = new WebSocket(a.url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  const frames: ferry.v1.Frame[] = [];
  ws.on('message', (data: Buffer) => frames.push(ferry.v1.Frame.decode(data)));
  ws.send(helloCustomer(pin));
  const session = a.gateway.registry.sessions.get(sessionId)!;
  await until(
    'the customer to join',
    async () => session.customerSeat?.conn ?? null,
    (conn) => conn !== null,
  );
  // a ping answered by the server after the join: anything written before it arrives first
  ws.ping();
  await once(ws, 'pong');
  assert.equal(frames.length, 0, 'nothing before the token is kept');
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  open();
  await until(
    'the Welcome',
    async () => frames.length,
    (n) => n > 0,
  );
  const welcome = frames[0]!.control?.welcome;
  assert.ok(welcome, 'the Welcome comes first');
  assert.equal(welcome.sessionId, sessionId);
  assert.ok((welcome.resumeToken ?? '') !== '', 'with a resume token');
  assert.equal(await raw.exists(`ferry:session-resume:${sessionId}`), 1, 'published');
});

test('a session ended while its acknowledgements wait for the store: the last chat and the final status reach the customer before its close', async (t) => {
  const { a, tech, customer, sessionId } = await activeOn(t, 'end');
  const seen: string[] = [];
  customer.on('chat', (m: ferry.v1.ChatMessage) => seen.push(`chat ${m.text}`));
  customer.on('status', (s: ferry.v1.StatusChanged) =>
    seen.push(ferry.v1.SessionStatus[s.status] ?? String(s.status)),
  );
  const heard = waitFor(tech, 'chat', (m) => m.text === 'bye');
  const closed = new Promise<number>((resolve) => {
    customer.once('close', (code: number) => resolve(code));
  });
  // the store stops answering: the chat and the end wait for their copies
  const resume = stopStore(t);
  customer.chat('bye');
  const ended = tech.endSession(sessionId);
  await until(
    'the session to end',
    async () => a.gateway.registry.sessions.has(sessionId),
    (live) => !live,
  );
  resume();
  await ended;
  await heard; // the technician got the last message
  assert.equal(await closed, 4100);
  assert.deepEqual(
    seen.filter((e) => e === 'chat bye' || e.includes('CLOSED')),
    ['chat bye', 'SESSION_STATUS_CLOSED_BY_TECHNICIAN'],
    `in order before the close: ${seen}`,
  );
});

test('an ended session whose removal failed is removed once the store is back; nothing else is', async (t) => {
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  await admin.call('ACL', 'SETUSER', 'sweep-admin', 'on', '>sweep-pw', '~*', '&*', '+@all');
  const raw = new Redis(redis.url.replace('redis://', 'redis://sweep-admin:sweep-pw@'));
  t.after(() => raw.disconnect());
  const a = await member(t, 'a', 'sweep');
  const tech = await technician(t, a.gateway);
  const ended = await tech.createSession();
  await joinAndPickUp(t, tech, ended.sessionId, { url: a.url, pin: ended.pin, name: 'customer' });
  const live = await tech.createSession();
  const keys = (id: string) => [`ferry:session:${id}`, `ferry:session-resume:${id}`];
  await until(
    'both published',
    () => raw.exists(...keys(ended.sessionId)),
    (n) => n === 2,
  );
  try {
    // the gateway's scripts are refused: the removal of the session it ends fails
    await raw.call('ACL', 'SETUSER', 'default', '-evalsha', '-eval');
    await tech.endSession(ended.sessionId);
    await until(
      'the removal to fail',
      async () => a.gateway.fleet!.unremoved,
      (n) => n === 1,
    );
    assert.equal(await raw.exists(...keys(ended.sessionId)), 2, 'still in the store');
  } finally {
    await raw.call('ACL', 'SETUSER', 'default', '+@all');
  }
  // the connection drops and comes back: the failed removal is done then
  await raw.call('CLIENT', 'KILL', 'TYPE', 'normal');
  // gone from the store, and from the gateway's list of removals to do again
  await until(
    'the ended session to be forgotten',
    async () => (await raw.exists(...keys(ended.sessionId))) + a.gateway.fleet!.unremoved,
    (n) => n === 0,
  );
  assert.deepEqual(await raw.smembers('ferry:gw-sessions:sweep-a'), [live.sessionId]);
  assert.equal(await raw.hget(`ferry:session:${live.sessionId}`, 'gatewayId'), 'sweep-a');
  await raw.call('ACL', 'DELUSER', 'sweep-admin');
});

test('drain with move on a gateway alone is refused with a reason', async (t) => {
  const { gateway } = await startGateway(t);
  const res = await fetch(`http://127.0.0.1:${gateway.adminPort}/api/v1/drain?move=1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.adminToken}` },
  });
  assert.equal(res.status, 400);
  assert.match(JSON.stringify(await res.json()), /shares no directory/);
  assert.equal(gateway.draining, false);
});

test('PIN guesses count against their address on every gateway at once', async (t) => {
  // a fresh key prefix is not configurable per gateway: the address is shared by all tests, so
  // the limit is set just above what this file's other tests spend in the same minute
  const limit = { pinAttemptsPerMinute: 40 };
  const a = await member(t, 'a', 'guess', limit);
  const b = await member(t, 'b', 'guess', limit);
  const guess = async (url: string) => {
    const c = new CustomerClient({ url, pin: '999999999999', name: 'guesser', reconnect: false });
    t.after(() => c.close());
    return c.connect().then(
      () => 'welcomed',
      (err: { code?: string }) => err.code ?? 'no code',
    );
  };
  // alternate between the gateways: each alone sees half the guesses, under its own limit.
  // The directory counts per wall-clock minute: a run that straddles a minute is run again.
  let seen: string[] = [];
  for (let run = 0; run < 2; run++) {
    const minute = Math.floor(Date.now() / 60_000);
    seen = [];
    for (let i = 0; i < 44; i++) seen.push(await guess(i % 2 === 0 ? a.url : b.url));
    if (Math.floor(Date.now() / 60_000) === minute) break;
  }
  assert.ok(
    seen.every((code) => code === Codes.PIN_INVALID.code || code === Codes.RATE_LIMITED.code),
  );
  const firstLimited = seen.indexOf(Codes.RATE_LIMITED.code);
  assert.ok(firstLimited > 0 && firstLimited <= 40, `limited at guess ${firstLimited + 1}`);
  assert.ok(seen.slice(firstLimited).every((code) => code === Codes.RATE_LIMITED.code));
});

test('relay choice: the session goes where the worse of the two legs is fastest', async (t) => {
  const a = await member(t, 'a', 'choice');
  const b = await member(t, 'b', 'choice');
  // the technician is next to A and 20 ms from B; the customer is 80 ms from A, 20 ms from B
  const techToB = await delayProxy(t, b.gateway.port, 10);
  const customerToA = await delayProxy(t, a.gateway.port, 40);
  const customerToB = await delayProxy(t, b.gateway.port, 10);

  const tech = new TechnicianClient({
    url: a.url,
    gateways: [techToB.url],
    token: issueToken(SECRET, 'tech', 3600),
  });
  t.after(() => tech.close());
  const techWelcome = await tech.connect();
  assert.equal(techWelcome.gatewayId, 'choice-a', 'the technician connects to its fastest');
  assert.deepEqual(tech.measurements.map((m) => m.gatewayId).sort(), ['choice-a', 'choice-b']);
  const { sessionId, pin } = await tech.createSession();

  const customer = new CustomerClient({
    url: customerToA.url,
    gateways: [customerToB.url],
    pin,
    name: 'customer',
  });
  t.after(() => customer.close());
  const customerMoved = waitFor(customer, 'resumed');
  const techMoved = waitFor(tech, 'resumed');
  const queued = tech.waitForCustomer(sessionId);
  const joined = await customer.connect();
  // it dialled B (its fastest), was sent to the session's owner A, and joined there
  assert.equal(joined.gatewayId, 'choice-a');
  const [[customerWelcome], [techBack]] = await Promise.all([customerMoved, techMoved]);
  // A: worse leg 80 ms (the customer's); B: 20 ms. Both legs went on to B.
  assert.equal(customerWelcome.gatewayId, 'choice-b');
  assert.equal(techBack.gatewayId, 'choice-b');
  assert.ok(b.gateway.registry.sessions.has(sessionId));
  assert.equal(a.gateway.registry.sessions.has(sessionId), false);
  // the choice and its measurements are in the session log (so in its report)
  const history = await tech.chatHistory(sessionId);
  const choice = history.entries.find((e) => e.event?.type === 'relay_choice')?.event;
  assert.match(choice?.detail ?? '', /^moves to choice-b \(/);
  assert.match(choice?.detail ?? '', /choice-a: technician [\d.]+ ms, customer (\d+)\.\d ms/);
  await queued.catch(() => undefined);
  await tech.pickUp(sessionId);
  const heard = waitFor(tech, 'chat', (m) => m.text === 'hello from B');
  customer.chat('hello from B');
  await heard;
});

test('team queues across gateways: heard and listed everywhere, one pick-up wins, the session goes to the winner', async (t) => {
  const a = await member(t, 'a', 'queue');
  const b = await member(t, 'b', 'queue');
  // a billing technician installs a support button (on a customer's desktop, through A)
  const installer = await activePair(t, a.gateway, {
    perms: ['support_button'],
    teams: ['billing'],
    name: 'installer',
  });
  const button = await installer.access.installSupportButton('billing');
  await installer.tech.endSession();
  const onA = await accessTechnician(t, a.gateway, 'tech-a', { teams: ['billing'] });
  const onB = await accessTechnician(t, b.gateway, 'tech-b', { teams: ['billing'] });
  const heardOnB = onB.access.waitForTeamSession('billing');

  const customer = new UnattendedCustomer({
    url: a.url,
    name: 'Bob',
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => customer.close());
  const welcome = await customer.connect();
  const sessionId = welcome.sessionId;
  // B's technician hears of it and sees it in its queue, though it waits on A
  assert.equal((await heardOnB).sessionId, sessionId);
  const listed = await onB.tech.listQueue();
  assert.deepEqual(
    listed.filter((e) => e.sessionId === sessionId).map((e) => [e.team, e.customerName]),
    [['billing', 'Bob']],
  );

  // both pick it up at the same moment: exactly one wins
  const results = await Promise.allSettled([
    onA.tech.pickUp(sessionId),
    onB.tech.pickUp(sessionId),
  ]);
  const won = results.map((r) => r.status === 'fulfilled');
  assert.equal(won.filter(Boolean).length, 1, JSON.stringify(results.map((r) => r.status)));
  const [winner, gateway] = won[0] ? [onA, a.gateway] : [onB, b.gateway];
  t.diagnostic(
    `picked up by ${won[0] ? 'tech-a, on the gateway it waited on' : 'tech-b, moved to B'}`,
  );
  const session = gateway.registry.get(sessionId);
  assert.ok(session !== undefined, "the session is on the winner's gateway");
  assert.equal(session.status, 'ACTIVE');
  assert.equal(session.owner.name, winner === onA ? 'tech-a' : 'tech-b');
  assert.ok(session.customer !== null, 'its customer is connected there');
  const heard = waitFor(winner.tech, 'chat', (m) => m.text === 'hello, who picked me up?');
  customer.chat('hello, who picked me up?');
  await heard;

  // a session waiting on A that only B's technician picks up moves to B, its customer with it
  const second = new UnattendedCustomer({
    url: a.url,
    name: 'Carol',
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => second.close());
  const heardAgain = onB.access.waitForTeamSession('billing');
  const secondId = (await second.connect()).sessionId;
  await heardAgain;
  const moved = waitFor(second, 'resumed');
  await onB.tech.pickUp(secondId);
  const [resumedAt] = await moved;
  assert.equal(resumedAt.gatewayId, 'queue-b');
  const onGatewayB = b.gateway.registry.get(secondId);
  assert.equal(onGatewayB?.status, 'ACTIVE');
  assert.equal(onGatewayB?.owner.name, 'tech-b');
  assert.equal(a.gateway.registry.sessions.has(secondId), false);
  const answered = waitFor(second, 'chat', (m) => m.text === 'tech-b here, from B');
  onB.tech.chat('tech-b here, from B');
  await answered;
});

test("a new session's head, first log line and CONNECTING snapshot reach the store in one script call", async (t) => {
  const a = await member(t, 'a', 'first-step');
  const tech = await technician(t, a.gateway);
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  const watcher = new Redis(redis.url);
  const monitor = await watcher.monitor();
  t.after(() => {
    monitor.disconnect();
    watcher.disconnect();
  });
  const sent: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') sent.push(args);
  });
  const { sessionId } = await tech.createSession();
  const journal = `ferry:journal:${sessionId}`;
  const lines = await until(
    'the CONNECTING snapshot in the store',
    () => raw.lrange(journal, 0, -1),
    (l) => l.some((line) => line.includes('"k":"state"')),
  );
  // MONITOR's feed comes on a connection of its own, so a script call can be in the store before
  // the feed reports it: a command sent now and seen in the feed means every call before it has
  // been seen too (Redis runs commands and reports them in one order)
  const fence = `fence:${sessionId}`;
  const fenced = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('MONITOR never showed the fence')), 5000);
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === fence) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await raw.echo(fence);
  await fenced;
  // the journal's due snapshot is written just before the turn's writes go (beforeTurnWrites):
  // one step, not a second one a loop iteration later
  // EVALSHA, or EVAL the first time the connection runs the script
  const steps = sent.filter((args) => /^eval(sha)?$/i.test(args[0]!) && args.includes(journal));
  assert.equal(steps.length, 1, `script calls writing the journal: ${steps.length}`);
  assert.deepEqual(
    lines.map((line) => /"k":"(\w+)"/.exec(line)?.[1]),
    ['session', 'log', 'state'],
  );
});
