/**
 * The customer's consent as data: one bit per `ferry.v1.Permission` in a session's `grants`
 * mask, so the relay checks a grant with one field read and one AND per frame (docs/architecture.md hot
 * path). Owns the rules that are not plain bits:
 * - CONTROL implies VIEW: granting control grants view, revoking view revokes control;
 * - SHELL and FILE gate the command shells and file transfers (session tools II): revoking one
 *   ends the open shells or transfers at once (src/session/shells.ts, files.ts).
 */
import { pb } from '../protocol/frames.js';

export const Permission = pb.Permission;

/** The mask bit of a permission. */
export const bit = (permission: number): number => 1 << permission;

export const GRANT_VIEW = bit(Permission.PERMISSION_VIEW);
export const GRANT_CONTROL = bit(Permission.PERMISSION_CONTROL);
export const GRANT_SYSINFO = bit(Permission.PERMISSION_SYSINFO);
export const GRANT_SHELL = bit(Permission.PERMISSION_SHELL);
export const GRANT_FILE = bit(Permission.PERMISSION_FILE);

/** Permissions this gateway asks for, records and enforces. */
export const OFFERED: readonly number[] = [
  Permission.PERMISSION_VIEW,
  Permission.PERMISSION_CONTROL,
  Permission.PERMISSION_SYSINFO,
  Permission.PERMISSION_SHELL,
  Permission.PERMISSION_FILE,
];
const OFFERED_MASK = OFFERED.reduce((m, p) => m | bit(p), 0);

/** Reserved for later: asking for or granting them is refused (none left). */
export const RESERVED: readonly number[] = [];

const NAMES: Record<number, string> = {
  [Permission.PERMISSION_VIEW]: 'view',
  [Permission.PERMISSION_CONTROL]: 'control',
  [Permission.PERMISSION_SYSINFO]: 'sysinfo',
  [Permission.PERMISSION_SHELL]: 'shell',
  [Permission.PERMISSION_FILE]: 'file',
};

/** `PERMISSION_VIEW` -> `view` (logs, reports, CLI). */
export function permissionName(permission: number): string {
  return NAMES[permission] ?? `permission ${permission}`;
}

/**
 * A list of wire permissions as a mask; `unavailable` is the first one this gateway does not
 * offer (reserved, unspecified or unknown), or -1.
 */
export function toMask(permissions: readonly number[]): { mask: number; unavailable: number } {
  let mask = 0;
  for (const p of permissions) {
    if (p < 0 || p > 30 || (OFFERED_MASK & bit(p)) === 0) return { mask: 0, unavailable: p };
    mask |= bit(p);
  }
  return { mask, unavailable: -1 };
}

/** CONTROL implies VIEW. */
export function withImplied(mask: number): number {
  return (mask & GRANT_CONTROL) !== 0 ? mask | GRANT_VIEW : mask;
}

/** What is left when `removed` is revoked: VIEW gone means CONTROL gone. */
export function afterRevoke(grants: number, removed: number): number {
  const left = grants & ~removed;
  return (left & GRANT_VIEW) === 0 ? left & ~GRANT_CONTROL : left;
}

/** The permissions of a mask, in wire order. */
export function toList(mask: number): number[] {
  const out: number[] = [];
  for (const p of OFFERED) if ((mask & bit(p)) !== 0) out.push(p);
  return out;
}

/** `view, control` (or `nothing`). */
export function describe(mask: number): string {
  const names = toList(mask).map(permissionName);
  return names.length === 0 ? 'nothing' : names.join(', ');
}
