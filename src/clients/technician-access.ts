/**
 * The technician side of session tools II (docs/spec/session-tools.md A1, A3, A4, A5.2, C4.4-C4.6, F2)
 * for the reference technician client: canned scripts, special tasks, elevation, jump clients,
 * support buttons, after-session actions and the close that uninstalls the customer client. Each
 * call resolves with the gateway's answer or rejects with a `FerryError` carrying the FERRY_ERR_*
 * code; the gateway checks every permission (token claims), nothing here is a check.
 */
import { Codes } from '../protocol/codes.js';
import { ferry } from '../protocol/gen/ferry.js';
import { FerryError, waitFor } from './client.js';
import type { TechnicianClient } from './technician.js';

/** How long a canned script or an elevation may take on the customer side. */
export const SCRIPT_TIMEOUT_MS = 120_000;
export const ELEVATE_TIMEOUT_MS = 180_000;
/** Redirects a StartJumpSession follows in a row (a loop between gateways) before giving up. */
export const MAX_JUMP_REDIRECTS = 3;

export type AfterSessionName = 'none' | 'lock' | 'logout';
const AFTER: Record<AfterSessionName, ferry.v1.AfterSessionActionKind> = {
  none: ferry.v1.AfterSessionActionKind.AFTER_SESSION_ACTION_KIND_NONE,
  lock: ferry.v1.AfterSessionActionKind.AFTER_SESSION_ACTION_KIND_LOCK,
  logout: ferry.v1.AfterSessionActionKind.AFTER_SESSION_ACTION_KIND_LOGOUT,
};

export type SpecialContextName = 'current_user' | 'system' | 'as_user';
const CONTEXT: Record<SpecialContextName, ferry.v1.SpecialActionContext> = {
  current_user: ferry.v1.SpecialActionContext.SPECIAL_ACTION_CONTEXT_CURRENT_USER,
  system: ferry.v1.SpecialActionContext.SPECIAL_ACTION_CONTEXT_SYSTEM,
  as_user: ferry.v1.SpecialActionContext.SPECIAL_ACTION_CONTEXT_AS_USER,
};

function need<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new FerryError(Codes.PROTOCOL.code, `no ${what} in reply`);
  return value;
}

async function done(
  tech: TechnicianClient,
  control: ferry.v1.Control.$Properties,
): Promise<ferry.v1.Done> {
  const reply = await tech.request(control);
  return need(reply.done as ferry.v1.Done | null, 'Done');
}

export class TechnicianAccess {
  readonly tech: TechnicianClient;

  constructor(tech: TechnicianClient) {
    this.tech = tech;
  }

  /** The operator's canned scripts this technician may run. */
  async listScripts(): Promise<ferry.v1.CannedScript[]> {
    const reply = await this.tech.request({
      listCannedScripts: { sessionId: this.tech.sessionId },
    });
    return need(reply.cannedScripts as ferry.v1.CannedScripts | null, 'CannedScripts')
      .scripts as ferry.v1.CannedScript[];
  }

  /** Runs canned script `scriptId` on the customer machine (SHELL grant); resolves with its output. */
  async runScript(
    scriptId: string,
    sessionId = this.tech.sessionId,
    timeoutMs = SCRIPT_TIMEOUT_MS,
  ): Promise<ferry.v1.CannedScriptResult> {
    const reply = await this.tech.request({ runCannedScript: { sessionId, scriptId } }, timeoutMs);
    return need(
      reply.cannedScriptResult as ferry.v1.CannedScriptResult | null,
      'CannedScriptResult',
    );
  }

  /** Asks the customer client to elevate; the customer types credentials into its own OS prompt. */
  async elevate(
    kind: 'admin' | 'full_client' = 'admin',
    sessionId = this.tech.sessionId,
    timeoutMs = ELEVATE_TIMEOUT_MS,
  ): Promise<ferry.v1.ElevateResult> {
    const reply = await this.tech.request(
      {
        elevateRequest: {
          sessionId,
          kind:
            kind === 'admin'
              ? ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN
              : ferry.v1.ElevationKind.ELEVATION_KIND_FULL_CLIENT,
          credentialSource: ferry.v1.CredentialSource.CREDENTIAL_SOURCE_CUSTOMER,
        },
      },
      timeoutMs,
    );
    return need(reply.elevateResult as ferry.v1.ElevateResult | null, 'ElevateResult');
  }

