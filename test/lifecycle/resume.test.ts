/**
 * Connection loss and resume end to end: a killed socket moves the session to Reconnecting, the
 * reference client comes back with its resume token, and the reliable frames addressed to it
 * meanwhile arrive in order; past the resume buffer or the Offline window the gateway says what
 * was lost with a FramesLost event instead of losing it silently.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from '../../src/clients/client.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { storedReport } from '../support/reports.js';
import {
  activeSession,
  MANUAL,
  next,
  Status,
  startGateway,
  statusOf,
  technician,
} from './harness.js';

const Channel = ferry.v1.Channel;

test('a dropped customer resumes with its token and gets the chat and input sent meanwhile, in order', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech, 'Alice', MANUAL);
  const session = started.gateway.registry.get(sessionId)!;
  const got: string[] = [];
  customer.on('frame', (frame) => {
    if (frame.channel === Channel.CHANNEL_INPUT) got.push(`input ${frame.input?.seq}`);
    if (frame.channel === Channel.CHANNEL_CHAT) got.push(`chat ${frame.chat?.text}`);
  });
  // Mid-stream: frames before the cut arrive as usual.
  const sent: string[] = [];
  const sendBoth = (i: number) => {
    tech.sendRaw(
      ferry.v1.Frame.encode({
        channel: Channel.CHANNEL_INPUT,
        input: { seq: i, move: { x: i, y: i } },
      }).finish(),
    );
    sent.push(`input ${i}`);
    tech.chat(`line ${i}`);
    sent.push(`chat line ${i}`);
  };
  for (let i = 1; i <= 5; i++) sendBoth(i);
  await waitFor(customer, 'chat', (c) => c.text === 'line 5');

  const reconnecting = statusOf(tech, sessionId, 'SESSION_STATUS_RECONNECTING');
  const disconnected = next(customer, 'disconnected');
  customer.dropConnection();
  await Promise.all([reconnecting, disconnected]);
  // Sent while the customer is away: held by the gateway, copied out of the uWS buffers.
  const copiesBefore = started.gateway.registry.holdStats.copies;
  for (let i = 6; i <= 25; i++) sendBoth(i);
  await waitFor(tech, 'chat', (c) => c.text === 'line 25');
  // The echo of the last chat comes after the gateway handled every frame sent before it.
  const seat = session.customerSeat!;
  assert.ok(seat.heldFrames >= 40, `held ${seat.heldFrames}`);
  assert.ok(started.gateway.registry.holdStats.copies - copiesBefore >= 40);

  const active = statusOf(tech, sessionId, 'SESSION_STATUS_ACTIVE');
  const resumed = next(customer, 'resumed');
  const last = waitFor(customer, 'chat', (c) => c.text === 'line 25');
  customer.resumeNow();
  const [welcome] = await resumed;
  assert.equal(welcome.resumed, true);
  assert.equal(welcome.sessionId, sessionId);
  await last;
  assert.equal((await active).trigger, 'reconnect_success');
  assert.deepEqual(got, sent, 'nothing lost, nothing reordered, nothing twice');
  assert.equal(seat.heldFrames, 0);
  // The resumed customer is live: new input reaches it directly.
  const moved = next(customer, 'input', (i) => i.seq === 26);
  tech.sendRaw(
    ferry.v1.Frame.encode({
      channel: Channel.CHANNEL_INPUT,
      input: { seq: 26, move: {} },
    }).finish(),
  );
  await moved;
});

test('a dropped technician resumes its place and reads the chat it missed', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1', MANUAL);
  const { customer, sessionId } = await activeSession(t, started, tech);
  const away = statusOf(customer, sessionId, 'SESSION_STATUS_RECONNECTING');
  tech.dropConnection();
  await away;
  customer.chat('are you there?');
  customer.chat('hello?');
  const back = statusOf(customer, sessionId, 'SESSION_STATUS_ACTIVE');
  const missed: string[] = [];
  tech.on('chat', (c) => missed.push(c.text));
  const second = waitFor(tech, 'chat', (c) => c.text === 'hello?');
  tech.resumeNow();
  await Promise.all([back, second]);
  assert.deepEqual(missed, ['are you there?', 'hello?']);
  assert.equal(tech.reconnects, 1);
  // Its control survived the resume.
  const moved = next(customer, 'input');
  tech.movePointer(2, 3);
  await moved;
  const [entry] = await tech.listQueue();
  assert.equal(entry?.status, Status.SESSION_STATUS_ACTIVE);
});

test('a customer away past the Offline window takes the session Offline; what was held is reported lost', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.now() });
  const started = await startGateway(t, { offlineAfterSeconds: 300 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech, 'Alice', MANUAL);
  const reconnecting = statusOf(tech, sessionId, 'SESSION_STATUS_RECONNECTING');
  customer.dropConnection();
  await reconnecting;
  tech.chat('still there?');
  await waitFor(tech, 'chat', (c) => c.text === 'still there?');

  const offline = statusOf(tech, sessionId, 'SESSION_STATUS_OFFLINE');
  const reported = next(tech, 'framesLost');
  t.mock.timers.tick(299_000);
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'RECONNECTING');
  t.mock.timers.tick(2_000);
  const changed = await offline;
  assert.equal(changed.trigger, 'reconnect_fail_5min');
  assert.equal(changed.previous, Status.SESSION_STATUS_RECONNECTING);
  const [lost] = await reported;
  assert.equal(lost.code, 'FERRY_ERR_FRAMES_LOST');
  assert.equal(lost.reason, 'offline');
  // Held for the customer: its own Reconnecting event, the technician's profile (sent before
  // the first chat message the customer sees, spec session-tools B2) and the chat.
  assert.equal(lost.frames, 3);

  // The customer's retries continue: from Offline it returns to the status before the loss.
  const told = next(customer, 'framesLost');
  const active = statusOf(tech, sessionId, 'SESSION_STATUS_ACTIVE');
  customer.resumeNow();
  const [notice] = await told;
  assert.equal(notice.reason, 'offline');
  assert.equal(notice.frames, 4, 'the three discarded, and the Offline event sent after');
  const back = await active;
  assert.equal(back.previous, Status.SESSION_STATUS_OFFLINE);
  assert.equal(back.trigger, 'reconnect_success');
});

test('frames past the resume buffer are counted and reported, to the others at once and to the customer on its return', async (t) => {
  const started = await startGateway(t, { resumeBufferBytes: 300 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech, 'Alice', MANUAL);
  const reconnecting = statusOf(tech, sessionId, 'SESSION_STATUS_RECONNECTING');
  customer.dropConnection();
  await reconnecting;
  const reported = next(tech, 'framesLost');
  for (let i = 1; i <= 6; i++) tech.chat(`message number ${i} ${'x'.repeat(40)}`);
  const [lost] = await reported;
  assert.equal(lost.reason, 'buffer_full');
  const chats: string[] = [];
  customer.on('chat', (c) => chats.push(c.text));
  const told = next(customer, 'framesLost');
  customer.resumeNow();
  const [notice] = await told;
  assert.equal(notice.reason, 'buffer_full');
  // What fitted arrives, in order, before the notice; the notice counts the rest.
  assert.ok(chats.length > 0 && chats.length < 6, `${chats.length} kept`);
  assert.equal(notice.frames, 6 - chats.length);
  assert.deepEqual(
    chats.map((c) => c.split(' ')[2]),
    Array.from({ length: chats.length }, (_, i) => String(i + 1)),
  );
});

test('a resume token that names no place is refused with FERRY_ERR_RESUME_INVALID', async (t) => {
  const started = await startGateway(t);
  const ws = new WebSocket(started.url);
  t.after(() => ws.close());
  await new Promise((resolve) => ws.once('open', resolve));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const error = new Promise<string>((resolve) =>
    ws.on('message', (data: Buffer) => {
      const err = ferry.v1.Frame.decode(data).event?.error;
      if (err) resolve(err.code ?? '');
    }),
  );
  ws.send(
    ferry.v1.Frame.encode({
      channel: Channel.CHANNEL_CONTROL,
      control: {
        requestId: 1,
        hello: { role: ferry.v1.Role.ROLE_CUSTOMER, resumeToken: 'not-a-token' },
      },
    }).finish(),
  );
  assert.equal(await error, 'FERRY_ERR_RESUME_INVALID');
  assert.equal(await closed, CloseCodes.AUTH_FAILED);
});

test('a second connection with the same resume token takes the place and closes the first', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const replaced = next(customer, 'close');
  const ws = new WebSocket(started.url);
  t.after(() => ws.close());
  await new Promise((resolve) => ws.once('open', resolve));
  const welcomed = new Promise<ferry.v1.IWelcome>((resolve) =>
    ws.on('message', (data: Buffer) => {
      const welcome = ferry.v1.Frame.decode(data).control?.welcome;
      if (welcome) resolve(welcome);
    }),
  );
  ws.send(
    ferry.v1.Frame.encode({
      channel: Channel.CHANNEL_CONTROL,
      control: {
        requestId: 1,
        hello: { role: ferry.v1.Role.ROLE_CUSTOMER, resumeToken: customer.resumeToken },
      },
    }).finish(),
  );
  const welcome = await welcomed;
  assert.equal(welcome.resumed, true);
  assert.equal(welcome.sessionId, sessionId);
  assert.equal((await replaced)[0], CloseCodes.REPLACED);
  assert.equal(customer.reconnects, 0, 'a replaced client does not fight back');
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'ACTIVE');
});

test('an ended session leaves its report, whole, in the report store of the data directory', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  customer.chat('thanks!');
  await waitFor(tech, 'chat', (c) => c.text === 'thanks!');
  await tech.endSession(sessionId, 'solved');
  await started.gateway.reportsWritten();
  assert.equal(fs.existsSync(path.join(started.dataDir, 'reports')), false, 'no file per report');
  const report = storedReport(started.dataDir, sessionId)!;
  assert.equal(report.status, 'CLOSED_BY_TECHNICIAN');
  assert.deepEqual(
    report.participants.map((p) => [p.name, p.role, p.joinedAs]),
    [
      ['tech-1', 'technician', 'owner'],
      ['Alice', 'customer', 'customer'],
    ],
  );
  assert.deepEqual(
    report.statusHistory.map((h) => `${h.status}:${h.trigger}`),
    [
      'CONNECTING:created',
      'WAITING:applet_connected',
      'ACTIVE:pickup',
      'CLOSED_BY_TECHNICIAN:technician_close',
    ],
  );
  assert.ok(report.statusHistory.every((h) => !Number.isNaN(Date.parse(h.at))));
  assert.ok(report.log.some((e) => e.kind === 'chat' && e.text === 'thanks!'));
  assert.ok(report.log.some((e) => e.kind === 'event' && e.type === 'close'));
});

test('a resume the gateway refuses ends the client with one close, naming the refusal', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech, 'Alice', MANUAL);
  const reconnecting = statusOf(tech, sessionId, 'SESSION_STATUS_RECONNECTING');
  customer.dropConnection();
  await reconnecting;
  // the session ends while the customer is away: its place goes with it
  await tech.endSession(sessionId, 'done');
  const closes: string[] = [];
  customer.on('close', (_code, reason) => closes.push(reason));
  const closed = next(customer, 'close');
  customer.resumeNow();
  const [, reason] = await closed;
  assert.equal(reason, 'FERRY_ERR_RESUME_INVALID');
  // the refused connection's own close has come and gone by now: it said nothing more
  const ws = customer.ws;
  if (ws !== null && ws.readyState !== ws.CLOSED) await once(ws, 'close');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(closes, ['FERRY_ERR_RESUME_INVALID']);
});
