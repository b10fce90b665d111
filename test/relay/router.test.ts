import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { SendStatus } from '../../src/relay/peer.js';
import { DropReason, dropReasonNames } from '../../src/relay/stats.js';
import { FakePeer } from '../support/fake-peer.js';
import { unitRelay } from '../support/relay.js';

const Channel = ferry.v1.Channel;

async function setup(overrides: Record<string, unknown> = {}) {
  const { router, registry, context } = await unitRelay({ screenDropBytes: 1000, ...overrides });
  const tech = new FakePeer({ id: 't1', role: ferry.v1.Role.ROLE_TECHNICIAN, name: 'tech-1' });
  const customer = new FakePeer({ id: 'c1', role: ferry.v1.Role.ROLE_CUSTOMER, name: 'Alice' });
  const { session, pin } = registry.create(tech, '');
  const claimed = registry.claimPin(pin);
  assert.equal(claimed, session);
  registry.attachCustomer(session, customer);
  registry.pickUp(tech, session.id);
  assert.equal(session.status, 'ACTIVE');
  const P = ferry.v1.Permission;
  context.tools.answerConsent(customer, { granted: [P.PERMISSION_VIEW, P.PERMISSION_CONTROL] });
  tech.sent.length = 0;
  customer.sent.length = 0;
  return { router, registry, session, tech, customer };
}

const screen = (monitor = 0) =>
  ferry.v1.Frame.encode({
    channel: Channel.CHANNEL_SCREEN,
    stream: monitor,
    screen: { frameSeq: 1, data: new Uint8Array(64) },
  }).finish();
const input = () =>
  ferry.v1.Frame.encode({
    channel: Channel.CHANNEL_INPUT,
    input: { move: { x: 1, y: 2 } },
  }).finish();
/** A standalone ArrayBuffer like the one uWS hands to onMessage. */
const buffer = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;

test('screen frames are dropped for a technician whose buffer is over the threshold, and counted', async () => {
  const { router, session, tech, customer } = await setup();
  router.onMessage(customer, buffer(screen()), true);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 1);
  tech.buffered = 1001;
  router.onMessage(customer, buffer(screen(2)), true);
  router.onMessage(customer, buffer(screen(2)), true);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 1);
  assert.equal(tech.droppedFrames, 2);
  assert.equal(session.droppedFrames[Channel.CHANNEL_SCREEN], 2);
  const index = Channel.CHANNEL_SCREEN * dropReasonNames.length + DropReason.SLOW_CONSUMER;
  assert.equal(router.stats.dropped[index], 2);
  assert.equal(tech.screenStarved, true);
  assert.equal(tech.starvedStream, 2);
  assert.equal(tech.closedWith, null, 'dropping screen frames never closes the technician');
});

test('a starved technician gets the customer asked for a key frame once its buffer drains', async () => {
  const { router, tech, customer } = await setup();
  tech.buffered = 5000;
  router.onMessage(customer, buffer(screen(1)), true);
  router.onDrain(tech);
  assert.equal(customer.sent.length, 0, 'still above half the threshold: no request yet');
  tech.buffered = 100;
  router.onDrain(tech);
  const requests = customer
    .received(Channel.CHANNEL_CONTROL)
    .filter((f) => f.control?.keyFrameRequest);
  assert.equal(requests.length, 1);
  assert.equal(tech.screenStarved, false);
  router.onDrain(tech);
  assert.equal(customer.received(Channel.CHANNEL_CONTROL).length, 1, 'one request per starvation');
});

test('input is never dropped for a congested customer: it is queued, and past the hard cap the customer is closed as a slow consumer', async () => {
  const { router, tech, customer } = await setup({ maxBufferedBytes: 1_000_000 });
  customer.buffered = 900_000;
  customer.sendResult = SendStatus.BACKPRESSURE;
  router.onMessage(tech, buffer(input()), true);
  assert.equal(
    customer.received(Channel.CHANNEL_INPUT).length,
    1,
    'queued behind backpressure, not dropped',
  );
  assert.equal(customer.closedWith, null);
  // The gateway's own account says the next frame would pass the hard cap: close, do not drop.
  customer.buffered = 999_999;
  router.onMessage(tech, buffer(input()), true);
  assert.equal(customer.received(Channel.CHANNEL_INPUT).length, 1);
  assert.deepEqual(customer.closedWith, [4008, 'FERRY_ERR_SLOW_CONSUMER']);
  assert.equal(router.stats.errors.get('FERRY_ERR_SLOW_CONSUMER'), 1);
});

test('a reliable frame uWS refuses (its own backpressure limit) also closes the receiver, never vanishes', async () => {
  const { router, tech, customer } = await setup();
  customer.sendResult = SendStatus.DROPPED;
  router.onMessage(tech, buffer(input()), true);
  assert.deepEqual(customer.closedWith, [4008, 'FERRY_ERR_SLOW_CONSUMER']);
});

