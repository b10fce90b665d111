/**
 * The gateway side of session tools II (spec/session-tools.md A1, A3, A4, A5.2, C4.4-C4.6, C4.10,
 * F2):
 * one dispatch for the CONTROL operations of the "Session tools II" block of proto/ferry.proto,
 * and the hooks control.ts calls (technician and customer Hellos, pick-up, reboot, close with
 * uninstall). The work is in `UnattendedAccess` (jump clients, support buttons, team queues) and
 * `SpecialActions` (canned scripts, elevation, after-session actions, uninstall); the checks they
 * share in `AccessContext`. Each refusal is a coded Error; nothing throws on client input.
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
import type { ferry } from '../protocol/gen/ferry.js';
import type { TechnicianGrants, TechnicianPermission } from '../session/access-policy.js';
import type { CannedScriptLibrary } from '../session/canned-scripts.js';
import type { Participant } from '../session/participant.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Session } from '../session/session.js';
import type { TokenClaims } from '../session/tokens.js';
import type { JumpClientRegistry } from '../tools/jump-clients.js';
import { AccessContext, type Fail, type Join } from './access-context.js';
import type { RelayPeer } from './peer.js';
import { SpecialActions } from './special-actions.js';
import { SpecialTasks } from './special-tasks.js';
import { UnattendedAccess } from './unattended-access.js';

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

export class AccessHandlers {
  readonly #ctx: AccessContext;
  readonly #unattended: UnattendedAccess;
  readonly #special: SpecialActions;
  readonly #tasks: SpecialTasks;

  /** Throws RangeError when the operator's default permissions or team are not valid. */
  constructor(options: AccessOptions) {
    this.#ctx = new AccessContext(options);
    this.#unattended = new UnattendedAccess(this.#ctx, options.jumpClients);
    this.#special = new SpecialActions(this.#ctx, options.scripts, this.#unattended);
    this.#tasks = new SpecialTasks(this.#ctx);
  }

  /** The permissions and teams of a technician connection (null: not a technician). */
  grantsOf(peer: Participant): TechnicianGrants | null {
    return this.#ctx.grants(peer) ?? null;
  }

  /** Whether the customer client of `session` runs elevated. */
  isElevated(session: Session): boolean {
    return this.#ctx.elevated.has(session);
  }

  /** The after-session action set for `session` (an AfterSessionActionKind), 0 if none. */
  afterSessionAction(session: Session): number {
    return this.#special.afterSessionAction(session);
  }

  /** A technician said Hello with a verified token: keep its grants, show its team queues. */
  onTechnician(peer: RelayPeer, claims: TokenClaims): void {
    this.#unattended.onTechnician(peer, this.#ctx.admit(peer, claims));
  }

  /**
   * The customer of `session` joined; an elevated client says so in its Hello (A1.3), and it
   * advertises its special tasks there (C4.4).
   */
  onCustomerJoined(session: Session, hello: ferry.v1.Hello.$Properties): void {
    if (hello.elevated === true) this.#ctx.elevated.add(session);
    this.#tasks.onCustomerJoined(session, hello);
  }

  /** A technician picked `session` up: the elevation policy may ask the customer (A1.6). */
  afterPickUp(peer: RelayPeer, session: Session): void {
    this.#special.elevateByPolicy(peer, session);
  }

  /** The sessions waiting, not yet adopted, in the team queues of this technician. */
  teamQueue(peer: RelayPeer): { session: Session; team: string }[] {
    const grants = this.#ctx.grants(peer);
    return grants === undefined ? [] : this.#unattended.teamQueue(grants);
  }

  /** A customer Hello with jump client credentials or a support button id (rate-limited). */
  onCustomerHello(peer: RelayPeer, hello: ferry.v1.Hello.$Properties, requestId: number): void {
    this.#unattended.onCustomerHello(peer, hello, requestId);
  }

  /** The technician has `permission`; refuses (customers: WRONG_ROLE) otherwise. */
  permit(peer: RelayPeer, permission: TechnicianPermission, requestId: number): boolean {
    return this.#ctx.permit(peer, permission, requestId);
  }

  /** PickUp: a team queue session is adopted by a technician of its team; false: refused. */
  beforePickUp(peer: RelayPeer, sessionId: string, requestId: number): boolean {
    return this.#unattended.beforePickUp(peer, sessionId, requestId);
  }

  /** CloseSession with uninstall_customer_client (A5.2); false: refused, no close. */
  beforeUninstallClose(
    peer: RelayPeer,
    sessionId: string,
    leaveInQueue: boolean,
    requestId: number,
  ): boolean {
    return this.#special.beforeUninstallClose(peer, sessionId, leaveInQueue, requestId);
  }

  /** Handles the operations of this module; false for any other. */
  onControl(peer: RelayPeer, control: ferry.v1.Control): boolean {
    const requestId = control.requestId;
    switch (control.op) {
      case 'listCannedScripts':
        this.#special.listScripts(peer, requestId);
        return true;
      case 'runCannedScript':
        this.#special.runScript(peer, control.runCannedScript!, requestId);
        return true;
      case 'cannedScriptResult':
        this.#special.scriptResult(peer, control.cannedScriptResult!, requestId);
        return true;
      case 'elevateRequest':
        this.#special.elevate(peer, control.elevateRequest!, requestId);
        return true;
      case 'elevateResult':
        this.#special.elevateResult(peer, control.elevateResult!, requestId);
        return true;
      case 'jumpClientInstall':
        void this.#unattended.pin(peer, control.jumpClientInstall!, requestId);
        return true;
      case 'listJumpClients':
        this.#unattended.listJumpClients(peer, requestId);
        return true;
      case 'jumpClientUninstall':
        void this.#unattended.unpin(peer, control.jumpClientUninstall!, requestId);
        return true;
      case 'startJumpSession':
        this.#unattended.startJumpSession(peer, control.startJumpSession!, requestId);
        return true;
      case 'supportButtonInstall':
        void this.#unattended.installButton(peer, control.supportButtonInstall!, requestId);
        return true;
      case 'supportButtonRemove':
        void this.#unattended.removeButton(peer, control.supportButtonRemove!, requestId);
        return true;
      case 'setAfterSessionAction':
        this.#special.setAfterSession(peer, control.setAfterSessionAction!, requestId);
        return true;
      case 'afterSessionResult':
        this.#special.afterSessionResult(peer, control.afterSessionResult!, requestId);
        return true;
      case 'listSpecialActions':
        this.#tasks.list(peer, control.listSpecialActions!, requestId);
        return true;
      case 'specialAction':
        this.#tasks.run(peer, control.specialAction!, requestId);
        return true;
      case 'specialActionResult':
        this.#tasks.result(peer, control.specialActionResult!, requestId);
        return true;
      case 'specialActions':
      case 'cannedScripts':
      case 'jumpClientKey':
      case 'jumpClients':
      case 'supportButtonRegistered':
        this.#ctx.fail(
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
}
