/**
 * After-session actions and the two ways to close (spec session-tools F2, A5.2): the action is
 * sent to the customer client as soon as it is set and runs there once, through the operator's
 * command, when the session closes; an owner can close with "uninstall the customer client" or
 * "leave in queue", and nobody else can choose.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activePair, fakeCommand, startGateway, technician, tempDir } from './access-harness.js';

const Kind = ferry.v1.AfterSessionActionKind;

test('the after-session action reaches the customer as soon as it is set and runs once when the session closes', async (t) => {
  const { gateway } = await startGateway(t);
  const dir = tempDir(t);
  const lock = fakeCommand(dir, 'lock');
  const logout = fakeCommand(dir, 'logout');
  const { access, customer, tools, sessionId, tech } = await activePair(t, gateway, {
    perms: ['after_session_lock', 'after_session_logout'],
    tools: { afterSession: { commands: { lock: lock.command, logout: logout.command } } },
  });
  const armed = waitFor(customer, 'control', (c) => c.setAfterSessionAction != null);
  await access.setAfterSessionAction('logout');
  const [told] = await armed;
  assert.equal(told.setAfterSessionAction!.action, Kind.AFTER_SESSION_ACTION_KIND_LOGOUT);
  assert.equal(told.setAfterSessionAction!.by, 'tech-1');
  // the technician changes its mind: the latest choice counts, nothing ran yet
  await access.setAfterSessionAction('lock');
  assert.deepEqual([...lock.runs(), ...logout.runs()], []);

  const ran = once(tools, 'afterSession');
  const released = once(customer, 'close');
  await tech.endSession();
  await Promise.all([ran, released]);
  // the customer saw both the Closed status and its release: the command still ran once
  assert.deepEqual(lock.runs(), [`lock ${sessionId}`]);
  assert.deepEqual(logout.runs(), []);
  const log = gateway.registry.reports.get(sessionId)!;
  const text = JSON.stringify(log);
  assert.match(text, /after the session: logout/);
  assert.match(text, /after the session: lock/);
});

test("the after-session action still runs when the technician's connection is gone before the close", async (t) => {
  const { gateway } = await startGateway(t);
  const dir = tempDir(t);
  const lock = fakeCommand(dir, 'lock');
  const { access, customer, tools, sessionId, tech } = await activePair(t, gateway, {
    perms: ['after_session_lock'],
    tools: { afterSession: { commands: { lock: lock.command } } },
  });
  const armed = waitFor(customer, 'control', (c) => c.setAfterSessionAction != null);
  await access.setAfterSessionAction('lock');
  await armed;
  const away = waitFor(
    customer,
    'status',
    (s) => s.status === ferry.v1.SessionStatus.SESSION_STATUS_RECONNECTING,
  );
  await tech.close();
  await away;
  const ran = once(tools, 'afterSession');
  await customer.endSession('done, thanks');
  await ran;
  assert.deepEqual(lock.runs(), [`lock ${sessionId}`]);
  assert.equal(gateway.registry.get(sessionId)?.status ?? 'ended', 'CLOSED');
});

test('after-session actions: missing permission, wrong role and uninstall-as-action are refused with codes', async (t) => {
  const { gateway } = await startGateway(t);
  const { access, customer } = await activePair(t, gateway, { perms: ['after_session_lock'] });
  await assert.rejects(access.setAfterSessionAction('logout'), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  await access.setAfterSessionAction('lock');
  await access.setAfterSessionAction('none');
  await assert.rejects(
    access.tech.request({
      setAfterSessionAction: { action: Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL },
    }),
    { code: 'FERRY_ERR_ACTION_UNKNOWN' },
  );
  await assert.rejects(
    customer.request({ setAfterSessionAction: { action: Kind.AFTER_SESSION_ACTION_KIND_LOCK } }),
    { code: 'FERRY_ERR_WRONG_ROLE' },
  );
  const stranger = await technician(t, gateway, 'tech-9', { perms: ['after_session_lock'] });
  await assert.rejects(stranger.access.setAfterSessionAction('lock', access.tech.sessionId), {
    code: 'FERRY_ERR_NOT_IN_SESSION',
  });
});

test('closing with "uninstall the customer client" reaches the customer client, which uninstalls once', async (t) => {
  const { gateway } = await startGateway(t);
  const dir = tempDir(t);
  const uninstall = fakeCommand(dir, 'uninstall');
  const lock = fakeCommand(dir, 'lock');
  const { access, tools, sessionId } = await activePair(t, gateway, {
    perms: ['after_session_lock'],
    tools: { afterSession: { commands: { uninstall: uninstall.command, lock: lock.command } } },
  });
  await access.setAfterSessionAction('lock');
  const results: string[] = [];
  tools.on('afterSession', (r) => results.push(r.action));
  const both = new Promise<void>((resolve) => {
    tools.on('afterSession', () => {
      if (results.length === 2) resolve();
    });
  });
  const done = await access.closeAndUninstall(sessionId, 'fixed');
  assert.equal(done.status, ferry.v1.SessionStatus.SESSION_STATUS_CLOSED_BY_TECHNICIAN);
  await both;
  // the after-session action first, then the uninstall: each once
  assert.deepEqual(results, ['lock', 'uninstall']);
  assert.deepEqual(uninstall.runs(), [`uninstall ${sessionId}`]);
  assert.deepEqual(lock.runs(), [`lock ${sessionId}`]);
  const report = JSON.stringify(gateway.registry.reports.get(sessionId));
  assert.match(report, /closed the session and uninstalled the customer client/);
});

test('only the owner chooses how to close: uninstall from a collaborator, or with leave-in-queue, is refused', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, sessionId } = await activePair(t, gateway);
  const helper = await technician(t, gateway, 'tech-2');
  await tech.invite('tech-2');
  await helper.tech.acceptInvitation(sessionId);
  await assert.rejects(helper.access.closeAndUninstall(sessionId), { code: 'FERRY_ERR_NOT_OWNER' });
  await assert.rejects(
    tech.request({
      closeSession: { sessionId, uninstallCustomerClient: true, leaveInQueue: true },
    }),
    { code: 'FERRY_ERR_INVALID_ARGUMENT' },
  );
  const stranger = await technician(t, gateway, 'tech-3');
  await assert.rejects(stranger.access.closeAndUninstall(sessionId), {
    code: 'FERRY_ERR_NOT_IN_SESSION',
  });
  assert.equal(gateway.registry.get(sessionId)!.status, 'COLLABORATING');
  // leave in queue: the owner's session goes back to Waiting, the customer stays
  await tech.removeCollaborator('tech-2');
  const released = await tech.release(sessionId, 'back later');
  assert.equal(released.status, ferry.v1.SessionStatus.SESSION_STATUS_WAITING);
});

test('clearing or replacing an after-session action needs the permission the action it replaces needed', async (t) => {
  const { gateway } = await startGateway(t);
  const { access, customer } = await activePair(t, gateway, { perms: ['after_session_lock'] });
  const helper = await technician(t, gateway, 'tech-2', { perms: ['after_session_logout'] });
  await access.tech.invite('tech-2');
  await helper.tech.acceptInvitation(access.tech.sessionId);
  await access.setAfterSessionAction('lock');
  const sessionId = access.tech.sessionId;
  // tech-2 may not lock, so it may neither clear nor replace tech-1's lock
  await assert.rejects(helper.access.setAfterSessionAction('none', sessionId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  await assert.rejects(helper.access.setAfterSessionAction('logout', sessionId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  // the lock still stands: clearing it is for one who may lock
  await access.setAfterSessionAction('none');
  // with nothing set, tech-2 may set what it may do
  const reaches = waitFor(
    customer,
    'control',
    (c) => c.setAfterSessionAction?.action === Kind.AFTER_SESSION_ACTION_KIND_LOGOUT,
  );
  await helper.access.setAfterSessionAction('logout', sessionId);
  const [set] = await reaches;
  assert.equal(set.setAfterSessionAction?.by, 'tech-2');
});
