/**
 * A technician who quits (LeaveSession) is not a network drop: ownership passes to a
 * collaborator, or the orphan policy applies (queue: back to Waiting; close: closes after the
 * grace) and the customer is told; a session nobody takes closes after orphanGraceSeconds. A
 * network drop keeps Reconnecting and Offline, and a customer going Offline never costs the
 * technician its connection while it sends input the way the CLI does. Real gateway, lifecycle
 * clock moved by the test.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { TechnicianRepl } from '../../src/cli/technician-repl.js';
import {
  activeSession,
  MANUAL,
  next,
  Status,
  startGateway,
  statusOf,
  technician,
} from '../lifecycle/harness.js';

/** A gateway whose shared-clock ticks a test can wait for (`ticked()`: the next full tick). */
async function gatewayWithTicks(t: TestContext, overrides: Parameters<typeof startGateway>[1]) {
  const ticks = new EventEmitter();
  const started = await startGateway(t, overrides, { onTick: () => ticks.emit('tick') });
  const ticked = async () => {
    await once(ticks, 'tick');
    await once(ticks, 'tick');
  };
  return { started, ticked };
}

test('an owner who quits alone puts the session back in its queue, the customer is told, and nobody taking it closes it after the grace', async (t) => {
  const { started, ticked } = await gatewayWithTicks(t, { orphanGraceSeconds: 120 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const waiting = statusOf(customer, sessionId, 'SESSION_STATUS_WAITING');
  const told = next(customer, 'sessionEvent', (e) => e.type === 'quit');
  const done = await tech.leave('', 'end of shift');
  assert.equal(done.sessionId, sessionId);
  assert.equal(done.status, Status.SESSION_STATUS_REMOVED_FROM_TC_QUEUE);
  assert.equal((await waiting).previous, Status.SESSION_STATUS_ACTIVE);
  assert.match(
    (await told)[0].detail,
    /tech-1 quit \(end of shift\); the session waits in the queue for 120 s/,
  );
  await tech.close();
  const session = started.gateway.registry.get(sessionId)!;
  assert.equal(session.status, 'WAITING', 'a quit is not a network drop: never Reconnecting');
  assert.ok(!session.history.some((h) => h.trigger === 'connection_lost'));

  const released = next(customer, 'close');
  started.clock.advance(119_000);
  await ticked();
  // the session is still there just before the grace ends
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'WAITING');
  started.clock.advance(2000);
  await released;
  assert.equal(started.gateway.registry.get(sessionId), undefined);
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
});

test('the technician who quit finds the session in its queue and picks it up again within the grace', async (t) => {
  const { started, ticked } = await gatewayWithTicks(t, { orphanGraceSeconds: 60 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  await tech.leave(sessionId);
  await tech.close();
  const back = await technician(t, started, 'tech-1');
  const [entry] = await back.listQueue();
  assert.equal(entry?.sessionId, sessionId);
  assert.equal(entry?.status, Status.SESSION_STATUS_WAITING);
  const active = statusOf(customer, sessionId, 'SESSION_STATUS_ACTIVE');
  await back.pickUp(sessionId);
  await active;
  started.clock.advance(61_000);
  await ticked();
  const session = started.gateway.registry.get(sessionId);
  assert.equal(session?.status, 'ACTIVE', 'a session taken back does not close at the grace');
  assert.equal(session?.owner.name, 'tech-1');
});

test('with orphanPolicy close the session stays as it is, the customer is told, and it closes after the grace', async (t) => {
  const started = await startGateway(t, { orphanPolicy: 'close', orphanGraceSeconds: 30 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const told = next(customer, 'sessionEvent', (e) => e.type === 'quit');
  await tech.leave();
  assert.match((await told)[0].detail, /tech-1 quit; the session closes in 30 s/);
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'ACTIVE');
  const closed = statusOf(customer, sessionId, 'SESSION_STATUS_CLOSED_BY_TECHNICIAN');
  const released = next(customer, 'close');
  started.clock.advance(31_000);
  await closed;
  assert.equal((await released)[0], 4100);
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
});

test('orphanGraceSeconds 0 closes the session of a technician who quits at once', async (t) => {
  const started = await startGateway(t, { orphanGraceSeconds: 0 });
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const released = next(customer, 'close');
  await tech.leave();
  await released;
  assert.equal(started.gateway.registry.get(sessionId), undefined);
});

test('an owner who quits with a collaborator hands the session over to it and the customer is told', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const helper = await technician(t, started, 'tech-2');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const invited = statusOf(helper, sessionId, 'SESSION_STATUS_INVITATION');
  await tech.invite('tech-2');
  await invited;
  await helper.acceptInvitation(sessionId);
  const owner = next(customer, 'event', (e) => e.ownerChanged != null);
  const single = statusOf(customer, sessionId, 'SESSION_STATUS_ACTIVE');
  await tech.leave();
  assert.equal((await owner)[0].ownerChanged?.displayName, 'tech-2');
  await single;
  const session = started.gateway.registry.get(sessionId)!;
  assert.equal(session.owner.name, 'tech-2');
  assert.equal(session.collaborators.size, 0);
  assert.deepEqual(
    (await helper.listQueue()).map((e) => [e.sessionId, e.status]),
    [[sessionId, Status.SESSION_STATUS_ACTIVE]],
  );
});

test('a technician whose network drops keeps today’s behaviour: the session goes Reconnecting', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1', MANUAL);
  const { customer, sessionId } = await activeSession(t, started, tech);
  const reconnecting = statusOf(customer, sessionId, 'SESSION_STATUS_RECONNECTING');
  tech.dropConnection();
  await reconnecting;
  assert.equal(started.gateway.registry.get(sessionId)?.owner.name, 'tech-1');
});

test('the customer going Offline never disconnects the technician, even while it keeps sending input at the CLI’s rate', async (t) => {
  const { started, ticked } = await gatewayWithTicks(t, {});
  const tech = await technician(t, started, 'tech-1');
  const errors: string[] = [];
  tech.on('gatewayError', (e) => errors.push(e.code));
  const { customer, sessionId } = await activeSession(t, started, tech, 'Alice', MANUAL);
  const repl = new TechnicianRepl(tech, { print: () => undefined });
  repl.statuses.set(sessionId, Status.SESSION_STATUS_ACTIVE);
  // the CLI's pointer loop: ten moves a second, through the CLI's gate
  let sent = 0;
  const loop = setInterval(() => {
    if (repl.sendInput(() => tech.movePointer(10, 10, 1))) sent++;
  }, 100);
  t.after(() => clearInterval(loop));
  await ticked();
  const offline = statusOf(tech, sessionId, 'SESSION_STATUS_OFFLINE');
  customer.dropConnection();
  await statusOf(tech, sessionId, 'SESSION_STATUS_RECONNECTING');
  started.clock.advance(301_000);
  await offline;
  // and a move already on the wire when the gateway went Offline: excused, no strike
  tech.movePointer(10, 10, 1);
  // the loop goes on past the grace of that move (two ticks are 500 ms)
  for (let i = 0; i < 6; i++) await ticked();
  clearInterval(loop);
  assert.ok(sent > 0, 'input went out while the session was Active');
  assert.ok(repl.inputDropped > 0, 'input was held back while the session was not Active');
  assert.equal(tech.closeCode, 0, 'the technician is still connected');
  assert.deepEqual(errors, [], 'no input was refused: nothing drew a strike');
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'OFFLINE');
});
