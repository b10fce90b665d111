/**
 * Team queues across a deployment (`--directory redis://`). A support-button session waits on
 * the gateway its customer reached; the directory lists it in its team's queue and tells every
 * gateway, whose technicians of that team hear of it (SessionQueued) and see it in their
 * ListQueue. A pick-up, from any gateway, is first claimed in the directory (one claimant wins,
 * whatever gateways the technicians are on); a technician on another gateway then gets the
 * session moved to its own (the owner hands it over and its customer resumes there) and picks
 * it up when it arrives.
 */

import type { DirectoryEvent, QueuedSession } from '../directory/shared.js';
import { Codes } from '../protocol/codes.js';
import { eventFrame } from '../protocol/frames.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';
import type { UnattendedAccess } from './unattended.js';

/** How long a pick-up waits for the session it claimed on another gateway to arrive. */
const ARRIVAL_TIMEOUT_MS = 15_000;

export class SharedQueues {
  readonly #ctx: HandlerContext;
  readonly #unattended: UnattendedAccess;
  /** Pick-ups waiting for their session to arrive here, by session id. */
  readonly #arrivals = new Map<string, (() => void)[]>();

  constructor(ctx: HandlerContext, unattended: UnattendedAccess) {
    this.#ctx = ctx;
    this.#unattended = unattended;
    const fleet = ctx.fleet;
    if (fleet === null) return;
    unattended.onQueued = (session, team) => {
      const info = session.customerInfo;
      fleet.shared
        .enqueue(team, session.id)
        .then(() =>
          fleet.shared.publish({
            kind: 'queued',
            team,
            sessionId: session.id,
            gatewayId: ctx.gatewayId,
            customerName: info?.name ?? session.customerLabel,
            computerName: info?.computerName ?? '',
            platform: info?.platform ?? '',
          }),
        )
        .catch((err: unknown) => {
          ctx.logger.warn({ err, session: session.id, team }, 'queued session not shared');
        });
    };
    fleet.shared.onEvent((event) => this.#onEvent(event));
    ctx.registry.listeners.add({ restored: (session) => this.#arrived(session) });
  }

  /** The sessions waiting in the queues of `teams` on other gateways. */
  async remote(teams: readonly string[]): Promise<(QueuedSession & { team: string })[]> {
    const fleet = this.#ctx.fleet;
    if (fleet === null || !fleet.available) return [];
    const rows: (QueuedSession & { team: string })[] = [];
    for (const team of teams) {
      for (const q of await fleet.shared.queuedSessions(team)) {
        if (q.gatewayId !== this.#ctx.gatewayId) rows.push({ ...q, team });
      }
    }
    return rows;
  }

  /**
   * A pick-up of a session that waits in a team queue, here or on another gateway: claimed in
   * the directory first, then (from another gateway) moved here; `proceed` then runs the local
   * pick-up. False when there is nothing to claim (no directory, or not a queued session).
   */
  claim(peer: RelayPeer, sessionId: string, requestId: number, proceed: () => void): boolean {
    const ctx = this.#ctx;
    const fleet = ctx.fleet;
    if (fleet === null || !fleet.available) return false;
    const local = ctx.registry.get(sessionId);
    const localTeam = local === undefined ? undefined : this.#unattended.queuedTeam(local);
    if (local !== undefined && localTeam === undefined) return false;
    const teams = ctx.grants(peer)?.teams ?? [];
    const work = (async () => {
      let team = localTeam;
      if (team === undefined) {
        for (const t of teams) {
          if ((await fleet.shared.queuedSessions(t)).some((q) => q.sessionId === sessionId)) {
            team = t;
            break;
          }
        }
      }
      // nothing waits under that id in the technician's queues: the local path says why
      if (team === undefined || !teams.includes(team)) {
        proceed();
        return;
      }
      if (!(await fleet.shared.pickUp(team, sessionId, peer.name))) {
        const text = 'another technician picked this session up first';
        ctx.fail(peer, Codes.WRONG_STATE, text, requestId);
        return;
      }
      if (local === undefined) {
        const arrived = this.#arrival(sessionId);
        await fleet.shared.publish({ kind: 'move', sessionId, to: ctx.gatewayId });
        const session = await arrived;
        if (session === null) {
          const text = 'the session did not arrive from the gateway it waited on';
          ctx.fail(peer, Codes.SESSION_NOT_FOUND, text, requestId);
          return;
        }
        // its customer resumes here in the same turn as the arrival: let that finish first
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (peer.state === PeerState.CLOSED || session.ended) return;
        ctx.registry.adopt(session, peer);
      }
      if (peer.state !== PeerState.CLOSED) proceed();
    })();
    ctx.settle(peer, 'pickUp', work, requestId);
    return true;
  }

  #onEvent(event: DirectoryEvent): void {
    const ctx = this.#ctx;
    if (event.kind === 'queued') {
      if (event.gatewayId === ctx.gatewayId) return;
      const frame = eventFrame({
        sessionQueued: {
          sessionId: event.sessionId,
          customerName: event.customerName,
          computerName: event.computerName,
          platform: event.platform,
          team: event.team,
        },
      });
      this.#unattended.notifyTeam(event.team, frame);
      return;
    }
    // a technician elsewhere won the pick-up of a session waiting here: it goes there
    if (event.kind !== 'move' || event.to === ctx.gatewayId) return;
    const session = ctx.registry.get(event.sessionId);
    if (session === undefined || session.ended) return;
    if (this.#unattended.queuedTeam(session) === undefined) return;
    this.#unattended.release(session);
    session.ownerIsQueue = false;
    ctx.moveTo(session, event.to, `picked up on gateway ${event.to}`).catch((err: unknown) => {
      ctx.logger.error({ err, session: session.id, to: event.to }, 'queued session not moved');
    });
  }

  /** Resolves with the session once it is here, or null after ARRIVAL_TIMEOUT_MS. */
  #arrival(sessionId: string): Promise<Session | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#arrivals.delete(sessionId);
        resolve(null);
      }, ARRIVAL_TIMEOUT_MS);
      timer.unref();
      const waiting = this.#arrivals.get(sessionId) ?? [];
      waiting.push(() => {
        clearTimeout(timer);
        resolve(this.#ctx.registry.get(sessionId) ?? null);
      });
      this.#arrivals.set(sessionId, waiting);
    });
  }

  #arrived(session: Session): void {
    const waiting = this.#arrivals.get(session.id);
    if (waiting === undefined) return;
    this.#arrivals.delete(session.id);
    for (const resolve of waiting) resolve();
  }
}