  /** Pins the session's customer client as a jump client (of the team, or personal). */
  async pinJumpClient(
    options: { personal?: boolean; serviceMode?: boolean } = {},
    sessionId = this.tech.sessionId,
  ): Promise<ferry.v1.JumpClient> {
    const reply = await this.tech.request({
      jumpClientInstall: {
        sessionId,
        scope: options.personal
          ? ferry.v1.JumpClientScope.JUMP_CLIENT_SCOPE_PERSONAL
          : ferry.v1.JumpClientScope.JUMP_CLIENT_SCOPE_TEAM,
        serviceMode: options.serviceMode === true,
      },
    });
    const list = need(reply.jumpClients as ferry.v1.JumpClients | null, 'JumpClients');
    return need(list.jumpClients[0] as ferry.v1.JumpClient | undefined, 'JumpClient');
  }

  async listJumpClients(): Promise<ferry.v1.JumpClient[]> {
    const reply = await this.tech.request({ listJumpClients: {} });
    return need(reply.jumpClients as ferry.v1.JumpClients | null, 'JumpClients')
      .jumpClients as ferry.v1.JumpClient[];
  }

  /** Unpins: the key is revoked at the gateway, the device told to uninstall. */
  unpinJumpClient(jumpClientId: string): Promise<ferry.v1.Done> {
    return done(this.tech, { jumpClientUninstall: { jumpClientId } });
  }

  /**
   * Starts a session to a connected jump client (no PIN, nobody at the customer side) and, unless
   * `pickUp` is false, picks it up. Resolves with the session id. In a deployment, a jump client
   * another gateway holds answers with a Redirect: this client connects there (`redirected`)
   * and asks again, at most `MAX_JUMP_REDIRECTS` times in a row.
   */
  async startJumpSession(jumpClientId: string, pickUp = true, customerName = ''): Promise<string> {
    let reply = await this.tech.request({ startJumpSession: { jumpClientId, customerName } });
    for (let hops = 0; reply.redirect != null; hops++) {
      if (hops >= MAX_JUMP_REDIRECTS) {
        throw new FerryError(
          Codes.PROTOCOL.code,
          `more than ${MAX_JUMP_REDIRECTS} redirects in a row`,
        );
      }
      await this.tech.followed();
      reply = await this.tech.request({ startJumpSession: { jumpClientId, customerName } });
    }
    const created = need(reply.sessionCreated as ferry.v1.SessionCreated | null, 'SessionCreated');
    this.tech.sessionId = created.sessionId;
    if (pickUp) await this.tech.pickUp(created.sessionId);
    return created.sessionId;
  }

  /** Puts a support button on the customer's desktop routing to `team` (default: own first team). */
  async installSupportButton(
    team = '',
    sessionId = this.tech.sessionId,
  ): Promise<ferry.v1.SupportButtonRegistered> {
    const reply = await this.tech.request({ supportButtonInstall: { sessionId, team } });
    return need(
      reply.supportButtonRegistered as ferry.v1.SupportButtonRegistered | null,
      'SupportButtonRegistered',
    );
  }

  removeSupportButton(
    supportButtonId: string,
    sessionId = this.tech.sessionId,
  ): Promise<ferry.v1.Done> {
    return done(this.tech, { supportButtonRemove: { supportButtonId, sessionId } });
  }

  /** Resolves with the next team queue notice (a support button session) of `team`. */
  async waitForTeamSession(team: string, timeoutMs = 60_000): Promise<ferry.v1.SessionQueued> {
    const [event] = await waitFor(
      this.tech,
      'event',
      (e) => e.sessionQueued?.team === team,
      timeoutMs,
    );
    return event.sessionQueued as ferry.v1.SessionQueued;
  }

  /** What the customer client does when the session ends (F2); sent to it at once. */
  setAfterSessionAction(
    action: AfterSessionName,
    sessionId = this.tech.sessionId,
  ): Promise<ferry.v1.Done> {
    return done(this.tech, { setAfterSessionAction: { sessionId, action: AFTER[action] } });
  }

  /** The OS-specific special tasks the session's customer client offers (C4.4). */
  async listSpecialActions(sessionId = this.tech.sessionId): Promise<ferry.v1.SpecialActions> {
    const reply = await this.tech.request({ listSpecialActions: { sessionId } });
    return need(reply.specialActions as ferry.v1.SpecialActions | null, 'SpecialActions');
  }

