import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { MAX_PENDING_REQUESTS, type PendingKind } from '../../src/session/pending.js';
import { SessionRegistry } from '../../src/session/registry.js';
import { FakePeer } from '../support/fake-peer.js';

const KINDS: PendingKind[] = ['consent', 'sysinfo', 'script', 'elevate', 'task'];

function liveSession() {
  const registry = new SessionRegistry({ pinLength: 9, pinTtlMs: 60_000, logger: silentLogger() });
  const owner = new FakePeer({ role: ferry.v1.Role.ROLE_TECHNICIAN, name: 'owner' });
  const outsider = new FakePeer({ role: ferry.v1.Role.ROLE_TECHNICIAN, name: 'outsider' });
  const customer = new FakePeer({ role: ferry.v1.Role.ROLE_CUSTOMER, name: 'Alice' });
  const { session, pin } = registry.create(owner, '');
  assert.equal(registry.claimPin(pin), session);
  registry.attachCustomer(session, customer);
  registry.pickUp(owner, session.id);
  assert.equal(session.status, 'ACTIVE');
  owner.sent.length = 0;
  return { registry, session, owner, outsider };
}

test('an answer of every kind reaches the technician who asked while it works the session, and nobody else', () => {
  const { registry, session, owner, outsider } = liveSession();
  const ownerSeat = registry.seatOf(owner);
  const outsiderSeat = registry.seatOf(outsider);
  for (const kind of KINDS) {
    const mine = session.nextRequestId();
    session.pending.add(mine, { kind, seat: ownerSeat, requestId: 1 });
    const theirs = session.nextRequestId();
    session.pending.add(theirs, { kind, seat: outsiderSeat, requestId: 2 });
    // a ticket of another kind is not an answer to this one
    const other = KINDS[(KINDS.indexOf(kind) + 1) % KINDS.length]!;
    assert.equal(session.pending.take(mine, other), null);
    const toOwner = session.pending.take(mine, kind)!;
    assert.equal(session.answer(toOwner, Uint8Array.of(1, 2, 3)), true, kind);
    const toOutsider = session.pending.take(theirs, kind)!;
    assert.equal(session.answer(toOutsider, Uint8Array.of(4, 5, 6)), false, kind);
    assert.equal(session.pending.take(mine, kind), null, 'an answer is taken once');
  }
  assert.equal(owner.sent.length, KINDS.length);
  assert.equal(outsider.sent.length, 0, 'a seat with no part in the session hears nothing');
  assert.equal(session.pending.size, 0);
});

test('the table is bounded, and a departing seat or an ended session leaves nothing waiting', () => {
  const { registry, session, owner } = liveSession();
  const seat = registry.seatOf(owner);
  const first = session.nextRequestId();
  session.pending.add(first, { kind: 'sysinfo', seat, requestId: 0 });
  for (let i = 0; i < MAX_PENDING_REQUESTS; i++) {
    session.pending.add(session.nextRequestId(), { kind: 'script', seat, requestId: i });
  }
  assert.equal(session.pending.size, MAX_PENDING_REQUESTS);
  assert.equal(session.pending.take(first, 'sysinfo'), null, 'the oldest gave way');
  session.pending.add(session.nextRequestId(), { kind: 'sysinfo', seat, requestId: 0 });
  session.pending.dropSeat(seat, 'sysinfo');
  assert.equal(session.pending.takeAll('sysinfo').length, 0);
  assert.equal(session.pending.takeAll('script').length, MAX_PENDING_REQUESTS - 1);
  session.pending.add(session.nextRequestId(), { kind: 'elevate', seat, requestId: 0 });
  registry.end(session);
  assert.equal(session.pending.size, 0);
});
