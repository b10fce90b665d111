/**
 * The technician operations end to end: a real gateway, reference technicians and customers,
 * every operation as a CONTROL request answered by Done or by its coded Error, every status change
 * seen by the participants as StatusChanged events with the views of spec D-TRANSFER-PROJECTION.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError, waitFor } from '../../src/clients/client.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import {
  activeSession,
  next,
  Status,
  startGateway,
  statusName,
  statusOf,
  technician,
  waitingSession,
} from './harness.js';

const Channel = ferry.v1.Channel;
const Relation = ferry.v1.QueueRelation;

async function refusedWith(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FerryError) return err.code;
    throw err;
  }
  assert.fail('the operation was expected to be refused');
}

test('a technician puts a session on hold and resumes it; input is refused while it is parked', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const customerSees = statusOf(customer, sessionId, 'SESSION_STATUS_ON_HOLD');
  const done = await tech.hold();
  assert.equal(done.status, Status.SESSION_STATUS_ON_HOLD);
  const held = await customerSees;
  assert.equal(held.previous, Status.SESSION_STATUS_ACTIVE);
  assert.equal(held.trigger, 'hold');
  assert.equal(held.actor, 'tech-1');
  const refused = waitFor(tech, 'gatewayError', (e) => e.channel === Channel.CHANNEL_INPUT);
  tech.movePointer(1, 1);
  assert.equal((await refused)[0].code, 'FERRY_ERR_WRONG_STATE');
  assert.equal((await tech.unhold()).status, Status.SESSION_STATUS_ACTIVE);
  const moved = next(customer, 'input');
  tech.movePointer(7, 8);
  await moved;
  assert.deepEqual([customer.pointer.x, customer.pointer.y], [7, 8]);
});

test('a transfer shows Outgoing to the sender and Incoming to the target, who picks it up and takes over', async (t) => {
  const started = await startGateway(t);
  const tech1 = await technician(t, started, 'tech-1');
  const tech2 = await technician(t, started, 'tech-2');
  const { customer, sessionId } = await activeSession(t, started, tech1);
  const incoming = statusOf(tech2, sessionId, 'SESSION_STATUS_INCOMING');
  const done = await tech1.transfer('tech-2', 'printer driver, please');
  assert.equal(done.status, Status.SESSION_STATUS_OUTGOING);
  const offered = await incoming;
  assert.equal(offered.comment, 'printer driver, please');
  assert.equal(offered.actor, 'tech-1');
  assert.equal(offered.previous, Status.SESSION_STATUS_ACTIVE);

  const [mine] = await tech1.listQueue();
  assert.equal(mine?.status, Status.SESSION_STATUS_OUTGOING);
  assert.equal(mine?.relation, Relation.QUEUE_RELATION_OWNER);
  const [theirs] = await tech2.listQueue();
  assert.equal(theirs?.sessionId, sessionId);
  assert.equal(theirs?.status, Status.SESSION_STATUS_INCOMING);
  assert.equal(theirs?.relation, Relation.QUEUE_RELATION_TRANSFER_TARGET);
  assert.equal(theirs?.customerName, 'Alice');
  assert.equal(theirs?.ownerName, 'tech-1');

  const dropped = statusOf(tech1, sessionId, 'SESSION_STATUS_REMOVED_FROM_TC_QUEUE');
  const owner = next(customer, 'event', (e) => e.ownerChanged != null);
  await tech2.pickUp(sessionId);
  assert.equal((await dropped).trigger, 'pickup');
  assert.equal((await owner)[0].ownerChanged?.displayName, 'tech-2');
  assert.deepEqual(await tech1.listQueue(), []);
  // The new owner holds control and sees the screen; the former owner does neither.
  const moved = next(customer, 'input');
  tech2.movePointer(3, 4);
  await moved;
  const screen = waitFor(tech2, 'frame', (f) => f.channel === Channel.CHANNEL_SCREEN);
  customer.sendScreenFrame();
  await screen;
  assert.equal(tech1.screenFrames, 0);
  const refused = waitFor(tech1, 'gatewayError', (e) => e.channel === Channel.CHANNEL_INPUT);
  tech1.movePointer(9, 9);
  assert.equal((await refused)[0].code, 'FERRY_ERR_WRONG_STATE');
  const session = started.gateway.registry.get(sessionId)!;
  assert.equal(session.owner.name, 'tech-2');
});

test('the sender of a transfer may take its session back before the target picks it up', async (t) => {
  const started = await startGateway(t);
  const tech1 = await technician(t, started, 'tech-1');
  const tech2 = await technician(t, started, 'tech-2');
  const { sessionId } = await activeSession(t, started, tech1);
  const incoming = statusOf(tech2, sessionId, 'SESSION_STATUS_INCOMING');
  await tech1.transfer('tech-2');
  await incoming;
  const dropped = statusOf(tech2, sessionId, 'SESSION_STATUS_REMOVED_FROM_TC_QUEUE');
  await tech1.pickUp(sessionId);
  const removed = await dropped;
  assert.equal(removed.previous, Status.SESSION_STATUS_INCOMING);
  assert.equal(removed.trigger, 'pickup');
  assert.equal(
    await refusedWith(tech2.pickUp(sessionId)),
    'FERRY_ERR_NOT_IN_SESSION',
    'the target lost its entry',
  );
});

test('an invited technician accepts and collaborates, chats privately, and is removed by the owner', async (t) => {
  const started = await startGateway(t);
  const owner = await technician(t, started, 'tech-1');
  const helper = await technician(t, started, 'tech-2');
  const { customer, sessionId } = await activeSession(t, started, owner);
  const invited = statusOf(helper, sessionId, 'SESSION_STATUS_INVITATION');
  await owner.invite('tech-2');
  assert.equal((await invited).actor, 'tech-1');
  const [entry] = await helper.listQueue();
  assert.equal(entry?.relation, Relation.QUEUE_RELATION_INVITED);

  const shared = statusOf(owner, sessionId, 'SESSION_STATUS_COLLABORATING');
  const done = await helper.acceptInvitation(sessionId);
  assert.equal(done.status, Status.SESSION_STATUS_COLLABORATING);
  assert.equal((await shared).trigger, 'invite_accept');
  // Both technicians receive the screen; technicians-only chat never reaches the customer.
  const both = Promise.all([
    waitFor(owner, 'frame', (f) => f.channel === Channel.CHANNEL_SCREEN),
    waitFor(helper, 'frame', (f) => f.channel === Channel.CHANNEL_SCREEN),
  ]);
  customer.sendScreenFrame();
  await both;
  const customerChats: string[] = [];
  customer.on('chat', (c) => customerChats.push(c.text));
  const privately = next(owner, 'chat', (c) => c.text === 'between us');
  helper.chat('between us', true);
  await privately;
  const openly = next(customer, 'chat', (c) => c.text === 'hello all');
  helper.chat('hello all');
  await openly;
  assert.deepEqual(customerChats, ['hello all']);

  assert.equal(await refusedWith(helper.hold()), 'FERRY_ERR_NOT_OWNER');
  const removed = statusOf(helper, sessionId, 'SESSION_STATUS_REMOVED_FROM_TC_QUEUE');
  const single = statusOf(owner, sessionId, 'SESSION_STATUS_ACTIVE');
  await owner.removeCollaborator('tech-2');
  assert.equal((await removed).previous, Status.SESSION_STATUS_COLLABORATING);
  assert.equal((await single).trigger, 'collaboration_end');
  assert.equal(await refusedWith(helper.hold(sessionId)), 'FERRY_ERR_NOT_IN_SESSION');
});

test('a declined invitation leaves the queue and the session as it was', async (t) => {
  const started = await startGateway(t);
  const owner = await technician(t, started, 'tech-1');
  const helper = await technician(t, started, 'tech-2');
  const { sessionId } = await activeSession(t, started, owner);
  const invited = statusOf(helper, sessionId, 'SESSION_STATUS_INVITATION');
  await owner.invite('tech-2');
  await invited;
  const gone = statusOf(helper, sessionId, 'SESSION_STATUS_REMOVED_FROM_TC_QUEUE');
  const done = await helper.declineInvitation(sessionId);
  assert.equal(done.status, Status.SESSION_STATUS_REMOVED_FROM_TC_QUEUE);
  assert.equal((await gone).trigger, 'invite_decline_or_timeout');
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'ACTIVE');
  assert.equal(await refusedWith(helper.acceptInvitation(sessionId)), 'FERRY_ERR_NO_INVITATION');
});

test('the owner hands the session over to a collaborator, who gets control', async (t) => {
  const started = await startGateway(t);
  const owner = await technician(t, started, 'tech-1');
  const helper = await technician(t, started, 'tech-2');
  const { customer, sessionId } = await activeSession(t, started, owner);
  await owner.invite('tech-2');
  await helper.acceptInvitation(sessionId);
  const changed = next(customer, 'event', (e) => e.ownerChanged != null);
  await owner.handOver('tech-2');
  assert.equal((await changed)[0].ownerChanged?.displayName, 'tech-2');
  const moved = next(customer, 'input');
  helper.movePointer(11, 12);
  await moved;
  const refused = waitFor(owner, 'gatewayError', (e) => e.channel === Channel.CHANNEL_INPUT);
  owner.movePointer(1, 1);
  assert.equal((await refused)[0].code, 'FERRY_ERR_NOT_CONTROLLER');
  assert.equal(await refusedWith(owner.hold()), 'FERRY_ERR_NOT_OWNER');
  const [entry] = await owner.listQueue();
  assert.equal(entry?.relation, Relation.QUEUE_RELATION_COLLABORATOR);
  assert.equal((await helper.hold()).status, Status.SESSION_STATUS_ON_HOLD);
});

test('a reboot takes the session to Rebooting and back to the status it had once the customer is back', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  await tech.hold();
  const resumed = next(customer, 'resumed');
  const back = statusOf(tech, sessionId, 'SESSION_STATUS_ON_HOLD');
  const done = await tech.reboot();
  assert.equal(done.status, Status.SESSION_STATUS_REBOOTING);
  const [welcome] = await resumed;
  assert.equal(welcome.resumed, true);
  assert.equal(welcome.sessionId, sessionId);
  const returned = await back;
  assert.equal(returned.previous, Status.SESSION_STATUS_REBOOTING);
  assert.equal(returned.trigger, 'reboot_complete');
  assert.equal(customer.reboots, 1);
  const history = started.gateway.registry.get(sessionId)!.history.map((h) => h.status);
  assert.deepEqual(history.slice(-3), ['ON_HOLD', 'REBOOTING', 'ON_HOLD']);
  // The customer is live again: input flows once the session is resumed.
  await tech.unhold();
  const moved = next(customer, 'input');
  tech.movePointer(5, 5);
  await moved;
});

test('the owner closes an active session: Closed by technician, and the customer is let go', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const closed = next(customer, 'close');
  const seen = statusOf(customer, sessionId, 'SESSION_STATUS_CLOSED_BY_TECHNICIAN');
  const done = await tech.endSession(sessionId, 'fixed');
  assert.equal(done.status, Status.SESSION_STATUS_CLOSED_BY_TECHNICIAN);
  await seen;
  assert.equal((await closed)[0], CloseCodes.SESSION_CLOSED);
  assert.equal(customer.reconnects, 0, 'an ended session is not resumed');
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
});

test('a waiting customer who closes ends the session as Closed by waiting customer', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await waitingSession(t, started, tech);
  const seen = statusOf(tech, sessionId, 'SESSION_STATUS_CLOSED_BY_WAITING_CUSTOMER');
  await customer.endSession('no time');
  assert.equal((await seen).trigger, 'customer_close');
  assert.equal(started.gateway.registry.get(sessionId), undefined);
});

test('an active customer who closes leaves the session Closed until the technician closes it', async (t) => {
  const started = await startGateway(t);
  const tech = await technician(t, started, 'tech-1');
  const { customer, sessionId } = await activeSession(t, started, tech);
  const seen = statusOf(tech, sessionId, 'SESSION_STATUS_CLOSED');
  // A normal WebSocket close from the customer is its deliberate close (customer_close).
  await customer.close();
  assert.equal((await seen).trigger, 'customer_close');
  const [entry] = await tech.listQueue();
  assert.equal(entry?.status, Status.SESSION_STATUS_CLOSED);
  assert.equal(entry?.customerConnected, false);
  const done = await tech.endSession(sessionId);
  assert.equal(done.status, Status.SESSION_STATUS_CLOSED_BY_TECHNICIAN);
  const report = started.gateway.registry.reports.get(sessionId)!;
  assert.deepEqual(
    report.statusHistory.map((h) => h.status),
    ['CONNECTING', 'WAITING', 'ACTIVE', 'CLOSED', 'CLOSED_BY_TECHNICIAN'],
  );
});

test('a collaborator who closes only leaves; the owner leaves a session in the queue and picks it up again', async (t) => {
  const started = await startGateway(t);
  const owner = await technician(t, started, 'tech-1');
  const helper = await technician(t, started, 'tech-2');
  const { sessionId } = await activeSession(t, started, owner);
  await owner.invite('tech-2');
  await helper.acceptInvitation(sessionId);
  const single = statusOf(owner, sessionId, 'SESSION_STATUS_ACTIVE');
  const left = await helper.endSession(sessionId);
  assert.equal(left.status, Status.SESSION_STATUS_REMOVED_FROM_TC_QUEUE);
  await single;
  assert.equal((await owner.release()).status, Status.SESSION_STATUS_WAITING);
  await owner.pickUp(sessionId);
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'ACTIVE');
});

test('refused operations answer with their codes and change nothing', async (t) => {
  const started = await startGateway(t);
  const owner = await technician(t, started, 'tech-1');
  const stranger = await technician(t, started, 'tech-3');
  const { customer, sessionId } = await waitingSession(t, started, owner);
  const statuses: string[] = [];
  owner.on('status', (s) => statuses.push(statusName(s.status)));
  // Triggers the current status does not accept (spec: not adopted from Waiting).
  assert.equal(await refusedWith(owner.hold()), 'FERRY_ERR_INVALID_TRANSITION');
  assert.equal(await refusedWith(owner.endSession()), 'FERRY_ERR_INVALID_TRANSITION');
  assert.equal(await refusedWith(owner.invite('tech-3')), 'FERRY_ERR_INVALID_TRANSITION');
  await owner.pickUp(sessionId);
  assert.equal(await refusedWith(owner.pickUp(sessionId)), 'FERRY_ERR_INVALID_TRANSITION');
  assert.equal(await refusedWith(owner.unhold()), 'FERRY_ERR_INVALID_TRANSITION');
  // Wrong role, not owner, unknown target, no part, no invitation.
  const asCustomer = customer.request({ holdSession: { sessionId } });
  assert.equal(await refusedWith(asCustomer), 'FERRY_ERR_WRONG_ROLE');
  assert.equal(await refusedWith(owner.transfer('nobody')), 'FERRY_ERR_TECHNICIAN_NOT_FOUND');
  assert.equal(await refusedWith(owner.transfer('tech-1')), 'FERRY_ERR_TECHNICIAN_NOT_FOUND');
  assert.equal(await refusedWith(stranger.hold(sessionId)), 'FERRY_ERR_NOT_IN_SESSION');
  assert.equal(await refusedWith(stranger.reboot(sessionId)), 'FERRY_ERR_NOT_IN_SESSION');
  assert.equal(await refusedWith(stranger.acceptInvitation(sessionId)), 'FERRY_ERR_NO_INVITATION');
  assert.equal(await refusedWith(owner.hold('no-such-session')), 'FERRY_ERR_SESSION_NOT_FOUND');
  const asWelcome = owner.request({ done: { sessionId } });
  assert.equal(await refusedWith(asWelcome), 'FERRY_ERR_UNSUPPORTED_OPERATION');
  assert.deepEqual(statuses, ['ACTIVE']);
  assert.equal(started.gateway.registry.get(sessionId)?.status, 'ACTIVE');
});
