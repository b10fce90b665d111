/**
 * The vocabulary of docs/spec/session-states.json: the 17 statuses (value = the spec's `id`), their
 * display names, the triggers, and which statuses are final. Pure data, no behaviour beyond
 * `isTerminal`; the transitions themselves live in `state-machine.ts`.
 * Invariant: every status value equals its key, so `SESSION_STATUS_${status}` names the wire enum.
 */

export const Status = {
  ACTIVE: 'ACTIVE',
  CLOSED: 'CLOSED',
  CLOSED_BY_TECHNICIAN: 'CLOSED_BY_TECHNICIAN',
  CLOSED_BY_WAITING_CUSTOMER: 'CLOSED_BY_WAITING_CUSTOMER',
  COLLABORATING: 'COLLABORATING',
  CONNECTING: 'CONNECTING',
  INCOMING: 'INCOMING',
  INVITATION: 'INVITATION',
  OFFLINE: 'OFFLINE',
  ON_HOLD: 'ON_HOLD',
  OUTGOING: 'OUTGOING',
  REBOOTING: 'REBOOTING',
  RECONNECTING: 'RECONNECTING',
  TIMED_OUT: 'TIMED_OUT',
  WAITING: 'WAITING',
  ABORTED: 'ABORTED',
  REMOVED_FROM_TC_QUEUE: 'REMOVED_FROM_TC_QUEUE',
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export const STATUS_NAMES: Readonly<Record<Status, string>> = {
  ACTIVE: 'Active',
  CLOSED: 'Closed',
  CLOSED_BY_TECHNICIAN: 'Closed by technician',
  CLOSED_BY_WAITING_CUSTOMER: 'Closed by waiting customer',
  COLLABORATING: 'Collaborating',
  CONNECTING: 'Connecting',
  INCOMING: 'Incoming',
  INVITATION: 'Invitation',
  OFFLINE: 'Offline',
  ON_HOLD: 'On Hold',
  OUTGOING: 'Outgoing',
  REBOOTING: 'Rebooting',
  RECONNECTING: 'Reconnecting',
  TIMED_OUT: 'Timed out',
  WAITING: 'Waiting',
  ABORTED: 'Aborted',
  REMOVED_FROM_TC_QUEUE: 'Removed from TC queue',
};

export const Trigger = {
  PIN_CODE_GENERATED: 'pin_code_generated',
  CHANNEL_SESSION_INITIATED: 'channel_session_initiated',
  APPLET_CONNECTED: 'applet_connected',
  PICKUP: 'pickup',
  TRANSFER: 'transfer',
  HOLD: 'hold',
  UNHOLD: 'unhold',
  INVITE_RECEIVED: 'invite_received',
  INVITE_ACCEPT: 'invite_accept',
  INVITE_DECLINE_OR_TIMEOUT: 'invite_decline_or_timeout',
  COLLABORATION_END: 'collaboration_end',
  COLLABORATOR_TIMEOUT: 'collaborator_timeout',
  REBOOT: 'reboot',
  REBOOT_COMPLETE: 'reboot_complete',
  CONNECTION_LOST: 'connection_lost',
  RECONNECT_SUCCESS: 'reconnect_success',
  RECONNECT_FAIL_5MIN: 'reconnect_fail_5min',
  REBOOT_FAIL_5MIN: 'reboot_fail_5min',
  ADMIN_IDLE_TIMEOUT: 'admin_idle_timeout',
  SYSTEM_TIMEOUT_2_WEEKS: 'system_timeout_2_weeks',
  CUSTOMER_CLOSE: 'customer_close',
  TECHNICIAN_CLOSE: 'technician_close',
  CONNECTING_TIMEOUT: 'connecting_timeout',
  TECHNICIAN_RELEASE: 'technician_release',
  ABORT: 'abort',
} as const;
export type Trigger = (typeof Trigger)[keyof typeof Trigger];

/** Triggers that create a status record instead of changing one (spec convention from=null). */
export type EntryTrigger =
  | typeof Trigger.PIN_CODE_GENERATED
  | typeof Trigger.CHANNEL_SESSION_INITIATED
  | typeof Trigger.INVITE_RECEIVED;

export const TimeoutKind = {
  ADMIN: 'admin',
  SYSTEM: 'system',
} as const;
export type TimeoutKind = (typeof TimeoutKind)[keyof typeof TimeoutKind];

/**
 * True when no trigger can leave `status`. Timed out is terminal unless its kind is 'admin'
 * (spec AMB-TIMED-OUT-KIND): a missing kind counts as final, because the only exit,
 * technician_close, is guarded by timeoutKind == 'admin'. Closed is not terminal: the
 * technician still dismisses it (spec state Closed, terminal: false).
 */
export function isTerminal(status: Status, timeoutKind: TimeoutKind | null = null): boolean {
  switch (status) {
    case Status.CLOSED_BY_TECHNICIAN:
    case Status.CLOSED_BY_WAITING_CUSTOMER:
    case Status.ABORTED:
    case Status.REMOVED_FROM_TC_QUEUE:
      return true;
    case Status.TIMED_OUT:
      return timeoutKind !== TimeoutKind.ADMIN;
    default:
      return false;
  }
}
