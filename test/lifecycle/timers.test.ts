/**
 * The session timers, all run by the registry's tick from the gateway's one clock: the admin
 * idle timeout per status (0 = off), the two-week system timeout, the PIN lifetime, the Offline
 * window and the resume window, and the end of sessions nobody can come back to. Unit tests move
 * a fake clock; the end-to-end ones move the clock the gateway was started with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { isRefusal } from '../../src/session/registry.js';
import { WARM_MS } from '../../src/session/session-log.js';
import {
  dueTrigger,
  idleTimeoutMs,
  lifecycleOptions,
  SYSTEM_TIMEOUT_MS,
} from '../../src/session/timers.js';
import {
  activeSession,
  next,
  Status,
  startGateway,
  statusOf,
  technician,
  waitingSession,
} from './harness.js';
import { code, history, ok, World } from './world.js';

function activeWorld(lifecycle: ConstructorParameters<typeof World>[0] = {}) {
  const w = new World(lifecycle);
  const owner = w.technician('owner');
  const { session, pin } = w.open(owner);
  const customer = w.join(pin);
  ok(w.registry.pickUp(owner, session.id));
  return { w, owner, customer, session };
}

test('the two-week system timeout fires at fourteen days in one status, not a millisecond before', () => {
  const { w, owner, session } = activeWorld();
  w.jump(SYSTEM_TIMEOUT_MS - 1);
  assert.equal(session.status, 'ACTIVE');
  w.jump(1);
  assert.equal(session.status, 'TIMED_OUT');
  assert.equal(session.machine.timeoutKind, 'system');
  assert.equal(session.ended, true, 'a system timeout is final');
  assert.equal(w.registry.reports.get(session.id)?.timeoutKind, 'system');
  const told = owner.frames().find((f) => f.event?.statusChanged?.status === 12);
  assert.equal(told?.event?.statusChanged?.timeoutKind, 'system');
});

test('the system clock restarts with every status change (D-SYSTEM-TIMEOUT-CLOCK)', () => {
  const { w, owner, session } = activeWorld();
  w.jump(SYSTEM_TIMEOUT_MS - 1000);
  ok(w.registry.hold(owner, session.id));
  w.jump(SYSTEM_TIMEOUT_MS - 1000);
  assert.equal(session.status, 'ON_HOLD');
  w.jump(1000);
  assert.equal(session.status, 'TIMED_OUT');
});

test('the admin idle timeout of a worked status counts from the last user action; 0 turns it off', () => {
  const { w, owner, session } = activeWorld({ idleMs: { ACTIVE: 60_000 } });
  w.advance(50_000);
  // An input frame accepted (the router only bumps its counter; the tick notices).
  session.activityFrames++;
  w.advance(50_000);
  assert.equal(session.status, 'ACTIVE', 'the input restarted the idle clock');
  w.advance(12_000);
  assert.equal(session.status, 'TIMED_OUT');
  assert.equal(session.machine.timeoutKind, 'admin');
  assert.equal(session.ended, false, 'an admin timeout waits for the technician');
  assert.equal(session.customer, null, 'the customer is let go');
  assert.deepEqual(history(session).slice(-1), ['TIMED_OUT:admin_idle_timeout']);
  ok(w.registry.close(owner, session.id, 'dismissed'));
  assert.equal(session.status, 'CLOSED_BY_TECHNICIAN');
  assert.equal(w.registry.reports.get(session.id)?.timeoutKind, 'admin');

  const off = activeWorld({ idleMs: { ACTIVE: 0, WAITING: 60_000 } });
  off.w.advance(10 * 60_000, 10_000);
  assert.equal(off.session.status, 'ACTIVE');
});

test('the admin idle timeout of a queue status counts from entering it', () => {
  const w = new World({ idleMs: { WAITING: 60_000 } });
  const owner = w.technician('owner');
  const { session, pin } = w.open(owner);
  w.advance(59_000);
  w.join(pin);
  w.advance(59_000);
  assert.equal(session.status, 'WAITING');
  w.advance(2000);
  assert.equal(session.status, 'TIMED_OUT');
});

test('a pending transfer times out on the shorter of its two views', () => {
  assert.equal(
    idleTimeoutMs(
      lifecycleOptions(resolveConfig({ incomingIdleSeconds: 30, outgoingIdleSeconds: 90 }, {})),
      'OUTGOING',
    ),
    30_000,
  );
  const w = new World({ idleMs: { INCOMING: 30_000 } });
  const owner = w.technician('owner');
  const target = w.technician('target');
  const { session, pin } = w.open(owner);
  w.join(pin);
  ok(w.registry.pickUp(owner, session.id));
  ok(w.registry.transfer(owner, session.id, 'target', ''));
  w.advance(31_000);
  assert.equal(session.status, 'TIMED_OUT');
  assert.deepEqual(target.statusChanges(session.id).at(-1), [
    'INCOMING',
    'TIMED_OUT',
    'admin_idle_timeout',
  ]);
});

test('an idle collaborator leaves the queue while the owner works; a shared session idle as a whole times out', () => {
  const { w, owner, session } = activeWorld({ idleMs: { COLLABORATING: 60_000 } });
  const helper = w.technician('helper');
  ok(w.registry.invite(owner, session.id, 'helper'));
  ok(w.registry.answerInvitation(helper, session.id, true));
  w.advance(40_000);
  w.registry.noteAction(owner, session);
  w.advance(25_000);
  assert.equal(session.status, 'ACTIVE', 'collaboration_end after the idle collaborator left');
  assert.deepEqual(helper.statusChanges(session.id).at(-1), [
    'COLLABORATING',
    'REMOVED_FROM_TC_QUEUE',
    'collaborator_timeout',
  ]);

  const all = activeWorld({ idleMs: { COLLABORATING: 60_000 } });
  const other = all.w.technician('helper');
  ok(all.w.registry.invite(all.owner, all.session.id, 'helper'));
  ok(all.w.registry.answerInvitation(other, all.session.id, true));
  all.w.advance(61_000);
  assert.equal(all.session.status, 'TIMED_OUT');
  assert.deepEqual(history(all.session).slice(-2), [
    'COLLABORATING:invite_accept',
    'TIMED_OUT:admin_idle_timeout',
  ]);
});

test('a PIN nobody used expires with its lifetime: Removed from TC queue, and the owner is told', () => {
  const w = new World({}, 60_000);
  const owner = w.technician('owner');
  const { session, pin } = w.open(owner);
  w.advance(59_000);
  assert.equal(session.status, 'CONNECTING');
  w.advance(2000);
  assert.equal(session.status, 'REMOVED_FROM_TC_QUEUE');
  assert.equal(session.ended, true);
  assert.deepEqual(
    owner.errors().map((e) => e.code),
    ['FERRY_ERR_PIN_EXPIRED'],
  );
  assert.equal(w.registry.reports.get(session.id)?.status, 'REMOVED_FROM_TC_QUEUE');
  assert.equal(code(w.registry.claimPin(pin)), 'FERRY_ERR_PIN_INVALID');
});

test('a place not resumed within the resume window is dropped; a session nobody can come back to ends', () => {
  const { w, owner, customer, session } = activeWorld({
    offlineAfterMs: 300_000,
    resumeTtlMs: 3_600_000,
  });
  w.drop(customer);
  w.advance(301_000, 10_000);
  assert.equal(session.status, 'OFFLINE');
  w.drop(owner);
  assert.equal(w.registry.absentSeats, 2);
  w.advance(3_600_000, 60_000);
  assert.equal(session.ended, false, 'the owner may still come back');
  w.advance(1000);
  assert.equal(session.ended, true);
  assert.equal(session.endReason, 'abandoned');
  assert.equal(w.registry.absentSeats, 0, 'no place is kept for an ended session');
  const report = w.registry.reports.get(session.id)!;
  assert.equal(report.endReason, 'abandoned');
  assert.ok(report.log.some((e) => e.kind === 'event' && e.type === 'abandoned'));
  assert.equal(
    isRefusal(w.registry.claimResume(customer, customer.resumeToken)),
    true,
    'its token no longer resumes anything',
  );
});

test('an absent customer past the resume window cannot come back, and the technician closes the session', () => {
  const { w, owner, customer, session } = activeWorld({
    offlineAfterMs: 300_000,
    resumeTtlMs: 600_000,
  });
  w.drop(customer);
  w.advance(601_000, 10_000);
  assert.equal(session.status, 'OFFLINE');
  assert.equal(session.ended, false, 'its technician is still there');
  assert.equal(
    code(w.registry.claimResume(customer, customer.resumeToken)),
    'FERRY_ERR_RESUME_INVALID',
  );
  ok(w.registry.close(owner, session.id, 'customer gone'));
  assert.equal(session.status, 'CLOSED_BY_TECHNICIAN');
});

test('timers never fire a trigger the status does not accept', () => {
  const options = lifecycleOptions(resolveConfig({ activeIdleSeconds: 1 }, {}));
  const { session } = activeWorld();
  assert.equal(dueTrigger(session, session.statusSinceMs + 500, options), null);
  assert.equal(dueTrigger(session, session.statusSinceMs + 1001, options), 'admin_idle_timeout');
  assert.equal(
    dueTrigger(session, session.statusSinceMs + SYSTEM_TIMEOUT_MS, options),
    'system_timeout_2_weeks',
  );
});

test('the gateway clock drives the admin idle timeout end to end: Timed out with its kind, then closed', async (t) => {
  const started = await startGateway(t, { waitingIdleSeconds: 60 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await waitingSession(t, started, tech);
  const timedOut = statusOf(tech, sessionId, 'SESSION_STATUS_TIMED_OUT');
  const released = next(customer, 'close');
  started.clock.advance(61_000);
  const changed = await timedOut;
  assert.equal(changed.timeoutKind, 'admin');
  assert.equal(changed.actor, 'gateway');
  assert.equal(changed.trigger, 'admin_idle_timeout');
  assert.equal((await released)[0], 4102, 'a timeout is a normal close');
  const [entry] = await tech.listQueue();
  assert.equal(entry?.status, Status.SESSION_STATUS_TIMED_OUT);
  assert.equal(entry?.timeoutKind, 'admin');
  await tech.endSession(sessionId);
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
});

test('the gateway clock drives the two-week system timeout end to end', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { sessionId } = await activeSession(t, started, tech);
  const timedOut = statusOf(tech, sessionId, 'SESSION_STATUS_TIMED_OUT');
  started.clock.advance(SYSTEM_TIMEOUT_MS);
  assert.equal((await timedOut).timeoutKind, 'system');
  assert.equal(started.gateway.registry.get(sessionId), undefined);
  assert.equal(started.gateway.registry.reports.get(sessionId)?.timeoutKind, 'system');
});

test('a session log keeps the hashes of its entries for its first second, then settles into its compact form', () => {
  const { w, session } = activeWorld();
  assert.ok(session.log.warm, 'the log of a new session is warm');
  const before = session.log.entries;
  w.advance(WARM_MS - 250, 250);
  assert.ok(session.log.warm, 'still warm before WARM_MS');
  w.advance(250, 250);
  assert.equal(session.log.warm, false, 'settled by the tick at WARM_MS');
  assert.deepEqual(session.log.entries, before, 'the same entries and hashes, now derived');
});
