/**
 * Honest elevation for the customer client: who this process really is (effective uid and user
 * name), the argv that relaunches this very client (`--resume`, so the relaunched process takes
 * over the session), and the check a relaunched process makes before it says anything: it is
 * elevated only when its effective uid is 0. Nothing here trusts an exit code alone.
 */
import os from 'node:os';

/** Exit code of a relaunched client that finds it has no more privilege than before. */
export const NOT_ELEVATED_EXIT = 3;

/** The flags a relaunched process gets: which ElevateRequest it answers, and its kind. */
export const ELEVATION_TICKET_FLAG = '--elevation-ticket';
export const ELEVATION_KIND_FLAG = '--elevation-kind';

export interface ProcessIdentity {
  /** Effective uid (POSIX); -1 where the platform has none (win32). */
  readonly uid: number;
  readonly user: string;
}

/** The identity this process runs as now: the effective uid and its user name. */
export function processIdentity(): ProcessIdentity {
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  let user = '';
  try {
    user = os.userInfo().username;
  } catch (err) {
    // a uid without a passwd entry (a container's arbitrary uid): name it by number
    user = `uid ${uid} (${(err as Error).message})`;
  }
  // os.userInfo() names the real uid; after setuid-style relaunches the effective one decides
  if (uid === 0) user = 'root';
  return { uid, user };
}

/** True when this process runs with administrative rights (effective uid 0 on POSIX). */
export function isPrivileged(identity: ProcessIdentity = processIdentity()): boolean {
  return identity.uid === 0;
}

/** An operator command given as one string: words split on spaces (no shell). */
export function commandWords(command: string | readonly string[]): string[] {
  return typeof command === 'string' ? command.split(/\s+/).filter((w) => w !== '') : [...command];
}

/**
 * The argv that starts this client again as it was started, with `--resume` (once) and the
 * `extra` flags; the relaunch flags of an earlier relaunch are dropped.
 */
export function relaunchArgv(extra: readonly string[] = [], argv = process.argv): string[] {
  const own: string[] = [];
  const args = argv.slice(1);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === ELEVATION_TICKET_FLAG || a === ELEVATION_KIND_FLAG) {
      i++;
      continue;
    }
    if (a.startsWith(`${ELEVATION_TICKET_FLAG}=`) || a.startsWith(`${ELEVATION_KIND_FLAG}=`)) {
      continue;
    }
    own.push(a);
  }
  if (!own.includes('--resume')) own.push('--resume');
  return [process.execPath, ...process.execArgv, ...own, ...extra];
}

/** What a refused elevation tells the technician, after the code. */
export function notElevatedMessage(identity: ProcessIdentity): string {
  return `the relaunched client runs as ${identity.user} (effective uid ${identity.uid}), not with administrative rights (uid 0)`;
}
