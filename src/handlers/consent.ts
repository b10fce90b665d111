/**
 * Consent (spec session-tools C1): a technician asks the customer for permissions; the customer
 * grants, denies or revokes any of them at any time; control is handed over explicitly. The
 * gateway records every grant and enforces it per frame in the router (the channel rows name
 * the grant each channel needs).
 */
import { isRefusal } from '../protocol/codes.js';
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

export function consentOps(ctx: HandlerContext): ControlTable {
  const { tools, registry } = ctx;
  return {
    // refused at once, or answered with consent_result (same request id) once the customer answers
    consentRequest: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const result = tools.requestConsent(peer, body, requestId);
      if (isRefusal(result)) ctx.fail(peer, result.entry, result.message, requestId);
      else registry.noteAction(peer, result);
    }),
    consentResponse: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.answerConsent(peer, body)),
    ),
    revokeConsent: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.revokeConsent(peer, body)),
    ),
    handOverControl: op(Who.TECHNICIAN, ({ peer, body, requestId }) =>
      ctx.reply(peer, requestId, tools.handOverControl(peer, body, registry.now())),
    ),
  };
}
