/**
 * The revoke race: SCREEN and INPUT frames refused within `inputGraceMs` of a revoke, a control
 * hand-over or a status change are dropped and counted, never a strike; outside the grace, or
 * for any other refusal, the strike rule holds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { FakePeer } from '../support/fake-peer.js';
import { unitRelay } from '../support/relay.js';

const Channel = ferry.v1.Channel;
const P = ferry.v1.Permission;

async function setup(overrides: Record<string, unknown> = {}) {
  const relay = await unitRelay({ maxBadFrames: 3, ...overrides });
  const { registry, context } = relay;
  const tech = new FakePeer({ id: 't1', role: ferry.v1.Role.ROLE_TECHNICIAN, name: 'tech-1' });
  const customer = new FakePeer({ id: 'c1', role: ferry.v1.Role.ROLE_CUSTOMER, name: 'Alice' });
  const { session, pin } = registry.create(tech, '');
  registry.claimPin(pin);
  registry.attachCustomer(session, customer);
  registry.pickUp(tech, session.id);
  context.tools.answerConsent(customer, { granted: [P.PERMISSION_VIEW, P.PERMISSION_CONTROL] });
  tech.sent.length = 0;
  customer.sent.length = 0;
  return { ...relay, session, tech, customer };
}

let seq = 0;
const move = (): ArrayBuffer =>
  new Uint8Array(
    ferry.v1.Frame.encode({
      channel: Channel.CHANNEL_INPUT,
      input: { seq: ++seq, move: { x: seq % 100, y: 5, monitor: 1 } },
    }).finish(),
  ).buffer;
const tile = (): ArrayBuffer =>
  new Uint8Array(
    ferry.v1.Frame.encode({
      channel: Channel.CHANNEL_SCREEN,
      stream: 1,
      screen: { frameSeq: 1, data: new Uint8Array(16) },
    }).finish(),
  ).buffer;
const errors = (peer: FakePeer) =>
  peer
    .received(Channel.CHANNEL_EVENT)
    .filter((f) => f.event?.error !== undefined && f.event?.error !== null);

test('a technician that keeps streaming pointer moves through a revoke is never closed', async () => {
  const { router, context, session, tech, customer } = await setup();
  for (let i = 0; i < 5; i++) router.onMessage(tech, move(), true);
  assert.equal(customer.received(Channel.CHANNEL_INPUT).length, 5);
  context.tools.revokeConsent(customer, { permissions: [P.PERMISSION_CONTROL] });
  assert.ok(session.changedAtMs > 0);
  for (let i = 0; i < 50; i++) router.onMessage(tech, move(), true);
  assert.equal(tech.closedWith, null);
  assert.equal(tech.strikes, 0);
  assert.equal(errors(tech).length, 0, 'no Error per excused frame');
  assert.equal(
    customer.received(Channel.CHANNEL_INPUT).length,
    5,
    'nothing relayed after the revoke',
  );
  assert.equal(router.stats.excused[Channel.CHANNEL_INPUT], 50);
});

test('a customer still sending tiles through a change made by a technician is not closed either', async () => {
  const { router, session, customer, tech } = await setup();
  // a technician's change the customer has not heard of yet: view gone, stamped now
  session.grants = 0;
  session.changedAtMs = Date.now();
  session.changedBy = 'tech-1';
  for (let i = 0; i < 20; i++) router.onMessage(customer, tile(), true);
  assert.equal(customer.closedWith, null);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 0);
  assert.equal(router.stats.excused[Channel.CHANNEL_SCREEN], 20);
});

test('the one who made the change has seen it: its own refused frames still strike', async () => {
  const { router, context, customer } = await setup();
  context.tools.revokeConsent(customer, { permissions: [P.PERMISSION_VIEW] });
  for (let i = 0; i < 4; i++) router.onMessage(customer, tile(), true);
  assert.deepEqual(customer.closedWith, [1008, 'FERRY_ERR_TOO_MANY_ERRORS']);
  assert.equal(router.stats.excused[Channel.CHANNEL_SCREEN], 0);
});

test('input refused after control leaves a technician is excused within the grace', async () => {
  const { router, session, tech } = await setup();
  session.setController(null, 'tech-2', Date.now()); // the owner, say, took it back
  for (let i = 0; i < 10; i++) router.onMessage(tech, move(), true);
  assert.equal(tech.closedWith, null);
  assert.equal(router.stats.excused[Channel.CHANNEL_INPUT], 10);
});

test('past the grace the same refusals strike again and close a sender that keeps on', async () => {
  const { router, context, session, tech, customer } = await setup();
  context.tools.revokeConsent(customer, { permissions: [P.PERMISSION_CONTROL] });
  session.changedAtMs -= 2000; // the clock moves to the end of the default grace of 2000 ms
  for (let i = 0; i < 4; i++) router.onMessage(tech, move(), true);
  assert.deepEqual(tech.closedWith, [1008, 'FERRY_ERR_TOO_MANY_ERRORS']);
  assert.equal(errors(tech)[0]?.event?.error?.code, 'FERRY_ERR_NOT_GRANTED');
  assert.equal(router.stats.excused[Channel.CHANNEL_INPUT], 0);
});

test('a grace of zero turns the excuse off', async () => {
  const { router, context, tech, customer } = await setup({ inputGraceMs: 0 });
  context.tools.revokeConsent(customer, { permissions: [P.PERMISSION_CONTROL] });
  for (let i = 0; i < 4; i++) router.onMessage(tech, move(), true);
  assert.deepEqual(tech.closedWith, [1008, 'FERRY_ERR_TOO_MANY_ERRORS']);
});

test('other refusals are never excused: a malformed frame still strikes inside the grace', async () => {
  const { router, context, tech, customer } = await setup();
  context.tools.revokeConsent(customer, { permissions: [P.PERMISSION_CONTROL] });
  const bad = new Uint8Array([0xff]).buffer;
  for (let i = 0; i < 4; i++) router.onMessage(tech, bad, true);
  assert.deepEqual(tech.closedWith, [1008, 'FERRY_ERR_TOO_MANY_ERRORS']);
});
