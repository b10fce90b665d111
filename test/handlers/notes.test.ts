/**
 * Summary and notes end to end (docs/spec/session-tools.md F1, F4-F6): the summary shows the
 * customer's machine and the public IP the gateway saw; notes are shared between technicians,
 * never reach the customer, are accepted after the session ended, and appear in the report.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { storedReport } from '../support/reports.js';
import { activePair, settle, startGateway, technician } from './tools-harness.js';

test('the summary shows the customer name, computer, platform, client versions and the public IP the gateway saw', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activePair(t, gateway, {
    customerName: 'Alice Example',
    consent: ['view', 'control'],
  });
  await tech.requestConsent(['view', 'control']);
  const summary = await tech.summary();
  const seen = gateway.registry.get(sessionId)!.customer!.remoteAddress;
  assert.match(seen, /127\.0\.0\.1/);
  assert.equal(summary.customerIp, seen, 'the address of the customer connection');
  assert.equal(summary.customerName, 'Alice Example');
  assert.equal(summary.computerName, os.hostname());
  assert.equal(summary.platform, process.platform);
  assert.equal(summary.customerVersion, 'ferry-customer/1');
  assert.equal(summary.controller, 'tech-1');
  assert.equal(summary.granted.length, 2);
  assert.deepEqual(summary.sysinfoCategories, [
    'os',
    'hardware',
    'network',
    'processes',
    'disks',
    'users',
  ]);
  assert.deepEqual(
    summary.participants.map((p) => [p.name, p.relation, p.version, p.connected]),
    [
      ['tech-1', 'owner', 'ferry-technician/1', true],
      ['Alice Example', 'customer', 'ferry-customer/1', true],
    ],
  );
  await assert.rejects(customer.request({ summaryRequest: {} }), { code: 'FERRY_ERR_WRONG_ROLE' });
  const stranger = await technician(t, gateway, 'tech-9');
  await assert.rejects(stranger.summary(sessionId), { code: 'FERRY_ERR_NOT_IN_SESSION' });

  // The report keeps the summary as it was at the end.
  await tech.endSession(sessionId, 'done');
  const report = gateway.registry.reports.get(sessionId)!;
  assert.equal(report.summary.customerIp, seen);
  assert.equal(report.summary.computerName, os.hostname());
  const after = await tech.summary(sessionId);
  assert.equal(after.ended, true);
  assert.equal(after.customerIp, seen);
});

test('notes are shared between technicians, never reach the customer, can be added after the session ended, and appear in the report', async (t) => {
  const { gateway, dataDir } = await startGateway(t);
  const { tech: owner, customer, sessionId } = await activePair(t, gateway);
  const atCustomer: string[] = [];
  customer.on('frame', (_f, raw) => atCustomer.push(Buffer.from(raw).toString('latin1')));
  const helper = await technician(t, gateway, 'tech-2');
  await owner.invite('tech-2');
  await helper.acceptInvitation(sessionId);

  const told = waitFor(helper, 'event', (e) => e.noteAdded != null);
  const notes = await owner.addNote('customer has a second printer upstairs');
  assert.deepEqual(
    notes.map((n) => [n.id, n.author, n.text]),
    [[1, 'tech-1', 'customer has a second printer upstairs']],
  );
  const [event] = await told;
  assert.equal(event.noteAdded?.note?.text, 'customer has a second printer upstairs');
  await helper.addNote('driver 4.2 fixed it\nsee ticket 81');
  assert.deepEqual(
    (await owner.listNotes()).map((n) => n.text),
    ['customer has a second printer upstairs', 'driver 4.2 fixed it\nsee ticket 81'],
  );
  await assert.rejects(customer.request({ addNote: { sessionId, text: 'x' } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(customer.request({ listNotes: { sessionId } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(owner.addNote(''), { code: 'FERRY_ERR_INVALID_ARGUMENT' });
  const stranger = await technician(t, gateway, 'tech-9');
  await assert.rejects(stranger.addNote('hi', sessionId), { code: 'FERRY_ERR_NOT_IN_SESSION' });
  await settle(customer);

  // After the session: notes by id, from a technician who was on it.
  await owner.endSession(sessionId, 'done');
  const late = await helper.addNote('followed up by phone', sessionId);
  assert.equal(late.length, 3);
  assert.deepEqual(
    (await owner.listNotes(sessionId)).map((n) => n.author),
    ['tech-1', 'tech-2', 'tech-2'],
  );
  await assert.rejects(stranger.listNotes(sessionId), { code: 'FERRY_ERR_NOT_IN_SESSION' });

  const report = gateway.registry.reports.get(sessionId)!;
  assert.deepEqual(
    report.notes.map((n) => `${n.author}: ${n.text}`),
    [
      'tech-1: customer has a second printer upstairs',
      'tech-2: driver 4.2 fixed it\nsee ticket 81',
      'tech-2: followed up by phone',
    ],
  );
  await gateway.reportsWritten();
  const stored = storedReport(dataDir, sessionId);
  assert.equal(stored?.notes.length, 3, 'the stored report was replaced with the late note');
  for (const text of ['second printer', 'driver 4.2', 'followed up']) {
    assert.ok(
      atCustomer.every((raw) => !raw.includes(text)),
      `"${text}" reached the customer`,
    );
  }
  assert.ok(
    report.log.some((e) => e.kind === 'event' && e.type === 'note' && e.audience === 'technicians'),
  );
});
