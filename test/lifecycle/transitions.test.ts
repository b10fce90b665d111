/**
 * Every adopted edge of the state machine's table (docs/spec/session-states.json) is taken through
 * the registry's real operations, driven from the table: for each edge the test brings a session
 * to the edge's source status (meeting its guard), fires the edge's trigger the way a client or
 * a timer does, and checks that the participant whose view the edge describes was told
 * "from -> to (trigger)". The edges no operation can fire are listed, with the reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Session } from '../../src/session/session.js';
import { type Edge, Guard, TRANSITIONS } from '../../src/session/state-machine.js';
import { Status as S, Trigger as T } from '../../src/session/states.js';
import { SYSTEM_TIMEOUT_MS } from '../../src/session/timers.js';
import { type FakePeer, ok, World } from './world.js';

const OFFLINE_MS = 300_000;
const IDLE_MS = 60_000;
const PIN_TTL_MS = 600_000;

/** Edges no client operation or timer fires, and why. */
const NOT_FIRED_BY_OPERATIONS = new Map<string, string>([
  [
    'ACTIVE|abort|ABORTED',
    'spec D-ABORTED: an unrecoverable error or an admin forced end; no client operation',
  ],
]);

interface Cast {
  readonly w: World;
  readonly owner: FakePeer;
  readonly tech2: FakePeer;
  customer: FakePeer | null;
  readonly session: Session;
  readonly pin: string;
}

function cast(edge: Edge): Cast {
  // Timers sized so the one under test fires first: a huge Offline window when the edge waits
  // two weeks in Reconnecting, admin idle only for the edge's own source status.
  const idleMs: Partial<Record<S, number>> = {};
  if (edge.trigger === T.ADMIN_IDLE_TIMEOUT || edge.trigger === T.COLLABORATOR_TIMEOUT) {
    idleMs[edge.from === S.INCOMING ? S.OUTGOING : edge.from!] = IDLE_MS;
  }
  if (edge.from === S.TIMED_OUT) idleMs.ACTIVE = IDLE_MS;
  const w = new World(
    {
      offlineAfterMs:
        edge.trigger === T.SYSTEM_TIMEOUT_2_WEEKS && edge.from === S.RECONNECTING
          ? 2 * SYSTEM_TIMEOUT_MS
          : OFFLINE_MS,
      resumeTtlMs: 4 * SYSTEM_TIMEOUT_MS,
      idleMs,
    },
    PIN_TTL_MS,
  );
  const owner = w.technician('owner');
  const tech2 = w.technician('tech-2');
  const { session, pin } = w.open(owner, 'Alice at ACME');
  return { w, owner, tech2, customer: null, session, pin };
}

const r = (c: Cast) => c.w.registry;

/** Brings the session to `status`; `before` is the status saved before a disruption. */
function reach(c: Cast, status: S, before: S = S.ACTIVE, ownerAway = false): void {
  switch (status) {
    case S.CONNECTING:
      return;
    case S.WAITING:
      c.customer = c.w.join(c.pin);
      return;
    case S.ACTIVE:
      reach(c, S.WAITING);
      ok(r(c).pickUp(c.owner, c.session.id));
      return;
    case S.ON_HOLD:
      reach(c, before === S.COLLABORATING ? S.COLLABORATING : S.ACTIVE);
      ok(r(c).hold(c.owner, c.session.id));
      return;
    case S.COLLABORATING:
      reach(c, S.ACTIVE);
      ok(r(c).invite(c.owner, c.session.id, 'tech-2'));
      ok(r(c).answerInvitation(c.tech2, c.session.id, true));
      return;
    case S.OUTGOING:
    case S.INCOMING:
      reach(c, before === S.OUTGOING || before === S.INCOMING ? S.ACTIVE : before);
      ok(r(c).transfer(c.owner, c.session.id, 'tech-2', 'over to you'));
      return;
    case S.REBOOTING:
      reach(c, before);
      ok(r(c).reboot(c.owner, c.session.id));
      return;
    case S.RECONNECTING:
      reach(c, before);
      if (ownerAway) c.w.drop(c.owner);
      else c.w.drop(c.customer!);
      return;
    case S.OFFLINE:
      reach(c, S.RECONNECTING, before, ownerAway);
      c.w.advance(OFFLINE_MS + 1000);
      assert.equal(c.session.status, S.OFFLINE);
      return;
    case S.TIMED_OUT:
      reach(c, S.ACTIVE);
      c.w.advance(IDLE_MS + 1000);
      assert.equal(c.session.status, S.TIMED_OUT);
      return;
    case S.CLOSED:
      reach(c, S.ACTIVE);
      ok(r(c).close(c.customer!, c.session.id, 'bye'));
      return;
    case S.INVITATION:
      reach(c, S.ACTIVE);
      ok(r(c).invite(c.owner, c.session.id, 'tech-2'));
      return;
    default:
      assert.fail(`no way to reach ${status}`);
  }
}

