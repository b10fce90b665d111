/**
 * The shape of the channel table. Each row says, for one channel: how the relay treats it
 * (forward the same bytes, or hand them to a handler), who may send it, its size class, the
 * session state and the customer grant it needs, whether it may be dropped under congestion,
 * and whether it counts as user activity. The rows themselves are built in
 * `src/handlers/index.ts` (DESIGN's channel table as data); the router reads them by channel
 * number with one array read and never decodes a frame.
 */
import { Role } from '../protocol/frames.js';
import type { Session } from '../session/session.js';
import type { RelayPeer } from './peer.js';

export const RouteKind = {
  /** Peek and forward the same bytes to the session's technicians (droppable). */
  SCREEN: 1,
  /** Peek and forward the same bytes to the customer, from the controlling technician. */
  INPUT: 2,
  /** Hand the bytes to the row's handler, which decodes them. */
  HANDLER: 3,
  /** Gateway -> client only: a client sending it is refused. */
  GATEWAY_ONLY: 4,
} as const;
export type RouteKindValue = (typeof RouteKind)[keyof typeof RouteKind];

export const FROM_TECHNICIAN = 1 << Role.ROLE_TECHNICIAN;
export const FROM_CUSTOMER = 1 << Role.ROLE_CUSTOMER;
export const FROM_ANY = FROM_TECHNICIAN | FROM_CUSTOMER;

/**
 * A handler: decodes `bytes`, checks who asks, calls the session model and replies. It runs
 * inside the uWS callback: `bytes` dies when it returns, so anything kept must be copied.
 * `session` is the sender's session (null before it joined one); a row with a grant or a
 * state is only handed frames that passed those checks.
 */
export type ChannelHandler = (
  peer: RelayPeer,
  bytes: Uint8Array,
  session: Session | null,
  stream: number,
) => void;

export interface ChannelRow {
  readonly channel: number;
  /** Short name: logs and `ferry_handler_errors_total{handler}`. */
  readonly name: string;
  readonly kind: RouteKindValue;
  /** Bit mask of roles allowed to send: 1 << Role. */
  readonly from: number;
  /** True: bounded by maxControlBytes; false: by maxFrameBytes. */
  readonly small: boolean;
  /** Consent bits (session/consent.ts GRANT_*) the session must hold; 0: none. */
  readonly grant: number;
  /** The refusal text when the grant is missing (constant: a refusal builds no string). */
  readonly grantText: string;
  /** The request id a refused frame names, so the asker can match the Error (cold path). */
  readonly requestIdOf: ((bytes: Uint8Array) => number) | null;
  /** The session state the frame needs (SCREEN, INPUT: media flowing); null: the handler checks. */
  readonly state: ((session: Session) => boolean) | null;
  readonly stateText: string;
  /** False: frames may be dropped for a slow receiver. */
  readonly reliable: boolean;
  /** Frames relayed on this channel count as user activity (the admin idle timeout). */
  readonly activity: boolean;
  readonly handler: ChannelHandler | null;
}

/** A row with defaults for what a channel does not need. */
export function row(
  channel: number,
  name: string,
  fields: Partial<Omit<ChannelRow, 'channel' | 'name'>> & Pick<ChannelRow, 'from'>,
): ChannelRow {
  return {
    channel,
    name,
    kind: fields.handler != null ? RouteKind.HANDLER : (fields.kind ?? RouteKind.GATEWAY_ONLY),
    from: fields.from,
    small: fields.small ?? false,
    grant: fields.grant ?? 0,
    grantText: fields.grantText ?? 'the customer has not granted this channel',
    requestIdOf: fields.requestIdOf ?? null,
    state: fields.state ?? null,
    stateText: fields.stateText ?? '',
    reliable: fields.reliable ?? true,
    activity: fields.activity ?? false,
    handler: fields.handler ?? null,
  };
}

/** Rows indexed by channel number; a missing row is an unknown channel. */
export type ChannelTable = readonly (ChannelRow | undefined)[];
