/** Avatars (spec session-tools B2): a participant's picture, stored by reference and fetched on demand. */
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

export function avatarOps(ctx: HandlerContext): ControlTable {
  const { tools } = ctx;
  return {
    setAvatar: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'avatar', tools.setAvatar(peer, body)),
    ),
    avatarRequest: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'avatar', tools.avatar(peer, body)),
    ),
  };
}
