/**
 * The gateway's registry of unattended access (spec session-tools.md A4 Pin Jump Client, A3
 * Support Button): jump client registrations, each with a key the customer client presents to
 * start a session with nobody at the customer side, and support button registrations that route
 * a customer's new session to a team's queue.
 *
 * Invariants:
 * - A key is 32 random bytes (base64url) handed out once by `register`; only
 *   HMAC-SHA256(pepper, id + NUL + key) is kept, in memory and on disk. The id is bound into the
 *   digest, so digests cannot be swapped between records.
 * - `authenticate` compares digests in constant time, and computes one for unknown ids too. An
 *   unknown id and a wrong key give the same code; `FERRY_ERR_JUMP_CLIENT_REVOKED` is told only
 *   to a holder of the right key (so its client can uninstall itself).
 * - Revoking keeps a tombstone (who, when), so the key stays refused after a restart (A4.2: the key
 *   stops working even if the uninstall on the device fails).
 * - The file (`unattended.json` in `dir`) is replaced atomically (temporary file, fsync, rename,
 *   mode 0600); saves are serialised and each writes the latest state. A mutation resolves once
 *   it is on disk; a registration whose save failed is dropped, a revoke is kept in memory.
 * - A file that does not parse is never overwritten: `open` refuses with REGISTRY_CORRUPT.
 *
 * `UnattendedRegistry` is what the gateway uses: this file's `JumpClientRegistry` for a gateway
 * alone, or the one kept in a deployment's shared directory (src/directory/unattended.ts), which
 * keeps the same invariants with the helpers exported here (ids, keys, digests, the constant-time
 * check). The file registry answers reads at once; the shared one later (`Answer`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Codes, type ErrorCode } from '../protocol/codes.js';
import { ToolError } from './errors.js';

export const REGISTRY_FILE = 'unattended.json';
export const DEFAULT_REGISTRY_MAX_ENTRIES = 10_000;
export const DEFAULT_PEPPER = 'ferry.jump-client.v1';
/** The shape of the ids `newJumpClientId` and `newSupportButtonId` make. */
export const JUMP_CLIENT_ID = /^jc_[A-Za-z0-9_-]{16}$/;
export const SUPPORT_BUTTON_ID = /^sb_[A-Za-z0-9_-]{16}$/;
const MAX_FIELD_CHARS = 256;
const FILE_VERSION = 1;

export interface JumpClientRegistration {
  readonly id: string;
  /** The technician who pinned it. */
  readonly technician: string;
  /** The team whose technicians may start sessions to it. */
  readonly team: string;
  readonly deviceName: string;
  readonly createdAtMs: number;
  readonly revokedAtMs: number | null;
  readonly revokedBy: string | null;
  /** Last successful `authenticate` since the gateway started (not persisted). */
  readonly lastSeenAtMs: number | null;
}

export interface SupportButton {
  readonly id: string;
  /** The team (queue) new sessions from this button go to. */
  readonly team: string;
  readonly deviceName: string;
  readonly createdAtMs: number;
}

export type JumpClientAuth =
  | { readonly ok: true; readonly registration: JumpClientRegistration }
  | { readonly ok: false; readonly code: ErrorCode };

/** A value at hand, or one that comes later. */
export type Answer<T> = T | Promise<T>;

/** What pinning a jump client needs. */
export interface JumpClientInput {
  readonly technician: string;
  readonly team: string;
  readonly deviceName: string;
}

/**
 * The registry of unattended access: jump clients (key digests only, tombstones kept) and
 * support buttons. Mutations resolve once stored; reads answer at once (the file) or later (the
 * shared directory). Refusals are `ToolError`s with stable codes.
 */
