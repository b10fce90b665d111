/**
 * The state machine against docs/spec/session-states.json: the table equals the spec's adopted
 * edges (with the few deviations listed here, each justified by a spec decision), everything
 * else is refused, guards pick one edge, and the main paths behave as the spec's decisions say.
 * Reads the spec from the repository's docs/spec/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  allowedTriggers,
  create,
  type Edge,
  type Machine,
  TRANSITIONS,
  type TransferView,
  transition,
} from '../../src/session/state-machine.js';
import {
  isTerminal,
  STATUS_NAMES,
  Status,
  TimeoutKind,
  Trigger,
} from '../../src/session/states.js';

interface SpecState {
  readonly name: string;
  readonly id: string;
  readonly terminal: boolean | 'conditional';
}
interface SpecTransition {
  readonly from: string | null;
  readonly to: string;
  readonly trigger: string;
  readonly adopt: boolean;
  readonly guard?: string;
  readonly returnsToPrevious?: boolean;
  readonly sets?: { readonly timeoutKind?: string };
}
interface Spec {
  readonly states: readonly SpecState[];
  readonly triggers: Readonly<Record<string, string>>;
  readonly transitions: readonly SpecTransition[];
}

// dist/test/session/ -> the repository root
const SPEC_FILE = fileURLToPath(new URL('../../../docs/spec/session-states.json', import.meta.url));
const spec: Spec = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as Spec;

const idByName = new Map(spec.states.map((s) => [s.name, s.id as Status]));
function idOf(name: string): Status {
  const id = idByName.get(name);
  assert.ok(id !== undefined, `spec status name '${name}' has no state entry`);
  return id;
}

const STATUSES = Object.values(Status);
const TRIGGERS = Object.values(Trigger);
const VIEWS: readonly TransferView[] = ['sender', 'target'];
const DISRUPTIONS: readonly Status[] = [Status.REBOOTING, Status.RECONNECTING, Status.OFFLINE];

// Guards the table adds where the spec lists sibling edges for one (from, trigger) without one:
// D-TRANSFER-PROJECTION (both views of a transfer) and D-CUSTOMER-CLOSE-TARGET (the unguarded
// Closed edge next to a guarded Closed-by-waiting-customer gap fill).
const ADDED_GUARDS = new Map<string, string>([
  ['WAITING|transfer|OUTGOING', "view == 'sender'"],
  ['WAITING|transfer|INCOMING', "view == 'target'"],
  ['ACTIVE|transfer|OUTGOING', "view == 'sender'"],
  ['ACTIVE|transfer|INCOMING', "view == 'target'"],
  ['ON_HOLD|transfer|OUTGOING', "view == 'sender'"],
  ['REBOOTING|customer_close|CLOSED', 'everPickedUp == true'],
  ['RECONNECTING|customer_close|CLOSED', 'everPickedUp == true'],
  ['OFFLINE|customer_close|CLOSED', 'everPickedUp == true'],
]);
// The Collaborating idle-timeout gap fill lacks `sets`; its trigger means kind=admin.
const ADDED_SETS = new Map<string, string>([
  ['COLLABORATING|admin_idle_timeout|TIMED_OUT', 'admin'],
]);

interface Row {
  from: string | null;
  trigger: string;
  to: string;
  guard: string | null;
  returnsToPrevious: boolean;
  setsTimeoutKind: string | null;
}

const rowKey = (r: { from: string | null; trigger: string; to: string }) =>
  `${r.from}|${r.trigger}|${r.to}`;
const sortRows = (rows: Row[]) => rows.sort((a, b) => rowKey(a).localeCompare(rowKey(b)));

function specRow(t: SpecTransition): Row {
  const row: Row = {
    from: t.from === null ? null : idOf(t.from),
    trigger: t.trigger,
    to: idOf(t.to),
    guard: t.guard ?? null,
    returnsToPrevious: t.returnsToPrevious === true,
    setsTimeoutKind: t.sets?.timeoutKind ?? null,
  };
  const key = rowKey(row);
  const guard = ADDED_GUARDS.get(key);
  if (guard !== undefined) {
    assert.equal(row.guard, null, `${key}: the spec now has a guard; drop the deviation`);
    row.guard = guard;
  }
  const sets = ADDED_SETS.get(key);
  if (sets !== undefined) {
    assert.equal(row.setsTimeoutKind, null, `${key}: the spec now sets timeoutKind`);
    row.setsTimeoutKind = sets;
  }
  return row;
}

function tableRow(e: Edge): Row {
  return {
    from: e.from,
    trigger: e.trigger,
    to: e.to,
    guard: e.guardText,
    returnsToPrevious: e.returnsToPrevious,
    setsTimeoutKind: e.setsTimeoutKind,
  };
}

/** The spec's guard texts, evaluated independently of the implementation. */
function specGuardHolds(text: string | null, m: Machine, view: TransferView): boolean {
  if (text === null) return true;
  const saved = /^statusBeforeDisruption == '(.+)'$/.exec(text);
  if (saved !== null) return m.statusBeforeDisruption === idOf(saved[1]!);
  switch (text) {
    case 'everPickedUp == true':
      return m.everPickedUp;
    case 'everPickedUp == false':
      return !m.everPickedUp;
    case 'session has an accepted collaborator':
      return m.hasCollaborators;
    case 'no accepted collaborator':
      return !m.hasCollaborators;
    case "timeoutKind == 'admin'":
      return m.timeoutKind === 'admin';
    case "view == 'sender'":
      return view === 'sender';
    case "view == 'target'":
      return view === 'target';
    default:
      assert.fail(`unknown guard text: ${text}`);
  }
}

