/**
 * The customer's resume file: what a restarted customer process needs to take its place back in
 * the session it was in (the resume token, the session id, the gateway's URL and id, and the
 * permissions in force as the gateway last said). One JSON file under the state directory, mode
 * 0600 in a 0700 directory, written atomically (and at once) on every Welcome and consent change, removed when
 * the session ends. A file that does not parse, or that names another gateway, is refused with a
 * clear message (FERRY_ERR_RESUME_STATE_INVALID) and removed.
 */
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CloseCodes, Codes, isSessionEndClose } from '../protocol/codes.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { FerryClient } from './client.js';
import { PERMISSIONS, type PermissionName, toNames } from './permissions.js';

export const RESUME_FILE = 'customer-resume.json';
const VERSION = 1;

export interface ResumeState {
  readonly version: 1;
  readonly gatewayUrl: string;
  /** Welcome.gateway_id of the gateway that issued the token. */
  readonly gatewayId: string;
  readonly sessionId: string;
  readonly token: string;
  /** The permissions in force when the file was written (the gateway stays the judge). */
  readonly granted: PermissionName[];
  readonly savedAtMs: number;
}

/** A resume file refused: corrupt, or for another gateway. It has been removed. */
export class ResumeStateError extends Error {
  readonly code = Codes.RESUME_STATE_INVALID.code;
  constructor(message: string) {
    super(message);
    this.name = 'ResumeStateError';
  }
}

/** `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'ferry');
}

export function resumeFile(stateDir: string): string {
  return path.join(stateDir, RESUME_FILE);
}

/** Writes the file (0600, directory 0700) through a temporary file and a rename. */
export async function saveResumeState(stateDir: string, state: ResumeState): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = resumeFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(state)}\n`, 'utf8');
    await handle.chmod(0o600);
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

/**
 * The same, synchronously: the keeper writes at once, so a process killed right after a consent
 * change still leaves the change on disk.
 */
export function saveResumeStateSync(stateDir: string, state: ResumeState): void {
  fsSync.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = resumeFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fsSync.writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  fsSync.chmodSync(tmp, 0o600);
  fsSync.renameSync(tmp, file);
}

export async function removeResumeState(stateDir: string): Promise<void> {
  await fs.rm(resumeFile(stateDir), { force: true });
}

function shapeError(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const d = data as Record<string, unknown>;
  if (d.version !== VERSION) return `version ${JSON.stringify(d.version)} is not ${VERSION}`;
  for (const key of ['gatewayUrl', 'gatewayId', 'sessionId', 'token'] as const) {
    if (typeof d[key] !== 'string' || d[key] === '') return `${key} is missing`;
  }
  if (!Array.isArray(d.granted) || !d.granted.every((p) => Object.hasOwn(PERMISSIONS, p))) {
    return 'granted is not a list of permissions';
  }
  return null;
}

/**
 * Reads the resume file for `gatewayUrl`: null when there is none. A corrupt file, or one written
 * for another gateway, is removed and refused with a ResumeStateError saying why.
 */
export async function loadResumeState(
  stateDir: string,
  gatewayUrl: string,
): Promise<ResumeState | null> {
  const file = resumeFile(stateDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let problem: string | null;
  let data: unknown = null;
  try {
    data = JSON.parse(text);
    problem = shapeError(data);
  } catch (err) {
    problem = `not valid JSON (${(err as Error).message})`;
  }
  if (problem === null && (data as ResumeState).gatewayUrl !== gatewayUrl) {
    problem = `it belongs to gateway ${(data as ResumeState).gatewayUrl}, not ${gatewayUrl}`;
  }
  if (problem !== null) {
    await fs.rm(file, { force: true });
    throw new ResumeStateError(`resume file ${file} refused and removed: ${problem}`);
  }
  return data as ResumeState;
}

const S = ferry.v1.SessionStatus;
/** Statuses in which the customer's part of the session is over. */
const ENDED: ReadonlySet<number> = new Set([
  S.SESSION_STATUS_CLOSED,
  S.SESSION_STATUS_CLOSED_BY_TECHNICIAN,
  S.SESSION_STATUS_CLOSED_BY_WAITING_CUSTOMER,
  S.SESSION_STATUS_TIMED_OUT,
  S.SESSION_STATUS_ABORTED,
  S.SESSION_STATUS_REMOVED_FROM_TC_QUEUE,
]);

/** Final close reasons after which the place cannot be taken back. */
const GONE_REASONS: ReadonlySet<string> = new Set([
  Codes.RESUME_INVALID.code,
  Codes.SESSION_ENDED.code,
  Codes.RESUMED_ELSEWHERE.code,
]);

/**
 * Keeps a customer's resume file current: written after every Welcome (first join, reconnect)
 * and consent change, removed when the session ends. `granted` reads the client's permissions.
 */
export class ResumeKeeper {
  readonly stateDir: string;
  /** Writes and removals that failed (each also reported through `onError`). */
  failures = 0;
  #ended = false;
  readonly #client: FerryClient;
  readonly #granted: () => PermissionName[];
  readonly #onError: (err: Error) => void;

  constructor(
    client: FerryClient,
    stateDir: string,
    options: { granted: () => PermissionName[]; onError: (err: Error) => void },
  ) {
    this.stateDir = stateDir;
    this.#client = client;
    this.#granted = options.granted;
    this.#onError = options.onError;
    client.on('resumed', () => this.save());
    client.on('consentChanged', (c) => {
      if (!this.#ended) this.save(toNames(c.granted));
    });
    client.on('status', (s) => {
      if (ENDED.has(s.status)) this.end();
    });
    client.on('close', (code, reason) => {
      // another process (a restart, an elevated relaunch) took the place: the file is its now
      if (reason === Codes.RESUMED_ELSEWHERE.code) {
        this.#ended = true;
        return;
      }
      if (code === CloseCodes.NORMAL || isSessionEndClose(code) || GONE_REASONS.has(reason)) {
        this.end();
      }
    });
  }

  /** Writes the file from the client's current Welcome (call after `connect()`). */
  save(granted: PermissionName[] = this.#granted()): void {
    const welcome = this.#client.welcome;
    if (this.#ended || welcome === null || this.#client.resumeToken === '') return;
    const state: ResumeState = {
      version: VERSION,
      gatewayUrl: this.#client.url,
      gatewayId: welcome.gatewayId,
      sessionId: welcome.sessionId,
      token: this.#client.resumeToken,
      granted,
      savedAtMs: Date.now(),
    };
    this.#run(() => saveResumeStateSync(this.stateDir, state));
  }

  /** A new session (a jump client serves one after another): the file is kept again. */
  begin(): void {
    this.#ended = false;
  }

  /** The session is over: the file goes, and nothing writes it again (until `begin`). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#run(() => fsSync.rmSync(resumeFile(this.stateDir), { force: true }));
  }

  /** Writes and removals are synchronous: resolves at once (kept for callers that await). */
  settled(): Promise<void> {
    return Promise.resolve();
  }

  #run(job: () => void): void {
    try {
      job();
    } catch (err) {
      this.failures++;
      this.#onError(err as Error);
    }
  }
}
