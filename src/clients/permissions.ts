/**
 * Permission names for the reference clients and their command lines: `view`, `control`,
 * `sysinfo`, `shell` (and the reserved `file`), mapped to the wire's `ferry.v1.Permission`.
 * The gateway enforces consent; these are only the words the clients speak.
 */
import { ferry } from '../protocol/gen/ferry.js';

const P = ferry.v1.Permission;

export const PERMISSIONS = {
  view: P.PERMISSION_VIEW,
  control: P.PERMISSION_CONTROL,
  sysinfo: P.PERMISSION_SYSINFO,
  shell: P.PERMISSION_SHELL,
  file: P.PERMISSION_FILE,
} as const;

export type PermissionName = keyof typeof PERMISSIONS;

/** What a technician asks for by default: see the screen and operate it. */
export const SCREEN_PERMISSIONS: readonly PermissionName[] = ['view', 'control'];

const NAMES = new Map<number, PermissionName>(
  Object.entries(PERMISSIONS).map(([name, wire]) => [wire, name as PermissionName]),
);

export function toWire(names: readonly PermissionName[]): ferry.v1.Permission[] {
  return names.map((n) => PERMISSIONS[n]);
}

export function toNames(wire: readonly number[]): PermissionName[] {
  const out: PermissionName[] = [];
  for (const p of wire) {
    const name = NAMES.get(p);
    if (name !== undefined) out.push(name);
  }
  return out;
}

/**
 * `view,control` -> ['view', 'control']; throws on an unknown name (CLI flags). Empty or
 * `none` -> [].
 */
export function parsePermissions(text: string): PermissionName[] {
  const names = text
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'none');
  for (const n of names) {
    if (!(n in PERMISSIONS)) {
      throw new Error(`unknown permission "${n}": use ${Object.keys(PERMISSIONS).join(', ')}`);
    }
  }
  return [...new Set(names)] as PermissionName[];
}