export interface UnattendedRegistry {
  /** Pins a jump client: the key is handed out here once and never stored. */
  register(
    input: JumpClientInput,
  ): Promise<{ id: string; key: string; registration: JumpClientRegistration }>;
  /** Checks an id and key in constant time; the revocation is told to a holder of the key only. */
  authenticate(id: string, key: string): Answer<JumpClientAuth>;
  /** Unpins: false when the id is unknown or already revoked. */
  revoke(id: string, by?: string | null): Promise<boolean>;
  get(id: string): Answer<JumpClientRegistration | undefined>;
  /** Active registrations (tombstones too when asked), of one team if given, oldest first. */
  list(team?: string, opts?: { includeRevoked?: boolean }): Answer<JumpClientRegistration[]>;
  registerButton(input: { team: string; deviceName: string }): Promise<SupportButton>;
  removeButton(id: string): Promise<boolean>;
  button(id: string): Answer<SupportButton | undefined>;
  listButtons(team?: string): Answer<SupportButton[]>;
}

/** A fresh jump client id (96 random bits). */
export function newJumpClientId(): string {
  return `jc_${randomBytes(12).toString('base64url')}`;
}

/** A fresh support button id (96 random bits). */
export function newSupportButtonId(): string {
  return `sb_${randomBytes(12).toString('base64url')}`;
}

/** A fresh jump client key: 32 random bytes, base64url. Handed out once, never stored. */
export function newJumpClientKey(): string {
  return randomBytes(32).toString('base64url');
}

/** HMAC-SHA256(pepper, id + NUL + key): what is stored of a key. */
export function keyDigest(pepper: string | Buffer, id: string, key: string): Buffer {
  return createHmac('sha256', pepper).update(id).update('\0').update(key).digest();
}

/**
 * The verdict on a key: null when `given` (its digest) matches `stored` and the registration is
 * active, else the code to answer. Compares in constant time against `dummy` when there is no
 * registration, so an unknown id costs what a known one does; revocation is told only to a
 * holder of the right key.
 */
export function keyVerdict(
  given: Buffer,
  stored: { readonly keyDigest: string; readonly revokedAtMs: number | null } | undefined,
  dummy: Buffer,
): ErrorCode | null {
  const expected = stored === undefined ? dummy : Buffer.from(stored.keyDigest, 'hex');
  const match =
    expected.length === given.length && timingSafeEqual(given, expected) && stored !== undefined;
  if (!match) return Codes.JUMP_CLIENT_AUTH_FAILED.code;
  return stored.revokedAtMs === null ? null : Codes.JUMP_CLIENT_REVOKED.code;
}

export interface JumpClientRegistryOptions {
  /** Directory of the registry file; created (0700) if missing. */
  readonly dir: string;
  /** HMAC key for the digests (e.g. from the gateway's secrets). Changing it voids every key. */
  readonly pepper?: string | Buffer;
  /** Bound of active jump clients, of revoked tombstones and of support buttons (each). */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** A registration as the file stores it: the key's digest, never the key. */
export interface StoredJumpClient {
  id: string;
  technician: string;
  team: string;
  deviceName: string;
  createdAtMs: number;
  revokedAtMs: number | null;
  revokedBy: string | null;
  /** hex HMAC-SHA256 */
  keyDigest: string;
}

interface RegistryFile {
  version: number;
  digest: 'hmac-sha256';
  jumpClients: StoredJumpClient[];
  supportButtons: SupportButton[];
}

/** A registration field: a non-empty string of at most 256 characters (REGISTRY_INVALID_FIELD). */
export function checkField(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD_CHARS) {
    throw new ToolError('REGISTRY_INVALID_FIELD', name);
  }
  return value;
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function isNullableNumber(v: unknown): v is number | null {
  return v === null || typeof v === 'number';
}

function parseFile(text: string, file: string): RegistryFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ToolError('REGISTRY_CORRUPT', `${file}: ${(err as Error).message}`);
  }
  const d = data as Partial<RegistryFile> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    d.version === FILE_VERSION &&
    d.digest === 'hmac-sha256' &&
    Array.isArray(d.jumpClients) &&
    Array.isArray(d.supportButtons) &&
    d.jumpClients.every(
      (j) =>
        j !== null &&
        typeof j === 'object' &&
        isString(j.id) &&
        isString(j.technician) &&
        isString(j.team) &&
        isString(j.deviceName) &&
        typeof j.createdAtMs === 'number' &&
        isNullableNumber(j.revokedAtMs) &&
        (j.revokedBy === null || isString(j.revokedBy)) &&
        isString(j.keyDigest) &&
        /^[0-9a-f]{64}$/.test(j.keyDigest),
    ) &&
    d.supportButtons.every(
      (b) =>
        b !== null &&
        typeof b === 'object' &&
        isString(b.id) &&
        isString(b.team) &&
        isString(b.deviceName) &&
        typeof b.createdAtMs === 'number',
    );
  if (!ok) throw new ToolError('REGISTRY_CORRUPT', `${file}: unexpected shape`);
  return d as RegistryFile;
}

