/**
 * Special actions, elevation and the ways a session ends on the customer machine (spec
 * session-tools.md C4.6, A1, F2, A5.2): the operator's canned scripts, run on the customer
 * machine only with its SHELL grant, each run and its output logged (the body comes from the
 * gateway's library, never from the technician); elevation, which carries no credential at all
 * (they are typed on the customer side) and is logged only as who elevated; the after-session
 * action, sent to the customer client as soon as it is set; and the owner's close that
 * uninstalls the customer client.
 */
import type { Config } from '../config/schema.js';
import { Codes } from '../protocol/codes.js';
import { controlFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { TechnicianPermission } from '../session/access-policy.js';
import type { CannedScriptLibrary } from '../session/canned-scripts.js';
import { GRANT_SHELL } from '../session/consent.js';
import { Relation, type Session } from '../session/session.js';
import { allowedTriggers } from '../session/state-machine.js';
import { Trigger as T } from '../session/states.js';
import { clean, type HandlerContext, MAX_ERROR } from './context.js';
import { type ControlTable, Guard, op, Who } from './control.js';
import type { UnattendedAccess } from './unattended.js';

const Kind = ferry.v1.AfterSessionActionKind;
/** Script output kept in the session log (the technician who ran it gets all of it). */
const MAX_LOGGED_OUTPUT = 4096;
const MAX_OUTPUT = 256 * 1024;
/** The actor of what the gateway does by the operator's policy (A1.6). */
const POLICY = 'policy';

const ACTION_NAMES: Record<number, string> = {
  [Kind.AFTER_SESSION_ACTION_KIND_NONE]: 'none',
  [Kind.AFTER_SESSION_ACTION_KIND_LOCK]: 'lock',
  [Kind.AFTER_SESSION_ACTION_KIND_LOGOUT]: 'logout',
  [Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL]: 'uninstall',
};

function platforms(config: Config): ReadonlySet<string> {
  return new Set(
    config.elevationPlatforms
      .split(/[\s,]+/)
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  );
}

export class SpecialActions {
  readonly #ctx: HandlerContext;
  readonly #scripts: CannedScriptLibrary;
  readonly #unattended: UnattendedAccess;
  readonly #elevationPlatforms: ReadonlySet<string>;
  readonly #after = new WeakMap<Session, number>();
  /** Sessions whose customer the gateway asked to elevate by policy (A1.6): once each. */
  readonly #policyAsked = new WeakSet<Session>();

  constructor(ctx: HandlerContext, scripts: CannedScriptLibrary, unattended: UnattendedAccess) {
    this.#ctx = ctx;
    this.#scripts = scripts;
    this.#unattended = unattended;
    this.#elevationPlatforms = platforms(ctx.config);
  }

  /** The after-session action set for `session` (an AfterSessionActionKind), 0 if none. */
  afterSessionAction(session: Session): number {
    return this.#after.get(session) ?? 0;
  }

  listScripts(peer: RelayPeer, requestId: number): void {
    const teams = this.#ctx.grants(peer)!.teams;
    const scripts = this.#scripts.visibleTo(teams).map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description,
      body: s.body,
    }));
    peer.sendFrame(controlFrame({ requestId, cannedScripts: { scripts } }));
  }

  runScript(peer: RelayPeer, op: ferry.v1.RunCannedScript.$Properties, requestId: number): void {
    const script = this.#scripts.get(op.scriptId ?? '', this.#ctx.grants(peer)!.teams);
    if (script === undefined) {
      this.#ctx.fail(peer, Codes.SCRIPT_NOT_FOUND, `no canned script ${op.scriptId}`, requestId);
      return;
    }
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    if ((w.session.grants & GRANT_SHELL) === 0) {
      this.#ctx.fail(
        peer,
        Codes.NOT_GRANTED,
        'the customer has not granted the command shell, which canned scripts need',
        requestId,
      );
      return;
    }
    const ticket = this.#ctx.ask(w.session, {
      kind: 'script',
      seat: w.seat,
      requestId,
      label: script.id,
    });
    w.session.log.event('script', peer.name, `ran canned script "${script.name}" (${script.id})`);
    this.#ctx.registry.noteAction(peer, w.session);
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

  scriptResult(
    peer: RelayPeer,
    session: Session,
    op: ferry.v1.CannedScriptResult.$Properties,
    requestId: number,
  ): void {
    const pending = session.pending.take(op.ticket ?? 0, 'script');
    if (pending === null) {
      this.#ctx.fail(
        peer,
        Codes.UNKNOWN_REQUEST,
        'no canned script run has this ticket',
        requestId,
      );
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
    session.answer(
      pending,
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

  elevate(peer: RelayPeer, op: ferry.v1.ElevateRequest.$Properties, requestId: number): void {
    const kind = op.kind ?? 0;
    const E = ferry.v1.ElevationKind;
    if (kind !== E.ELEVATION_KIND_ADMIN && kind !== E.ELEVATION_KIND_FULL_CLIENT) {
      this.#ctx.fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        'name the kind: ADMIN or FULL_CLIENT',
        requestId,
      );
      return;
    }
    if (op.credentialSource === ferry.v1.CredentialSource.CREDENTIAL_SOURCE_TECHNICIAN) {
      // A1.2: credentials never cross the gateway; the customer types them into a local prompt
      this.#ctx.fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        'credentials are typed on the customer side only; ask with credential source CUSTOMER',
        requestId,
      );
      return;
    }
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    const platform = w.session.customerInfo?.platform ?? '';
    if (kind === E.ELEVATION_KIND_ADMIN && !this.#elevationPlatforms.has(platform)) {
      this.#ctx.fail(
        peer,
        Codes.ELEVATION_UNSUPPORTED,
        `administrative elevation is not offered for platform "${platform}"`,
        requestId,
      );
      return;
    }
    const label = kind === E.ELEVATION_KIND_ADMIN ? 'admin' : 'full client';
    const ticket = this.#ctx.ask(w.session, { kind: 'elevate', seat: w.seat, requestId, label });
    this.#ctx.registry.noteAction(peer, w.session);
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

  /**
   * spec A1.6: with `elevateOnSessionStart`, the pick-up of a session whose customer client is
   * not elevated makes the gateway ask for administrative elevation itself, once per session and
   * only for platforms of `elevationPlatforms`. It is the operator's policy, so the technician
   * needs no elevate permission; the log says "by policy". The technician who picked up gets the
   * ElevateResult (request id 0).
   */
  elevateByPolicy(peer: RelayPeer, session: Session): void {
    if (this.#ctx.config.elevateOnSessionStart !== 1) return;
    if (this.#policyAsked.has(session) || this.#ctx.elevated.has(session)) return;
    const customer = session.customerSeat;
    const seat = this.#ctx.registry.placeOf(peer);
    if (customer === null || customer.conn === null || seat === undefined || session.ended) return;
    if (!this.#elevationPlatforms.has(session.customerInfo?.platform ?? '')) return;
    this.#policyAsked.add(session);
    const ticket = this.#ctx.ask(session, {
      kind: 'elevate',
      seat,
      requestId: 0,
      label: 'admin',
      by: POLICY,
    });
    session.log.event(
      'elevate',
      POLICY,
      `asked to elevate the customer client (admin) by policy, at the pick-up by ${peer.name}`,
    );
    session.deliver(
      customer,
      controlFrame({
        elevateRequest: {
          sessionId: session.id,
          kind: ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN,
          credentialSource: ferry.v1.CredentialSource.CREDENTIAL_SOURCE_CUSTOMER,
          ticket,
          requestedBy: POLICY,
        },
      }),
    );
  }

  elevateResult(
    peer: RelayPeer,
    session: Session,
    op: ferry.v1.ElevateResult.$Properties,
    requestId: number,
  ): void {
    const pending = session.pending.take(op.ticket ?? 0, 'elevate');
    if (pending === null) {
      this.#ctx.fail(
        peer,
        Codes.UNKNOWN_REQUEST,
        'no elevation request has this ticket',
        requestId,
      );
      return;
    }
    const by = pending.by ?? pending.seat.name;
    const admin = op.kind === ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN;
    // the identity the customer process reports it runs as (user empty: an older client)
    const user = clean(op.user, 64);
    const uid = op.effectiveUid ?? 0;
    let elevated = op.elevated === true;
    let error = clean(op.error, MAX_ERROR);
    const platform = session.customerInfo?.platform ?? '';
    if (elevated && admin && user !== '' && uid !== 0 && platform !== 'win32') {
      // administrative rights on POSIX are uid 0: a claim without it is not an elevation
      elevated = false;
      error = `${Codes.ELEVATION_FAILED.code}: the customer client reports uid ${uid}, not 0`;
    }
    if (elevated) {
      if (admin) this.#ctx.elevated.add(session);
      // A1.2: the log records only who elevated, nothing the customer typed
      session.log.event('elevate', by, `elevated by ${by} (${pending.label})`);
    } else {
      session.log.event('elevate', by, `elevation asked by ${by} was not done (${pending.label})`);
    }
    if (user !== '') {
      // the uid the customer process checked itself, elevated or not
      const seat = session.customerSeat?.name ?? 'customer';
      session.log.event('identity', seat, `the customer client runs as ${user} (uid ${uid})`);
    }
    session.answer(
      pending,
      controlFrame({
        requestId: pending.requestId,
        elevateResult: {
          ticket: op.ticket ?? 0,
          elevated,
          error,
          kind: op.kind ?? 0,
          effectiveUid: uid,
          user,
          by,
        },
      }),
    );
  }

  setAfterSession(
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
      this.#ctx.fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
      return;
    }
    if (!Object.hasOwn(needs, action)) {
      this.#ctx.fail(
        peer,
        Codes.ACTION_UNKNOWN,
        'after the session: NONE, LOCK or LOGOUT (uninstall is a way to close)',
        requestId,
      );
      return;
    }
    const permission = needs[action]!;
    if (permission !== null && !this.#ctx.permit(peer, permission, requestId)) return;
    const w = this.#ctx.working(peer, op.sessionId, requestId);
    if (w === null) return;
    // replacing or clearing an action needs the permission that action needed: a technician
    // without the lock permission cannot undo a lock set by one who has it
    const replaced = needs[this.#after.get(w.session) ?? Kind.AFTER_SESSION_ACTION_KIND_NONE];
    if (replaced != null && replaced !== permission && !this.#ctx.permit(peer, replaced, requestId))
      return;
    this.#after.set(w.session, action);
    this.#ctx.registry.noteAction(peer, w.session);
    w.session.log.event('after_session', peer.name, `after the session: ${ACTION_NAMES[action]}`);
    // spec F2: sent at once, so it still runs if the technician's connection drops before the close
    w.session.deliver(
      w.customer,
      controlFrame({ setAfterSessionAction: { sessionId: w.session.id, action, by: peer.name } }),
    );
    this.#ctx.done(peer, requestId, w.session);
  }

  afterSessionResult(
    peer: RelayPeer,
    session: Session,
    op: ferry.v1.AfterSessionResult.$Properties,
  ): void {
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
      this.#ctx.fail(
        peer,
        Codes.INVALID_ARGUMENT,
        'close either with uninstall or leaving the session in the queue, not both',
        requestId,
      );
      return false;
    }
    const session = this.#ctx.registry.get(sessionId);
    if (session === undefined) {
      this.#ctx.fail(peer, Codes.SESSION_NOT_FOUND, `no session ${sessionId}`, requestId);
      return false;
    }
    const seat = this.#ctx.registry.seatOf(peer);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER) {
      const entry = relation === Relation.NONE ? Codes.NOT_IN_SESSION : Codes.NOT_OWNER;
      this.#ctx.fail(peer, entry, 'only the owner may close with uninstall', requestId);
      return false;
    }
    if (!allowedTriggers(session.status).includes(T.TECHNICIAN_CLOSE)) {
      this.#ctx.fail(
        peer,
        Codes.INVALID_TRANSITION,
        `technician_close is not allowed while ${session.statusName()}`,
        requestId,
      );
      return false;
    }
    const customer = session.customerSeat;
    if (customer === null) {
      this.#ctx.fail(peer, Codes.WRONG_STATE, 'no customer client to uninstall', requestId);
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
    // a jump client's key is revoked too (the uninstall command is already on its way)
    this.#unattended.revokeForSession(session, peer.name);
    return true;
  }
}