/** Statuses a session can hold when it enters `disruption`, read from the table. */
function savableBefore(disruption: Status): Status[] {
  const into: readonly Status[] =
    disruption === Status.OFFLINE ? [Status.REBOOTING, Status.RECONNECTING] : [disruption];
  const out = new Set<Status>();
  for (const e of TRANSITIONS) if (e.from !== null && into.includes(e.to)) out.add(e.from);
  return [...out];
}

/** Every attribute combination a record in `status` can have without breaking an invariant. */
function statesAt(status: Status): Machine[] {
  const saved: (Status | null)[] = DISRUPTIONS.includes(status) ? savableBefore(status) : [null];
  const kinds = status === Status.TIMED_OUT ? [TimeoutKind.ADMIN, TimeoutKind.SYSTEM] : [null];
  const out: Machine[] = [];
  for (const statusBeforeDisruption of saved)
    for (const timeoutKind of kinds)
      for (const everPickedUp of [false, true])
        for (const hasCollaborators of [false, true])
          out.push({ status, statusBeforeDisruption, everPickedUp, timeoutKind, hasCollaborators });
  return out;
}

function machineAt(status: Status, patch: Partial<Machine> = {}): Machine {
  return {
    ...create(Trigger.PIN_CODE_GENERATED),
    status,
    everPickedUp: true,
    ...patch,
  };
}

function fire(m: Machine, trigger: Trigger, view?: TransferView): Status {
  const r = transition(m, trigger, view === undefined ? undefined : { view });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.to;
}

function walk(m: Machine, steps: readonly (Trigger | [Trigger, TransferView])[]): Status[] {
  return steps.map((s) => (typeof s === 'string' ? fire(m, s) : fire(m, s[0], s[1])));
}

test('the table equals the adopted edges of the spec, deviations listed', () => {
  const adopted = spec.transitions.filter((t) => t.adopt);
  const expected = sortRows(adopted.map(specRow));
  const actual = sortRows(TRANSITIONS.map(tableRow));
  assert.deepEqual(actual, expected);
  assert.equal(TRANSITIONS.length, adopted.length);
  const keys = new Set(actual.map(rowKey));
  for (const key of [...ADDED_GUARDS.keys(), ...ADDED_SETS.keys()]) assert.ok(keys.has(key), key);
});

test('statuses, display names and triggers are those of the spec', () => {
  assert.deepEqual([...STATUSES].sort(), spec.states.map((s) => s.id).sort());
  for (const [key, value] of Object.entries(Status)) assert.equal(key, value);
  for (const s of spec.states) assert.equal(STATUS_NAMES[s.id as Status], s.name, s.id);
  assert.deepEqual([...TRIGGERS].sort(), Object.keys(spec.triggers).sort());
  assert.equal(STATUS_NAMES.ON_HOLD, 'On Hold');
});