/** Writes `data` to `file` atomically: temporary file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await fsp.open(temp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fsp.rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true });
    throw err;
  }
  if (process.platform !== 'win32') {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

export class JumpClientRegistry implements UnattendedRegistry {
  readonly file: string;
  readonly maxEntries: number;
  readonly #pepper: string | Buffer;
  readonly #now: () => number;
  readonly #clients = new Map<string, StoredJumpClient>();
  readonly #lastSeen = new Map<string, number>();
  readonly #buttons = new Map<string, SupportButton>();
  #saving: Promise<void> = Promise.resolve();
  /** Digest compared against when the id is unknown, so that path costs the same. */
  readonly #dummyDigest: Buffer;

  private constructor(opts: JumpClientRegistryOptions) {
    this.file = path.join(opts.dir, REGISTRY_FILE);
    this.maxEntries = opts.maxEntries ?? DEFAULT_REGISTRY_MAX_ENTRIES;
    this.#pepper = opts.pepper ?? DEFAULT_PEPPER;
    this.#now = opts.now ?? Date.now;
    this.#dummyDigest = randomBytes(32);
  }

  /** Loads the registry from `dir` (an empty one when the file does not exist). */
  static async open(opts: JumpClientRegistryOptions): Promise<JumpClientRegistry> {
    const reg = new JumpClientRegistry(opts);
    await fsp.mkdir(opts.dir, { recursive: true, mode: 0o700 });
    let text: string | null = null;
    try {
      text = await fsp.readFile(reg.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      const data = parseFile(text, reg.file);
      for (const j of data.jumpClients) reg.#clients.set(j.id, j);
      for (const b of data.supportButtons) reg.#buttons.set(b.id, b);
    }
    return reg;
  }

  /**
   * Pins a jump client. Resolves once saved, with the id and the key: give the key to the
   * customer client and forget it (it cannot be read back). Throws REGISTRY_INVALID_FIELD or
   * REGISTRY_FULL.
   */
  async register(input: {
    technician: string;
    team: string;
    deviceName: string;
  }): Promise<{ id: string; key: string; registration: JumpClientRegistration }> {
    const technician = checkField('technician', input.technician);
    const team = checkField('team', input.team);
    const deviceName = checkField('deviceName', input.deviceName);
    if (this.list().length >= this.maxEntries) throw new ToolError('REGISTRY_FULL', 'jump clients');
    const id = newJumpClientId();
    const key = newJumpClientKey();
    const stored: StoredJumpClient = {
      id,
      technician,
      team,
      deviceName,
      createdAtMs: this.#now(),
      revokedAtMs: null,
      revokedBy: null,
      keyDigest: this.#digest(id, key).toString('hex'),
    };
    this.#clients.set(id, stored);
    try {
      await this.#save();
    } catch (err) {
      this.#clients.delete(id);
      throw err;
    }
    return { id, key, registration: this.#view(stored) };
  }

  /** Checks a jump client's id and key. Synchronous; no disk access. */
  authenticate(id: string, key: string): JumpClientAuth {
    const stored = typeof id === 'string' ? this.#clients.get(id) : undefined;
    const given = this.#digest(String(id), typeof key === 'string' ? key : '');
    const code = keyVerdict(given, stored, this.#dummyDigest);
    if (code !== null || stored === undefined) {
      return { ok: false, code: code ?? Codes.JUMP_CLIENT_AUTH_FAILED.code };
    }
    this.#lastSeen.set(id, this.#now());
    return { ok: true, registration: this.#view(stored) };
  }

  /**
   * Unpins: the key is refused from now on. Resolves once saved; false when the id is unknown or
   * already revoked.
   */
  async revoke(id: string, by: string | null = null): Promise<boolean> {
    const stored = this.#clients.get(id);
    if (stored === undefined || stored.revokedAtMs !== null) return false;
    stored.revokedAtMs = this.#now();
    stored.revokedBy = by;
    this.#trimTombstones();
    await this.#save();
    return true;
  }

  get(id: string): JumpClientRegistration | undefined {
    const s = this.#clients.get(id);
    return s === undefined ? undefined : this.#view(s);
  }

  /** Active (not revoked) registrations, of one team if given, oldest first. */
  list(team?: string, opts: { includeRevoked?: boolean } = {}): JumpClientRegistration[] {
    const out: JumpClientRegistration[] = [];
    for (const s of this.#clients.values()) {
      if (team !== undefined && s.team !== team) continue;
      if (s.revokedAtMs !== null && !opts.includeRevoked) continue;
      out.push(this.#view(s));
    }
    return out;
  }

  /** Registers a support button; its id routes new sessions to `team`'s queue. */
  async registerButton(input: { team: string; deviceName: string }): Promise<SupportButton> {
    const team = checkField('team', input.team);
    const deviceName = checkField('deviceName', input.deviceName);
    if (this.#buttons.size >= this.maxEntries) {
      throw new ToolError('REGISTRY_FULL', 'support buttons');
    }
    const button: SupportButton = {
      id: newSupportButtonId(),
      team,
      deviceName,
      createdAtMs: this.#now(),
    };
    this.#buttons.set(button.id, button);
    try {
      await this.#save();
    } catch (err) {
      this.#buttons.delete(button.id);
      throw err;
    }
    return button;
  }

  /** Removes a support button; false when the id is unknown. Resolves once saved. */
  async removeButton(id: string): Promise<boolean> {
    if (!this.#buttons.delete(id)) return false;
    await this.#save();
    return true;
  }

  /** The button's registration (its `team` is the queue a click goes to), if any. */
  button(id: string): SupportButton | undefined {
    return this.#buttons.get(id);
  }

  listButtons(team?: string): SupportButton[] {
    const all = [...this.#buttons.values()];
    return team === undefined ? all : all.filter((b) => b.team === team);
  }

  /**
   * Everything the file holds, digests and tombstones included: what a gateway that joins a
   * deployment copies into the shared directory.
   */
  records(): {
    jumpClients: (StoredJumpClient & { lastSeenAtMs: number | null })[];
    supportButtons: SupportButton[];
  } {
    return {
      jumpClients: [...this.#clients.values()].map((s) => ({
        ...s,
        lastSeenAtMs: this.#lastSeen.get(s.id) ?? null,
      })),
      supportButtons: [...this.#buttons.values()],
    };
  }

  #digest(id: string, key: string): Buffer {
    return keyDigest(this.#pepper, id, key);
  }

  #view(s: StoredJumpClient): JumpClientRegistration {
    return {
      id: s.id,
      technician: s.technician,
      team: s.team,
      deviceName: s.deviceName,
      createdAtMs: s.createdAtMs,
      revokedAtMs: s.revokedAtMs,
      revokedBy: s.revokedBy,
      lastSeenAtMs: this.#lastSeen.get(s.id) ?? null,
    };
  }

  #trimTombstones(): void {
    const revoked = [...this.#clients.values()]
      .filter((s) => s.revokedAtMs !== null)
      .sort((a, b) => a.revokedAtMs! - b.revokedAtMs!);
    for (let i = 0; i < revoked.length - this.maxEntries; i++) {
      this.#clients.delete(revoked[i]!.id);
    }
  }

  /** Queues a save of the state as it is when the write starts. */
  #save(): Promise<void> {
    const run = this.#saving.then(() => {
      const data: RegistryFile = {
        version: FILE_VERSION,
        digest: 'hmac-sha256',
        jumpClients: [...this.#clients.values()],
        supportButtons: [...this.#buttons.values()],
      };
      return writeFileAtomic(this.file, `${JSON.stringify(data, null, 2)}\n`);
    });
    // the chain goes on after a failed save; the caller of this one gets the error
    this.#saving = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}
