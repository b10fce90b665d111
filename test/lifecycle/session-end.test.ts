/**
 * How sessions end on the wire (docs/protocol.md "How a connection ends"): a normal end is a
 * normal close of the 4100-4199 range preceded by the final StatusChanged, never an error code,
 * and the reference client does not try to resume it; a gateway going away tells every client
 * the real drain deadline once, then closes with 1001. The Welcome carries the status the
 * customer sees next.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FerryClient } from '../../src/clients/client.js';
import { CloseCodes, Codes, isNormalClose } from '../../src/protocol/codes.js';
import {
  activeSession,
  next,
  startGateway,
  statusName,
  statusOf,
  technician,
  waitingSession,
} from './harness.js';

/** What a client saw, in order: status changes, Closing events and its close. */
function record(client: FerryClient): string[] {
  const seen: string[] = [];
  client.on('status', (s) => seen.push(`status ${statusName(s.status)}`));
  client.on('event', (e) => {
    if (e.closing) seen.push(`closing ${String(e.closing.deadlineMs)}`);
  });
  client.on('close', (code) => seen.push(`close ${code}`));
  return seen;
}

test('the close codes of a normal end are normal, final and apart from every error close', () => {
  for (const code of [
    CloseCodes.SESSION_CLOSED,
    CloseCodes.SESSION_LEFT,
    CloseCodes.SESSION_TIMED_OUT,
  ]) {
    assert.ok(isNormalClose(code), String(code));
  }
  assert.ok(isNormalClose(CloseCodes.NORMAL));
  assert.ok(!isNormalClose(CloseCodes.GOING_AWAY));
  for (const [name, entry] of Object.entries(Codes)) {
    assert.ok(
      !isNormalClose(entry.close) || entry.close === 0,
      `${name} closes with a normal code`,
    );
  }
});

test('a customer joining by PIN is welcomed with the status it sees next: Waiting', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer } = await waitingSession(t, started, tech);
  assert.equal(statusName(customer.welcome?.status ?? 0), 'WAITING');
});

test('a technician ending the session: the customer gets the final StatusChanged, then 4100, and does not resume', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const seen = record(customer);
  const closed = next(customer, 'close');
  await tech.endSession(sessionId, 'fixed');
  const [code] = await closed;
  assert.equal(code, CloseCodes.SESSION_CLOSED);
  assert.deepEqual(seen.slice(-2), [
    'status CLOSED_BY_TECHNICIAN',
    `close ${CloseCodes.SESSION_CLOSED}`,
  ]);
  assert.equal(customer.reconnects, 0);
});

test("the customer's own end of the session closes it with 4101 after the final StatusChanged", async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const seen = record(customer);
  const closedByTech = statusOf(tech, sessionId, 'SESSION_STATUS_CLOSED');
  await customer.endSession('done');
  await closedByTech;
  if (!seen.some((s) => s.startsWith('close'))) await next(customer, 'close');
  assert.equal(customer.closeCode, CloseCodes.SESSION_LEFT);
  const closeAt = seen.indexOf(`close ${CloseCodes.SESSION_LEFT}`);
  assert.ok(closeAt > 0 && seen[closeAt - 1]!.startsWith('status '), seen.join(', '));
  assert.equal(customer.reconnects, 0);
});

test('a timeout ends the session with 4102, a normal close', async (t) => {
  const started = await startGateway(t, { waitingIdleSeconds: 60 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await waitingSession(t, started, tech);
  const seen = record(customer);
  const timedOut = statusOf(tech, sessionId, 'SESSION_STATUS_TIMED_OUT');
  const closed = next(customer, 'close');
  started.clock.advance(61_000);
  await timedOut;
  assert.equal((await closed)[0], CloseCodes.SESSION_TIMED_OUT);
  assert.deepEqual(seen.slice(-2), ['status TIMED_OUT', `close ${CloseCodes.SESSION_TIMED_OUT}`]);
});

test('a draining gateway tells every client the real deadline once, then closes each with 1001; session participants are told to resume', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer } = await activeSession(t, started, tech);
  const idle = await technician(t, started, 'tech-2');
  const clients = [tech, customer, idle];
  const seen = clients.map(record);
  for (const [i, c] of clients.entries()) {
    c.on('event', (e) => {
      if (e.closing) seen[i]!.push(`resume ${e.closing.resume}`);
    });
    c.on('disconnected', (code) => seen[i]!.push(`lost ${code}`));
  }
  // the two in the session keep their places (journaled): they resume; the idle one is let go
  const ended: Promise<[number, string]>[] = [
    next(tech, 'disconnected'),
    next(customer, 'disconnected'),
    next(idle, 'close'),
  ];
  await started.gateway.drain('maintenance', 150);
  const codes = (await Promise.all(ended)).map(([code]) => code);
  assert.deepEqual(codes, [CloseCodes.GOING_AWAY, CloseCodes.GOING_AWAY, CloseCodes.GOING_AWAY]);
  for (const [i, s] of seen.entries()) {
    assert.deepEqual(
      s.filter((e) => e.startsWith('closing')),
      ['closing 150'],
      `one Closing with the drain deadline: ${s.join(', ')}`,
    );
    const inSession = i < 2;
    assert.ok(s.includes(`resume ${inSession}`), s.join(', '));
    assert.equal(
      s.at(-1),
      inSession ? `lost ${CloseCodes.GOING_AWAY}` : `close ${CloseCodes.GOING_AWAY}`,
    );
  }
});

test('with --journal off a draining gateway ends its sessions and every client is let go with 1001', async (t) => {
  const started = await startGateway(t, { journal: 'off' });
  const tech = await technician(t, started, 'tech-1');
  const { customer } = await activeSession(t, started, tech);
  const closed = [tech, customer].map((c) => next(c, 'close'));
  await started.gateway.drain('maintenance', 150);
  // closed by the time the drain resolves (ferry serve exits then), the customer's close too,
  // which a session's end lets wait for the end of the turn
  assert.equal(started.gateway.connections.size, 0);
  const codes = (await Promise.all(closed)).map(([code]) => code);
  assert.deepEqual(codes, [CloseCodes.GOING_AWAY, CloseCodes.GOING_AWAY]);
  assert.equal(started.gateway.registry.sessions.size, 0);
});