/** The CONTROL rows of canned scripts, elevation and after-session actions. */
export function accessOps(special: SpecialActions): ControlTable {
  const customer = { guard: Guard.CUSTOMER_SESSION };
  return {
    listCannedScripts: op(Who.TECHNICIAN, (c) => special.listScripts(c.peer, c.requestId), {
      permission: 'scripts',
    }),
    runCannedScript: op(Who.TECHNICIAN, (c) => special.runScript(c.peer, c.body, c.requestId), {
      permission: 'scripts',
    }),
    cannedScriptResult: op(
      Who.CUSTOMER,
      (c) => special.scriptResult(c.peer, c.session!, c.body, c.requestId),
      customer,
    ),
    elevateRequest: op(Who.TECHNICIAN, (c) => special.elevate(c.peer, c.body, c.requestId), {
      permission: 'elevate',
    }),
    elevateResult: op(
      Who.CUSTOMER,
      (c) => special.elevateResult(c.peer, c.session!, c.body, c.requestId),
      customer,
    ),
    setAfterSessionAction: op(Who.TECHNICIAN, (c) =>
      special.setAfterSession(c.peer, c.body, c.requestId),
    ),
    afterSessionResult: op(
      Who.CUSTOMER,
      (c) => special.afterSessionResult(c.peer, c.session!, c.body),
      customer,
    ),
  };
}
