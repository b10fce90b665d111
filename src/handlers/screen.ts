/**
 * Screen operations (spec session-tools C2): sharing starts and stops, the customer's monitor
 * list, monitor selection, stream quality, and key frame requests. SCREEN frames themselves are
 * forwarded by the router without a decode (their row: customer only, VIEW grant, media
 * flowing, droppable).
 */
import { Codes } from '../protocol/codes.js';
import { controlFrame } from '../protocol/frames.js';
import { GRANT_VIEW } from '../session/consent.js';
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

export function screenOps(ctx: HandlerContext): ControlTable {
  const { tools } = ctx;
  return {
    screenShareStart: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.startSharing(peer, body)),
    ),
    screenShareStop: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.stopSharing(peer, body)),
    ),
    monitorList: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.reportMonitors(peer, body)),
    ),
    selectMonitor: op(Who.TECHNICIAN, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.selectMonitor(peer, body)),
    ),
    setStreamQuality: op(Who.TECHNICIAN, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.setQuality(peer, body)),
    ),
    /**
     * A technician of the session asks the customer for a key frame. It concerns the screen, so
     * it needs the VIEW grant like every screen tool: without it the customer is not even asked.
     */
    keyFrameRequest: op(Who.TECHNICIAN, ({ peer, requestId, stream, session }) => {
      if (session === null || session.customer === null || !session.isParticipant(peer)) {
        ctx.fail(peer, Codes.NOT_IN_SESSION, 'no customer to ask for a key frame', requestId);
        return;
      }
      if ((session.grants & GRANT_VIEW) === 0) {
        ctx.fail(peer, Codes.NOT_GRANTED, 'the customer has not granted screen view', requestId);
        return;
      }
      session.customer.sendFrame(
        controlFrame({ keyFrameRequest: { reason: `asked by ${peer.name}` } }, stream),
      );
    }),
  };
}