/** Where the edge starts from and how (the saved status for returns, who is away). */
function setup(c: Cast, edge: Edge): void {
  const from = edge.from!;
  const disrupted = from === S.REBOOTING || from === S.RECONNECTING || from === S.OFFLINE;
  if (edge.guard === Guard.SAVED_STATUS_IS_TARGET) {
    // A return to Incoming is the target's view of a return to Outgoing.
    const saved = edge.to === S.INCOMING ? S.OUTGOING : edge.to;
    reach(c, from, saved);
    return;
  }
  if (edge.trigger === T.CUSTOMER_CLOSE) {
    const before = edge.guard === Guard.NEVER_PICKED_UP ? S.WAITING : S.ACTIVE;
    // The customer closes, so it is the owner that is away in a disruption.
    if (from === S.OUTGOING || from === S.INCOMING) reach(c, S.OUTGOING, before);
    else if (disrupted) reach(c, from, before, from !== S.REBOOTING);
    else reach(c, from, before);
    return;
  }
  if (from === S.ON_HOLD && edge.trigger === T.UNHOLD) {
    reach(c, S.ON_HOLD, edge.to === S.COLLABORATING ? S.COLLABORATING : S.ACTIVE);
    return;
  }
  if (from === S.REBOOTING && edge.trigger === T.REBOOT_FAIL_5MIN) {
    reach(c, S.REBOOTING, S.ACTIVE);
    c.w.drop(c.customer!);
    return;
  }
  reach(c, from, S.ACTIVE);
}

