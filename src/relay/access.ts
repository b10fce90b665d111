/**
 * The gateway side of session tools II (spec/session-tools.md A1, A3, A4, A5.2, C4.6, C4.10, F2):
 * canned scripts, elevation, jump clients (unattended access), support buttons, after-session
 * actions and the close that uninstalls the customer client. One handler per CONTROL operation
 * behind `onControl`; each refusal is a coded Error through `fail`; nothing throws on client input.
 *
 * Rules kept here (the gateway enforces them; a client hiding a button is never the check):
 * - every technician operation needs a permission of its token or of the operator's defaults
 *   (access-policy.ts): FERRY_ERR_PERMISSION_DENIED otherwise; customers get FERRY_ERR_WRONG_ROLE;
 * - the technician works the session (owner or collaborator); closing with uninstall is the
 *   owner's choice only;
 * - a canned script's body comes from the operator's library, never from the technician, and
 *   runs only with the customer's SHELL grant; each run and its result are logged;
 * - elevation carries no credential at all (they are typed on the customer side), and the log
 *   records only who elevated;
 * - a jump client key is checked by `JumpClientRegistry.authenticate` behind the PIN attempt
 *   limits (control.ts); unpinning revokes the key before the device is told to uninstall;
 * - a support button session waits in its team's queue; only a technician of that team adopts it.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { Codes } from '../protocol/codes.js';
import { controlFrame, errorFrame, eventFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  defaultGrants,
  grantsOf,
  personalTeam,
  reaches,
  type TechnicianGrants,
  type TechnicianPermission,
} from '../session/access-policy.js';
import type { CannedScriptLibrary } from '../session/canned-scripts.js';
import { GRANT_SHELL } from '../session/consent.js';
import type { Participant } from '../session/participant.js';
import type { CodeEntry, SessionRegistry } from '../session/registry.js';
import type { Seat } from '../session/seat.js';
import { Relation, type Session, statusToWire } from '../session/session.js';
import { allowedTriggers } from '../session/state-machine.js';
import { Trigger as T } from '../session/states.js';
import type { TokenClaims } from '../session/tokens.js';
import type { JumpClientRegistration, JumpClientRegistry } from '../tools/jump-clients.js';
import { PeerState, type RelayPeer } from './peer.js';

type Fail = (peer: RelayPeer, entry: CodeEntry, message: string, requestId?: number) => void;
/** control.ts `joinCustomer`: Welcome, then applet_connected. */
type Join = (
  peer: RelayPeer,
  hello: ferry.v1.Hello.$Properties,
  session: Session,
  requestId: number,
  how: string,
) => void;

const Kind = ferry.v1.AfterSessionActionKind;
const MAX_PENDING = 64;
/** Script output kept in the session log (the technician who ran it gets all of it). */
const MAX_LOGGED_OUTPUT = 4096;
const MAX_OUTPUT = 256 * 1024;
const MAX_ERROR = 512;

export interface AccessOptions {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly jumpClients: JumpClientRegistry;
  readonly scripts: CannedScriptLibrary;
  readonly fail: Fail;
  readonly join: Join;
  readonly gatewayId: string;
  readonly version: string;
  readonly logger?: Logger;
}

/** A request forwarded to the customer, waiting for its answer (by ticket). */
interface Pending {
  readonly kind: 'script' | 'elevate';
  readonly seat: Seat;
  readonly requestId: number;
  readonly label: string;
}

/** A jump client connected in unattended mode, and the Hello it said (to join it later). */
interface Unattended {
  readonly peer: RelayPeer;
  readonly hello: ferry.v1.Hello.$Properties;
}

/** Printable, bounded text. */
function clean(raw: string | null | undefined, max: number, keepNewlines = false): string {
  const pattern = keepNewlines ? /[^\P{Cc}\n\t]/gu : /\p{Cc}/gu;
  return (raw ?? '').replace(pattern, ' ').slice(0, max);
}

const ACTION_NAMES: Record<number, string> = {
  [Kind.AFTER_SESSION_ACTION_KIND_NONE]: 'none',
  [Kind.AFTER_SESSION_ACTION_KIND_LOCK]: 'lock',
  [Kind.AFTER_SESSION_ACTION_KIND_LOGOUT]: 'logout',
  [Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL]: 'uninstall',
};

