/**
 * The routing table: for each channel, who may send it, how the gateway handles it, and whether
 * it may be dropped under congestion. It is DESIGN.md's channel table as data, indexed by channel
 * number so the hot path does one array read.
 */
import { Channel, Role } from '../protocol/frames.js';

export const RouteKind = {
  /** Peek and forward the same bytes to the session's technicians (droppable). */
  SCREEN: 1,
  /** Peek and forward the same bytes to the customer, from the controlling technician. */
  INPUT: 2,
  /** Decode, stamp, log, forward. */
  CHAT: 3,
  /** Needs a customer grant the gateway does not offer: refused (none left since SHELL, FILE). */
  GRANTED: 4,
  /** Decode: session operations. */
  CONTROL: 5,
  /** Decode: pongs. */
  HEARTBEAT: 6,
  /** Gateway -> client only. */
  GATEWAY_ONLY: 7,
  /** Peek + SYSINFO grant, then decode: requests to the customer, answers to the asker. */
  SYSINFO: 8,
  /** Peek + SHELL grant, then decode: shells (src/session/shells.ts). */
  SHELL: 9,
  /** Peek + FILE grant, then decode: file transfers (src/session/files.ts). */
  FILE: 10,
} as const;

export const FROM_TECHNICIAN = 1 << Role.ROLE_TECHNICIAN;
export const FROM_CUSTOMER = 1 << Role.ROLE_CUSTOMER;
const FROM_ANY = FROM_TECHNICIAN | FROM_CUSTOMER;

export interface Route {
  readonly kind: (typeof RouteKind)[keyof typeof RouteKind];
  /** Bit mask of roles allowed to send: 1 << Role. */
  readonly from: number;
  /** False: frames may be dropped for a slow receiver. */
  readonly reliable: boolean;
  /** True: bounded by maxControlBytes; false: by maxFrameBytes. */
  readonly small: boolean;
}

const route = (kind: Route['kind'], from: number, reliable: boolean, small: boolean): Route => ({
  kind,
  from,
  reliable,
  small,
});

const table: Route[] = [];
table[Channel.CHANNEL_SCREEN] = route(RouteKind.SCREEN, FROM_CUSTOMER, false, false);
table[Channel.CHANNEL_INPUT] = route(RouteKind.INPUT, FROM_TECHNICIAN, true, false);
table[Channel.CHANNEL_CHAT] = route(RouteKind.CHAT, FROM_ANY, true, true);
table[Channel.CHANNEL_CHAT_PRIVATE] = route(RouteKind.CHAT, FROM_TECHNICIAN, true, true);
table[Channel.CHANNEL_SHELL] = route(RouteKind.SHELL, FROM_ANY, true, false);
table[Channel.CHANNEL_SYSINFO] = route(RouteKind.SYSINFO, FROM_ANY, true, false);
table[Channel.CHANNEL_FILE] = route(RouteKind.FILE, FROM_ANY, true, false);
table[Channel.CHANNEL_CONTROL] = route(RouteKind.CONTROL, FROM_ANY, true, true);
table[Channel.CHANNEL_HEARTBEAT] = route(RouteKind.HEARTBEAT, FROM_ANY, true, true);
table[Channel.CHANNEL_EVENT] = route(RouteKind.GATEWAY_ONLY, 0, true, true);

/** Indexed by channel number; every valid channel (1..MAX_CHANNEL) has an entry. */
export const routes: readonly Route[] = table;
