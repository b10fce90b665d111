/**
 * The session state machine: the adopted edges of docs/spec/session-states.json as one table, and
 * `transition`, the only way a status record changes (`collaboratorsGone` sets the one guard
 * input the session layer knows and the table cannot). A refused trigger is a value
 * (FERRY_ERR_INVALID_TRANSITION), never an exception, and leaves the machine untouched.
 * Invariants kept by `transition`:
 * - statusBeforeDisruption is set exactly while the status is Rebooting, Reconnecting or Offline;
 * - everPickedUp only turns true (on reaching Active);
 * - Timed out always carries a timeoutKind;
 * - for one (from, trigger) at most one edge's guard holds (checked by the tests).
 * Lookups are precomputed at module load; a successful transition allocates nothing.
 */
import { Codes } from '../protocol/codes.js';
import {
  type EntryTrigger,
  isTerminal,
  STATUS_NAMES,
  Status,
  TimeoutKind,
  Trigger,
} from './states.js';

/** Names of the conditions an edge may require; each maps to the spec's `guard` text. */
export const Guard = {
  EVER_PICKED_UP: 'everPickedUp',
  NEVER_PICKED_UP: 'neverPickedUp',
  HAS_COLLABORATORS: 'hasCollaborators',
  NO_COLLABORATORS: 'noCollaborators',
  ADMIN_TIMEOUT: 'adminTimeout',
  SAVED_STATUS_IS_TARGET: 'savedStatusIsTarget',
  SENDER_VIEW: 'senderView',
  TARGET_VIEW: 'targetView',
} as const;
export type Guard = (typeof Guard)[keyof typeof Guard];

/** Which side of a pending transfer a status record belongs to (spec D-TRANSFER-PROJECTION). */
export type TransferView = 'sender' | 'target';

export interface Edge {
  /** null: the trigger creates a new record (spec convention from=null). */
  readonly from: Status | null;
  readonly to: Status;
  readonly trigger: Trigger;
  readonly guard: Guard | null;
  /** The guard as the spec writes it, e.g. "statusBeforeDisruption == 'On Hold'". */
  readonly guardText: string | null;
  readonly returnsToPrevious: boolean;
  readonly setsTimeoutKind: TimeoutKind | null;
}

/** One status record: a session, or one technician's queue entry (Invitation). */
export interface Machine {
  status: Status;
  /** Status held just before entering Rebooting/Reconnecting; survives the step to Offline. */
  statusBeforeDisruption: Status | null;
  everPickedUp: boolean;
  timeoutKind: TimeoutKind | null;
  /** Whether an accepted collaborator remains; the session layer clears it when the last one leaves. */
  hasCollaborators: boolean;
}

export interface TransitionContext {
  /** Selects Outgoing (sender, the default) or Incoming (target) on a transfer. */
  readonly view?: TransferView;
}

export interface TransitionOk {
  readonly ok: true;
  readonly from: Status;
  readonly to: Status;
  readonly trigger: Trigger;
}

export interface TransitionRefused {
  readonly ok: false;
  readonly code: typeof Codes.INVALID_TRANSITION.code;
  readonly message: string;
}

export type TransitionResult = TransitionOk | TransitionRefused;

interface EdgeOptions {
  readonly guard?: Guard;
  readonly setsTimeoutKind?: TimeoutKind;
}

function guardText(guard: Guard | null, to: Status): string | null {
  switch (guard) {
    case null:
      return null;
    case Guard.EVER_PICKED_UP:
      return 'everPickedUp == true';
    case Guard.NEVER_PICKED_UP:
      return 'everPickedUp == false';
    case Guard.HAS_COLLABORATORS:
      return 'session has an accepted collaborator';
    case Guard.NO_COLLABORATORS:
      return 'no accepted collaborator';
    case Guard.ADMIN_TIMEOUT:
      return "timeoutKind == 'admin'";
    case Guard.SAVED_STATUS_IS_TARGET:
      return `statusBeforeDisruption == '${STATUS_NAMES[to]}'`;
    case Guard.SENDER_VIEW:
      return "view == 'sender'";
    case Guard.TARGET_VIEW:
      return "view == 'target'";
  }
}

function edge(from: Status | null, trigger: Trigger, to: Status, opts: EdgeOptions = {}): Edge {
  const guard = opts.guard ?? null;
  return {
    from,
    to,
    trigger,
    guard,
    guardText: guardText(guard, to),
    returnsToPrevious: false,
    setsTimeoutKind: opts.setsTimeoutKind ?? null,
  };
}

