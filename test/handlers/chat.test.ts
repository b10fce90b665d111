/**
 * Chat as the session's running log (docs/spec/session-tools.md B1-B7): private messages never reach
 * the customer, live or in history; a technician who joins later receives the whole log in
 * order; chat and session events share the gateway's sequence and clock; the customer meets a
 * technician (name, avatar) before the first message it sees.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { TechnicianClient } from '../../src/clients/technician.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activePair, Channel, settle, startGateway, technician, url } from './tools-harness.js';

const ALL = ferry.v1.ChatAudience.CHAT_AUDIENCE_ALL;
const TECHS = ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY;

/** A ChatHistory entry as one line: `chat <sender>: <text>` or `event <type>: <detail>`. */
function line(e: ferry.v1.ChatHistoryEntry): string {
  if (e.chat) return `chat ${e.chat.senderName}: ${e.chat.text}`;
  return `event ${e.event!.type}: ${e.event!.detail}`;
}

test('private chat never reaches the customer; a technician who joins later gets the full history in order, and the customer history excludes private messages', async (t) => {
  const { gateway } = await startGateway(t);
  const {
    tech: owner,
    customer,
    sessionId,
  } = await activePair(t, gateway, {
    consent: ['view', 'control'],
  });
  const atCustomer: string[] = [];
  customer.on('frame', (_f, raw) => atCustomer.push(Buffer.from(raw).toString('latin1')));
  const customerChats: ferry.v1.ChatMessage[] = [];
  customer.on('chat', (c) => customerChats.push(c));

  owner.chat('hello Alice');
  owner.chat('she runs an old driver', true);
  owner.send({
    channel: Channel.CHANNEL_CHAT,
    chat: { text: 'audience field says private too', audience: TECHS },
  });
  customer.chat('hi, the printer is stuck');
  await waitFor(owner, 'chat', (c) => c.text === 'hi, the printer is stuck');
  await owner.requestConsent(['view']);

  // A collaborator joins later and receives the log pushed on join.
  const helper = await technician(t, gateway, 'tech-2');
  const pushed = waitFor(helper, 'control', (c) => c.chatHistory != null);
  await owner.invite('tech-2');
  await helper.acceptInvitation(sessionId);
  const [control] = await pushed;
  const history = control.chatHistory as ferry.v1.ChatHistory;
  const lines = history.entries.map(line);
  const chats = lines.filter((l) => l.startsWith('chat'));
  assert.deepEqual(chats, [
    'chat tech-1: hello Alice',
    'chat tech-1: she runs an old driver',
    'chat tech-1: audience field says private too',
    'chat Alice: hi, the printer is stuck',
  ]);
  assert.ok(lines.includes('event consent: granted view (asked by tech-1)'), lines.join('\n'));
  assert.ok(lines.includes('event status: WAITING -> ACTIVE (pickup)'));
  const seqs = history.entries.map((e) => Number(e.chat?.seq ?? e.event?.seq));
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'in the order of the log',
  );
  assert.equal(new Set(seqs).size, seqs.length, 'one sequence for chat and events');
  const privateOnes = history.entries.filter((e) => e.chat?.audience === TECHS);
  assert.equal(privateOnes.length, 2);

  // The collaborator chats privately after joining: the customer still never sees it.
  helper.chat('shall I take the driver?', true);
  await waitFor(owner, 'chat', (c) => c.text === 'shall I take the driver?');

  // The customer's own history (as on a rejoin): no private message, no private event.
  const reply = await customer.request({ chatHistoryRequest: {} });
  const own = (reply.chatHistory as ferry.v1.ChatHistory).entries.map(line);
  assert.deepEqual(
    own.filter((l) => l.startsWith('chat')),
    ['chat tech-1: hello Alice', 'chat Alice: hi, the printer is stuck'],
  );
  assert.ok(
    own.every((l) => !l.includes('invited')),
    'invitations are technicians-only events',
  );
  assert.ok(
    (reply.chatHistory as ferry.v1.ChatHistory).entries.every(
      (e) => (e.chat?.audience ?? e.event?.audience) === ALL,
    ),
  );
  await settle(customer);
  assert.deepEqual(
    customerChats.map((c) => c.text),
    ['hello Alice', 'hi, the printer is stuck'],
  );
  for (const secret of ['old driver', 'audience field says', 'take the driver']) {
    assert.ok(
      atCustomer.every((raw) => !raw.includes(secret)),
      `"${secret}" reached the customer`,
    );
  }
});

