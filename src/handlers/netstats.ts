/**
 * NetworkStatsRequest (docs/spec/network-stats.md): a technician of the session asks for the
 * Network Statistics table now, instead of waiting for the next periodic push.
 */
import { Codes } from '../protocol/codes.js';
import type { RelayPeer } from '../relay/peer.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

/** Pushes a session's NetworkStats to one technician (the gateway's statistics service). */
export type StatsPush = (peer: RelayPeer, session: Session) => void;

export function netstatsOps(ctx: HandlerContext, push: StatsPush): ControlTable {
  return {
    networkStatsRequest: op(Who.TECHNICIAN, ({ peer, body, requestId }) => {
      const session = body.sessionId ? ctx.registry.get(body.sessionId) : peer.session;
      if (session == null || !session.technicianAudience().includes(peer)) {
        const text = 'statistics are for technicians of the session';
        ctx.fail(peer, Codes.NOT_IN_SESSION, text, requestId);
        return;
      }
      push(peer, session);
    }),
  };
}
