/**
 * The registry of unattended access (jump clients and support buttons) of a deployment, kept in
 * the shared directory instead of each gateway's `unattended.json`: a jump client pinned through
 * any gateway authenticates on every one, and an unpin on one is refused by all at once (every
 * check reads the store; nothing is cached).
 *
 * The invariants of src/tools/jump-clients.ts hold here too, with its helpers: a key is handed
 * out once and only its HMAC (peppered with the deployment's shared secret, so every gateway
 * computes the same digest) reaches the store; the check is constant-time and costs the same for
 * an unknown id; a revoked key stays refused (a tombstone) within the same bound. Adds under the
 * bound, revokes and removals are atomic on the store (src/directory/redis.ts), whichever
 * gateways race.
 *
 * When the store cannot be reached, nothing is answered from stale state: a jump client or
 * support button Hello gets FERRY_ERR_DIRECTORY_UNAVAILABLE (its client tries again later; an
 * outage never looks like a revocation), and so does every technician operation on the registry.
 * The registry also refuses until `open()` succeeded (the gateway calls it once it joined the
 * deployment), so no Hello is refused as unknown meanwhile: `open()` first checks that this
 * gateway's secret is the deployment's, then copies the registrations of its data directory, and
 * only then answers. A gateway with another `--secret` would compute other digests and refuse
 * every device for good (AUTH_FAILED: the jump client uninstalls); it never opens instead, and
 * answers DIRECTORY_UNAVAILABLE (the device tries again) while the operator fixes its secret.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Codes } from '../protocol/codes.js';
import { ToolError } from '../tools/errors.js';
import {
  checkField,
  DEFAULT_PEPPER,
  DEFAULT_REGISTRY_MAX_ENTRIES,
  JUMP_CLIENT_ID,
  type JumpClientAuth,
  type JumpClientInput,
  type JumpClientRegistration,
  type JumpClientRegistry,
  keyDigest,
  keyVerdict,
  newJumpClientId,
  newJumpClientKey,
  newSupportButtonId,
  SUPPORT_BUTTON_ID,
  type SupportButton,
  type UnattendedRegistry,
} from '../tools/jump-clients.js';
import type { JumpClientRecord, SharedDirectory } from './shared.js';

/** Draws of a fresh id before giving up (a collision of 96 random bits is not expected at all). */
const ID_DRAWS = 3;

/** What the fingerprint of the deployment's pepper is an HMAC of (stored as `registry-pepper`). */
const PEPPER_LABEL = 'ferry.registry.v1';

/** `open()` refused: this gateway's secret is not the one the deployment's digests are made with. */
export class PepperMismatchError extends Error {
  constructor() {
    super(
      "this gateway's --secret differs from the deployment's (the registry's fingerprint in the shared directory is another secret's): its key digests would not match, so the registry of jump clients and support buttons stays closed (FERRY_ERR_DIRECTORY_UNAVAILABLE) until it is started with the secret the other gateways share",
    );
    this.name = 'PepperMismatchError';
  }
}