// spec D-RETURN-TO-PREVIOUS: every non-terminal successor of a disruption is a return
function back(from: Status, trigger: Trigger, to: Status): Edge {
  return {
    from,
    to,
    trigger,
    guard: Guard.SAVED_STATUS_IS_TARGET,
    guardText: guardText(Guard.SAVED_STATUS_IS_TARGET, to),
    returnsToPrevious: true,
    setsTimeoutKind: null,
  };
}

const S = Status;
const T = Trigger;
const ADMIN = { setsTimeoutKind: TimeoutKind.ADMIN } as const;
const SYSTEM = { setsTimeoutKind: TimeoutKind.SYSTEM } as const;
// spec D-CUSTOMER-CLOSE-TARGET
const PICKED = { guard: Guard.EVER_PICKED_UP } as const;
const NOT_PICKED = { guard: Guard.NEVER_PICKED_UP } as const;
// spec D-TRANSFER-PROJECTION: the spec lists both views without a guard; ctx.view picks one
const SENDER = { guard: Guard.SENDER_VIEW } as const;
const TARGET = { guard: Guard.TARGET_VIEW } as const;

/** The adopted edges of docs/spec/session-states.json (96), grouped by source status. */
export const TRANSITIONS: readonly Edge[] = [
  edge(null, T.PIN_CODE_GENERATED, S.CONNECTING),
  edge(null, T.CHANNEL_SESSION_INITIATED, S.CONNECTING),
  edge(null, T.INVITE_RECEIVED, S.INVITATION),

  edge(S.CONNECTING, T.APPLET_CONNECTED, S.WAITING),
  edge(S.CONNECTING, T.CONNECTING_TIMEOUT, S.REMOVED_FROM_TC_QUEUE),

  edge(S.WAITING, T.PICKUP, S.ACTIVE),
  edge(S.WAITING, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER),
  edge(S.WAITING, T.TRANSFER, S.OUTGOING, SENDER),
  edge(S.WAITING, T.TRANSFER, S.INCOMING, TARGET),
  edge(S.WAITING, T.REBOOT, S.REBOOTING),
  edge(S.WAITING, T.CONNECTION_LOST, S.RECONNECTING),
  edge(S.WAITING, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.WAITING, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),

  edge(S.ACTIVE, T.CUSTOMER_CLOSE, S.CLOSED),
  edge(S.ACTIVE, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
  edge(S.ACTIVE, T.INVITE_ACCEPT, S.COLLABORATING),
  edge(S.ACTIVE, T.TRANSFER, S.OUTGOING, SENDER),
  edge(S.ACTIVE, T.TRANSFER, S.INCOMING, TARGET),
  edge(S.ACTIVE, T.HOLD, S.ON_HOLD),
  edge(S.ACTIVE, T.REBOOT, S.REBOOTING),
  edge(S.ACTIVE, T.CONNECTION_LOST, S.RECONNECTING),
  edge(S.ACTIVE, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.ACTIVE, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),
  edge(S.ACTIVE, T.ABORT, S.ABORTED), // spec D-ABORTED
  edge(S.ACTIVE, T.TECHNICIAN_RELEASE, S.WAITING),

  edge(S.INCOMING, T.PICKUP, S.ACTIVE),
  edge(S.INCOMING, T.CUSTOMER_CLOSE, S.CLOSED, PICKED),
  edge(S.INCOMING, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER, NOT_PICKED),
  edge(S.INCOMING, T.HOLD, S.ON_HOLD),
  edge(S.INCOMING, T.REBOOT, S.REBOOTING),
  edge(S.INCOMING, T.CONNECTION_LOST, S.RECONNECTING),
  edge(S.INCOMING, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.INCOMING, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),

  edge(S.OUTGOING, T.PICKUP, S.ACTIVE),
  edge(S.OUTGOING, T.CUSTOMER_CLOSE, S.CLOSED, PICKED),
  edge(S.OUTGOING, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER, NOT_PICKED),
  edge(S.OUTGOING, T.HOLD, S.ON_HOLD),
  edge(S.OUTGOING, T.REBOOT, S.REBOOTING),
  edge(S.OUTGOING, T.CONNECTION_LOST, S.RECONNECTING),
  edge(S.OUTGOING, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.OUTGOING, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),

  edge(S.ON_HOLD, T.UNHOLD, S.ACTIVE, { guard: Guard.NO_COLLABORATORS }),
  edge(S.ON_HOLD, T.UNHOLD, S.COLLABORATING, { guard: Guard.HAS_COLLABORATORS }),
  edge(S.ON_HOLD, T.CUSTOMER_CLOSE, S.CLOSED),
  edge(S.ON_HOLD, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
  // spec GAP-HOLD-TRANSFER-VIEW: no On Hold -> Incoming edge; the target's view is projected
  edge(S.ON_HOLD, T.TRANSFER, S.OUTGOING, SENDER),
  edge(S.ON_HOLD, T.REBOOT, S.REBOOTING),
  edge(S.ON_HOLD, T.CONNECTION_LOST, S.RECONNECTING),
  edge(S.ON_HOLD, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.ON_HOLD, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),
  edge(S.ON_HOLD, T.TECHNICIAN_RELEASE, S.WAITING),

  edge(S.INVITATION, T.INVITE_ACCEPT, S.COLLABORATING),
  edge(S.INVITATION, T.INVITE_DECLINE_OR_TIMEOUT, S.REMOVED_FROM_TC_QUEUE),

  edge(S.COLLABORATING, T.COLLABORATION_END, S.ACTIVE),
  edge(S.COLLABORATING, T.CUSTOMER_CLOSE, S.CLOSED),
  edge(S.COLLABORATING, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
  edge(S.COLLABORATING, T.HOLD, S.ON_HOLD),
  edge(S.COLLABORATING, T.REBOOT, S.REBOOTING),
  edge(S.COLLABORATING, T.CONNECTION_LOST, S.RECONNECTING),
  // spec lists no `sets` on this gap fill; the trigger itself means kind=admin
  edge(S.COLLABORATING, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.COLLABORATING, T.COLLABORATOR_TIMEOUT, S.REMOVED_FROM_TC_QUEUE), // D-REMOVED-FROM-QUEUE

  back(S.REBOOTING, T.REBOOT_COMPLETE, S.WAITING),
  back(S.REBOOTING, T.REBOOT_COMPLETE, S.ACTIVE),
  back(S.REBOOTING, T.REBOOT_COMPLETE, S.INCOMING),
  back(S.REBOOTING, T.REBOOT_COMPLETE, S.OUTGOING),
  back(S.REBOOTING, T.REBOOT_COMPLETE, S.ON_HOLD),
  back(S.REBOOTING, T.REBOOT_COMPLETE, S.COLLABORATING),
  edge(S.REBOOTING, T.REBOOT_FAIL_5MIN, S.OFFLINE),
  // spec GAP-CUSTOMER-CLOSE-DURING-DISRUPTION: the unguarded Closed edge gets the complement guard
  edge(S.REBOOTING, T.CUSTOMER_CLOSE, S.CLOSED, PICKED),
  edge(S.REBOOTING, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER, NOT_PICKED),
  edge(S.REBOOTING, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),

  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.WAITING),
  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.ACTIVE),
  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.INCOMING),
  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.OUTGOING),
  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.ON_HOLD),
  back(S.RECONNECTING, T.RECONNECT_SUCCESS, S.COLLABORATING),
  edge(S.RECONNECTING, T.RECONNECT_FAIL_5MIN, S.OFFLINE),
  edge(S.RECONNECTING, T.CUSTOMER_CLOSE, S.CLOSED, PICKED),
  edge(S.RECONNECTING, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER, NOT_PICKED),
  edge(S.RECONNECTING, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
  edge(S.RECONNECTING, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.RECONNECTING, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),

  // spec Offline: retries continue, so reconnect_success also ends a reboot that went Offline
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.WAITING),
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.ACTIVE),
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.INCOMING),
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.OUTGOING),
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.ON_HOLD),
  back(S.OFFLINE, T.RECONNECT_SUCCESS, S.COLLABORATING),
  edge(S.OFFLINE, T.CUSTOMER_CLOSE, S.CLOSED, PICKED),
  edge(S.OFFLINE, T.CUSTOMER_CLOSE, S.CLOSED_BY_WAITING_CUSTOMER, NOT_PICKED),
  edge(S.OFFLINE, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
  edge(S.OFFLINE, T.ADMIN_IDLE_TIMEOUT, S.TIMED_OUT, ADMIN),
  edge(S.OFFLINE, T.SYSTEM_TIMEOUT_2_WEEKS, S.TIMED_OUT, SYSTEM),

  // spec AMB-TIMED-OUT-KIND: only an admin timeout can be dismissed; a system timeout is final
  edge(S.TIMED_OUT, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN, { guard: Guard.ADMIN_TIMEOUT }),

  edge(S.CLOSED, T.TECHNICIAN_CLOSE, S.CLOSED_BY_TECHNICIAN),
];

