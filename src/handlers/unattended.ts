/**
 * Unattended access (docs/spec/session-tools.md A3, A4): jump clients and support buttons. A permitted
 * technician pins the customer client (the gateway registers it and hands the key to the customer
 * client once); the jump client later says Hello with its id and key (behind the PIN attempt
 * limits of control.ts) and waits, connected, in no session; a permitted technician of its team
 * starts a session to it without a PIN; unpinning revokes the key at the gateway first, then tells
 * the device. A support button's id opens a new session in its team's queue, which only a
 * technician of that team adopts by picking it up.
 *
 * The registry is the gateway's file alone, or, in a deployment (`--directory redis://`), the
 * shared directory's (src/directory/unattended.ts): a jump client or support button registered
 * through any gateway then works on every one, an unpin is told to whichever gateway holds the
 * device (DirectoryEvent `unpinned`; if that is missed, the holder's next beat finds the revoke),
 * and each jump client's presence says which gateway holds its connection. A technician who
 * starts a session to a jump client held by another gateway is
 * sent there (`Redirect{reason: jump_client}`, close 4010: both ends meet on the jump client's
 * gateway) and asks again there; a technician who works sessions here is not (they would lose
 * their technician), and is told where the jump client is instead. The file registry answers at
 * once; the shared one later, and with FERRY_ERR_DIRECTORY_UNAVAILABLE when the store cannot be
 * reached (nothing is answered from stale state).
 */
