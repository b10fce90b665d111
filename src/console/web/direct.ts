/**
 * The browser pages' end of the direct path (docs/direct-path.md): the very DirectLink of the
 * Node clients (src/clients/direct-link.ts) over the browser's own RTCPeerConnection. The Conn
 * (conn.ts) does the rest as FerryClient does: it says Hello.direct, hands the direct CONTROL
 * operations and DirectStatus to the link, routes outgoing SCREEN (customer) and INPUT
 * (technician) frames on the channel while it is up, and takes frames from the channel into
 * the same path as frames from the WebSocket.
 *
 * OFF unless the page's address asks for it with the query parameter `direct=1`
 * (`/?direct=1#token=...`, `/join/<PIN>?direct=1`). An unrestricted browser gathers every
 * local address it has (and, with mDNS host names, multicasts queries for the other end's) and
 * sends ICE connectivity checks to whatever candidates it is given: on a customer's LAN that is
 * traffic nobody asked for. The gateway must allow it too (`--p2p lan|any`, and
 * `--p2p-networks` for the addresses it passes on); without either, every frame goes through
 * the relay as before. The console's Content-Security-Policy does not govern data channels
 * (connect-src covers fetch and WebSocket only), so nothing there changes.
 *
 * `window.ferryDirect.stats()` reports the link's state and counters (tests, bench/console).
 */
import { DirectLink, type PeerConnectionLike } from '../../clients/direct-link.js';
import type { ferry } from '../../protocol/gen/ferry.js';
import type { Conn } from './conn.js';

/** What `window.ferryDirect.stats()` reports of this page's end of the path. */
export interface DirectStats {
  readonly state: string;
  /** The gateway's DirectStatus.state (0 relayed, 1 connecting, 2 direct), -1 before any. */
  readonly gatewayState: number;
  readonly reason: string;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly refused: number;
  readonly ups: number;
  readonly fallbacks: number;
  readonly rttMs: number;
  readonly lastCloseReason: string;
}

declare global {
  interface Window {
    ferryDirect?: { stats(): DirectStats };
  }
}

/** True when the page's address says `direct=1` (the query, not the fragment). */
export function directWanted(search: string = location.search): boolean {
  return new URLSearchParams(search).get('direct') === '1';
}

/**
 * This page's end of the direct path, attached to `conn` (before its Hello, which then says
 * `direct`), or null when the address does not ask for one or the browser has no WebRTC.
 * `accepts`: whether the page takes a frame that came on the channel now (the link already
 * checked it is the role's channel; the customer page adds its CONTROL grant).
 */
export function browserDirect(
  conn: Conn,
  role: 'technician' | 'customer',
  accepts: (frame: ferry.v1.Frame) => boolean,
): DirectLink | null {
  if (!directWanted() || typeof RTCPeerConnection !== 'function') return null;
  const link = new DirectLink({
    role,
    sendControl: (control) => conn.notify(control),
    createPeer: (open) =>
      new RTCPeerConnection({
        iceServers: (open.iceServers ?? []).map((urls) => ({ urls })),
      }) as unknown as PeerConnectionLike,
    deliver: (frame, bytes) => accepts(frame) && conn.receiveDirect(frame, bytes),
    changed: (l) => {
      document.body.dataset.directLink = l.state;
      conn.directChanged(l);
    },
    now: () => performance.now(),
  });
  conn.direct = link;
  document.body.dataset.directLink = link.state;
  window.ferryDirect = {
    stats: () => ({
      state: link.state,
      gatewayState: link.status?.state ?? -1,
      reason: link.status?.reason ?? '',
      framesSent: link.framesSent,
      framesReceived: link.framesReceived,
      refused: link.refused,
      ups: link.ups,
      fallbacks: link.fallbacks,
      rttMs: link.rttMs,
      lastCloseReason: link.lastCloseReason,
    }),
  };
  return link;
}