interface Route {
  readonly edge: Edge;
  readonly result: TransitionOk;
}

const ROUTES = new Map<string, Route[]>();
const ENTRY = new Map<Trigger, Status>();
const ALLOWED = new Map<Status, readonly Trigger[]>();
const NONE: readonly Trigger[] = Object.freeze([]);

for (const e of TRANSITIONS) {
  if (e.from === null) {
    ENTRY.set(e.trigger, e.to);
    continue;
  }
  const key = `${e.from}|${e.trigger}`;
  const result: TransitionOk = Object.freeze({
    ok: true,
    from: e.from,
    to: e.to,
    trigger: e.trigger,
  });
  const routes = ROUTES.get(key);
  if (routes === undefined) ROUTES.set(key, [{ edge: e, result }]);
  else routes.push({ edge: e, result });
}
for (const status of Object.values(Status)) {
  const triggers = Object.values(Trigger).filter((t) => ROUTES.has(`${status}|${t}`));
  ALLOWED.set(status, Object.freeze(triggers));
}

function isDisruption(status: Status): boolean {
  return status === S.REBOOTING || status === S.RECONNECTING || status === S.OFFLINE;
}

function guardHolds(guard: Guard | null, m: Machine, to: Status, view: TransferView): boolean {
  switch (guard) {
    case null:
      return true;
    case Guard.EVER_PICKED_UP:
      return m.everPickedUp;
    case Guard.NEVER_PICKED_UP:
      return !m.everPickedUp;
    case Guard.HAS_COLLABORATORS:
      return m.hasCollaborators;
    case Guard.NO_COLLABORATORS:
      return !m.hasCollaborators;
    case Guard.ADMIN_TIMEOUT:
      return m.timeoutKind === TimeoutKind.ADMIN;
    case Guard.SAVED_STATUS_IS_TARGET:
      return m.statusBeforeDisruption === to;
    case Guard.SENDER_VIEW:
      return view === 'sender';
    case Guard.TARGET_VIEW:
      return view === 'target';
  }
}