import type { JumpClientWhere } from '../directory/shared.js';
import { Codes } from '../protocol/codes.js';
import { controlFrame, errorFrame, eventFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import { personalTeam, reaches, type TechnicianGrants } from '../session/access-policy.js';
import type { Participant } from '../session/participant.js';
import { Relation, type Session } from '../session/session.js';
import { allowedTriggers } from '../session/state-machine.js';
import { Trigger as T } from '../session/states.js';
import type {
  Answer,
  JumpClientAuth,
  JumpClientRegistration,
  SupportButton,
  UnattendedRegistry,
} from '../tools/jump-clients.js';
import { clean, entryOf, type HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';
import type { Presence } from './presence.js';

/** An authenticated customer joins a session: Welcome, then applet_connected (join.ts). */
export type Join = (
  peer: RelayPeer,
  hello: ferry.v1.Hello.$Properties,
  session: Session,
  requestId: number,
  how: string,
) => void;

/** A jump client connected in unattended mode, and the Hello it said (to join it later). */
interface Unattended {
  readonly peer: RelayPeer;
  readonly hello: ferry.v1.Hello.$Properties;
}

/** The connection closed (checked again after each wait: narrowing does not survive one). */
const gone = (peer: RelayPeer): boolean => peer.state === PeerState.CLOSED;

/**
 * Runs `next` with `value` at once when it is at hand (the file registry: the caller's turn, as
 * always), else when it resolves; a rejection goes to `failed`. Undefined when it ran at once.
 */
function whenAnswered<T>(
  value: Answer<T>,
  next: (v: T) => void,
  failed: (err: unknown) => void,
): Promise<void> | undefined {
  if (!(value instanceof Promise)) {
    next(value);
    return undefined;
  }
  return value.then(next, failed);
}

export class UnattendedAccess {
  readonly #ctx: HandlerContext;
  readonly #jump: UnattendedRegistry;
  /** Also the connected technicians (team queue notices): `technicianPeers`. */
  readonly #presence: Presence;
  /** Jump clients connected in unattended mode, by registration id. */
  readonly #unattended = new Map<string, Unattended>();
  /** Support button sessions not yet adopted, and their team. */
  readonly #teamQueued = new Map<Session, string>();

  readonly #join: Join;

  constructor(
    ctx: HandlerContext,
    jumpClients: UnattendedRegistry,
    presence: Presence,
    join: Join,
  ) {
    this.#ctx = ctx;
    this.#jump = jumpClients;
    this.#presence = presence;
    this.#join = join;
    const shared = ctx.fleet?.shared;
    if (shared === undefined) return;
    shared.onEvent((event) => {
      // unpinned through another gateway: the device, if it is connected here, is told
      if (event.kind === 'unpinned' && event.gatewayId !== ctx.gatewayId) {
        this.#letGo(event.jumpClientId, event.by, true);
      }
    });
    shared.onJumpClientRevoked((id, participantId, by) => {
      // revoked while this gateway admitted the device, or its `unpinned` event was lost: the
      // beat that read the registration tells it now (within one heartbeat of the revoke)
      const u = this.#unattended.get(id);
      if (u === undefined || u.peer.id !== participantId) return;
      ctx.logger?.info({ jumpClient: id, by }, 'jump client revoked elsewhere: let go at a beat');
      this.#letGo(id, by, true);
    });
    shared.onJumpClientElsewhere((id, participantId) => {
      // the device said Hello again on another gateway: the idle connection here is stale
      const u = this.#unattended.get(id);
      if (u === undefined || u.peer.id !== participantId) return;
      this.#unattended.delete(id);
      if (u.peer.connected && u.peer.session === null) {
        u.peer.end(Codes.RESUMED_ELSEWHERE.close, 'replaced');
      }
    });
  }

  /**
   * A technician connected: it hears of the sessions waiting in its teams' queues. Nothing here
   * goes over the other technicians: the presence forgets each at its close.
   */
  onTechnician(peer: RelayPeer, grants: TechnicianGrants): void {
    this.#presence.technicianArrived(peer, grants);
    for (const [session, team] of this.#teamQueued) {
      // a queued session that ended (its customer left) is forgotten here or at a click
      if (session.ended) this.#teamQueued.delete(session);
      else if (grants.teams.includes(team)) peer.sendFrame(queuedNotice(session, team));
    }
  }

  /**
   * ListQueue: the sessions waiting in the queues of the technician's teams, not adopted yet
   * (a support button's; a technician of another team never sees them). Ended ones are forgotten.
   */
  teamQueue(grants: TechnicianGrants): { session: Session; team: string }[] {
    const rows: { session: Session; team: string }[] = [];
    for (const [session, team] of this.#teamQueued) {
      if (session.ended) this.#teamQueued.delete(session);
      else if (grants.teams.includes(team)) rows.push({ session, team });
    }
    return rows;
  }

  /**
   * A customer resumed its place in `session` on `peer` (a lost connection, a reboot). For a
   * jump client's session that connection is the device from now on: listings show it online
   * and in its session, here and (presence) on every gateway, and an unpin reaches it.
   */
  onCustomerResumed(peer: RelayPeer, session: Session, hello: ferry.v1.Hello.$Properties): void {
    const id = session.jumpClientId;
    if (id === '' || session.ended) return;
    const previous = this.#unattended.get(id);
    if (previous !== undefined && previous.peer !== peer && previous.peer.connected) {
      // the device had said a fresh Hello meanwhile: that idle connection is stale now
      if (previous.peer.session === null)
        previous.peer.end(Codes.RESUMED_ELSEWHERE.close, 'replaced');
    }
    const said = previous?.hello ?? { ...hello, resumeToken: '', replay: null };
    this.#unattended.set(id, { peer, hello: said });
    this.#presence.jumpClient(peer, id, true);
  }

  /** Close with uninstall of a jump client session: its key is revoked (the device was told). */
  revokeForSession(session: Session, by: string): void {
    const jumpId = session.jumpClientId;
    if (jumpId === '') return;
    this.#revoke(jumpId, by, false).catch((err: unknown) =>
      this.#ctx.logger?.error({ err, jumpClient: jumpId }, 'jump client revocation not saved'),
    );
  }

  /**
   * A customer Hello with a jump client id and key (unattended mode, no session yet) or a
   * support button id (a new session in the button's team queue). Already rate-limited.
   * Answered in this turn with the file registry; with the shared one, the promise settles once
   * answered (no other Hello of the connection is taken meanwhile).
   */
  onCustomerHello(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    requestId: number,
  ): Promise<void> | undefined {
    if (hello.jumpClientId) {
      const auth = this.#jump.authenticate(hello.jumpClientId, hello.jumpClientKey ?? '');
      return whenAnswered(
        auth,
        (answer) => this.#jumpClientHello(peer, hello, requestId, answer),
        (err) => this.#registryDown(peer, err, requestId),
      );
    }
    return whenAnswered(
      this.#jump.button(hello.supportButtonId ?? ''),
      (button) => this.#supportButtonHello(peer, hello, requestId, button),
      (err) => this.#registryDown(peer, err, requestId),
    );
  }

  /**
   * A Hello the registry could not answer (the shared directory is unreachable). The device is
   * told a fixed text: the detail (the store's address among it) is for the server log only.
   */
  #registryDown(peer: RelayPeer, err: unknown, requestId: number): void {
    if (peer.state !== PeerState.AWAITING_HELLO) return;
    this.#ctx.logger?.warn({ err, address: peer.remoteAddress }, 'unattended registry unreachable');
    const text = 'the shared directory cannot be reached to check the Hello; try again in a moment';
    this.#ctx.fail(peer, entryOf(err), text, requestId);
  }

  #supportButtonHello(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    requestId: number,
    button: SupportButton | undefined,
  ): void {
    // closed (or timed out) while the registry answered: nothing to admit
    if (peer.state !== PeerState.AWAITING_HELLO) return;
    if (button === undefined) {
      this.#ctx.fail(peer, Codes.SUPPORT_BUTTON_INVALID, 'no such support button', requestId);
      return;
    }
    for (const queued of this.#teamQueued.keys()) {
      if (queued.ended) this.#teamQueued.delete(queued);
    }
    const queue = queueParticipant(button.team);
    const label = clean(hello.client?.name, 64) || button.deviceName;
    const session = this.#ctx.registry.createQueued(queue, label);
    this.#teamQueued.set(session, button.team);
    session.log.event('support_button', label, `support button of team ${button.team}`);
    this.#join(peer, hello, session, requestId, `customer started a session with a support button`);
    if (session.ended) return;
    this.notifyTeam(button.team, queuedNotice(session, button.team));
    this.onQueued(session, button.team);
  }

  /** Called with every support-button session put in a team queue here (the shared queues). */
  onQueued: (session: Session, team: string) => void = () => undefined;

  /** Sends `frame` to every connected technician of `team`. */
  notifyTeam(team: string, frame: Uint8Array): void {
    for (const tech of this.#presence.technicianPeers()) {
      if (tech.connected && this.#ctx.grants(tech)?.teams.includes(team)) tech.sendFrame(frame);
    }
  }

  /** The team whose queue `session` waits in, if it waits in one here. */
  queuedTeam(session: Session): string | undefined {
    return this.#teamQueued.get(session);
  }

  /** `session` leaves its team queue here without a pick-up here (it moves to another gateway). */
  release(session: Session): void {
    this.#teamQueued.delete(session);
  }

  #jumpClientHello(
    peer: RelayPeer,
    hello: ferry.v1.Hello.$Properties,
    requestId: number,
    auth: JumpClientAuth,
  ): void {
    if (peer.state !== PeerState.AWAITING_HELLO) return;
    const id = hello.jumpClientId ?? '';
    if (!auth.ok) {
      if (auth.code === Codes.DIRECTORY_UNAVAILABLE.code) {
        // not a refusal of the key: the client tries again later
        const text =
          'the shared directory cannot be reached to check the key; try again in a moment';
        this.#ctx.fail(peer, Codes.DIRECTORY_UNAVAILABLE, text, requestId);
        return;
      }
      const entry =
        auth.code === Codes.JUMP_CLIENT_REVOKED.code
          ? Codes.JUMP_CLIENT_REVOKED
          : Codes.JUMP_CLIENT_AUTH_FAILED;
      this.#ctx.logger?.warn(
        { address: peer.remoteAddress, code: entry.code },
        'jump client refused',
      );
      this.#ctx.fail(peer, entry, entry.doc, requestId);
      return;
    }
    const previous = this.#unattended.get(id);
    if (previous !== undefined && previous.peer !== peer && previous.peer.connected) {
      // the device came back on a new connection: the idle old one goes
      if (previous.peer.session === null)
        previous.peer.end(Codes.RESUMED_ELSEWHERE.close, 'replaced');
    }
    peer.role = Role.ROLE_CUSTOMER;
    peer.name = clean(hello.client?.name, 64).trim() || auth.registration.deviceName;
    peer.state = PeerState.READY;
    this.#unattended.set(id, { peer, hello });
    this.#presence.jumpClient(peer, id, false);
    this.#ctx.logger?.info(
      { jumpClient: id, team: auth.registration.team },
      'jump client connected',
    );
    peer.sendFrame(
      controlFrame({
        requestId,
        welcome: {
          participantId: peer.id,
          gatewayId: this.#ctx.gatewayId,
          sessionId: '',
          resumeToken: '',
          heartbeatIntervalMs: this.#ctx.config.heartbeatIntervalMs,
          gatewayVersion: this.#ctx.version,
          resumed: false,
          status: 0,
        },
      }),
    );
  }

  /** The connected, idle jump client of a registration, if any. */
  #idle(id: string): Unattended | null {
    const u = this.#unattended.get(id);
    if (u === undefined) return null;
    if (!u.peer.connected || u.peer.state !== PeerState.READY) {
      this.#unattended.delete(id);
      return null;
    }
    return u.peer.session === null ? u : null;
  }

  async pin(
    peer: RelayPeer,
    op: ferry.v1.JumpClientInstall.$Properties,
    requestId: number,
  ): Promise<void> {
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    if (op.serviceMode === true && !this.#ctx.elevated.has(w.session)) {
      this.#ctx.fail(
        peer,
        Codes.ELEVATION_REQUIRED,
        'a service-mode jump client needs an elevated customer client',
        requestId,
      );
      return;
    }
    const grants = this.#ctx.grants(peer)!;
    const personal = op.scope === ferry.v1.JumpClientScope.JUMP_CLIENT_SCOPE_PERSONAL;
    const team = personal ? personalTeam(grants.name) : grants.teams[0]!;
    const info = w.session.customerInfo;
    const deviceName = info?.computerName || info?.name || 'customer';
    let pinned: Awaited<ReturnType<UnattendedRegistry['register']>>;
    try {
      pinned = await this.#jump.register({ technician: grants.name, team, deviceName });
    } catch (err) {
      this.#ctx.logger?.error({ err }, 'jump client registration failed');
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    const { session } = w;
    session.log.event(
      'jump_client',
      peer.name,
      `pinned a jump client on ${deviceName} for ${personal ? 'personal use' : `team ${team}`}`,
    );
    this.#ctx.logger?.info({ jumpClient: pinned.id, team, by: peer.name }, 'jump client pinned');
    if (!session.ended && session.customerSeat !== null) {
      session.deliver(
        session.customerSeat,
        controlFrame({
          jumpClientKey: {
            jumpClientId: pinned.id,
            key: pinned.key,
            team,
            deviceName,
            serviceMode: op.serviceMode === true,
          },
        }),
      );
    }
    peer.sendFrame(
      controlFrame({
        requestId,
        jumpClients: { jumpClients: [this.#describe(pinned.registration)] },
      }),
    );
  }

  /**
   * A registration as listed: online and in a session by the connection here when there is one
   * (the freshest), else by its presence on another gateway of the deployment.
   */
  #describe(
    r: JumpClientRegistration,
    elsewhere?: JumpClientWhere,
  ): ferry.v1.JumpClient.$Properties {
    const u = this.#unattended.get(r.id);
    const here = u?.peer.connected === true && u.peer.state === PeerState.READY;
    return {
      id: r.id,
      team: r.team,
      deviceName: r.deviceName,
      technician: r.technician,
      createdUnixMs: r.createdAtMs,
      online: here || elsewhere !== undefined,
      lastSeenUnixMs: r.lastSeenAtMs ?? 0,
      inSession: here ? u.peer.session !== null : elsewhere?.inSession === true,
      gatewayId: here ? this.#ctx.gatewayId : (elsewhere?.gatewayId ?? ''),
    };
  }

  /** Active registrations the technician may reach (its teams and its personal ones). */
  async #reachable(grants: TechnicianGrants, id: string): Promise<JumpClientRegistration | null> {
    const r = await this.#jump.get(id);
    if (r === undefined || r.revokedAtMs !== null || !reaches(grants, r.team)) return null;
    return r;
  }

  /**
   * ListJumpClients: the registrations the technician may reach, each online (and where) or not.
   * Answered in this turn with the file registry alone.
   */
  listJumpClients(peer: RelayPeer, requestId: number): void {
    const grants = this.#ctx.grants(peer);
    const may =
      grants?.perms.has('unattended') === true || grants?.perms.has('jump_client') === true;
    if (!may && !this.#ctx.permit(peer, 'unattended', requestId)) return;
    const send = (list: ferry.v1.JumpClient.$Properties[]) => {
      peer.sendFrame(controlFrame({ requestId, jumpClients: { jumpClients: list } }));
    };
    const fleet = this.#ctx.fleet;
    const work = whenAnswered(
      this.#jump.list(),
      (all) => {
        const mine = all.filter((r) => reaches(grants!, r.team));
        if (fleet === null) {
          send(mine.map((r) => this.#describe(r)));
          return;
        }
        // where the others are: one read of the directory for the whole list
        const away = mine.filter((r) => this.#idle(r.id) === null).map((r) => r.id);
        const done = fleet.shared.jumpClientsAt(away).then(
          (where) => send(mine.map((r) => this.#describe(r, where.get(r.id)))),
          (err: unknown) =>
            this.#directoryDown(peer, err, 'list where jump clients are', requestId),
        );
        this.#ctx.settle(peer, 'listJumpClients', done, requestId);
      },
      (err) => this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId),
    );
    if (work !== undefined) this.#ctx.settle(peer, 'listJumpClients', work, requestId);
  }

  #directoryDown(peer: RelayPeer, err: unknown, what: string, requestId: number): void {
    this.#ctx.logger?.warn({ err, conn: peer.id }, `shared directory: could not ${what}`);
    const text = `the shared directory cannot be reached to ${what}; try again in a moment`;
    this.#ctx.fail(peer, Codes.DIRECTORY_UNAVAILABLE, text, requestId);
  }

  async unpin(
    peer: RelayPeer,
    op: ferry.v1.JumpClientUninstall.$Properties,
    requestId: number,
  ): Promise<void> {
    const id = op.jumpClientId ?? '';
    let reachable: JumpClientRegistration | null;
    try {
      reachable = await this.#reachable(this.#ctx.grants(peer)!, id);
    } catch (err) {
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    if (reachable === null) {
      this.#ctx.fail(
        peer,
        Codes.JUMP_CLIENT_NOT_FOUND,
        `no jump client ${id} you may unpin`,
        requestId,
      );
      return;
    }
    try {
      await this.#revoke(id, peer.name);
    } catch (err) {
      this.#ctx.logger?.error({ err }, 'jump client revocation not saved');
      const shared = this.#ctx.fleet !== null;
      this.#ctx.fail(
        peer,
        entryOf(err),
        shared
          ? `not revoked: ${(err as Error).message}`
          : `revoked in memory, not saved: ${(err as Error).message}`,
        requestId,
      );
      return;
    }
    this.#ctx.done(peer, requestId, null);
  }

  /**
   * spec A4.2: the key is revoked at the gateway first (so it stops working even if the device
   * never hears of it), then a connected jump client is told to uninstall; an idle one is let go.
   * In a deployment the revoke is in the shared directory (refused everywhere from then on) and
   * every other gateway is told, so whichever holds the device tells it; when the store cannot
   * be reached nothing is revoked and the device is not told. The file registry revokes in
   * memory even when its save fails, so the device is told then too.
   */
  async #revoke(id: string, by: string, tell = true): Promise<void> {
    const fleet = this.#ctx.fleet;
    let revoked = false;
    try {
      revoked = await this.#jump.revoke(id, by);
    } catch (err) {
      if (fleet === null) this.#letGo(id, by, tell);
      throw err;
    }
    this.#ctx.logger?.info({ jumpClient: id, by }, 'jump client unpinned');
    this.#letGo(id, by, tell);
    if (revoked && fleet !== null) {
      await fleet.shared
        .publish({ kind: 'unpinned', jumpClientId: id, by, gatewayId: this.#ctx.gatewayId })
        .catch((err: unknown) => {
          // revoked all the same: its key is refused everywhere; the device just is not told
          this.#ctx.logger?.warn({ err, jumpClient: id }, 'unpin not told to the other gateways');
        });
    }
  }

  /** A revoked jump client connected here is told to uninstall; an idle one is let go. */
  #letGo(id: string, by: string, tell: boolean): void {
    const u = this.#unattended.get(id);
    this.#unattended.delete(id);
    if (tell && u?.peer.connected) {
      u.peer.sendFrame(controlFrame({ jumpClientUninstall: { jumpClientId: id, by } }));
      if (u.peer.session === null) {
        u.peer.sendFrame(errorFrame(Codes.JUMP_CLIENT_REVOKED, 'unpinned'));
        u.peer.end(Codes.JUMP_CLIENT_REVOKED.close, Codes.JUMP_CLIENT_REVOKED.code);
      }
    }
  }

  /**
   * StartJumpSession: a session to an idle jump client, without a PIN. A jump client held by
   * another gateway of the deployment: the technician is redirected there (it asks again there),
   * unless it works sessions here.
   */
  async startJumpSession(
    peer: RelayPeer,
    op: ferry.v1.StartJumpSession.$Properties,
    requestId: number,
  ): Promise<void> {
    const id = op.jumpClientId ?? '';
    let registration: JumpClientRegistration | null;
    try {
      registration = await this.#reachable(this.#ctx.grants(peer)!, id);
    } catch (err) {
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    if (gone(peer)) return;
    if (registration === null) {
      this.#ctx.fail(
        peer,
        Codes.JUMP_CLIENT_NOT_FOUND,
        `no jump client ${id} you may reach`,
        requestId,
      );
      return;
    }
    const u = this.#idle(id);
    if (u !== null) {
      this.#startHere(peer, u, registration, op, requestId);
      return;
    }
    const fleet = this.#ctx.fleet;
    const offline = () =>
      this.#ctx.fail(
        peer,
        Codes.JUMP_CLIENT_OFFLINE,
        `jump client ${id} is not connected, or already in a session`,
        requestId,
      );
    // connected here but in a session, or a gateway alone: nowhere else to look
    if (fleet === null || this.#unattended.has(id)) {
      offline();
      return;
    }
    let where: JumpClientWhere | undefined;
    try {
      where = (await fleet.shared.jumpClientsAt([id])).get(id);
    } catch (err) {
      this.#directoryDown(peer, err, 'find the jump client', requestId);
      return;
    }
    if (gone(peer)) return;
    const here = this.#idle(id);
    if (here !== null) {
      // it connected here meanwhile
      this.#startHere(peer, here, registration, op, requestId);
      return;
    }
    if (where === undefined || where.inSession || where.gatewayId === this.#ctx.gatewayId) {
      offline();
      return;
    }
    const seat = this.#ctx.registry.placeOf(peer);
    if (seat !== undefined && [...seat.sessions].some((s) => !s.ended)) {
      // a redirect would take the technician away from them
      this.#ctx.fail(
        peer,
        Codes.JUMP_CLIENT_ELSEWHERE,
        `jump client ${id} is connected to gateway ${where.gatewayId} (${where.member.url}); finish your sessions here first, or connect there`,
        requestId,
      );
      return;
    }
    const target = fleet.toJumpClient(where);
    if (target === null) {
      offline();
      return;
    }
    this.#ctx.logger?.info(
      { jumpClient: id, to: target.member.id, technician: peer.name },
      'technician sent to the gateway of its jump client',
    );
    this.#ctx.redirect(peer, requestId, target);
  }

  /** Starts the session to jump client `u`, connected here and idle. */
  #startHere(
    peer: RelayPeer,
    u: Unattended,
    registration: JumpClientRegistration,
    op: ferry.v1.StartJumpSession.$Properties,
    requestId: number,
  ): void {
    const id = registration.id;
    const label = clean(op.customerName, 64).trim() || registration.deviceName;
    // spec A4: nobody at the customer side and no PIN; the technician picks it up as usual
    const { session } = this.#ctx.registry.create(peer, label, this.#ctx.registry.now(), false);
    session.jumpClientId = id;
    session.log.event(
      'jump_client',
      peer.name,
      `started an unattended session to ${registration.deviceName}`,
    );
    this.#join(
      u.peer,
      u.hello,
      session,
      0,
      `jump client ${registration.deviceName} joined unattended`,
    );
    if (u.peer.session !== null) this.#presence.jumpClient(u.peer, id, true);
    peer.sendFrame(
      controlFrame({
        requestId,
        sessionCreated: { sessionId: session.id, pin: '', pinExpiresUnixMs: 0 },
      }),
    );
  }

  async installButton(
    peer: RelayPeer,
    op: ferry.v1.SupportButtonInstall.$Properties,
    requestId: number,
  ): Promise<void> {
    const grants = this.#ctx.grants(peer)!;
    const team = op.team || grants.teams[0]!;
    if (!grants.teams.includes(team)) {
      this.#ctx.fail(peer, Codes.PERMISSION_DENIED, `you are not in team ${team}`, requestId);
      return;
    }
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    const info = w.session.customerInfo;
    const deviceName = info?.computerName || info?.name || 'customer';
    let button: SupportButton;
    try {
      button = await this.#jump.registerButton({ team, deviceName });
    } catch (err) {
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    const registered = { supportButtonId: button.id, team, deviceName };
    const { session } = w;
    session.log.event('support_button', peer.name, `installed a support button for team ${team}`);
    if (!session.ended && session.customerSeat !== null) {
      session.deliver(session.customerSeat, controlFrame({ supportButtonRegistered: registered }));
    }
    peer.sendFrame(controlFrame({ requestId, supportButtonRegistered: registered }));
  }

  async removeButton(
    peer: RelayPeer,
    op: ferry.v1.SupportButtonRemove.$Properties,
    requestId: number,
  ): Promise<void> {
    const id = op.supportButtonId ?? '';
    let button: SupportButton | undefined;
    try {
      button = await this.#jump.button(id);
    } catch (err) {
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    if (button === undefined || !this.#ctx.grants(peer)!.teams.includes(button.team)) {
      this.#ctx.fail(
        peer,
        Codes.SUPPORT_BUTTON_NOT_FOUND,
        `no support button ${id} of your teams`,
        requestId,
      );
      return;
    }
    try {
      await this.#jump.removeButton(id);
    } catch (err) {
      this.#ctx.fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    const session = this.#ctx.registry.get(op.sessionId || peer.session?.id || '');
    const seat = this.#ctx.registry.placeOf(peer);
    if (session !== undefined && seat !== undefined && session.customerSeat !== null) {
      const relation = session.relationOf(seat);
      if (relation === Relation.OWNER || relation === Relation.COLLABORATOR) {
        session.log.event('support_button', peer.name, 'removed the support button');
        session.deliver(
          session.customerSeat,
          controlFrame({ supportButtonRemove: { supportButtonId: id, sessionId: session.id } }),
        );
      }
    }
    this.#ctx.done(peer, requestId, session ?? null);
  }

  /**
   * PickUp of a team queue session: a technician of the team adopts it (becomes the owner) and
   * the pick-up goes on as usual; anyone else is refused. Other sessions pass through.
   */
  beforePickUp(peer: RelayPeer, sessionId: string, requestId: number): boolean {
    const session = this.#ctx.registry.get(sessionId);
    const team = session === undefined ? undefined : this.#teamQueued.get(session);
    if (session === undefined || team === undefined) return true;
    if (session.ended) {
      this.#teamQueued.delete(session);
      return true;
    }
    if (this.#ctx.grants(peer)?.teams.includes(team) !== true) {
      this.#ctx.fail(
        peer,
        Codes.NOT_IN_SESSION,
        `the session waits in the queue of team ${team}`,
        requestId,
      );
      return false;
    }
    if (!allowedTriggers(session.status).includes(T.PICKUP)) return true;
    this.#teamQueued.delete(session);
    this.#ctx.registry.adopt(session, peer);
    return true;
  }
}

