/**
 * Unattended access (docs/spec/session-tools.md A3, A4): jump clients and support buttons. A permitted
 * technician pins the customer client (the gateway registers it and hands the key to the customer
 * client once); the jump client later says Hello with its id and key (behind the PIN attempt
 * limits of control.ts) and waits, connected, in no session; a permitted technician of its team
 * starts a session to it without a PIN; unpinning revokes the key at the gateway first, then tells
 * the device. A support button's id opens a new session in its team's queue, which only a
 * technician of that team adopts by picking it up.
 */
import { Codes } from '../protocol/codes.js';
import { controlFrame, errorFrame, eventFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import { personalTeam, reaches, type TechnicianGrants } from '../session/access-policy.js';
import type { Participant } from '../session/participant.js';
import { Relation, type Session } from '../session/session.js';
import { allowedTriggers } from '../session/state-machine.js';
import { Trigger as T } from '../session/states.js';
import type { JumpClientRegistration, JumpClientRegistry } from '../tools/jump-clients.js';
import { clean, entryOf, type HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

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

export class UnattendedAccess {
  readonly #ctx: HandlerContext;
  readonly #jump: JumpClientRegistry;
  /** Connected technicians (team queue notices). */
  readonly #technicians = new Set<RelayPeer>();
  /** Jump clients connected in unattended mode, by registration id. */
  readonly #unattended = new Map<string, Unattended>();
  /** Sessions started to a jump client: its registration id (revoked on close with uninstall). */
  readonly #jumpSessions = new WeakMap<Session, string>();
  /** Support button sessions not yet adopted, and their team. */
  readonly #teamQueued = new Map<Session, string>();

  readonly #join: Join;

  constructor(ctx: HandlerContext, jumpClients: JumpClientRegistry, join: Join) {
    this.#ctx = ctx;
    this.#jump = jumpClients;
    this.#join = join;
  }

  /** A technician connected: it hears of the sessions waiting in its teams' queues. */
  onTechnician(peer: RelayPeer, grants: TechnicianGrants): void {
    for (const p of this.#technicians) if (!p.connected) this.#technicians.delete(p);
    this.#technicians.add(peer);
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

  /** Close with uninstall of a jump client session: its key is revoked (the device was told). */
  revokeForSession(session: Session, by: string): void {
    const jumpId = this.#jumpSessions.get(session);
    if (jumpId === undefined) return;
    this.#revoke(jumpId, by, false).catch((err: unknown) =>
      this.#ctx.logger?.error({ err, jumpClient: jumpId }, 'jump client revocation not saved'),
    );
  }

  /**
   * A customer Hello with a jump client id and key (unattended mode, no session yet) or a
   * support button id (a new session in the button's team queue). Already rate-limited.
   */
  onCustomerHello(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    if (hello.jumpClientId) {
      this.#jumpClientHello(peer, hello, requestId);
      return;
    }
    const button = this.#jump.button(hello.supportButtonId ?? '');
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
    for (const tech of this.#technicians) {
      if (!tech.connected) this.#technicians.delete(tech);
      else if (this.#ctx.grants(tech)?.teams.includes(team)) tech.sendFrame(frame);
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

  #jumpClientHello(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const id = hello.jumpClientId ?? '';
    const auth = this.#jump.authenticate(id, hello.jumpClientKey ?? '');
    if (!auth.ok) {
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
    let pinned: Awaited<ReturnType<JumpClientRegistry['register']>>;
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

  #describe(r: JumpClientRegistration): ferry.v1.JumpClient.$Properties {
    const u = this.#unattended.get(r.id);
    const online = u?.peer.connected && u.peer.state === PeerState.READY;
    return {
      id: r.id,
      team: r.team,
      deviceName: r.deviceName,
      technician: r.technician,
      createdUnixMs: r.createdAtMs,
      online,
      lastSeenUnixMs: r.lastSeenAtMs ?? 0,
      inSession: online && u.peer.session !== null,
    };
  }

  /** Active registrations the technician may reach (its teams and its personal ones). */
  #reachable(grants: TechnicianGrants, id: string): JumpClientRegistration | null {
    const r = this.#jump.get(id);
    if (r === undefined || r.revokedAtMs !== null || !reaches(grants, r.team)) return null;
    return r;
  }

  listJumpClients(peer: RelayPeer, requestId: number): void {
    const grants = this.#ctx.grants(peer);
    const may =
      grants?.perms.has('unattended') === true || grants?.perms.has('jump_client') === true;
    if (!may && !this.#ctx.permit(peer, 'unattended', requestId)) return;
    const list = this.#jump
      .list()
      .filter((r) => reaches(grants!, r.team))
      .map((r) => this.#describe(r));
    peer.sendFrame(controlFrame({ requestId, jumpClients: { jumpClients: list } }));
  }

  async unpin(
    peer: RelayPeer,
    op: ferry.v1.JumpClientUninstall.$Properties,
    requestId: number,
  ): Promise<void> {
    const id = op.jumpClientId ?? '';
    if (this.#reachable(this.#ctx.grants(peer)!, id) === null) {
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
      this.#ctx.fail(
        peer,
        entryOf(err),
        `revoked in memory, not saved: ${(err as Error).message}`,
        requestId,
      );
      return;
    }
    this.#ctx.done(peer, requestId, null);
  }

  /**
   * spec A4.2: the key is revoked at the gateway first (so it stops working even if the device
   * never hears of it), then a connected jump client is told to uninstall; an idle one is let go.
   */
  async #revoke(id: string, by: string, tell = true): Promise<void> {
    const revoked = this.#jump.revoke(id, by);
    this.#ctx.logger?.info({ jumpClient: id, by }, 'jump client unpinned');
    const u = this.#unattended.get(id);
    this.#unattended.delete(id);
    if (tell && u?.peer.connected) {
      u.peer.sendFrame(controlFrame({ jumpClientUninstall: { jumpClientId: id, by } }));
      if (u.peer.session === null) {
        u.peer.sendFrame(errorFrame(Codes.JUMP_CLIENT_REVOKED, 'unpinned'));
        u.peer.end(Codes.JUMP_CLIENT_REVOKED.close, Codes.JUMP_CLIENT_REVOKED.code);
      }
    }
    await revoked;
  }

  startJumpSession(
    peer: RelayPeer,
    op: ferry.v1.StartJumpSession.$Properties,
    requestId: number,
  ): void {
    const id = op.jumpClientId ?? '';
    const registration = this.#reachable(this.#ctx.grants(peer)!, id);
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
    if (u === null) {
      this.#ctx.fail(
        peer,
        Codes.JUMP_CLIENT_OFFLINE,
        `jump client ${id} is not connected, or already in a session`,
        requestId,
      );
      return;
    }
    const label = clean(op.customerName, 64).trim() || registration.deviceName;
    // spec A4: nobody at the customer side and no PIN; the technician picks it up as usual
    const { session } = this.#ctx.registry.create(peer, label, this.#ctx.registry.now(), false);
    this.#jumpSessions.set(session, id);
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
    let button: Awaited<ReturnType<JumpClientRegistry['registerButton']>>;
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
    const button = this.#jump.button(id);
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
      (c) => unattended.startJumpSession(c.peer, c.body, c.requestId),
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