/** A new record for an entry event (pin_code_generated, channel_session_initiated, invite_received). */
export function create(trigger: EntryTrigger): Machine {
  const status = ENTRY.get(trigger);
  if (status === undefined) throw new RangeError(`'${trigger}' is not an entry trigger`);
  return {
    status,
    statusBeforeDisruption: null,
    everPickedUp: false,
    timeoutKind: null,
    hasCollaborators: false,
  };
}

/**
 * The last accepted collaborator left while the session keeps its status (On Hold, a
 * disruption), so no collaboration_end fires: the guard input `hasCollaborators` turns false
 * and a later unhold or return goes to Active. The status does not change; this and
 * `transition` are the only writes to a record.
 */
export function collaboratorsGone(machine: Machine): void {
  machine.hasCollaborators = false;
}

/** Triggers with at least one adopted edge out of `status`, before guards; in `Trigger` order. */
export function allowedTriggers(status: Status): readonly Trigger[] {
  return ALLOWED.get(status) ?? NONE;
}

/**
 * Fires `trigger` on `machine`. On success updates the machine in place and returns a shared,
 * frozen result for the edge taken; otherwise returns a refusal and changes nothing.
 */
export function transition(
  machine: Machine,
  trigger: Trigger,
  ctx?: TransitionContext,
): TransitionResult {
  const from = machine.status;
  const routes = ROUTES.get(`${from}|${trigger}`);
  if (routes === undefined) return refuse(machine, trigger, null);
  const view = ctx?.view ?? 'sender';
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    const e = route.edge;
    if (!guardHolds(e.guard, machine, e.to, view)) continue;
    const to = e.to;
    // spec sessionAttributes.statusBeforeDisruption: saved on entering Rebooting/Reconnecting,
    // kept on the step to Offline, cleared on a return or any other way out
    if (!isDisruption(to)) machine.statusBeforeDisruption = null;
    else if (!isDisruption(from)) machine.statusBeforeDisruption = from;
    if (to === S.ACTIVE) machine.everPickedUp = true;
    if (e.setsTimeoutKind !== null) machine.timeoutKind = e.setsTimeoutKind;
    if (to === S.COLLABORATING) machine.hasCollaborators = true;
    else if (trigger === T.COLLABORATION_END) machine.hasCollaborators = false;
    machine.status = to;
    return route.result;
  }
  return refuse(machine, trigger, routes);
}

function refuse(machine: Machine, trigger: Trigger, routes: Route[] | null): TransitionRefused {
  const name = STATUS_NAMES[machine.status] ?? String(machine.status);
  let message: string;
  if (routes !== null) {
    const unmet = routes.map((r) => r.edge.guardText).join(' | ');
    message = `${name} does not accept '${trigger}' now: no guard holds (${unmet})`;
  } else if (isTerminal(machine.status, machine.timeoutKind)) {
    message = `${name} is final and accepts no trigger; got '${trigger}'`;
  } else {
    const allowed = allowedTriggers(machine.status).join(', ');
    message = `${name} does not accept '${trigger}'; it accepts: ${allowed}`;
  }
  return { ok: false, code: Codes.INVALID_TRANSITION.code, message };
}