test('past half the gateway-wide budget screen frames are dropped even for a technician that keeps up', async () => {
  const { router, tech, customer } = await setup({ globalBufferedBytes: 2_000_000 });
  router.budget.used = 1_000_001;
  router.onMessage(customer, buffer(screen()), true);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 0);
  assert.equal(tech.droppedFrames, 1);
  router.budget.used = 999_999;
  router.onMessage(customer, buffer(screen()), true);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 1);
});

test('past the gateway-wide budget a congested receiver of a reliable frame is closed, an idle one is served', async () => {
  const { router, tech, customer } = await setup({
    globalBufferedBytes: 2_000_000,
    screenDropBytes: 1000,
  });
  router.budget.used = 2_000_000;
  customer.buffered = 10;
  router.onMessage(tech, buffer(input()), true);
  assert.equal(
    customer.received(Channel.CHANNEL_INPUT).length,
    1,
    'a receiver that keeps up still gets it',
  );
  customer.buffered = 5000;
  router.onMessage(tech, buffer(input()), true);
  assert.deepEqual(customer.closedWith, [4008, 'FERRY_ERR_SLOW_CONSUMER']);
});

test('a connection sending more frames per second than allowed is closed with FERRY_ERR_RATE_LIMITED', async () => {
  const { router, tech, customer } = await setup({ maxMessagesPerSecond: 5 });
  for (let i = 0; i < 5; i++) router.onMessage(tech, buffer(input()), true);
  assert.equal(customer.received(Channel.CHANNEL_INPUT).length, 5);
  assert.equal(tech.closedWith, null);
  router.onMessage(tech, buffer(input()), true);
  assert.equal(customer.received(Channel.CHANNEL_INPUT).length, 5);
  assert.deepEqual(tech.closedWith, [4029, 'FERRY_ERR_RATE_LIMITED']);
});

test('refused frames count as strikes: past maxBadFrames in a window the sender is closed with 1008', async () => {
  const { router, tech } = await setup({ maxBadFrames: 3 });
  const bad = new Uint8Array([0xff]).buffer;
  for (let i = 0; i < 3; i++) router.onMessage(tech, bad, true);
  assert.equal(tech.closedWith, null);
  router.onMessage(tech, bad, true);
  assert.deepEqual(tech.closedWith, [1008, 'FERRY_ERR_TOO_MANY_ERRORS']);
  const codes = tech.received(Channel.CHANNEL_EVENT).map((f) => f.event?.error?.code);
  assert.deepEqual(codes, [
    'FERRY_ERR_FRAME_NO_CHANNEL',
    'FERRY_ERR_FRAME_NO_CHANNEL',
    'FERRY_ERR_FRAME_NO_CHANNEL',
    'FERRY_ERR_FRAME_NO_CHANNEL',
    'FERRY_ERR_TOO_MANY_ERRORS',
  ]);
});

test('screen and input are forwarded as the very same bytes', async () => {
  const { router, tech, customer } = await setup();
  const s = screen(3);
  const i = input();
  router.onMessage(customer, buffer(s), true);
  router.onMessage(tech, buffer(i), true);
  assert.deepEqual(tech.sent[0], new Uint8Array(s));
  assert.deepEqual(customer.sent[0], new Uint8Array(i));
  assert.equal(router.stats.outBytes[Channel.CHANNEL_SCREEN], s.length);
  assert.equal(router.stats.inFrames[Channel.CHANNEL_INPUT], 1);
  assert.equal(tech.rxFrames, 1);
  assert.equal(customer.rxBytes, s.length);
});

test('input from a technician without control is refused with FERRY_ERR_NOT_CONTROLLER', async () => {
  const { router, session, tech, customer } = await setup();
  session.controller = null;
  router.onMessage(tech, buffer(input()), true);
  assert.equal(customer.sent.length, 0);
  const err = tech.received(Channel.CHANNEL_EVENT)[0]?.event?.error;
  assert.equal(err?.code, 'FERRY_ERR_NOT_CONTROLLER');
  assert.equal(err?.channel, Channel.CHANNEL_INPUT);
});

test('frames read from a connection whose close waits for the end of the turn are ignored: no relay, no refusal, no strike', async () => {
  const { router, tech, customer } = await setup();
  customer.ending = true;
  router.onMessage(customer, buffer(screen()), true);
  router.onMessage(customer, new Uint8Array([0xff]).buffer, true);
  assert.equal(tech.received(Channel.CHANNEL_SCREEN).length, 0);
  assert.equal(customer.sent.length, 0, 'no Error frame');
  assert.equal(customer.strikes, 0);
  assert.equal(router.stats.malformed, 0);
  assert.equal(customer.closedWith, null);
});

test('a reliable frame for a connection whose close waits is not a slow consumer', async () => {
  const { router, tech, customer } = await setup();
  customer.ending = true;
  customer.sendResult = SendStatus.DROPPED;
  router.onMessage(tech, buffer(input()), true);
  assert.equal(customer.closedWith, null, 'its own close stands');
  assert.equal(tech.closedWith, null);
});
