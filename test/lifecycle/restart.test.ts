/**
 * Restart without dropping sessions: the gateway keeps each live session in a journal, so a
 * `ferry serve` killed with -9 (or stopped with SIGTERM) and started again on the same data
 * directory takes its sessions back, and the reference clients resume them with their tokens:
 * the session goes Reconnecting, then Active, with its chat history and consent as they were.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from '../../src/clients/client.js';
import type { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { freePort, type GatewayProcess, serveProcess } from '../support/gateway-process.js';
import { joinAndPickUp } from '../support/pairing.js';
import { storedReport } from '../support/reports.js';

const S = ferry.v1.SessionStatus;
const run = promisify(execFile);
const BIN = path.resolve('bin/ferry.js');
const FAST_RETRY = { initialDelayMs: 50, maxDelayMs: 250, giveUpAfterMs: 60_000 };

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-restart-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway with an Active session, chat both ways and VIEW (or `permissions`) granted. */
async function liveSession(
  t: TestContext,
  dataDir: string,
  permissions: ('view' | 'control')[] = ['view'],
  customerRetry = FAST_RETRY,
) {
  const port = await freePort();
  const gateway = await serveProcess(t, [
    '--port',
    String(port),
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
    '--drain-timeout-seconds',
    '1',
  ]);
  const { stdout } = await run(process.execPath, [
    BIN,
    'token',
    'issue',
    '--name',
    'tech-1',
    '--data-dir',
    dataDir,
  ]);
  const tech = new TechnicianClient({
    url: gateway.url,
    token: stdout.trim(),
    reconnect: FAST_RETRY,
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, {
    url: gateway.url,
    pin,
    name: 'Alice',
    consent: permissions,
    reconnect: customerRetry,
  });
  const consent = await tech.requestConsent(permissions);
  assert.equal(consent.granted.length, permissions.length);
  const heard: string[] = [];
  customer.on('chat', (c) => heard.push(c.text));
  const first = waitFor(customer, 'chat', (c) => c.text === 'hello from tech-1');
  tech.chat('hello from tech-1');
  await first;
  const answered = waitFor(tech, 'chat', (c) => c.text === 'hi from Alice');
  customer.chat('hi from Alice');
  await answered;
  return { gateway, tech, customer, sessionId, heard };
}

/** Starts the gateway again on the same port and data directory; waits for both to resume. */
async function restartAndResume(
  t: TestContext,
  dataDir: string,
  first: GatewayProcess,
  tech: TechnicianClient,
  customer: CustomerClient,
): Promise<GatewayProcess> {
  const techBack = waitFor(tech, 'resumed', () => true, 30_000);
  const customerBack = waitFor(customer, 'resumed', () => true, 30_000);
  const active = waitFor(
    tech,
    'status',
    (s) => s.status === S.SESSION_STATUS_ACTIVE && s.trigger === 'reconnect_success',
    30_000,
  );
  const again = await serveProcess(t, [
    '--port',
    String(first.listening.port),
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  assert.ok(
    again.lines.some((l) => l.includes('sessions restored from their journals')),
    again.lines.join('\n'),
  );
  await Promise.all([techBack, customerBack, active]);
  return again;
}

async function assertSessionIntact(
  tech: TechnicianClient,
  customer: CustomerClient,
  sessionId: string,
  heardByCustomer: string[],
): Promise<void> {
  // the catch-up after the resume read the log back and emitted nothing twice
  assert.deepEqual(
    heardByCustomer.filter((text) => text === 'hello from tech-1'),
    ['hello from tech-1'],
  );
  const history = await tech.chatHistory(sessionId);
  const texts = history.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  assert.deepEqual(texts, ['hello from tech-1', 'hi from Alice']);
  assert.ok(history.entries.some((e) => e.event?.type === 'restart'));
  assert.equal(history.dropped, 0);
  // consent as it was: the customer's grants came back with the session
  assert.deepEqual(customer.granted, ['view']);
  // and the session goes on: chat reaches the other side
  const heard = waitFor(customer, 'chat', (c) => c.text === 'after the restart');
  tech.chat('after the restart');
  await heard;
}

test('kill -9 the gateway mid-session and start it again: both clients resume, Active, history and consent intact', {
  timeout: 90_000,
}, async (t) => {
  const dataDir = tempDir(t);
  const { gateway, tech, customer, sessionId, heard } = await liveSession(t, dataDir);
  const reconnecting = waitFor(customer, 'disconnected', () => true);
  gateway.child.kill('SIGKILL');
  assert.equal(await gateway.exited, 'SIGKILL');
  await reconnecting;
  await restartAndResume(t, dataDir, gateway, tech, customer);
  await assertSessionIntact(tech, customer, sessionId, heard);
});

test('SIGTERM: clients hear Closing with resume and the going-away close, and resume on the next start', {
  timeout: 90_000,
}, async (t) => {
  const dataDir = tempDir(t);
  const { gateway, tech, customer, sessionId, heard } = await liveSession(t, dataDir);
  const closing = waitFor(customer, 'event', (e) => e.closing != null);
  const lost = waitFor(customer, 'disconnected', () => true);
  gateway.child.kill('SIGTERM');
  const [event] = await closing;
  // the real drain deadline, and the promise that the session is kept
  assert.equal(event.closing?.deadlineMs, 1000);
  assert.equal(event.closing?.resume, true);
  const [code] = await lost;
  assert.equal(code, 1001);
  assert.equal(await gateway.exited, 0);
  // the session was kept, not ended: no report yet
  assert.equal(storedReport(dataDir, sessionId), undefined);
  await restartAndResume(t, dataDir, gateway, tech, customer);
  await assertSessionIntact(tech, customer, sessionId, heard);
});

test('kill -9 while input is held for an away customer: the technician sends it again, the customer applies each event once', {
  timeout: 90_000,
}, async (t) => {
  const dataDir = tempDir(t);
  // the customer comes back only when told (resumeNow), after the restart
  const slow = { initialDelayMs: 60_000, maxDelayMs: 60_000, giveUpAfterMs: 120_000 };
  const { gateway, tech, customer } = await liveSession(t, dataDir, ['view', 'control'], slow);
  const applied: number[] = [];
  customer.on('input', (input) => applied.push(input.seq));
  // three events reach the customer
  const third = waitFor(customer, 'input', (input) => input.seq === 3);
  for (let i = 1; i <= 3; i++) assert.ok(tech.movePointer(10 * i, 10));
  await third;
  // the customer goes away; three more are held for it in the gateway's memory only
  const away = waitFor(tech, 'status', (s) => s.status === S.SESSION_STATUS_RECONNECTING);
  customer.dropConnection();
  await away;
  for (let i = 4; i <= 6; i++) assert.ok(tech.movePointer(10 * i, 10));
  const techLost = waitFor(tech, 'disconnected', () => true);
  gateway.child.kill('SIGKILL');
  assert.equal(await gateway.exited, 'SIGKILL');
  await techLost;
  const techBack = waitFor(tech, 'resumed', () => true, 30_000);
  const sixth = waitFor(customer, 'input', (input) => input.seq === 6, 30_000);
  await serveProcess(t, [
    '--port',
    String(gateway.listening.port),
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  await techBack;
  // the technician sent its last seconds again, before anything new
  assert.equal(tech.inputResent, 6);
  customer.resumeNow();
  await sixth;
  // 1-3 it had: dropped; 4-6 it lacked: applied, once, in order
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6]);
  assert.equal(customer.inputResentDropped, 3);
  assert.equal(customer.pointer.desktopX, 60);
});