/** SessionQueued: a support-button session waits in `team`'s queue. */
export function queuedNotice(session: Session, team: string): Uint8Array {
  return eventFrame({
    sessionQueued: {
      sessionId: session.id,
      customerName: session.customerInfo?.name ?? session.customerLabel,
      computerName: session.customerInfo?.computerName ?? '',
      platform: session.customerInfo?.platform ?? '',
      team,
    },
  });
}

/**
 * The stand-in owner of a team queue session (`SessionRegistry.createQueued`): it has no
 * connection, so what the session sends its owner before a technician adopts it goes nowhere;
 * the team's technicians get SessionQueued instead.
 */
function queueParticipant(team: string): Participant {
  return {
    id: `queue:${team}`,
    role: 0 as Participant['role'],
    name: `team ${team}`,
    remoteAddress: '',
    session: null,
    connected: true,
    sendFrame: () => true,
    end: () => undefined,
  };
}

/** The CONTROL rows of jump clients and support buttons. */
export function unattendedOps(ctx: HandlerContext, unattended: UnattendedAccess): ControlTable {
  return {
    jumpClientInstall: op(
      Who.TECHNICIAN,
      (c) =>
        ctx.settle(
          c.peer,
          'jumpClientInstall',
          unattended.pin(c.peer, c.body, c.requestId),
          c.requestId,
        ),
      { permission: 'jump_client' },
    ),
    listJumpClients: op(Who.TECHNICIAN, (c) => unattended.listJumpClients(c.peer, c.requestId)),
    jumpClientUninstall: op(
      Who.TECHNICIAN,
      (c) =>
        ctx.settle(
          c.peer,
          'jumpClientUninstall',
          unattended.unpin(c.peer, c.body, c.requestId),
          c.requestId,
        ),
      { permission: 'jump_client' },
    ),
    startJumpSession: op(
      Who.TECHNICIAN,
      (c) =>
        ctx.settle(
          c.peer,
          'startJumpSession',
          unattended.startJumpSession(c.peer, c.body, c.requestId),
          c.requestId,
        ),
      { permission: 'unattended' },
    ),
    supportButtonInstall: op(
      Who.TECHNICIAN,
      (c) =>
        ctx.settle(
          c.peer,
          'supportButtonInstall',
          unattended.installButton(c.peer, c.body, c.requestId),
          c.requestId,
        ),
      { permission: 'support_button' },
    ),
    supportButtonRemove: op(
      Who.TECHNICIAN,
      (c) =>
        ctx.settle(
          c.peer,
          'supportButtonRemove',
          unattended.removeButton(c.peer, c.body, c.requestId),
          c.requestId,
        ),
      { permission: 'support_button' },
    ),
  };
}