/** The Codes entry of a `ToolError` code (registry failures), or INVALID_ARGUMENT. */
function entryOf(err: unknown): CodeEntry {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const key = code.replace('FERRY_ERR_', '') as keyof typeof Codes;
    if (Object.hasOwn(Codes, key)) return Codes[key];
  }
  return Codes.INVALID_ARGUMENT;
}

export class AccessHandlers {
  readonly #config: Config;
  readonly #registry: SessionRegistry;
  readonly #jump: JumpClientRegistry;
  readonly #scripts: CannedScriptLibrary;
  readonly #fail: Fail;
  readonly #join: Join;
  readonly #gatewayId: string;
  readonly #version: string;
  readonly #logger: Logger | null;
  readonly #defaults: ReturnType<typeof defaultGrants>;
  readonly #elevationPlatforms: ReadonlySet<string>;
  /** Grants of each technician connection, fixed at its Hello. */
  readonly #grants = new WeakMap<Participant, TechnicianGrants>();
  /** Connected technicians (team queue notices). */
  readonly #technicians = new Set<RelayPeer>();
  /** Jump clients connected in unattended mode, by registration id. */
  readonly #unattended = new Map<string, Unattended>();
  /** Sessions started to a jump client: its registration id (revoked on close with uninstall). */
  readonly #jumpSessions = new WeakMap<Session, string>();
  /** Support button sessions not yet adopted, and their team. */
  readonly #teamQueued = new Map<Session, string>();
  /** Customer clients that run with administrative rights (A1.3). */
  readonly #elevated = new WeakSet<Session>();
  readonly #after = new WeakMap<Session, number>();
  readonly #pending = new WeakMap<Session, Map<number, Pending>>();