function fire(c: Cast, edge: Edge): void {
  const id = c.session.id;
  const from = edge.from!;
  switch (edge.trigger) {
    case T.APPLET_CONNECTED:
      c.customer = c.w.join(c.pin);
      return;
    case T.CONNECTING_TIMEOUT:
      c.w.advance(PIN_TTL_MS + 1000, 10_000);
      return;
    case T.PICKUP:
      ok(r(c).pickUp(from === S.INCOMING ? c.tech2 : c.owner, id));
      return;
    case T.TRANSFER:
      ok(r(c).transfer(c.owner, id, 'tech-2', 'over to you'));
      return;
    case T.HOLD:
      ok(r(c).hold(c.owner, id));
      return;
    case T.UNHOLD:
      ok(r(c).unhold(c.owner, id));
      return;
    case T.REBOOT:
      ok(r(c).reboot(c.owner, id));
      return;
    case T.INVITE_ACCEPT:
      if (from === S.ACTIVE) ok(r(c).invite(c.owner, id, 'tech-2'));
      ok(r(c).answerInvitation(c.tech2, id, true));
      return;
    case T.INVITE_DECLINE_OR_TIMEOUT:
      ok(r(c).answerInvitation(c.tech2, id, false));
      return;
    case T.COLLABORATION_END:
      ok(r(c).removeCollaborator(c.owner, id, 'tech-2'));
      return;
    case T.COLLABORATOR_TIMEOUT:
      // The owner keeps working while the collaborator stays idle.
      c.w.advance(IDLE_MS / 2);
      r(c).noteAction(c.owner, c.session);
      c.w.advance(IDLE_MS / 2 + 2000);
      return;
    case T.CONNECTION_LOST:
      c.w.drop(c.customer!);
      return;
    case T.RECONNECT_SUCCESS:
    case T.REBOOT_COMPLETE:
      if (c.owner.state === 2) (c as { owner: FakePeer }).owner = c.w.resume(c.owner);
      if (c.customer!.state === 2) c.customer = c.w.resume(c.customer!);
      else if (edge.trigger === T.REBOOT_COMPLETE) {
        c.w.drop(c.customer!);
        c.customer = c.w.resume(c.customer!);
      }
      return;
    case T.RECONNECT_FAIL_5MIN:
    case T.REBOOT_FAIL_5MIN:
      c.w.advance(OFFLINE_MS + 1000);
      return;
    case T.ADMIN_IDLE_TIMEOUT:
      c.w.advance(IDLE_MS + 2000);
      return;
    case T.SYSTEM_TIMEOUT_2_WEEKS:
      c.w.jump(SYSTEM_TIMEOUT_MS);
      return;
    case T.CUSTOMER_CLOSE:
      ok(r(c).close(c.customer!, id, 'bye'));
      return;
    case T.TECHNICIAN_CLOSE:
      ok(r(c).close(c.owner, id, 'done'));
      return;
    case T.TECHNICIAN_RELEASE:
      ok(r(c).close(c.owner, id, 'later', undefined, true));
      return;
    default:
      assert.fail(`no operation fires ${edge.trigger}`);
  }
}

const key = (e: Edge) => `${e.from}|${e.trigger}|${e.to}`;

for (const edge of TRANSITIONS) {
  if (edge.from === null) continue;
  const name = `${edge.from} -> ${edge.to} on ${edge.trigger}${edge.guardText ? ` [${edge.guardText}]` : ''}`;
  const skip = NOT_FIRED_BY_OPERATIONS.get(key(edge));
  test(`the operations take the edge ${name}`, { skip }, () => {
    const c = cast(edge);
    setup(c, edge);
    // What each participant had been sent before the trigger; a resumed one starts afresh.
    const marks = new Map<FakePeer, number>();
    for (const p of [c.owner, c.tech2, c.customer]) if (p !== null) marks.set(p, p.sent.length);
    fire(c, edge);
    const seen: string[] = [];
    for (const p of new Set([...marks.keys(), c.owner, c.tech2, c.customer])) {
      if (p === null) continue;
      for (const [was, now, trigger] of p.statusChanges(c.session.id, marks.get(p) ?? 0)) {
        seen.push(`${p.name}: ${was} -> ${now} (${trigger})`);
      }
    }
    // The participant whose view the edge describes: the transfer target for Incoming, the
    // invitee for Invitation, the collaborator for its own entry, else the session's people.
    const viewer =
      edge.from === S.INCOMING ||
      edge.to === S.INCOMING ||
      edge.from === S.INVITATION ||
      edge.trigger === T.COLLABORATOR_TIMEOUT
        ? 'tech-2'
        : null;
    const wanted = `${edge.from} -> ${edge.to} (${edge.trigger})`;
    assert.ok(
      seen.some(
        (line) => line.endsWith(`: ${wanted}`) && (viewer === null || line.startsWith(viewer)),
      ),
      `wanted ${viewer ?? 'someone'}: ${wanted}; saw\n${seen.join('\n')}`,
    );
  });
}

test('the edges no operation fires are exactly the listed ones', () => {
  const keys = new Set(TRANSITIONS.filter((e) => e.from !== null).map(key));
  for (const listed of NOT_FIRED_BY_OPERATIONS.keys()) assert.ok(keys.has(listed), listed);
});