test('isTerminal follows the spec, Timed out being final only for a system timeout', () => {
  for (const s of spec.states) {
    const id = s.id as Status;
    const expected =
      s.terminal === 'conditional'
        ? { none: true, admin: false, system: true }
        : { none: s.terminal, admin: s.terminal, system: s.terminal };
    assert.equal(isTerminal(id), expected.none, `${id} without kind`);
    assert.equal(isTerminal(id, TimeoutKind.ADMIN), expected.admin, `${id} admin`);
    assert.equal(isTerminal(id, TimeoutKind.SYSTEM), expected.system, `${id} system`);
  }
  assert.equal(isTerminal(Status.CLOSED), false);
});

test('every status and trigger pair without an adopted edge is refused with FERRY_ERR_INVALID_TRANSITION', () => {
  const listed = new Set(TRANSITIONS.map((e) => `${e.from}|${e.trigger}`));
  let refused = 0;
  for (const status of STATUSES) {
    for (const trigger of TRIGGERS) {
      if (listed.has(`${status}|${trigger}`)) continue;
      for (const m of statesAt(status)) {
        const before = { ...m };
        const r = transition(m, trigger, { view: 'target' });
        assert.equal(r.ok, false, `${status} ${trigger}`);
        assert.ok(!r.ok);
        assert.equal(r.code, 'FERRY_ERR_INVALID_TRANSITION');
        assert.ok(r.message.includes(STATUS_NAMES[status]), r.message);
        assert.ok(r.message.includes(trigger), r.message);
        assert.deepEqual(m, before);
        refused++;
      }
    }
  }
  assert.ok(refused > 0);
});

test('edges the spec lists but does not adopt are never taken', () => {
  const rejected = spec.transitions.filter((t) => !t.adopt);
  assert.ok(rejected.length > 0);
  for (const t of rejected) {
    assert.ok(t.from !== null);
    const from = idOf(t.from);
    for (const m of statesAt(from)) {
      for (const view of VIEWS) {
        const r = transition({ ...m }, t.trigger as Trigger, { view });
        assert.ok(!r.ok || r.to !== idOf(t.to), `${t.from} -${t.trigger}-> ${t.to} was taken`);
      }
    }
  }
  const m = machineAt(Status.ACTIVE);
  const r = transition(m, Trigger.RECONNECT_FAIL_5MIN);
  assert.equal(r.ok, false);
  assert.equal(m.status, Status.ACTIVE);
});

