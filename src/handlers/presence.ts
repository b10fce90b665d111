/**
 * Presence: the technicians and jump clients whose connections this gateway holds. A gateway of
 * a deployment tells the shared directory as they come and go (Fleet: fire-and-forget, written
 * again at each heartbeat, gone with a dead gateway), so `GET /api/v1/technicians` on any
 * gateway lists the technicians of every one, and a jump client's listing says which gateway
 * holds it. A gateway alone lists its own. Told at a Hello and at a close, never per frame.
 */
import type { TechnicianPresence } from '../directory/shared.js';
import type { RelayPeer } from '../relay/peer.js';
import type { TechnicianGrants } from '../session/access-policy.js';
import type { HandlerContext } from './context.js';

export class Presence {
  readonly #ctx: HandlerContext;
  /** Technicians connected here. */
  readonly #technicians = new Map<RelayPeer, Omit<TechnicianPresence, 'gatewayId'>>();
  /** Jump clients connected here, by connection: their registration id. */
  readonly #jumpClients = new Map<RelayPeer, { id: string; connectedAtMs: number }>();

  constructor(ctx: HandlerContext) {
    this.#ctx = ctx;
  }

  /** A technician was admitted (its token verified). */
  technicianArrived(peer: RelayPeer, grants: TechnicianGrants): void {
    const presence = {
      participantId: peer.id,
      name: grants.name,
      teams: [...grants.teams],
      connectedAtMs: this.#ctx.registry.now(),
    };
    this.#technicians.set(peer, presence);
    this.#ctx.fleet?.technicianHere(presence);
  }

  /** Jump client `id` is connected on `peer`, idle (`inSession` false) or in a session. */
  jumpClient(peer: RelayPeer, id: string, inSession: boolean): void {
    let known = this.#jumpClients.get(peer);
    if (known === undefined) {
      known = { id, connectedAtMs: this.#ctx.registry.now() };
      this.#jumpClients.set(peer, known);
    }
    this.#ctx.fleet?.jumpClientHere(id, {
      participantId: peer.id,
      inSession,
      connectedAtMs: known.connectedAtMs,
    });
  }

  /** The technicians' connections held here (forgotten at their close: `closed`). */
  technicianPeers(): IterableIterator<RelayPeer> {
    return this.#technicians.keys();
  }

  /** A connection closed: whatever it was announced as is forgotten. */
  closed(peer: RelayPeer): void {
    if (this.#technicians.delete(peer)) this.#ctx.fleet?.technicianLeft(peer.id);
    const jump = this.#jumpClients.get(peer);
    if (jump !== undefined) {
      this.#jumpClients.delete(peer);
      this.#ctx.fleet?.jumpClientLeft(jump.id, peer.id);
    }
  }

  /**
   * The technicians connected to the deployment (to this gateway alone without a directory),
   * by gateway then connection time. Rejects when the shared directory cannot be reached.
   */
  technicians(): Promise<TechnicianPresence[]> {
    const fleet = this.#ctx.fleet;
    if (fleet !== null) return fleet.shared.technicians();
    const here: TechnicianPresence[] = [];
    for (const [peer, p] of this.#technicians) {
      if (peer.connected) here.push({ gatewayId: this.#ctx.gatewayId, ...p });
    }
    return Promise.resolve(here.sort((a, b) => a.connectedAtMs - b.connectedAtMs));
  }
}