  /**
   * Runs special task `actionId` on the customer machine, in `context` (C4.5: SYSTEM needs an
   * elevated customer client; AS_USER prompts for the account at the customer machine, no
   * credential is sent). Resolves with its result.
   */
  async runSpecialAction(
    actionId: string,
    context: SpecialContextName = 'current_user',
    sessionId = this.tech.sessionId,
    timeoutMs = SCRIPT_TIMEOUT_MS,
  ): Promise<ferry.v1.SpecialActionResult> {
    const reply = await this.tech.request(
      { specialAction: { sessionId, actionId, context: CONTEXT[context] } },
      timeoutMs,
    );
    return need(
      reply.specialActionResult as ferry.v1.SpecialActionResult | null,
      'SpecialActionResult',
    );
  }

  /** The owner closes the session and the customer client uninstalls itself (A5.2). */
  closeAndUninstall(sessionId = this.tech.sessionId, reason = ''): Promise<ferry.v1.Done> {
    return done(this.tech, { closeSession: { sessionId, reason, uninstallCustomerClient: true } });
  }
}

export const ACCESS_HELP = `  /scripts, /run <script id>, /tasks, /task <id> [current_user|system|as_user],
  /elevate [admin|full], /pin [personal|service], /jumpclients,
  /jump <jump client id>, /unpin <jump client id>, /button [team], /unbutton <id>,
  /after <none|lock|logout>, /uninstall (close and uninstall the customer client)`;

/**
 * One /command of the technician's command line for these tools; false when `command` is not
 * one of them. Prints with `print`.
 */
export async function accessCommand(
  access: TechnicianAccess,
  command: string,
  rest: string,
  print: (line: string) => void,
): Promise<boolean> {
  switch (command) {
    case 'scripts':
      for (const s of await access.listScripts()) print(`${s.id}: ${s.name} ${s.description}`);
      return true;
    case 'run': {
      const r = await access.runScript(rest);
      print(
        `${rest} exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}${r.error ? `: ${r.error}` : ''}`,
      );
      if (r.output) print(r.output);
      return true;
    }
    case 'tasks': {
      const list = await access.listSpecialActions();
      print(`${list.platform}${list.elevated ? ' (elevated)' : ''}: ${list.actions.length} tasks`);
      const names = ['', 'current_user', 'system', 'as_user'];
      for (const a of list.actions) {
        print(
          `${a.id}: ${a.name} [${(a.contexts ?? []).map((c) => names[c]).join(', ')}] ${a.description}`,
        );
      }
      return true;
    }
    case 'task': {
      const [id = '', context = 'current_user'] = rest.split(/\s+/);
      const r = await access.runSpecialAction(id, context as SpecialContextName);
      print(
        `${id} exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}${r.error ? `: ${r.error}` : ''}`,
      );
      if (r.output) print(r.output);
      return true;
    }
    case 'elevate': {
      const r = await access.elevate(rest === 'full' ? 'full_client' : 'admin');
      print(r.elevated ? 'the customer client is elevated' : `not elevated: ${r.error}`);
      return true;
    }
    case 'pin': {
      const j = await access.pinJumpClient({
        personal: rest.includes('personal'),
        serviceMode: rest.includes('service'),
      });
      print(`pinned jump client ${j.id} on ${j.deviceName} (${j.team})`);
      return true;
    }
    case 'jumpclients':
      for (const j of await access.listJumpClients()) {
        print(
          `${j.id} ${j.deviceName} ${j.team} ${j.online ? (j.inSession ? 'in session' : 'online') : 'offline'}`,
        );
      }
      return true;
    case 'jump':
      print(`session ${await access.startJumpSession(rest)} started and picked up`);
      return true;
    case 'unpin':
      await access.unpinJumpClient(rest);
      print(`unpinned ${rest}`);
      return true;
    case 'button': {
      const b = await access.installSupportButton(rest);
      print(`support button ${b.supportButtonId} routes to team ${b.team}`);
      return true;
    }
    case 'unbutton':
      await access.removeSupportButton(rest);
      print(`support button ${rest} removed`);
      return true;
    case 'after':
      await access.setAfterSessionAction((rest || 'none') as AfterSessionName);
      print(`after the session: ${rest || 'none'}`);
      return true;
    case 'uninstall':
      await access.closeAndUninstall();
      print('closed; the customer client uninstalls itself');
      return true;
    default:
      return false;
  }
}
