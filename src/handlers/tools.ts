/**
 * SHELL and FILE (spec session-tools E, C5): after the router's grant check, each frame is
 * decoded here (tool-frame.ts) and handed to the session's shells or file transfers
 * (src/session/shells.ts, files.ts), which keep the per-session state. Both register with the
 * session listeners: a departing technician's shells and transfers end at once, a revoked grant
 * ends them all, and a session's end closes its recordings.
 */
import { Channel } from '../protocol/frames.js';
import type { RelayPeer } from '../relay/peer.js';
import { GRANT_FILE, GRANT_SHELL } from '../session/consent.js';
import { FileRelay } from '../session/files.js';
import type { SessionListeners } from '../session/listeners.js';
import type { Session } from '../session/session.js';
import { ShellRelay, type ToolRelayOptions } from '../session/shells.js';
import type { HandlerContext } from './context.js';
import { decodeToolFrame } from './tool-frame.js';

export class ToolHandlers {
  readonly shells: ShellRelay;
  readonly files: FileRelay;
  readonly #ctx: HandlerContext;

  constructor(ctx: HandlerContext, listeners: SessionListeners) {
    this.#ctx = ctx;
    const options: ToolRelayOptions = {
      config: ctx.config,
      now: () => ctx.registry.now(),
      fail: (p, entry, message, channel, stream) =>
        ctx.fail(p as RelayPeer, entry, message, 0, channel, stream),
      count: (_session, channel, length) => {
        ctx.stats.outFrames[channel]!++;
        ctx.stats.outBytes[channel]! += length;
      },
      logger: ctx.logger,
    };
    this.shells = new ShellRelay(options);
    this.files = new FileRelay(options);
    listeners.add({
      ended: (session) => {
        this.shells.ended(session);
        this.files.ended(session);
      },
      left: (session, seat, actor) => {
        this.shells.left(session, seat, actor);
        this.files.left(session, seat, actor);
      },
      revoked: (session, removed, actor) => {
        if ((removed & GRANT_SHELL) !== 0) this.shells.revoked(session, actor);
        if ((removed & GRANT_FILE) !== 0) this.files.revoked(session, actor);
      },
    });
  }

  readonly onShell = (peer: RelayPeer, bytes: Uint8Array, session: Session | null): void => {
    const decoded = decodeToolFrame(bytes, 'shell', (entry, message, id) =>
      this.#ctx.fail(peer, entry, message, 0, Channel.CHANNEL_SHELL, id),
    );
    if (decoded !== null) this.shells.onMessage(peer, decoded.id, decoded.msg, bytes, session!);
  };

  readonly onFile = (peer: RelayPeer, bytes: Uint8Array, session: Session | null): void => {
    const decoded = decodeToolFrame(bytes, 'file', (entry, message, id) =>
      this.#ctx.fail(peer, entry, message, 0, Channel.CHANNEL_FILE, id),
    );
    if (decoded !== null) this.files.onMessage(peer, decoded.id, decoded.msg, bytes, session!);
  };
}
