/**
 * The shared directory: what the gateways of one deployment tell each other through an existing
 * store (Redis), so that a client reaching any of them finds the gateway that owns its PIN,
 * session or resume token, and an operator sees the fleet. Live objects (sessions, seats,
 * connections) stay in each gateway's `SessionDirectory`; this holds only who owns what, with
 * expiry, and the members' heartbeats and load. Nothing here is on the relay's hot path: it is
 * asked when a Hello names something the gateway does not hold, and told when ownership changes.
 *
 * `RedisDirectory` (redis.ts) is the implementation; a gateway without `--directory redis://`
 * has none (null), and behaves as one process alone.
 *
 * It also holds the registrations of unattended access (jump clients, by their key digests,
 * and support buttons), so that every gateway of the deployment checks the same ones, and the
 * presence of connections: which gateway holds each jump client and technician, kept alive by
 * that gateway's heartbeat.
 *
 * Atomic where two gateways could race: a PIN is published only if no gateway holds it (NX),
 * released only by its owner, a queued session is picked up by exactly one claimant, an
 * ownership change happens only from the owner the caller saw (compare-and-set), a registration
 * is added only under its bound and unused id, and a jump client is revoked exactly once.
 */

import type { JumpClientRegistration, SupportButton } from '../tools/jump-clients.js';

/** A gateway of the deployment, as its heartbeats describe it. */
export interface GatewayMember {
  /** The gateway's id (`--gateway-id`). */
  readonly id: string;
  /** The WebSocket URL clients reach it at (`--public-url`), where a redirect sends them. */
  readonly url: string;
  /** A free-form region label (`--region`), shown in `GET /api/v1/gateways`. */
  readonly region: string;
  /** Live sessions it owns. */
  readonly sessions: number;
  /** Its CPU use over the last heartbeat period, 0..1 of one core. */
  readonly cpu: number;
  /** Bytes per second it relayed (in plus out) over the last heartbeat period. */
  readonly bytesPerSecond: number;
  /** When it last beat (Unix ms, its own clock). */
  readonly seenAtMs: number;
  /** It is draining: it takes no new sessions. */
  readonly draining: boolean;
}

/** What a gateway says of itself at each heartbeat. */
export type MemberLoad = Pick<GatewayMember, 'sessions' | 'cpu' | 'bytesPerSecond' | 'draining'>;

/** Who owns a PIN, session or resume token: a live member, or a gateway that stopped beating. */
export interface Ownership {
  readonly gatewayId: string;
  /** The owner's member record, or null when it has not beaten within the member TTL (dead). */
  readonly member: GatewayMember | null;
  /** The session the PIN or resume token belongs to. */
  readonly sessionId: string;
}

/** A session's summary as the fleet sees it. */
export interface SessionSummary {
  readonly id: string;
  /** The session's status name (spec session states). */
  readonly status: string;
  readonly technician: string;
  readonly customer: string;
  readonly participants: number;
}

/**
 * A jump client registration as the directory keeps it: the registration with the digest of its
 * key (HMAC-SHA256 with the deployment's secret, src/tools/jump-clients.ts), never the key. A
 * revoked one stays as a tombstone (`revokedAtMs` set), so its key is refused everywhere. Its
 * `lastSeenAtMs` is the last successful authentication on any gateway (null: none yet).
 */
export interface JumpClientRecord extends JumpClientRegistration {
  /** Hex HMAC-SHA256 of the id and key. */
  readonly keyDigest: string;
}

/** A support button registration: its id routes a click to `team`'s queue. */
export type SupportButtonRecord = SupportButton;

/** What an add to a bounded registry did: added, refused for the bound, or the id exists. */
export type AddOutcome = 'added' | 'full' | 'taken';

/** Where a jump client is connected in unattended mode (or in a session). */
export interface JumpClientPresence {
  /** The gateway holding its connection. */
  readonly gatewayId: string;
  /** Its connection's participant id on that gateway. */
  readonly participantId: string;
  /** It is in a session (not idle, waiting for one). */
  readonly inSession: boolean;
  /** When it connected (Unix ms, that gateway's clock). */
  readonly connectedAtMs: number;
}

/** A jump client's presence on a live gateway, with that gateway's member record. */
export interface JumpClientWhere extends JumpClientPresence {
  readonly member: GatewayMember;
}

/** A connected technician, as its gateway announces it. */
export interface TechnicianPresence {
  /** The gateway holding its connection. */
  readonly gatewayId: string;
  /** Its connection's participant id on that gateway. */
  readonly participantId: string;
  readonly name: string;
  readonly teams: readonly string[];
  /** When it said Hello (Unix ms, that gateway's clock). */
  readonly connectedAtMs: number;
}

