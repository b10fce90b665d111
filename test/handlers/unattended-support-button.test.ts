/**
 * Support buttons end to end (spec session-tools A3): a permitted technician installs a button
 * that routes to its team; a click (the customer client saying Hello with the button id) opens a
 * new session in that team's queue (channel_session_initiated -> Connecting -> Waiting), which
 * only a technician of the team can pick up; a removed button opens nothing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { UnattendedCustomer } from '../../src/clients/unattended.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activePair, startGateway, technician, url } from './access-harness.js';

test('a support button click creates a session in the right team queue, picked up by a technician of that team', async (t) => {
  const { gateway } = await startGateway(t);
  const first = await activePair(t, gateway, {
    perms: ['support_button'],
    teams: ['support', 'billing'],
  });
  const kept = once(first.tools, 'supportButton') as Promise<[ferry.v1.SupportButtonRegistered]>;
  const button = await first.access.installSupportButton('billing');
  assert.equal(button.team, 'billing');
  const [onDesktop] = await kept;
  assert.equal(onDesktop.supportButtonId, button.supportButtonId);
  await first.tech.endSession();

  const billing = await technician(t, gateway, 'tech-2', { teams: ['billing'] });
  const sales = await technician(t, gateway, 'tech-3', { teams: ['sales'] });
  const salesNotices: string[] = [];
  sales.tech.on('event', (e) => {
    if (e.sessionQueued) salesNotices.push(e.sessionQueued.sessionId ?? '');
  });
  const queued = billing.access.waitForTeamSession('billing');
  const customer = new UnattendedCustomer({
    url: url(gateway),
    name: 'Bob',
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => customer.close());
  const welcome = await customer.connect();
  const notice = await queued;
  assert.equal(notice.sessionId, welcome.sessionId);
  assert.equal(notice.customerName, 'Bob');
  const session = gateway.registry.get(welcome.sessionId)!;
  assert.equal(session.status, 'WAITING');
  assert.deepEqual(
    session.history.map((h) => h.trigger),
    ['created', 'applet_connected'],
  );
  assert.equal(session.history[0]!.status, 'CONNECTING');
  assert.equal(session.owner.name, 'team billing', 'owned by the queue until picked up');

  // another team's technician neither hears of it nor takes it
  await assert.rejects(sales.tech.pickUp(welcome.sessionId), { code: 'FERRY_ERR_NOT_IN_SESSION' });
  assert.deepEqual(salesNotices, []);
  // a technician of the team picks it up and owns it
  const status = once(customer, 'status');
  await billing.tech.pickUp(welcome.sessionId);
  assert.equal(session.status, 'ACTIVE');
  assert.equal(session.owner.name, 'tech-2');
  const [changed] = (await status) as [ferry.v1.StatusChanged];
  assert.equal(changed.status, ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE);
  // a billing technician who connects later is not offered a session already taken
  const late = await technician(t, gateway, 'tech-4', { teams: ['billing'] });
  await assert.rejects(late.tech.pickUp(welcome.sessionId), { code: 'FERRY_ERR_NOT_IN_SESSION' });
});

test('support buttons: missing permission, another team, an unknown or removed button are refused with codes', async (t) => {
  const { gateway } = await startGateway(t);
  const plain = await activePair(t, gateway, { perms: [] });
  await assert.rejects(plain.access.installSupportButton(), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  await assert.rejects(plain.customer.request({ supportButtonInstall: {} }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  const owner = await activePair(t, gateway, {
    name: 'tech-2',
    perms: ['support_button'],
    teams: ['support'],
  });
  await assert.rejects(owner.access.installSupportButton('sales'), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  const button = await owner.access.installSupportButton();
  assert.equal(button.team, 'support');
  await assert.rejects(owner.access.removeSupportButton('sb_unknown'), {
    code: 'FERRY_ERR_SUPPORT_BUTTON_NOT_FOUND',
  });
  const told = waitFor(owner.customer, 'control', (c) => c.supportButtonRemove != null);
  await owner.access.removeSupportButton(button.supportButtonId);
  await told;
  assert.equal(owner.tools.supportButton, null);

  const clicked = new UnattendedCustomer({
    url: url(gateway),
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => clicked.close());
  const closed = once(clicked, 'close');
  await assert.rejects(clicked.connect(), { code: 'FERRY_ERR_SUPPORT_BUTTON_INVALID' });
  assert.deepEqual(await closed, [4003, 'FERRY_ERR_SUPPORT_BUTTON_INVALID']);
});