  constructor(options: AccessOptions) {
    this.#config = options.config;
    this.#registry = options.registry;
    this.#jump = options.jumpClients;
    this.#scripts = options.scripts;
    this.#fail = options.fail;
    this.#join = options.join;
    this.#gatewayId = options.gatewayId;
    this.#version = options.version;
    this.#logger = options.logger ?? null;
    this.#defaults = defaultGrants(options.config);
    this.#elevationPlatforms = new Set(
      options.config.elevationPlatforms
        .split(/[\s,]+/)
        .map((p) => p.trim())
        .filter((p) => p !== ''),
    );
  }

  /** The permissions and teams of a technician connection (null: not a technician). */
  grantsOf(peer: Participant): TechnicianGrants | null {
    return this.#grants.get(peer) ?? null;
  }

  /** Whether the customer client of `session` said it runs elevated. */
  isElevated(session: Session): boolean {
    return this.#elevated.has(session);
  }

  /** The after-session action set for `session` (an AfterSessionActionKind), 0 if none. */
  afterSessionAction(session: Session): number {
    return this.#after.get(session) ?? 0;
  }

  // -------------------------------------------------------------------------------------------
  // Hello

  /** A technician said Hello with a verified token: keep its grants, show its team queues. */
  onTechnician(peer: RelayPeer, claims: TokenClaims): void {
    const grants = grantsOf(claims, this.#defaults);
    this.#grants.set(peer, grants);
    for (const p of this.#technicians) if (!p.connected) this.#technicians.delete(p);
    this.#technicians.add(peer);
    for (const [session, team] of this.#teamQueued) {
      // a queued session that ended (its customer left) is forgotten here or at a click
      if (session.ended) this.#teamQueued.delete(session);
      else if (grants.teams.includes(team)) peer.sendFrame(this.#queuedNotice(session, team));
    }
  }

  /** The customer of `session` joined; an elevated client says so in its Hello (A1.3). */
  onCustomerJoined(session: Session, hello: ferry.v1.Hello.$Properties): void {
    if (hello.elevated === true) this.#elevated.add(session);
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
      this.#fail(peer, Codes.SUPPORT_BUTTON_INVALID, 'no such support button', requestId);
      return;
    }
    for (const queued of this.#teamQueued.keys()) {
      if (queued.ended) this.#teamQueued.delete(queued);
    }
    const queue = queueParticipant(button.team);
    const label = clean(hello.client?.name, 64) || button.deviceName;
    const session = this.#registry.createQueued(queue, label);
    this.#teamQueued.set(session, button.team);
    session.log.event('support_button', label, `support button of team ${button.team}`);
    this.#join(peer, hello, session, requestId, `customer started a session with a support button`);
    if (session.ended) return;
    const notice = this.#queuedNotice(session, button.team);
    for (const tech of this.#technicians) {
      if (!tech.connected) this.#technicians.delete(tech);
      else if (this.#grants.get(tech)?.teams.includes(button.team)) tech.sendFrame(notice);
    }
  }

  #queuedNotice(session: Session, team: string): Uint8Array {
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

  #jumpClientHello(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    const id = hello.jumpClientId ?? '';
    const auth = this.#jump.authenticate(id, hello.jumpClientKey ?? '');
    if (!auth.ok) {
      const entry =
        auth.code === Codes.JUMP_CLIENT_REVOKED.code
          ? Codes.JUMP_CLIENT_REVOKED
          : Codes.JUMP_CLIENT_AUTH_FAILED;
      this.#logger?.warn({ address: peer.remoteAddress, code: entry.code }, 'jump client refused');
      this.#fail(peer, entry, entry.doc, requestId);
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
    this.#logger?.info({ jumpClient: id, team: auth.registration.team }, 'jump client connected');
    peer.sendFrame(
      controlFrame({
        requestId,
        welcome: {
          participantId: peer.id,
          gatewayId: this.#gatewayId,
          sessionId: '',
          resumeToken: '',
          heartbeatIntervalMs: this.#config.heartbeatIntervalMs,
          gatewayVersion: this.#version,
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

  // -------------------------------------------------------------------------------------------
  // Checks

  /** The technician has `permission`; refuses (customers: WRONG_ROLE) otherwise. */
  permit(peer: RelayPeer, permission: TechnicianPermission, requestId: number): boolean {
    const grants = this.#grants.get(peer);
    if (peer.role !== Role.ROLE_TECHNICIAN || grants === undefined) {
      this.#fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
      return false;
    }
    if (grants.perms.has(permission)) return true;
    this.#fail(peer, Codes.PERMISSION_DENIED, `you lack the ${permission} permission`, requestId);
    return false;
  }

  /** The session the technician works (owner or collaborator), with its customer connected. */
  #working(
    peer: RelayPeer,
    sessionId: string | null | undefined,
    requestId: number,
  ): { session: Session; seat: Seat; customer: Seat } | null {
    const id = sessionId || peer.session?.id || '';
    const session = this.#registry.get(id);
    if (session === undefined) {
      this.#fail(peer, Codes.SESSION_NOT_FOUND, `no session ${id}`, requestId);
      return null;
    }
    const seat = this.#registry.seatOf(peer);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) {
      this.#fail(
        peer,
        Codes.NOT_IN_SESSION,
        'only the owner or a collaborator of the session may',
        requestId,
      );
      return null;
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null || !session.flowing) {
      this.#fail(
        peer,
        Codes.WRONG_STATE,
        `needs a live session with its customer connected (the session is ${session.statusName()})`,
        requestId,
      );
      return null;
    }
    return { session, seat, customer };
  }

  /** The customer connection's own live session. */
  #customerSession(peer: RelayPeer, requestId: number): Session | null {
    if (peer.role !== Role.ROLE_CUSTOMER) {
      this.#fail(peer, Codes.WRONG_ROLE, 'only the customer may send this', requestId);
      return null;
    }
    const session = peer.session;
    if (session === null || session.ended || session.customer !== peer) {
      this.#fail(peer, Codes.NOT_IN_SESSION, 'the customer is in no live session', requestId);
      return null;
    }
    return session;
  }

  #remember(session: Session, ticket: number, pending: Pending): void {
    let map = this.#pending.get(session);
    if (map === undefined) {
      map = new Map();
      this.#pending.set(session, map);
    }
    if (map.size >= MAX_PENDING) map.delete(map.keys().next().value as number);
    map.set(ticket, pending);
  }

  #take(session: Session, ticket: number, kind: Pending['kind']): Pending | null {
    const map = this.#pending.get(session);
    const pending = map?.get(ticket);
    if (pending === undefined || pending.kind !== kind) return null;
    map!.delete(ticket);
    return pending;
  }

  #done(peer: RelayPeer, requestId: number, session: Session | null): void {
    if (requestId === 0) return;
    const seat = this.#registry.placeOf(peer);
    const status =
      session === null || seat === undefined ? 0 : statusToWire(session.viewOf(seat) ?? 'CLOSED');
    peer.sendFrame(controlFrame({ requestId, done: { sessionId: session?.id ?? '', status } }));
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /** Handles the operations of this module; false for any other. */
  onControl(peer: RelayPeer, control: ferry.v1.Control): boolean {
    const requestId = control.requestId;
    switch (control.op) {
      case 'listCannedScripts':
        this.#listScripts(peer, requestId);
        return true;
      case 'runCannedScript':
        this.#runScript(peer, control.runCannedScript!, requestId);
        return true;
      case 'cannedScriptResult':
        this.#scriptResult(peer, control.cannedScriptResult!, requestId);
        return true;
      case 'elevateRequest':
        this.#elevate(peer, control.elevateRequest!, requestId);
        return true;
      case 'elevateResult':
        this.#elevateResult(peer, control.elevateResult!, requestId);
        return true;
      case 'jumpClientInstall':
        void this.#pin(peer, control.jumpClientInstall!, requestId);
        return true;
      case 'listJumpClients':
        this.#listJumpClients(peer, requestId);
        return true;
      case 'jumpClientUninstall':
        void this.#unpin(peer, control.jumpClientUninstall!, requestId);
        return true;
      case 'startJumpSession':
        this.#startJumpSession(peer, control.startJumpSession!, requestId);
        return true;
      case 'supportButtonInstall':
        void this.#installButton(peer, control.supportButtonInstall!, requestId);
        return true;
      case 'supportButtonRemove':
        void this.#removeButton(peer, control.supportButtonRemove!, requestId);
        return true;
      case 'setAfterSessionAction':
        this.#setAfterSession(peer, control.setAfterSessionAction!, requestId);
        return true;
      case 'afterSessionResult':
        this.#afterSessionResult(peer, control.afterSessionResult!, requestId);
        return true;
      case 'cannedScripts':
      case 'jumpClientKey':
      case 'jumpClients':
      case 'supportButtonRegistered':
        this.#fail(
          peer,
          Codes.UNSUPPORTED_OPERATION,
          `clients do not send ${control.op}`,
          requestId,
        );
        return true;
      default:
        return false;
    }
  }

  // C4.6 canned scripts --------------------------------------------------------------------------

  #listScripts(peer: RelayPeer, requestId: number): void {
    if (!this.permit(peer, 'scripts', requestId)) return;
    const teams = this.#grants.get(peer)!.teams;
    const scripts = this.#scripts.visibleTo(teams).map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description,
      body: s.body,
    }));
    peer.sendFrame(controlFrame({ requestId, cannedScripts: { scripts } }));
  }

  #runScript(peer: RelayPeer, op: ferry.v1.RunCannedScript.$Properties, requestId: number): void {
    if (!this.permit(peer, 'scripts', requestId)) return;
    const script = this.#scripts.get(op.scriptId ?? '', this.#grants.get(peer)!.teams);
    if (script === undefined) {
      this.#fail(peer, Codes.SCRIPT_NOT_FOUND, `no canned script ${op.scriptId}`, requestId);
      return;
    }
    const w = this.#working(peer, op.sessionId, requestId);
    if (w === null) return;
    if ((w.session.grants & GRANT_SHELL) === 0) {
      this.#fail(
        peer,
        Codes.NOT_GRANTED,
        'the customer has not granted the command shell, which canned scripts need',
        requestId,
      );
      return;
    }
    const ticket = w.session.nextRequestId();
    this.#remember(w.session, ticket, {
      kind: 'script',
      seat: w.seat,
      requestId,
      label: script.id,
    });
    w.session.log.event('script', peer.name, `ran canned script "${script.name}" (${script.id})`);
    this.#registry.noteAction(peer, w.session);
    w.session.deliver(
      w.customer,
      controlFrame({
        runCannedScript: {
          sessionId: w.session.id,
          scriptId: script.id,
          ticket,
          requestedBy: peer.name,
          name: script.name,
          body: script.body,
        },
      }),
    );
  }

  #scriptResult(
    peer: RelayPeer,
    op: ferry.v1.CannedScriptResult.$Properties,
    requestId: number,
  ): void {
    const session = this.#customerSession(peer, requestId);
    if (session === null) return;
    const pending = this.#take(session, op.ticket ?? 0, 'script');
    if (pending === null) {
      this.#fail(peer, Codes.UNKNOWN_REQUEST, 'no canned script run has this ticket', requestId);
      return;
    }
    const output = clean(op.output, MAX_OUTPUT, true);
    const error = clean(op.error, MAX_ERROR);
    const code = op.exitCode ?? 0;
    const how =
      error !== ''
        ? `not run: ${error}`
        : `${op.timedOut ? 'timed out, ' : ''}exit code ${code}, ${Buffer.byteLength(output)} bytes of output`;
    const excerpt =
      output.length > MAX_LOGGED_OUTPUT ? `${output.slice(0, MAX_LOGGED_OUTPUT)}…` : output;
    // spec C4.6: run + output in the session log (technicians only: the output may be private)
    session.log.event(
      'script',
      peer.name,
      `canned script ${pending.label} for ${pending.seat.name}: ${how}${excerpt === '' ? '' : `\n${excerpt}`}`,
      undefined,
      'technicians',
    );
    session.deliver(
      pending.seat,
      controlFrame({
        requestId: pending.requestId,
        cannedScriptResult: {
          ticket: op.ticket ?? 0,
          scriptId: pending.label,
          exitCode: code,
          output,
          timedOut: op.timedOut === true,
          outputTruncated: op.outputTruncated === true || output.length < (op.output ?? '').length,
          error,
          ranBy: peer.name,
        },
      }),
    );
  }

  // A1 elevation ---------------------------------------------------------------------------------

  #elevate(peer: RelayPeer, op: ferry.v1.ElevateRequest.$Properties, requestId: number): void {
    if (!this.permit(peer, 'elevate', requestId)) return;
    const kind = op.kind ?? 0;
    const E = ferry.v1.ElevationKind;
    if (kind !== E.ELEVATION_KIND_ADMIN && kind !== E.ELEVATION_KIND_FULL_CLIENT) {
      this.#fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        'name the kind: ADMIN or FULL_CLIENT',
        requestId,
      );
      return;
    }
    if (op.credentialSource === ferry.v1.CredentialSource.CREDENTIAL_SOURCE_TECHNICIAN) {
      // A1.2: credentials never cross the gateway; the customer types them into a local prompt
      this.#fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        'credentials are typed on the customer side only; ask with credential source CUSTOMER',
        requestId,
      );
      return;
    }
    const w = this.#working(peer, op.sessionId, requestId);
    if (w === null) return;
    const platform = w.session.customerInfo?.platform ?? '';
    if (kind === E.ELEVATION_KIND_ADMIN && !this.#elevationPlatforms.has(platform)) {
      this.#fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        `administrative elevation is not offered for platform "${platform}"`,
        requestId,
      );
      return;
    }
    const ticket = w.session.nextRequestId();
    const label = kind === E.ELEVATION_KIND_ADMIN ? 'admin' : 'full client';
    this.#remember(w.session, ticket, { kind: 'elevate', seat: w.seat, requestId, label });
    this.#registry.noteAction(peer, w.session);
    w.session.log.event('elevate', peer.name, `asked to elevate the customer client (${label})`);
    w.session.deliver(
      w.customer,
      controlFrame({
        elevateRequest: {
          sessionId: w.session.id,
          kind,
          credentialSource: ferry.v1.CredentialSource.CREDENTIAL_SOURCE_CUSTOMER,
          ticket,
          requestedBy: peer.name,
        },
      }),
    );
  }

  #elevateResult(peer: RelayPeer, op: ferry.v1.ElevateResult.$Properties, requestId: number): void {
    const session = this.#customerSession(peer, requestId);
    if (session === null) return;
    const pending = this.#take(session, op.ticket ?? 0, 'elevate');
    if (pending === null) {
      this.#fail(peer, Codes.UNKNOWN_REQUEST, 'no elevation request has this ticket', requestId);
      return;
    }
    const by = pending.seat.name;
    if (op.elevated === true) {
      if (op.kind === ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN) this.#elevated.add(session);
      // A1.2: the log records only who elevated, nothing the customer typed
      session.log.event('elevate', by, `elevated by ${by} (${pending.label})`);
    } else {
      session.log.event('elevate', by, `elevation asked by ${by} was not done (${pending.label})`);
    }
    session.deliver(
      pending.seat,
      controlFrame({
        requestId: pending.requestId,
        elevateResult: {
          ticket: op.ticket ?? 0,
          elevated: op.elevated === true,
          error: clean(op.error, MAX_ERROR),
          kind: op.kind ?? 0,
          by,
        },
      }),
    );
  }

  // A4 jump clients ------------------------------------------------------------------------------

  async #pin(
    peer: RelayPeer,
    op: ferry.v1.JumpClientInstall.$Properties,
    requestId: number,
  ): Promise<void> {
    if (!this.permit(peer, 'jump_client', requestId)) return;
    const w = this.#working(peer, op.sessionId, requestId);
    if (w === null) return;
    if (op.serviceMode === true && !this.#elevated.has(w.session)) {
      this.#fail(
        peer,
        Codes.ELEVATION_REQUIRED,
        'a service-mode jump client needs an elevated customer client',
        requestId,
      );
      return;
    }
    const grants = this.#grants.get(peer)!;
    const personal = op.scope === ferry.v1.JumpClientScope.JUMP_CLIENT_SCOPE_PERSONAL;
    const team = personal ? personalTeam(grants.name) : grants.teams[0]!;
    const info = w.session.customerInfo;
    const deviceName = info?.computerName || info?.name || 'customer';
    let pinned: Awaited<ReturnType<JumpClientRegistry['register']>>;
    try {
      pinned = await this.#jump.register({ technician: grants.name, team, deviceName });
    } catch (err) {
      this.#logger?.error({ err }, 'jump client registration failed');
      this.#fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    const { session } = w;
    session.log.event(
      'jump_client',
      peer.name,
      `pinned a jump client on ${deviceName} for ${personal ? 'personal use' : `team ${team}`}`,
    );
    this.#logger?.info({ jumpClient: pinned.id, team, by: peer.name }, 'jump client pinned');
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

  #listJumpClients(peer: RelayPeer, requestId: number): void {
    const grants = this.#grants.get(peer);
    const may =
      grants?.perms.has('unattended') === true || grants?.perms.has('jump_client') === true;
    if (!may && !this.permit(peer, 'unattended', requestId)) return;
    const list = this.#jump
      .list()
      .filter((r) => reaches(grants!, r.team))
      .map((r) => this.#describe(r));
    peer.sendFrame(controlFrame({ requestId, jumpClients: { jumpClients: list } }));
  }

  async #unpin(
    peer: RelayPeer,
    op: ferry.v1.JumpClientUninstall.$Properties,
    requestId: number,
  ): Promise<void> {
    if (!this.permit(peer, 'jump_client', requestId)) return;
    const id = op.jumpClientId ?? '';
    if (this.#reachable(this.#grants.get(peer)!, id) === null) {
      this.#fail(
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
      this.#logger?.error({ err }, 'jump client revocation not saved');
      this.#fail(
        peer,
        entryOf(err),
        `revoked in memory, not saved: ${(err as Error).message}`,
        requestId,
      );
      return;
    }
    this.#done(peer, requestId, null);
  }

  /**
   * spec A4.2: the key is revoked at the gateway first (so it stops working even if the device
   * never hears of it), then a connected jump client is told to uninstall; an idle one is let go.
   */
  async #revoke(id: string, by: string, tell = true): Promise<void> {
    const revoked = this.#jump.revoke(id, by);
    this.#logger?.info({ jumpClient: id, by }, 'jump client unpinned');
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

  #startJumpSession(
    peer: RelayPeer,
    op: ferry.v1.StartJumpSession.$Properties,
    requestId: number,
  ): void {
    if (!this.permit(peer, 'unattended', requestId)) return;
    const id = op.jumpClientId ?? '';
    const registration = this.#reachable(this.#grants.get(peer)!, id);
    if (registration === null) {
      this.#fail(
        peer,
        Codes.JUMP_CLIENT_NOT_FOUND,
        `no jump client ${id} you may reach`,
        requestId,
      );
      return;
    }
    const u = this.#idle(id);
    if (u === null) {
      this.#fail(
        peer,
        Codes.JUMP_CLIENT_OFFLINE,
        `jump client ${id} is not connected, or already in a session`,
        requestId,
      );
      return;
    }
    const label = clean(op.customerName, 64).trim() || registration.deviceName;
    // spec A4: nobody at the customer side and no PIN; the technician picks it up as usual
    const { session } = this.#registry.create(peer, label, this.#registry.now(), false);
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

  // A3 support buttons ---------------------------------------------------------------------------

  async #installButton(
    peer: RelayPeer,
    op: ferry.v1.SupportButtonInstall.$Properties,
    requestId: number,
  ): Promise<void> {
    if (!this.permit(peer, 'support_button', requestId)) return;
    const grants = this.#grants.get(peer)!;
    const team = op.team || grants.teams[0]!;
    if (!grants.teams.includes(team)) {
      this.#fail(peer, Codes.PERMISSION_DENIED, `you are not in team ${team}`, requestId);
      return;
    }
    const w = this.#working(peer, op.sessionId, requestId);
    if (w === null) return;
    const info = w.session.customerInfo;
    const deviceName = info?.computerName || info?.name || 'customer';
    let button: Awaited<ReturnType<JumpClientRegistry['registerButton']>>;
    try {
      button = await this.#jump.registerButton({ team, deviceName });
    } catch (err) {
      this.#fail(peer, entryOf(err), (err as Error).message, requestId);
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

  async #removeButton(
    peer: RelayPeer,
    op: ferry.v1.SupportButtonRemove.$Properties,
    requestId: number,
  ): Promise<void> {
    if (!this.permit(peer, 'support_button', requestId)) return;
    const id = op.supportButtonId ?? '';
    const button = this.#jump.button(id);
    if (button === undefined || !this.#grants.get(peer)!.teams.includes(button.team)) {
      this.#fail(
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
      this.#fail(peer, entryOf(err), (err as Error).message, requestId);
      return;
    }
    const session = this.#registry.get(op.sessionId || peer.session?.id || '');
    const seat = this.#registry.placeOf(peer);
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
    this.#done(peer, requestId, session ?? null);
  }

  /**
   * PickUp of a team queue session: a technician of the team adopts it (becomes the owner) and
   * the pick-up goes on as usual; anyone else is refused. Other sessions pass through.
   */
  beforePickUp(peer: RelayPeer, sessionId: string, requestId: number): boolean {
    const session = this.#registry.get(sessionId);
    const team = session === undefined ? undefined : this.#teamQueued.get(session);
    if (session === undefined || team === undefined) return true;
    if (session.ended) {
      this.#teamQueued.delete(session);
      return true;
    }
    if (this.#grants.get(peer)?.teams.includes(team) !== true) {
      this.#fail(
        peer,
        Codes.NOT_IN_SESSION,
        `the session waits in the queue of team ${team}`,
        requestId,
      );
      return false;
    }
    if (!allowedTriggers(session.status).includes(T.PICKUP)) return true;
    this.#teamQueued.delete(session);
    this.#registry.adopt(session, peer);
    return true;
  }

  // F2 after-session actions, A5.2 close with uninstall -------------------------------------------

  #setAfterSession(
    peer: RelayPeer,
    op: ferry.v1.SetAfterSessionAction.$Properties,
    requestId: number,
  ): void {
    const action = op.action ?? 0;
    const needs: Record<number, TechnicianPermission | null> = {
      [Kind.AFTER_SESSION_ACTION_KIND_NONE]: null,
      [Kind.AFTER_SESSION_ACTION_KIND_LOCK]: 'after_session_lock',
      [Kind.AFTER_SESSION_ACTION_KIND_LOGOUT]: 'after_session_logout',
    };
    if (peer.role !== Role.ROLE_TECHNICIAN) {
      this.#fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
      return;
    }
    if (!Object.hasOwn(needs, action)) {
      this.#fail(
        peer,
        Codes.ACTION_UNKNOWN,
        'after the session: NONE, LOCK or LOGOUT (uninstall is a way to close)',
        requestId,
      );
      return;
    }
    const permission = needs[action]!;
    if (permission !== null && !this.permit(peer, permission, requestId)) return;
    const w = this.#working(peer, op.sessionId, requestId);
    if (w === null) return;
    this.#after.set(w.session, action);
    this.#registry.noteAction(peer, w.session);
    w.session.log.event('after_session', peer.name, `after the session: ${ACTION_NAMES[action]}`);
    // spec F2: sent at once, so it still runs if the technician's connection drops before the close
    w.session.deliver(
      w.customer,
      controlFrame({ setAfterSessionAction: { sessionId: w.session.id, action, by: peer.name } }),
    );
    this.#done(peer, requestId, w.session);
  }

  #afterSessionResult(
    peer: RelayPeer,
    op: ferry.v1.AfterSessionResult.$Properties,
    requestId: number,
  ): void {
    const session = this.#customerSession(peer, requestId);
    if (session === null) return;
    const name = ACTION_NAMES[op.action ?? 0] ?? 'unknown';
    const detail = op.ok
      ? `${name} ran (exit code ${op.exitCode ?? 0})`
      : `${name} did not run: ${clean(op.error, MAX_ERROR)}`;
    session.log.event('after_session', peer.name, detail);
  }

  /**
   * CloseSession with uninstall_customer_client (A5.2): only the owner, only where the close is
   * allowed; the customer client gets the uninstall command before the close releases it, and a
   * jump client's key is revoked. False: refused (the close does not happen).
   */
  beforeUninstallClose(
    peer: RelayPeer,
    sessionId: string,
    leaveInQueue: boolean,
    requestId: number,
  ): boolean {
    if (leaveInQueue) {
      this.#fail(
        peer,
        Codes.INVALID_ARGUMENT,
        'close either with uninstall or leaving the session in the queue, not both',
        requestId,
      );
      return false;
    }
    const session = this.#registry.get(sessionId);
    if (session === undefined) {
      this.#fail(peer, Codes.SESSION_NOT_FOUND, `no session ${sessionId}`, requestId);
      return false;
    }
    const seat = this.#registry.seatOf(peer);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER) {
      const entry = relation === Relation.NONE ? Codes.NOT_IN_SESSION : Codes.NOT_OWNER;
      this.#fail(peer, entry, 'only the owner may close with uninstall', requestId);
      return false;
    }
    if (!allowedTriggers(session.status).includes(T.TECHNICIAN_CLOSE)) {
      this.#fail(
        peer,
        Codes.INVALID_TRANSITION,
        `technician_close is not allowed while ${session.statusName()}`,
        requestId,
      );
      return false;
    }
    const customer = session.customerSeat;
    if (customer === null) {
      this.#fail(peer, Codes.WRONG_STATE, 'no customer client to uninstall', requestId);
      return false;
    }
    session.log.event(
      'uninstall',
      peer.name,
      'closed the session and uninstalled the customer client',
    );
    session.deliver(
      customer,
      controlFrame({
        setAfterSessionAction: {
          sessionId: session.id,
          action: Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL,
          by: peer.name,
        },
      }),
    );
    const jumpId = this.#jumpSessions.get(session);
    if (jumpId !== undefined) {
      // the uninstall command is already on its way: the device is not told twice
      this.#revoke(jumpId, peer.name, false).catch((err: unknown) =>
        this.#logger?.error({ err, jumpClient: jumpId }, 'jump client revocation not saved'),
      );
    }
    return true;
  }
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