/** What gateways tell each other (Redis pub/sub), beside what they store. */
export type DirectoryEvent =
  | {
      /** A jump client was unpinned on gateway `gatewayId`: whoever holds it tells it and lets go. */
      readonly kind: 'unpinned';
      readonly jumpClientId: string;
      readonly by: string;
      readonly gatewayId: string;
    }
  | {
      /** A support-button session waits in `team`'s queue on gateway `gatewayId`. */
      readonly kind: 'queued';
      readonly team: string;
      readonly sessionId: string;
      readonly gatewayId: string;
      readonly customerName: string;
      readonly computerName: string;
      readonly platform: string;
    }
  | {
      /** A technician on gateway `to` picked up `sessionId`: its owner moves it there. */
      readonly kind: 'move';
      readonly sessionId: string;
      readonly to: string;
    };

/** A session waiting in a team queue, as the directory lists it. */
export interface QueuedSession {
  readonly sessionId: string;
  readonly gatewayId: string;
  readonly customer: string;
  readonly status: string;
  readonly queuedAtMs: number;
}

export interface SharedDirectory {
  /** This gateway's id. */
  readonly selfId: string;
  /**
   * The store answered the last command and the connection is up. While false the gateway
   * refuses new sessions (FERRY_ERR_DIRECTORY_UNAVAILABLE) and `/readyz` says not ready; live
   * sessions go on relaying.
   */
  readonly available: boolean;
  /** Called on every change of `available`. */
  onAvailability(listener: (available: boolean) => void): void;

  /**
   * Connects, registers this gateway and starts its heartbeat (every `heartbeatMs`, with the
   * load `load()` reports). Resolves once registered; rejects with a clear message when the
   * store cannot be reached at start.
   */
  start(self: { url: string; region: string }, load: () => MemberLoad): Promise<void>;
  /** Stops the heartbeat, removes this gateway's membership and disconnects. */
  stop(): Promise<void>;
  /** The live members (beat within the member TTL), this one included, by id. */
  members(): Promise<GatewayMember[]>;

  /**
   * Publishes a PIN as this gateway's for `sessionId` until `expiresAtMs` (a store TTL).
   * False when another holder has it (the caller draws another PIN).
   */
  publishPin(pin: string, sessionId: string, expiresAtMs: number): Promise<boolean>;
  /** Who holds a PIN, or null when no gateway does (never issued, taken, expired). */
  pinOwner(pin: string): Promise<Ownership | null>;
  /** Removes a PIN this gateway holds (taken, revoked, expired); another's is left alone. */
  releasePin(pin: string): Promise<void>;
  /**
   * Counts one PIN attempt (or jump-client/support-button guess) from `address` across all
   * gateways; the count in the current minute, this one included.
   */
  countAttempt(address: string): Promise<number>;

  /** Publishes (or refreshes) a session this gateway owns. */
  publishSession(summary: SessionSummary): Promise<void>;
  /**
   * Removes a session this gateway no longer holds (it ended, or its removal failed before):
   * unlisted from this gateway's sessions, and unless another gateway owns it now, removed with
   * its resume tokens and journal copy, in one script. True when removed.
   */
  removeSession(sessionId: string): Promise<boolean>;
  /** Who owns a session, or null when no gateway does. */
  sessionOwner(sessionId: string): Promise<Ownership | null>;

  /** Publishes a resume token (its SHA-256 key, never the token) as this gateway's. */
  publishResume(tokenKey: string, sessionId: string): Promise<void>;
  /** Removes a resume token this gateway holds (the place was forgotten). */
  forgetResume(tokenKey: string): Promise<void>;
  /** Who holds a resume token, or null. */
  resumeOwner(tokenKey: string): Promise<Ownership | null>;

  /**
   * Moves a session (and the resume tokens published for it) from gateway `from` to this one,
   * only if `from` still owns it: true when this gateway is now the owner.
   */
  takeOver(sessionId: string, from: string): Promise<boolean>;

  /**
   * Appends one journal record (a complete line, src/journal/record.ts) to the session's copy in
   * the store: what a surviving gateway rebuilds the session from when its owner dies.
   * Resolves once the store has it (a chat message's echo waits for that).
   */
  appendJournal(sessionId: string, line: Uint8Array): Promise<void>;
  /**
   * `hook` runs just before the journal lines and summaries of a turn go to the store, and may
   * add to them: the journals write their due snapshots there, so that a turn's snapshot travels
   * with its other lines in one round trip instead of the next turn's. Optional: a store that
   * sends each write at once needs no hook.
   */
  beforeTurnWrites?(hook: () => void): void;
  /** Replaces the session's journal copy with `lines` (after an outage of the store). */
  replaceJournal(sessionId: string, lines: readonly Uint8Array[]): Promise<void>;
  /**
   * Replaces the journal copy of a session this gateway moved to another (`moveTo`) with `lines`,
   * only while that gateway has not taken it over yet: false when it has (its copy stands).
   */
  replaceMovedJournal(sessionId: string, lines: readonly Uint8Array[]): Promise<boolean>;
  /** The session's journal lines, in order (empty when none). */
  readJournal(sessionId: string): Promise<Buffer[]>;

  /**
   * Hands a session this gateway owns (and its resume tokens) to live gateway `to`, only if
   * this one still owns it: true when `to` is now the owner (a live move).
   */
  moveTo(sessionId: string, to: string): Promise<boolean>;