export interface SharedUnattendedOptions {
  /** The HMAC key of the digests: the deployment's shared secret (the same on every gateway). */
  readonly pepper?: string | Buffer;
  /** Bound of active jump clients, of tombstones and of support buttons (each). */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class SharedUnattendedRegistry implements UnattendedRegistry {
  readonly maxEntries: number;
  readonly #shared: SharedDirectory;
  readonly #pepper: string | Buffer;
  readonly #now: () => number;
  /** Digest compared against when the id is unknown, so that path costs the same. */
  readonly #dummyDigest = randomBytes(32);
  #open = false;

  constructor(shared: SharedDirectory, options: SharedUnattendedOptions = {}) {
    this.#shared = shared;
    this.#pepper = options.pepper ?? DEFAULT_PEPPER;
    this.maxEntries = options.maxEntries ?? DEFAULT_REGISTRY_MAX_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  /** `open()` succeeded: the registry answers. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Opens the registry: from then on it answers (before, everything is DIRECTORY_UNAVAILABLE).
   * First this gateway's secret is checked against the deployment's (the fingerprint stored by
   * the first gateway that opened it; `PepperMismatchError` when it differs), then what a gateway
   * alone kept in its data directory (`file`, its `unattended.json`) is copied into the store,
   * each registration only if its id is not there yet (so a partial copy is safely done again):
   * how many were copied. The key digests carry over when the file was written with the
   * deployment's secret. Rejects, the registry staying closed, when any step fails.
   */
  async open(file: JumpClientRegistry | null): Promise<number> {
    const fingerprint = createHmac('sha256', this.#pepper).update(PEPPER_LABEL).digest('hex');
    if ((await this.#shared.registryPepper(fingerprint)) !== fingerprint) {
      throw new PepperMismatchError();
    }
    let copied = 0;
    if (file !== null) {
      const { jumpClients, supportButtons } = file.records();
      copied = await this.#shared.importRegistrations(jumpClients, supportButtons);
    }
    this.#open = true;
    return copied;
  }

  async register(
    input: JumpClientInput,
  ): Promise<{ id: string; key: string; registration: JumpClientRegistration }> {
    const technician = checkField('technician', input.technician);
    const team = checkField('team', input.team);
    const deviceName = checkField('deviceName', input.deviceName);
    for (let draw = 0; draw < ID_DRAWS; draw++) {
      const id = newJumpClientId();
      const key = newJumpClientKey();
      const record: JumpClientRecord = {
        id,
        technician,
        team,
        deviceName,
        createdAtMs: this.#now(),
        revokedAtMs: null,
        revokedBy: null,
        keyDigest: keyDigest(this.#pepper, id, key).toString('hex'),
        lastSeenAtMs: null,
      };
      const added = await this.#ask(() => this.#shared.addJumpClient(record, this.maxEntries));
      if (added === 'full') throw new ToolError('REGISTRY_FULL', 'jump clients');
      if (added === 'added') return { id, key, registration: view(record) };
    }
    throw new ToolError('REGISTRY_FULL', `no free jump client id after ${ID_DRAWS} draws`);
  }

  async authenticate(id: string, key: string): Promise<JumpClientAuth> {
    const name = typeof id === 'string' ? id : '';
    let stored: JumpClientRecord | null = null;
    try {
      // an id of another shape is unknown without asking (it names no key of the store)
      if (JUMP_CLIENT_ID.test(name)) stored = await this.#ask(() => this.#shared.jumpClient(name));
      else this.#ready();
    } catch {
      return { ok: false, code: Codes.DIRECTORY_UNAVAILABLE.code };
    }
    const given = keyDigest(this.#pepper, name, typeof key === 'string' ? key : '');
    const code = keyVerdict(given, stored ?? undefined, this.#dummyDigest);
    if (code !== null || stored === null) {
      return { ok: false, code: code ?? Codes.JUMP_CLIENT_AUTH_FAILED.code };
    }
    const now = this.#now();
    // when it was last seen is shown in listings only: a lost write costs nothing else
    this.#shared.jumpClientSeen(name, now).catch(() => undefined);
    return { ok: true, registration: view({ ...stored, lastSeenAtMs: now }) };
  }

  async revoke(id: string, by: string | null = null): Promise<boolean> {
    if (!JUMP_CLIENT_ID.test(id)) return false;
    return this.#ask(() =>
      this.#shared.revokeJumpClient(id, this.#now(), by ?? '', this.maxEntries),
    );
  }

  async get(id: string): Promise<JumpClientRegistration | undefined> {
    if (!JUMP_CLIENT_ID.test(id)) return undefined;
    const record = await this.#ask(() => this.#shared.jumpClient(id));
    return record === null ? undefined : view(record);
  }

  async list(
    team?: string,
    opts: { includeRevoked?: boolean } = {},
  ): Promise<JumpClientRegistration[]> {
    const records = await this.#ask(() => this.#shared.jumpClients(opts.includeRevoked === true));
    return records.filter((r) => team === undefined || r.team === team).map(view);
  }

  async registerButton(input: { team: string; deviceName: string }): Promise<SupportButton> {
    const team = checkField('team', input.team);
    const deviceName = checkField('deviceName', input.deviceName);
    for (let draw = 0; draw < ID_DRAWS; draw++) {
      const button: SupportButton = {
        id: newSupportButtonId(),
        team,
        deviceName,
        createdAtMs: this.#now(),
      };
      const added = await this.#ask(() => this.#shared.addSupportButton(button, this.maxEntries));
      if (added === 'full') throw new ToolError('REGISTRY_FULL', 'support buttons');
      if (added === 'added') return button;
    }
    throw new ToolError('REGISTRY_FULL', `no free support button id after ${ID_DRAWS} draws`);
  }

  async removeButton(id: string): Promise<boolean> {
    if (!SUPPORT_BUTTON_ID.test(id)) return false;
    return this.#ask(() => this.#shared.removeSupportButton(id));
  }

  async button(id: string): Promise<SupportButton | undefined> {
    if (!SUPPORT_BUTTON_ID.test(id)) {
      this.#ready();
      return undefined;
    }
    return (await this.#ask(() => this.#shared.supportButton(id))) ?? undefined;
  }

  async listButtons(team?: string): Promise<SupportButton[]> {
    const all = await this.#ask(() => this.#shared.supportButtons());
    return team === undefined ? all : all.filter((b) => b.team === team);
  }

  /** Refuses with DIRECTORY_UNAVAILABLE until `open()`. */
  #ready(): void {
    if (!this.#open) {
      throw new ToolError('DIRECTORY_UNAVAILABLE', 'the gateway has not joined the deployment yet');
    }
  }

  /** A question to the store; its failure is DIRECTORY_UNAVAILABLE, never a stale answer. */
  async #ask<T>(question: () => Promise<T>): Promise<T> {
    this.#ready();
    try {
      return await question();
    } catch (err) {
      throw new ToolError('DIRECTORY_UNAVAILABLE', (err as Error).message);
    }
  }
}

function view(r: JumpClientRecord): JumpClientRegistration {
  return {
    id: r.id,
    technician: r.technician,
    team: r.team,
    deviceName: r.deviceName,
    createdAtMs: r.createdAtMs,
    revokedAtMs: r.revokedAtMs,
    revokedBy: r.revokedBy,
    lastSeenAtMs: r.lastSeenAtMs,
  };
}
