/**
 * What a technician may do beyond working its own sessions (spec session-tools.md Appendix 1,
 * "group permission"): the permissions and teams the gateway holds per technician. They come from
 * the signed token (`perms` and `teams` claims, `ferry token issue --perm ... --team ...`), and
 * when a token has none, from the operator's `technicianDefaultPermissions` /
 * `technicianDefaultTeam`. A token is signed by the gateway, so a client cannot widen them; the
 * clients only hide controls.
 */
import type { Config } from '../config/schema.js';
import { TEAM_PATTERN, type TokenClaims } from './tokens.js';

/** Every permission the gateway checks, and the operation it guards. */
export const TECHNICIAN_PERMISSIONS = {
  sysinfo: "read the customer's system information and ask for its grant (D1)",
  reboot: 'restart the customer machine (C4.10)',
  scripts: "list and run the operator's canned scripts on the customer machine (C4.6)",
  special_actions: "list the customer client's OS-specific special tasks and run one (C4.4, C4.5)",
  elevate: 'ask the customer client to run with administrative rights (A1)',
  jump_client: 'pin (and unpin) the customer client as a jump client (A4)',
  unattended: 'list jump clients and start sessions to them, nobody at the customer side (A4)',
  support_button: 'install and remove support buttons (A3)',
  after_session_lock: 'lock the customer computer when the session ends (F2)',
  after_session_logout: 'log the customer user out when the session ends (F2)',
} as const;
export type TechnicianPermission = keyof typeof TECHNICIAN_PERMISSIONS;

export function isPermission(name: string): name is TechnicianPermission {
  return Object.hasOwn(TECHNICIAN_PERMISSIONS, name);
}

/** A technician's permissions and teams, fixed at its Hello. */
export interface TechnicianGrants {
  readonly name: string;
  readonly perms: ReadonlySet<TechnicianPermission>;
  /** At least one; the first is where its jump clients and support buttons go by default. */
  readonly teams: readonly string[];
}

function split(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The operator's defaults, checked once at start: an unknown permission or a bad team name is a
 * configuration error (thrown as RangeError with the offending value).
 */
export function defaultGrants(config: Config): { perms: TechnicianPermission[]; team: string } {
  const perms = split(config.technicianDefaultPermissions);
  for (const p of perms) {
    if (!isPermission(p)) {
      throw new RangeError(
        `technicianDefaultPermissions: unknown permission "${p}" (known: ${Object.keys(TECHNICIAN_PERMISSIONS).join(', ')})`,
      );
    }
  }
  const team = config.technicianDefaultTeam;
  if (!TEAM_PATTERN.test(team)) {
    throw new RangeError(`technicianDefaultTeam: "${team}" is not a team name (${TEAM_PATTERN})`);
  }
  return { perms: perms as TechnicianPermission[], team };
}

type Defaults = { perms: readonly TechnicianPermission[]; team: string };

/**
 * The defaults' permissions and teams as grants hold them, made once per defaults object: every
 * technician whose token names neither shares them (read-only), rather than holding a set and a
 * list of its own.
 */
const sharedDefaults = new WeakMap<
  Defaults,
  { perms: ReadonlySet<TechnicianPermission>; teams: readonly string[] }
>();

function defaultsOf(defaults: Defaults) {
  let shared = sharedDefaults.get(defaults);
  if (shared === undefined) {
    shared = { perms: new Set(defaults.perms), teams: Object.freeze([defaults.team]) };
    sharedDefaults.set(defaults, shared);
  }
  return shared;
}

/** The grants of a verified token. Unknown permission names in a token are ignored. */
export function grantsOf(claims: TokenClaims, defaults: Defaults): TechnicianGrants {
  const shared = defaultsOf(defaults);
  const perms =
    claims.perms === undefined ? shared.perms : new Set(claims.perms.filter(isPermission));
  const teams =
    claims.teams === undefined || claims.teams.length === 0 ? shared.teams : [...claims.teams];
  return { name: claims.sub, perms, teams };
}

/** The registry team of a personal jump client: only that technician may reach it. */
export function personalTeam(technician: string): string {
  return `@${technician}`;
}

/** A jump client or support button of `team` is within reach of `grants`. */
export function reaches(grants: TechnicianGrants, team: string): boolean {
  return team === personalTeam(grants.name) || grants.teams.includes(team);
}
