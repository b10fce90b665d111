/**
 * The CONTROL channel: decode the frame, find its operation in the table (`op -> { role,
 * permission, guard, run }`), check who asks from the row, run it. An operation with no row is
 * one clients do not send: FERRY_ERR_UNSUPPORTED_OPERATION. The rows live with their message
 * families (session.ts, consent.ts, screen.ts, ...); src/handlers/index.ts assembles the table.
 */
import { Codes } from '../protocol/codes.js';
import { Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { TechnicianPermission } from '../session/access-policy.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';

/** The name of a Control oneof member (an operation). */
export type OpName = NonNullable<ferry.v1.Control['op']>;
export type OpBody<K extends OpName> = NonNullable<ferry.v1.Control[K]>;

/** Who may send an operation. */
export const Who = {
  ANY: 0,
  TECHNICIAN: 1,
  CUSTOMER: 2,
} as const;
export type WhoValue = (typeof Who)[keyof typeof Who];

/** A check an operation needs before it runs, after role and permission. */
export const Guard = {
  NONE: 0,
  /** The customer's own live session (`call.session` is set). */
  CUSTOMER_SESSION: 1,
} as const;
export type GuardValue = (typeof Guard)[keyof typeof Guard];

export interface Call<K extends OpName> {
  readonly peer: RelayPeer;
  readonly body: OpBody<K>;
  readonly requestId: number;
  /** Frame.stream of the CONTROL frame (a monitor for KeyFrameRequest). */
  readonly stream: number;
  /** The session the guard found; else the sender's session (null when it has none). */
  readonly session: Session | null;
}

export interface ControlOp<K extends OpName = OpName> {
  readonly role: WhoValue;
  /** An operator permission the technician's token (or the gateway's defaults) must carry. */
  readonly permission: TechnicianPermission | null;
  readonly guard: GuardValue;
  readonly run: (call: Call<K>) => void;
}

export type ControlTable = { readonly [K in OpName]?: ControlOp<K> };

/** A row: `op(Who.TECHNICIAN, (call) => ...)`, with an optional permission and guard. */
export function op<K extends OpName>(
  role: WhoValue,
  run: (call: Call<K>) => void,
  extra: { permission?: TechnicianPermission; guard?: GuardValue } = {},
): ControlOp<K> {
  return { role, permission: extra.permission ?? null, guard: extra.guard ?? Guard.NONE, run };
}

export class ControlHandler {
  readonly #ctx: HandlerContext;
  readonly #table: ControlTable;

  constructor(ctx: HandlerContext, table: ControlTable) {
    this.#ctx = ctx;
    this.#table = table;
  }

  onControl(peer: RelayPeer, bytes: Uint8Array, _session: Session | null, stream: number): void {
    const ctx = this.#ctx;
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch (err) {
      ctx.fail(peer, Codes.FRAME_DECODE, `frame is not valid protobuf: ${(err as Error).message}`);
      return;
    }
    const control = frame.control as ferry.v1.Control | null;
    if (control == null) {
      ctx.fail(peer, Codes.FRAME_DECODE, 'a CONTROL frame needs a Control body');
      return;
    }
    const requestId = control.requestId;
    const name = control.op;
    if (name === undefined) {
      ctx.fail(peer, Codes.FRAME_DECODE, 'Control carries no operation', requestId);
      return;
    }
    const row = this.#table[name] as ControlOp<typeof name> | undefined;
    if (row === undefined) {
      ctx.fail(peer, Codes.UNSUPPORTED_OPERATION, `clients do not send ${name}`, requestId);
      return;
    }
    if (row.permission !== null) {
      if (!ctx.permit(peer, row.permission, requestId)) return;
    } else if (row.role === Who.TECHNICIAN && !ctx.technician(peer, requestId)) {
      return;
    }
    let session = peer.session;
    if (row.guard === Guard.CUSTOMER_SESSION) {
      session = ctx.customerSession(peer, requestId);
      if (session === null) return;
    } else if (row.role === Who.CUSTOMER && peer.role !== Role.ROLE_CUSTOMER) {
      ctx.fail(peer, Codes.WRONG_ROLE, 'only the customer may send this', requestId);
      return;
    }
    row.run({ peer, body: control[name] as OpBody<typeof name>, requestId, stream, session });
  }
}
