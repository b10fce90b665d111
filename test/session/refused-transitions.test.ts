/**
 * Every transition the state machine refuses is heard: an operation answers its caller with a
 * coded refusal (FERRY_ERR_INVALID_TRANSITION) and changes nothing; where nobody asked (the
 * clock's timers, a place gone for good, an expired PIN) the refusal is logged at error level and
 * counted in `refusedTransitions`. Each test puts a record in a status that refuses the trigger
 * the step needs, then drives the step through the registry with a fake clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { FakePeer } from '../lifecycle/world.js';
import { code, ok, World } from '../lifecycle/world.js';

/** A logger at error level whose lines are kept, parsed, in `lines`. */
function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'error' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

/** An Active session of `owner` with a customer, and a second technician `helper`. */
function activeWithHelper(w: World): { owner: FakePeer; helper: FakePeer; id: string } {
  const owner = w.technician('owner');
  const helper = w.technician('helper');
  const { session, pin } = w.open(owner);
  w.join(pin);
  ok(w.registry.pickUp(owner, session.id));
  return { owner, helper, id: session.id };
}

test('accepting an invitation whose entry has left Invitation is refused with FERRY_ERR_INVALID_TRANSITION and changes nothing', () => {
  const w = new World();
  const { owner, helper, id } = activeWithHelper(w);
  ok(w.registry.invite(owner, id, 'helper'));
  const session = w.registry.get(id)!;
  const seat = w.registry.seatOf(helper);
  session.invitations.get(seat)!.entry.status = 'REMOVED_FROM_TC_QUEUE';
  const events = helper.frames().length;

  assert.equal(code(w.registry.answerInvitation(helper, id, true)), 'FERRY_ERR_INVALID_TRANSITION');
  assert.equal(session.status, 'ACTIVE');
  assert.equal(session.collaborators.size, 0);
  assert.ok(session.invitations.has(seat), 'the invitation is still there');
  assert.equal(helper.frames().length, events, 'nobody was told of a change');
  assert.equal(w.registry.refusedTransitions, 0, 'the caller heard the refusal: nothing to count');
});

test('declining an invitation whose entry refuses the decline is refused, by answer and by close, and the invitation stays', () => {
  const w = new World();
  const { owner, helper, id } = activeWithHelper(w);
  ok(w.registry.invite(owner, id, 'helper'));
  const session = w.registry.get(id)!;
  const seat = w.registry.seatOf(helper);
  session.invitations.get(seat)!.entry.status = 'COLLABORATING';

  assert.equal(
    code(w.registry.answerInvitation(helper, id, false)),
    'FERRY_ERR_INVALID_TRANSITION',
  );
  assert.equal(code(w.registry.close(helper, id, 'no thanks')), 'FERRY_ERR_INVALID_TRANSITION');
  assert.ok(session.invitations.has(seat));
  assert.equal(session.status, 'ACTIVE');
});

test('an idle collaborator whose entry refuses collaborator_timeout stays, and each refusal is logged at error level and counted', () => {
  const { logger, lines } = capture();
  const w = new World({ idleMs: { COLLABORATING: 60_000 } }, 600_000, logger);
  const { owner, helper, id } = activeWithHelper(w);
  ok(w.registry.invite(owner, id, 'helper'));
  ok(w.registry.answerInvitation(helper, id, true));
  const session = w.registry.get(id)!;
  const seat = w.registry.seatOf(helper);
  session.collaborators.get(seat)!.entry.status = 'INVITATION';

  w.advance(40_000);
  w.registry.noteAction(owner, session);
  w.advance(25_000);
  assert.equal(session.status, 'COLLABORATING');
  assert.ok(session.collaborators.has(seat), 'a refused timeout leaves the collaborator');
  assert.ok(w.registry.refusedTransitions > 0);
  assert.equal(lines.length, w.registry.refusedTransitions, 'one error line per refusal');
  assert.deepEqual(
    {
      level: lines[0]?.level,
      msg: lines[0]?.msg,
      trigger: lines[0]?.trigger,
      sessionId: lines[0]?.sessionId,
    },
    {
      level: 50,
      msg: 'session transition refused',
      trigger: 'collaborator_timeout',
      sessionId: id,
    },
  );
});

test('a collaborator gone past the resume window leaves even when its entry refuses the timeout, and the refusal is counted', () => {
  const { logger, lines } = capture();
  const w = new World({ offlineAfterMs: 1000, resumeTtlMs: 5000 }, 600_000, logger);
  const { owner, helper, id } = activeWithHelper(w);
  ok(w.registry.invite(owner, id, 'helper'));
  ok(w.registry.answerInvitation(helper, id, true));
  const session = w.registry.get(id)!;
  const seat = w.registry.seatOf(helper);
  session.collaborators.get(seat)!.entry.status = 'WAITING';

  w.drop(helper);
  w.advance(6000);
  assert.equal(session.collaborators.has(seat), false);
  assert.equal(session.status, 'ACTIVE', 'collaboration_end after the last collaborator left');
  assert.equal(w.registry.refusedTransitions, 1);
  assert.equal(lines[0]?.during, 'collaborator gone');
});

test('a PIN that expires on a session refusing connecting_timeout still ends it, and the refusal is logged and counted', () => {
  const { logger, lines } = capture();
  const w = new World({}, 60_000, logger);
  const owner = w.technician('owner');
  const { session } = w.open(owner);
  // a record out of step with its session: no customer, yet Waiting
  session.machine.status = 'WAITING';

  w.advance(61_000);
  assert.equal(session.ended, true);
  assert.equal(w.registry.refusedTransitions, 1);
  assert.equal(lines[0]?.trigger, 'connecting_timeout');
  assert.equal(w.registry.reports.get(session.id)?.status, 'WAITING');
});

test('the last collaborator removed while On Hold leaves no collaborator behind: unhold returns to Active', () => {
  const w = new World();
  const { owner, helper, id } = activeWithHelper(w);
  ok(w.registry.invite(owner, id, 'helper'));
  ok(w.registry.answerInvitation(helper, id, true));
  ok(w.registry.hold(owner, id));
  ok(w.registry.removeCollaborator(owner, id, 'helper'));
  const session = w.registry.get(id)!;
  assert.equal(session.status, 'ON_HOLD');
  assert.equal(session.machine.hasCollaborators, false);
  ok(w.registry.unhold(owner, id));
  assert.equal(session.status, 'ACTIVE');
});
