/** Session summary and notes (spec session-tools D2, D3): in the report, never to the customer. */
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

export function notesOps(ctx: HandlerContext): ControlTable {
  const { tools } = ctx;
  return {
    summaryRequest: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'sessionSummary', tools.summary(peer, body)),
    ),
    addNote: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'notes', tools.addNote(peer, body, ctx.registry.now())),
    ),
    listNotes: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'notes', tools.listNotes(peer, body)),
    ),
  };
}
