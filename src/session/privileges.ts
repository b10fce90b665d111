/**
 * Technician privileges: what an administrator allows a technician to do, carried in its token
 * (claim `priv`, set with `ferry token issue --privileges`) and checked by the gateway on every
 * operation that needs one. A client hiding a button is never the check.
 *
 * A token without the claim carries every privilege (tokens issued before privileges existed keep
 * working); a token with the claim carries exactly the names listed, so `--privileges none`
 * issues a technician who may chat, view and control with consent, but not read system
 * information. Names this gateway does not know are kept and ignored (a newer issuer's).
 */

/** The privileges this gateway checks, and the operation each one guards. */
export const PRIVILEGES = {
  /** spec session-tools D1: read the customer's system information (and ask for its grant). */
  sysinfo: 'read system information',
} as const;

export type Privilege = keyof typeof PRIVILEGES;

/** Longest list and name a token may carry (the token itself is bounded too). */
export const MAX_PRIVILEGES = 32;
const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** A technician's privileges: null = every privilege (no `priv` claim). */
export type PrivilegeSet = ReadonlySet<string> | null;

export function hasPrivilege(set: PrivilegeSet, privilege: Privilege): boolean {
  return set === null || set.has(privilege);
}

/** The claim as a set; false when it is not a bounded list of well-formed names. */
export function fromClaim(claim: unknown): PrivilegeSet | false {
  if (claim === undefined) return null;
  if (!Array.isArray(claim) || claim.length > MAX_PRIVILEGES) return false;
  if (!claim.every((p) => typeof p === 'string' && NAME.test(p))) return false;
  return new Set(claim as string[]);
}

/**
 * `sysinfo,other` -> ['sysinfo', 'other'] for `ferry token issue`; `none` or empty -> [].
 * Throws on a name this gateway does not check, so a typo does not issue a weaker token silently.
 */
export function parsePrivileges(text: string): Privilege[] {
  const names = text
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'none');
  for (const n of names) {
    if (!(n in PRIVILEGES)) {
      throw new RangeError(`unknown privilege "${n}": use ${Object.keys(PRIVILEGES).join(', ')}`);
    }
  }
  return [...new Set(names)] as Privilege[];
}