test('every chat message and session event carries the gateway sequence and server time, interleaved in one order', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view', 'control'] });
  // the pick-up's events (status, who controls) have reached the customer before this point
  await settle(customer);
  const seen: { seq: number; time: number; what: string }[] = [];
  customer.on('chat', (c) =>
    seen.push({ seq: Number(c.seq), time: Number(c.serverTimeUnixMs), what: `chat ${c.text}` }),
  );
  customer.on('sessionEvent', (e) =>
    seen.push({
      seq: Number(e.seq),
      time: Number(e.serverTimeUnixMs),
      what: `${e.type} ${e.detail}`,
    }),
  );
  const before = Date.now();
  tech.chat('one');
  await waitFor(customer, 'chat', (c) => c.text === 'one');
  await tech.requestConsent(['view', 'control']);
  tech.chat('two');
  await waitFor(customer, 'chat', (c) => c.text === 'two');
  assert.deepEqual(
    seen.map((s) => s.what),
    [
      'chat one',
      'consent tech-1 asked for view, control',
      'consent granted view, control (asked by tech-1)',
      'chat two',
    ],
  );
  for (let i = 1; i < seen.length; i++) {
    assert.equal(seen[i]!.seq, seen[i - 1]!.seq + 1, 'consecutive: nothing private in between');
    assert.ok(seen[i]!.time >= seen[i - 1]!.time);
  }
  assert.ok(seen[0]!.time >= before - 1000 && seen.at(-1)!.time <= Date.now() + 1000);
});

test('the customer meets the technician, name and avatar, before the first chat message it sees', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, {
    avatarRef: 'https://support.example/avatars/tech-1.png',
  });
  const order: string[] = [];
  customer.on('frame', (f) => {
    if (f.event?.participantProfile) {
      const p = f.event.participantProfile;
      order.push(`profile ${p.displayName} ${p.avatarRef}`);
    }
    if (f.chat) order.push(`chat ${f.chat.text}`);
  });
  tech.chat('just between us', true);
  tech.chat('hello, I am here to help');
  tech.chat('second message');
  await waitFor(customer, 'chat', (c) => c.text === 'second message');
  assert.deepEqual(order, [
    'profile tech-1 https://support.example/avatars/tech-1.png',
    'chat hello, I am here to help',
    'chat second message',
  ]);
});

test('a technician who takes a transferred session over receives the history, private messages included', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech: sender, customer, sessionId } = await activePair(t, gateway);
  const target = await technician(t, gateway, 'tech-3');
  sender.chat('notes for whoever takes this: reinstall the driver', true);
  customer.chat('still waiting');
  await waitFor(sender, 'chat', (c) => c.text === 'still waiting');
  await sender.transfer('tech-3', 'printer driver');
  const pushed = waitFor(target, 'control', (c) => c.chatHistory != null);
  await target.pickUp(sessionId);
  const [control] = await pushed;
  const chats = (control.chatHistory as ferry.v1.ChatHistory).entries
    .filter((e) => e.chat)
    .map((e) => e.chat!.text);
  assert.deepEqual(chats, ['notes for whoever takes this: reinstall the driver', 'still waiting']);
});

test('a customer who drops and resumes gets the public chat it missed, never the private one, and its history after the rejoin has none either', async (t) => {
  const { gateway } = await startGateway(t);
  const MANUAL = { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000, giveUpAfterMs: 0 };
  const { tech, customer } = await activePair(t, gateway, { reconnect: MANUAL });
  const atCustomer: string[] = [];
  customer.on('frame', (_f, raw) => atCustomer.push(Buffer.from(raw).toString('latin1')));
  const customerChats: string[] = [];
  customer.on('chat', (c) => customerChats.push(c.text));

  tech.chat('before the drop');
  tech.chat('secret one: old driver', true);
  await waitFor(customer, 'chat', (c) => c.text === 'before the drop');

  const away = waitFor(
    tech,
    'status',
    (s) => s.status === ferry.v1.SessionStatus.SESSION_STATUS_RECONNECTING,
  );
  const disconnected = waitFor(customer, 'disconnected');
  customer.dropConnection();
  await Promise.all([away, disconnected]);
  // Sent while the customer is away: the public message is held for its resume, the private not.
  tech.chat('secret two: same driver upstairs', true);
  tech.chat('while you were away');
  await waitFor(tech, 'chat', (c) => c.text === 'while you were away');

  const resumed = waitFor(customer, 'resumed');
  const missed = waitFor(customer, 'chat', (c) => c.text === 'while you were away');
  customer.resumeNow();
  await resumed;
  await missed;
  const reply = await customer.request({ chatHistoryRequest: {} });
  const history = (reply.chatHistory as ferry.v1.ChatHistory).entries;
  assert.deepEqual(
    history.filter((e) => e.chat).map((e) => e.chat!.text),
    ['before the drop', 'while you were away'],
  );
  assert.ok(history.every((e) => (e.chat?.audience ?? e.event?.audience) === ALL));
  assert.deepEqual(customerChats, ['before the drop', 'while you were away']);
  for (const secret of ['secret one', 'secret two']) {
    assert.ok(
      atCustomer.every((raw) => !raw.includes(secret)),
      `"${secret}" reached the customer`,
    );
  }
  // The technicians' history has both private messages, in order with the rest.
  const techHistory = await tech.chatHistory();
  assert.deepEqual(
    techHistory.entries.filter((e) => e.chat).map((e) => e.chat!.text),
    [
      'before the drop',
      'secret one: old driver',
      'secret two: same driver upstairs',
      'while you were away',
    ],
  );
});