  /** Tells every gateway of the deployment (this one included) `event`. */
  publish(event: DirectoryEvent): Promise<void>;
  /** Called with every event any gateway publishes (from `start` on). */
  onEvent(listener: (event: DirectoryEvent) => void): void;
  /** The sessions waiting in `team`'s queue, oldest first, with what the directory knows. */
  queuedSessions(team: string): Promise<QueuedSession[]>;

  /** Puts a queued session in a team queue (support buttons), owned by this gateway. */
  enqueue(queue: string, sessionId: string): Promise<void>;
  /** The sessions waiting in a queue, oldest first. */
  queued(queue: string): Promise<string[]>;
  /**
   * Takes a queued session out for `technician`: true for exactly one of any number of
   * concurrent callers, on any gateways.
   */
  pickUp(queue: string, sessionId: string, technician: string): Promise<boolean>;

  // --- unattended access: the registrations, shared by every gateway ------------------------

  /**
   * Adds a jump client registration: 'full' when `maxActive` active ones exist, 'taken' when a
   * registration (or tombstone) already has its id; atomic against any other gateway's add.
   */
  addJumpClient(record: JumpClientRecord, maxActive: number): Promise<AddOutcome>;
  /** A registration, tombstones included, or null. */
  jumpClient(id: string): Promise<JumpClientRecord | null>;
  /** The registrations, oldest first; tombstones (after the active ones) only when asked. */
  jumpClients(includeRevoked: boolean): Promise<JumpClientRecord[]>;
  /**
   * Revokes an active registration (a tombstone from now on, at once for every gateway): true
   * for exactly one of any number of concurrent revokes; false when unknown or already revoked.
   * The oldest tombstones beyond `maxTombstones` are deleted.
   */
  revokeJumpClient(id: string, atMs: number, by: string, maxTombstones: number): Promise<boolean>;
  /** Records a successful authentication (the registration's `lastSeenAtMs`), if it exists. */
  jumpClientSeen(id: string, atMs: number): Promise<void>;
  /** Adds a support button: 'full' when `max` exist, 'taken' when the id does. */
  addSupportButton(record: SupportButtonRecord, max: number): Promise<AddOutcome>;
  /** A support button, or null. */
  supportButton(id: string): Promise<SupportButtonRecord | null>;
  /** The support buttons, oldest first. */
  supportButtons(): Promise<SupportButtonRecord[]>;
  /** Removes a support button: true for exactly one of concurrent removes; false when unknown. */
  removeSupportButton(id: string): Promise<boolean>;
  /**
   * Copies a registration (tombstone or not) and support button kept before this gateway had a
   * directory, each only if its id is not there yet (so nothing revoked comes back to life):
   * how many were copied.
   */
  importRegistrations(
    jumpClients: readonly JumpClientRecord[],
    buttons: readonly SupportButtonRecord[],
  ): Promise<number>;
  /**
   * The fingerprint of the secret the deployment's key digests are peppered with: `fingerprint`
   * is stored when none is yet (the first gateway to open the registry sets it, atomically), and
   * the stored one is answered. A gateway whose own differs has another `--secret`: every digest
   * it computed would differ, so it must not answer any key.
   */
  registryPepper(fingerprint: string): Promise<string>;

  // --- presence: who is connected where (kept alive by this gateway's heartbeat) ------------

  /**
   * This gateway holds jump client `id`'s connection (the newest connection of a device wins,
   * wherever it is: the first successful write of a connection takes the presence, a later one of
   * the same connection, into a session, only if it still names that connection). Kept while
   * this gateway beats, until `jumpClientLeft`; written again at each beat, so it survives an
   * outage of the store (a first write that failed is done by the next beat, still as the first).
   */
  jumpClientHere(id: string, presence: Omit<JumpClientPresence, 'gatewayId'>): Promise<void>;
  /** Its connection `participantId` here closed: forgotten, unless a newer one is elsewhere. */
  jumpClientLeft(id: string, participantId: string): Promise<void>;
  /** Where the jump clients `ids` are connected, on live gateways only (absent: offline). */
  jumpClientsAt(ids: readonly string[]): Promise<Map<string, JumpClientWhere>>;
  /**
   * Called with a jump client this gateway announced that connected elsewhere since (its
   * connection here is stale): found at a beat.
   */
  onJumpClientElsewhere(listener: (id: string, participantId: string) => void): void;
  /**
   * Called with a jump client this gateway holds whose registration is revoked or gone (`by`:
   * who revoked it, '' when it is gone): found at a beat, so a revoke whose `unpinned` event this
   * gateway missed (lost publish, or a revoke while it was admitting the device) is told within
   * one heartbeat. Reported once; the presence is no longer written.
   */
  onJumpClientRevoked(listener: (id: string, participantId: string, by: string) => void): void;
  /** This gateway holds a technician's connection; kept like a jump client's. */
  technicianHere(presence: Omit<TechnicianPresence, 'gatewayId'>): Promise<void>;
  /** That connection closed. */
  technicianLeft(participantId: string): Promise<void>;
  /** The technicians connected to the live gateways, by gateway id then connection time. */
  technicians(): Promise<TechnicianPresence[]>;
}