test('when several edges share a status and trigger the guards pick exactly one', () => {
  const groups = new Map<string, Edge[]>();
  for (const e of TRANSITIONS) {
    if (e.from === null) continue;
    const key = `${e.from}|${e.trigger}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  let shared = 0;
  for (const [key, edges] of groups) {
    const from = edges[0]!.from!;
    if (edges.length > 1) shared++;
    for (const m of statesAt(from)) {
      for (const view of VIEWS) {
        const holding = edges.filter((e) => specGuardHolds(e.guardText, m, view));
        const where = `${key} view=${view} ${JSON.stringify(m)}`;
        if (edges.length > 1) assert.equal(holding.length, 1, where);
        else assert.ok(holding.length <= 1, where);
        const r = transition({ ...m }, edges[0]!.trigger, { view });
        if (holding.length === 1) assert.ok(r.ok && r.to === holding[0]!.to, where);
        else assert.equal(r.ok, false, where);
      }
    }
  }
  assert.equal(shared, 11);
});

test('every adopted edge is reachable from an entry event and every reachable state keeps the invariants', () => {
  const taken = new Set<string>();
  const seen = new Set<string>();
  const queue: Machine[] = [
    create(Trigger.PIN_CODE_GENERATED),
    create(Trigger.CHANNEL_SESSION_INITIATED),
    create(Trigger.INVITE_RECEIVED),
  ];
  while (queue.length > 0) {
    const m = queue.pop()!;
    const key = JSON.stringify(m);
    if (seen.has(key)) continue;
    seen.add(key);
    const where = key;
    assert.equal(m.statusBeforeDisruption !== null, DISRUPTIONS.includes(m.status), where);
    if (m.status === Status.TIMED_OUT) assert.notEqual(m.timeoutKind, null, where);
    if (m.status === Status.ACTIVE) assert.ok(m.everPickedUp, where);
    if (m.status === Status.COLLABORATING) assert.ok(m.hasCollaborators, where);
    let accepted = 0;
    for (const trigger of TRIGGERS) {
      for (const view of VIEWS) {
        const next = { ...m };
        const r = transition(next, trigger, { view });
        if (!r.ok) continue;
        accepted++;
        assert.deepEqual([r.from, r.trigger, next.status], [m.status, trigger, r.to]);
        taken.add(rowKey(r));
        queue.push(next);
      }
    }
    assert.equal(accepted === 0, isTerminal(m.status, m.timeoutKind), `terminal? ${where}`);
  }
  const missing = TRANSITIONS.filter((e) => e.from !== null && !taken.has(rowKey(e)));
  assert.deepEqual(missing, []);
});

test('a PIN session goes Connecting, Waiting, Active as the customer connects and a technician picks up', () => {
  const m = create(Trigger.PIN_CODE_GENERATED);
  assert.deepEqual(m, {
    status: Status.CONNECTING,
    statusBeforeDisruption: null,
    everPickedUp: false,
    timeoutKind: null,
    hasCollaborators: false,
  });
  assert.deepEqual(transition(m, Trigger.APPLET_CONNECTED), {
    ok: true,
    from: Status.CONNECTING,
    to: Status.WAITING,
    trigger: Trigger.APPLET_CONNECTED,
  });
  assert.equal(m.everPickedUp, false);
  assert.equal(fire(m, Trigger.PICKUP), Status.ACTIVE);
  assert.equal(m.everPickedUp, true);
  assert.equal(create(Trigger.CHANNEL_SESSION_INITIATED).status, Status.CONNECTING);
});

test('a lost connection on an Active session reconnects to Active', () => {
  const m = machineAt(Status.ACTIVE);
  assert.equal(fire(m, Trigger.CONNECTION_LOST), Status.RECONNECTING);
  assert.equal(m.statusBeforeDisruption, Status.ACTIVE);
  assert.equal(fire(m, Trigger.RECONNECT_SUCCESS), Status.ACTIVE);
  assert.equal(m.statusBeforeDisruption, null);
});

test('a session rebooted while On Hold comes back On Hold and can then be resumed', () => {
  const m = machineAt(Status.ACTIVE);
  assert.deepEqual(
    walk(m, [Trigger.HOLD, Trigger.REBOOT, Trigger.REBOOT_COMPLETE, Trigger.UNHOLD]),
    [Status.ON_HOLD, Status.REBOOTING, Status.ON_HOLD, Status.ACTIVE],
  );
});

test('a disruption that went Offline returns to the status saved before it (D-RETURN-TO-PREVIOUS)', () => {
  for (const disruption of [Status.REBOOTING, Status.RECONNECTING]) {
    const enter = disruption === Status.REBOOTING ? Trigger.REBOOT : Trigger.CONNECTION_LOST;
    const fail =
      disruption === Status.REBOOTING ? Trigger.REBOOT_FAIL_5MIN : Trigger.RECONNECT_FAIL_5MIN;
    for (const before of savableBefore(disruption)) {
      const m = machineAt(before, { hasCollaborators: before === Status.COLLABORATING });
      assert.deepEqual(walk(m, [enter, fail]), [disruption, Status.OFFLINE]);
      assert.equal(m.statusBeforeDisruption, before, `${before} survives ${disruption} -> Offline`);
      assert.equal(fire(m, Trigger.RECONNECT_SUCCESS), before);
      assert.equal(m.statusBeforeDisruption, null);
    }
  }
});

test('a return with nothing saved is refused rather than guessed', () => {
  const m = machineAt(Status.OFFLINE);
  const r = transition(m, Trigger.RECONNECT_SUCCESS);
  assert.ok(!r.ok);
  assert.equal(r.code, 'FERRY_ERR_INVALID_TRANSITION');
  assert.match(r.message, /Offline.*reconnect_success/);
  assert.equal(m.status, Status.OFFLINE);
});

test('a customer close yields Closed after a pickup and Closed by waiting customer before one (D-CUSTOMER-CLOSE-TARGET)', () => {
  const cases: [Status, Trigger | null, boolean, Status][] = [
    [Status.INCOMING, null, false, Status.CLOSED_BY_WAITING_CUSTOMER],
    [Status.INCOMING, null, true, Status.CLOSED],
    [Status.OUTGOING, null, false, Status.CLOSED_BY_WAITING_CUSTOMER],
    [Status.OUTGOING, null, true, Status.CLOSED],
    [Status.WAITING, Trigger.REBOOT, false, Status.CLOSED_BY_WAITING_CUSTOMER],
    [Status.ACTIVE, Trigger.REBOOT, true, Status.CLOSED],
    [Status.WAITING, Trigger.CONNECTION_LOST, false, Status.CLOSED_BY_WAITING_CUSTOMER],
    [Status.ON_HOLD, Trigger.CONNECTION_LOST, true, Status.CLOSED],
  ];
  for (const [start, disrupt, everPickedUp, expected] of cases) {
    const m = machineAt(start, { everPickedUp });
    if (disrupt !== null) fire(m, disrupt);
    assert.equal(fire(m, Trigger.CUSTOMER_CLOSE), expected, `${start} ${disrupt} ${everPickedUp}`);
  }
  const fresh = create(Trigger.PIN_CODE_GENERATED);
  assert.deepEqual(
    walk(fresh, [Trigger.APPLET_CONNECTED, [Trigger.TRANSFER, 'target'], Trigger.CUSTOMER_CLOSE]),
    [Status.WAITING, Status.INCOMING, Status.CLOSED_BY_WAITING_CUSTOMER],
  );
  const worked = machineAt(Status.ACTIVE);
  assert.deepEqual(walk(worked, [Trigger.CUSTOMER_CLOSE, Trigger.TECHNICIAN_CLOSE]), [
    Status.CLOSED,
    Status.CLOSED_BY_TECHNICIAN,
  ]);
});

test('unhold goes to Collaborating while a collaborator remains, otherwise to Active', () => {
  const m = machineAt(Status.ACTIVE);
  assert.deepEqual(walk(m, [Trigger.INVITE_ACCEPT, Trigger.HOLD, Trigger.UNHOLD]), [
    Status.COLLABORATING,
    Status.ON_HOLD,
    Status.COLLABORATING,
  ]);
  assert.deepEqual(walk(m, [Trigger.COLLABORATION_END, Trigger.HOLD, Trigger.UNHOLD]), [
    Status.ACTIVE,
    Status.ON_HOLD,
    Status.ACTIVE,
  ]);
  fire(m, Trigger.INVITE_ACCEPT);
  fire(m, Trigger.HOLD);
  m.hasCollaborators = false;
  assert.equal(fire(m, Trigger.UNHOLD), Status.ACTIVE);
});

test('a transfer shows Outgoing to the sender and Incoming to the target (D-TRANSFER-PROJECTION)', () => {
  for (const from of [Status.WAITING, Status.ACTIVE]) {
    assert.equal(fire(machineAt(from), Trigger.TRANSFER), Status.OUTGOING);
    assert.equal(fire(machineAt(from), Trigger.TRANSFER, 'sender'), Status.OUTGOING);
    assert.equal(fire(machineAt(from), Trigger.TRANSFER, 'target'), Status.INCOMING);
  }
  assert.equal(fire(machineAt(Status.ON_HOLD), Trigger.TRANSFER), Status.OUTGOING);
  const r = transition(machineAt(Status.ON_HOLD), Trigger.TRANSFER, { view: 'target' });
  assert.equal(r.ok, false);
  for (const view of [Status.INCOMING, Status.OUTGOING]) {
    assert.equal(fire(machineAt(view, { everPickedUp: false }), Trigger.PICKUP), Status.ACTIVE);
  }
});

test('an admin timeout can be dismissed by a technician, a system timeout is final', () => {
  const admin = machineAt(Status.ACTIVE);
  assert.equal(fire(admin, Trigger.ADMIN_IDLE_TIMEOUT), Status.TIMED_OUT);
  assert.equal(admin.timeoutKind, TimeoutKind.ADMIN);
  assert.equal(isTerminal(admin.status, admin.timeoutKind), false);
  assert.equal(fire(admin, Trigger.TECHNICIAN_CLOSE), Status.CLOSED_BY_TECHNICIAN);

  const shared = machineAt(Status.COLLABORATING, { hasCollaborators: true });
  fire(shared, Trigger.ADMIN_IDLE_TIMEOUT);
  assert.equal(shared.timeoutKind, TimeoutKind.ADMIN);

  const system = machineAt(Status.OFFLINE, { statusBeforeDisruption: Status.WAITING });
  assert.equal(fire(system, Trigger.SYSTEM_TIMEOUT_2_WEEKS), Status.TIMED_OUT);
  assert.equal(system.timeoutKind, TimeoutKind.SYSTEM);
  assert.equal(system.statusBeforeDisruption, null);
  assert.equal(isTerminal(system.status, system.timeoutKind), true);
  const r = transition(system, Trigger.TECHNICIAN_CLOSE);
  assert.ok(!r.ok);
  assert.match(r.message, /Timed out.*technician_close.*timeoutKind == 'admin'/);
});

test('an invitation becomes Collaborating when accepted and leaves the queue when declined', () => {
  const accepted = create(Trigger.INVITE_RECEIVED);
  assert.equal(accepted.status, Status.INVITATION);
  assert.deepEqual(walk(accepted, [Trigger.INVITE_ACCEPT, Trigger.COLLABORATOR_TIMEOUT]), [
    Status.COLLABORATING,
    Status.REMOVED_FROM_TC_QUEUE,
  ]);
  const declined = create(Trigger.INVITE_RECEIVED);
  assert.equal(fire(declined, Trigger.INVITE_DECLINE_OR_TIMEOUT), Status.REMOVED_FROM_TC_QUEUE);
});

test('terminal statuses accept nothing', () => {
  const finals = [
    machineAt(Status.CLOSED_BY_TECHNICIAN),
    machineAt(Status.CLOSED_BY_WAITING_CUSTOMER),
    machineAt(Status.ABORTED),
    machineAt(Status.REMOVED_FROM_TC_QUEUE),
    machineAt(Status.TIMED_OUT, { timeoutKind: TimeoutKind.SYSTEM }),
  ];
  for (const m of finals) {
    assert.ok(isTerminal(m.status, m.timeoutKind));
    for (const trigger of TRIGGERS) {
      for (const view of VIEWS) {
        const r = transition(m, trigger, { view });
        assert.equal(r.ok, false, `${m.status} accepted ${trigger}`);
      }
    }
  }
  const r = transition(machineAt(Status.ABORTED), Trigger.TECHNICIAN_CLOSE);
  assert.ok(!r.ok);
  assert.match(r.message, /Aborted is final/);
});

test('a refused trigger names the status and the allowed triggers and changes nothing', () => {
  const m = machineAt(Status.WAITING, { everPickedUp: false });
  const before = { ...m };
  const r = transition(m, Trigger.HOLD);
  assert.deepEqual(r, {
    ok: false,
    code: 'FERRY_ERR_INVALID_TRANSITION',
    message:
      "Waiting does not accept 'hold'; it accepts: pickup, transfer, reboot, connection_lost, " +
      'admin_idle_timeout, system_timeout_2_weeks, customer_close',
  });
  assert.deepEqual(m, before);
});

test('allowedTriggers lists the triggers of the table in Trigger order', () => {
  assert.deepEqual(allowedTriggers(Status.CONNECTING), [
    Trigger.APPLET_CONNECTED,
    Trigger.CONNECTING_TIMEOUT,
  ]);
  assert.deepEqual(allowedTriggers(Status.CLOSED), [Trigger.TECHNICIAN_CLOSE]);
  assert.deepEqual(allowedTriggers(Status.TIMED_OUT), [Trigger.TECHNICIAN_CLOSE]);
  for (const status of STATUSES) {
    const fromTable = new Set(TRANSITIONS.filter((e) => e.from === status).map((e) => e.trigger));
    assert.deepEqual(
      allowedTriggers(status),
      TRIGGERS.filter((t) => fromTable.has(t)),
    );
  }
  assert.equal(allowedTriggers(Status.ACTIVE), allowedTriggers(Status.ACTIVE));
});

test('a successful transition returns one shared result object per edge', () => {
  const a = transition(machineAt(Status.ACTIVE), Trigger.HOLD);
  const b = transition(machineAt(Status.ACTIVE), Trigger.HOLD);
  assert.ok(a.ok);
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
});