test("a technician's uploaded picture is kept by the gateway and served to the customers it chats with, and to nobody else", async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway);
  const picture = new Uint8Array(2048).fill(7);
  picture.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const ref = await tech.setAvatar(picture, 'image/png');
  assert.match(ref, /^ferry:avatar\/[\w-]{22}$/);

  const profile = waitFor(customer, 'event', (e) => e.participantProfile != null);
  tech.chat('hello');
  const [event] = await profile;
  assert.equal(event.participantProfile?.avatarRef, ref);
  const got = await customer.fetchAvatar(ref);
  assert.equal(got.mimeType, 'image/png');
  assert.deepEqual(Buffer.from(got.image), Buffer.from(picture));

  // Refusals: a customer may not upload; pictures are checked; unknown refs are not served.
  await assert.rejects(customer.request({ setAvatar: { image: picture, mimeType: 'image/png' } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(tech.setAvatar(picture, 'image/jpeg'), {
    code: 'FERRY_ERR_INVALID_ARGUMENT',
  });
  const big = new Uint8Array(40 * 1024);
  big.set(picture.subarray(0, 8));
  await assert.rejects(tech.setAvatar(big, 'image/png'), { code: 'FERRY_ERR_INVALID_ARGUMENT' });
  await assert.rejects(tech.fetchAvatar('ferry:avatar/unknown'), {
    code: 'FERRY_ERR_INVALID_ARGUMENT',
  });

  // A customer of another session, whose technician shows no picture, may not fetch it.
  const bob = await customerOf(t, gateway, await technician(t, gateway, 'tech-5'), 'Bob');
  await assert.rejects(bob.customer.fetchAvatar(ref), { code: 'FERRY_ERR_NOT_IN_SESSION' });
  // The picture stays the technician's on its next connection (whose Hello names none).
  const carol = await customerOf(t, gateway, await technician(t, gateway, 'tech-1'), 'Carol');
  const met = waitFor(carol.customer, 'event', (e) => e.participantProfile != null);
  carol.tech.chat('hi Carol');
  const [intro] = await met;
  assert.equal(intro.participantProfile?.avatarRef, ref);
});

/** `tech` opens a session, a customer named `name` joins it, and `tech` picks it up. */
async function customerOf(
  t: TestContext,
  gateway: Gateway,
  tech: TechnicianClient,
  name: string,
): Promise<{ tech: TechnicianClient; customer: CustomerClient }> {
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url: url(gateway), pin, name });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return { tech, customer };
}

test('a chat flood is refused past --max-chat-per-second before it is logged; the sender stays connected and others are untouched', async (t) => {
  const { gateway } = await startGateway(t, { maxChatPerSecond: 5 });
  const { tech, customer, sessionId } = await activePair(t, gateway);
  const refused: string[] = [];
  customer.on('gatewayError', (e) => refused.push(e.code));
  const heard: string[] = [];
  tech.on('chat', (c) => heard.push(c.text));
  // a burst of twice the rate goes through; the 11th to 15th are refused, in the same turn
  for (let i = 1; i <= 15; i++) customer.chat(`line ${i}`);
  const marker = waitFor(customer, 'chat', (c) => c.text === 'from the technician');
  tech.chat('from the technician');
  await marker;
  if (refused.length < 5) await waitFor(customer, 'gatewayError', () => refused.length === 5);
  assert.deepEqual(refused, Array(5).fill('FERRY_ERR_CHAT_RATE_LIMITED'));
  const history = await tech.chatHistory(sessionId);
  const lines = history.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  assert.deepEqual(
    lines.filter((l) => l?.startsWith('line ')),
    Array.from({ length: 10 }, (_, i) => `line ${i + 1}`),
    'only what was let through was logged',
  );
  assert.deepEqual(heard.filter((l) => l.startsWith('line ')).length, 10);
  // the flooder is still connected: 5 refusals are under --max-bad-frames
  assert.equal(customer.ws?.readyState, 1);
});
