/**
 * SYSINFO (spec session-tools C3), once the router has checked the grant: a technician's
 * SysinfoRequest goes to the customer with a ticket, the customer's SysinfoResponse back to the
 * technician who asked.
 */
import { Codes, isRefusal } from '../protocol/codes.js';
import { Channel, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';

const channel = Channel.CHANNEL_SYSINFO;

/** The request id of a technician's SysinfoRequest frame (0 when it is none or does not decode). */
export function sysinfoRequestId(bytes: Uint8Array): number {
  try {
    return ferry.v1.Frame.decode(bytes).sysinfoRequest?.requestId ?? 0;
  } catch (err) {
    // a refusal that names no request: the client matches it by channel
    if (err instanceof Error) return 0;
    throw err;
  }
}

export function sysinfoHandler(ctx: HandlerContext) {
  return (peer: RelayPeer, bytes: Uint8Array, session: Session | null): void => {
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch (err) {
      const text = `frame is not valid protobuf: ${(err as Error).message}`;
      ctx.fail(peer, Codes.FRAME_DECODE, text, 0, channel);
      return;
    }
    // the row's grant check ran with the session: a handler is only called with one
    const live = session!;
    if (peer.role === Role.ROLE_TECHNICIAN) {
      if (frame.sysinfoRequest == null) {
        const text = 'technicians send SysinfoRequest on SYSINFO';
        ctx.fail(peer, Codes.FRAME_DECODE, text, 0, channel);
        return;
      }
      const sent = ctx.tools.sysinfoRequest(peer, live, frame.sysinfoRequest);
      if (isRefusal(sent)) {
        const requestId = frame.sysinfoRequest.requestId ?? 0;
        ctx.fail(peer, sent.entry, sent.message, requestId, channel);
        return;
      }
      ctx.registry.noteAction(peer, live);
      ctx.count(live, channel, sent.length);
      return;
    }
    if (frame.sysinfoResponse == null) {
      ctx.fail(peer, Codes.FRAME_DECODE, 'customers send SysinfoResponse on SYSINFO', 0, channel);
      return;
    }
    const to = ctx.tools.sysinfoResponse(peer, live, frame.sysinfoResponse, bytes);
    if (isRefusal(to)) {
      ctx.fail(peer, to.entry, to.message, 0, channel);
      return;
    }
    ctx.count(live, channel, bytes.length);
  };
}
