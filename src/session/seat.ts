/**
 * A participant's place, which outlives its connection: identity (role, name), the resume token
 * that takes it back, the sessions it has a part in, and the reliable frames held for it while
 * it is away. Everything the session layer sends to a participant goes through `deliver`, so a
 * frame for an absent participant is kept (bounded) or counted as lost, never dropped silently.
 * Invariants: `conn` is null exactly while the place is absent (`lostAtMs` > 0); held frames are
 * private copies (uWS message buffers die after their callback) and leave in arrival order.
 */
import { hash } from 'node:crypto';
import type { RoleValue } from '../protocol/frames.js';
import { DOUBLE_FIELD } from './doubles.js';
import type { Participant, ReplaySource } from './participant.js';
import { randomId } from './random-ids.js';
import type { Session } from './session.js';
import { SmallSet } from './small-set.js';

/** Why frames for an absent participant were given up. */
export const LossReason = {
  BUFFER_FULL: 'buffer_full',
  OFFLINE: 'offline',
} as const;
export type LossReason = (typeof LossReason)[keyof typeof LossReason];

/** Frames kept per absent participant, whatever their size. */
export const MAX_HELD_FRAMES = 16_384;

/** Gateway-wide counters of held frames (copies made for absent participants). */
export class HoldStats {
  /** Frames copied into a resume buffer, and their bytes. */
  copies = 0;
  copiedBytes = DOUBLE_FIELD;
  /** Held frames delivered on resume. */
  delivered = 0;
  /** Frames for absent participants given up (buffer bound or Offline window). */
  lost = 0;
  lostBytes = DOUBLE_FIELD;

  constructor() {
    // byte totals of the process's life, past 2^31 in time: doubles from the start
    this.copiedBytes = 0;
    this.lostBytes = 0;
  }
}

/** What a client said about itself in its Hello (the summary's client versions, B2's avatar). */
export interface ClientRecord {
  readonly version: string;
  readonly platform: string;
  /** Technician: reference to its picture (URL or image id); never fetched by the gateway. */
  readonly avatarRef: string;
}

/** What the directory indexes a resume token by (and a journal keeps): its SHA-256, hex. */
/** One gateway as a client measured it (Hello.relay_rtts), checked and bounded. */
export interface RelayRtt {
  readonly gatewayId: string;
  readonly rttMs: number;
  readonly sessions: number;
}

/** Measurements a Hello may carry (a deployment's gateways). */
const MAX_RELAY_RTTS = 32;

/** What a Hello without measurements gives: one shared empty list. */
const NO_RELAY_RTTS: readonly RelayRtt[] = Object.freeze([]);

/** The held frames of a place that holds none: one shared list, never written to. */
const NO_FRAMES: Uint8Array[] = Object.freeze([]) as unknown as Uint8Array[];

/** A technician's permissions before its Hello, and a customer's: one shared empty set. */
const NO_PERMISSIONS: ReadonlySet<string> = new Set();

/** The usable measurements of a Hello: named, finite, non-negative; at most MAX_RELAY_RTTS. */
export function relayRttsOf(
  raw:
    | readonly { gatewayId?: string | null; rttMs?: number | null; sessions?: number | null }[]
    | null
    | undefined,
): readonly RelayRtt[] {
  if (raw === null || raw === undefined || raw.length === 0) return NO_RELAY_RTTS;
  const rtts: RelayRtt[] = [];
  for (const r of raw.slice(0, MAX_RELAY_RTTS)) {
    const gatewayId = (r.gatewayId ?? '').slice(0, 128);
    const rttMs = Number(r.rttMs);
    if (gatewayId === '' || !Number.isFinite(rttMs) || rttMs < 0) continue;
    rtts.push({ gatewayId, rttMs, sessions: Math.max(0, Math.floor(Number(r.sessions) || 0)) });
  }
  return rtts;
}

export function tokenKey(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Who a place is, as a journal keeps it (never the token itself). */
export interface SeatIdentity {
  readonly role: RoleValue;
  readonly name: string;
  readonly participantId: string;
  readonly tokenKey: string;
}

export class Seat {
  readonly role: RoleValue;
  readonly name: string;
  /**
   * 24 random bytes, base64url; a bearer secret bound to this place. Empty for a place restored
   * from a journal until its owner presents the token (only `tokenKey` was kept).
   */
  resumeToken: string;
  /** `tokenKey(resumeToken)`: how the directory finds the place. */
  readonly tokenKey: string;
  /** The live connection, or null while the participant is away. */
  conn: Participant | null;
  /** Id of the latest connection: the participant id others know it by. */
  participantId: string;
  /** Sessions this place has a part in (owner, collaborator, invitee, transfer target, customer). */
  readonly sessions = new SmallSet<Session>();
  /** Technician: the session its connection works in now (`Participant.session` on resume). */
  focus: Session | null = null;
  /** When the connection was lost (0 while connected). */
  lostAtMs = 0;
  /**
   * Frames the gateway received of the lost connection (Welcome.replay: the client sends again
   * what followed), or null when it cannot know (restored from a journal).
   */
  lostReceived: number | null = null;
  /** False once frames are being given up (bound or window passed) until the next resume. */
  holding = true;
  /** Frames and bytes given up since the connection was lost. */
  lostFrames = 0;
  lostBytes = 0;
  lossReason: LossReason | '' = '';
  /** From the latest Hello of this place. */
  client: ClientRecord | null = null;
  /** The client's RTT to the deployment's gateways, as its latest Hello said (relay choice). */
  relayRtts: readonly RelayRtt[] = NO_RELAY_RTTS;
  /** Technician: operator permissions of its latest Hello (token claim, else the defaults). */
  permissions: ReadonlySet<string> = NO_PERMISSIONS;
  /** What the lost connection kept of the frames written to it, for the resume's replay. */
  #lostLog: ReplaySource | null = null;
  /** Frames kept while away; the shared NO_FRAMES while none are (most places, most of the time). */
  #held: Uint8Array[] = NO_FRAMES;
  #heldBytes = 0;
  readonly #maxBytes: number;
  readonly #stats: HoldStats;

  /** A place for a live connection, or (`restored`) one rebuilt from a journal, away. */
  constructor(
    conn: Participant | null,
    maxBytes: number,
    stats: HoldStats,
    restored?: SeatIdentity & { readonly lostAtMs: number },
  ) {
    if (restored !== undefined) {
      this.role = restored.role;
      this.name = restored.name;
      this.participantId = restored.participantId;
      this.resumeToken = '';
      this.tokenKey = restored.tokenKey;
      this.lostAtMs = restored.lostAtMs;
    } else if (conn !== null) {
      this.role = conn.role;
      this.name = conn.name;
      this.participantId = conn.id;
      this.resumeToken = randomId(24);
      this.tokenKey = tokenKey(this.resumeToken);
    } else throw new TypeError('a place needs a connection or what a journal kept of it');
    this.conn = restored !== undefined ? null : conn;
    this.#maxBytes = maxBytes;
    this.#stats = stats;
  }

  /** What a journal keeps of this place. */
  identity(): SeatIdentity {
    return {
      role: this.role,
      name: this.name,
      participantId: this.participantId,
      tokenKey: this.tokenKey,
    };
  }

  get absent(): boolean {
    return this.conn === null;
  }

  get heldFrames(): number {
    return this.#held.length;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Sends a reliable frame, or keeps a copy while the participant is away. STARTED_LOSING marks
   * the first frame given up since the connection was lost, so the caller tells the others once.
   */
  deliver(bytes: Uint8Array | ArrayBuffer): Delivery {
    const conn = this.conn;
    if (conn !== null) {
      const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
      if (conn.sendFrame(view)) return Delivery.SENT;
      // The send closed the connection (slow consumer) and the close made this place absent,
      // or the connection is closing (its close waits for the end of the turn).
      if (this.conn !== null) return Delivery.LOST;
    }
    return this.hold(bytes);
  }

  /** Keeps a copy of `bytes` for the resume. */
  hold(bytes: Uint8Array | ArrayBuffer): Delivery {
    const length = bytes.byteLength;
    if (!this.holding) {
      this.#lose(1, length);
      return Delivery.LOST;
    }
    if (this.#heldBytes + length > this.#maxBytes || this.#held.length >= MAX_HELD_FRAMES) {
      this.holding = false;
      this.lossReason = LossReason.BUFFER_FULL;
      this.#lose(1, length);
      return Delivery.STARTED_LOSING;
    }
    // neutered after the uWS callback returns: copy before queueing
    const copy = new Uint8Array(length);
    copy.set(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    if (this.#held === NO_FRAMES) this.#held = [];
    this.#held.push(copy);
    this.#heldBytes += length;
    this.#stats.copies++;
    this.#stats.copiedBytes += length;
    return Delivery.HELD;
  }

  /** Gives up every held frame (the Offline window passed); later frames are counted as lost. */
  discard(reason: LossReason): void {
    this.#lose(this.#held.length, this.#heldBytes);
    this.#held = NO_FRAMES;
    this.#heldBytes = 0;
    this.holding = false;
    if (this.lossReason === '') this.lossReason = reason;
  }

  #lose(frames: number, bytes: number): void {
    this.lostFrames += frames;
    this.lostBytes += bytes;
    this.#stats.lost += frames;
    this.#stats.lostBytes += bytes;
  }

  /** The connection is gone: start holding. */
  markLost(nowMs: number): void {
    this.#lostLog = this.conn?.replayLog ?? null;
    this.lostReceived = this.conn?.rxFrames ?? null;
    this.conn = null;
    this.lostAtMs = nowMs;
    this.holding = true;
  }

  /**
   * A new connection takes the place. First the replay: the reliable frames written to the lost
   * connection after the `received` the client counted (they were in flight when it broke;
   * null: the client does not count, nothing is replayed), then the frames held while away, in
   * order. Returns what was lost (zero frames when nothing was) and resets the loss counters.
   */
  resume(
    conn: Participant,
    received: number | null = null,
  ): { frames: number; bytes: number; reason: LossReason | ''; replayed: number } {
    this.conn = conn;
    this.participantId = conn.id;
    this.lostAtMs = 0;
    this.holding = true;
    const replay = received === null ? null : (this.#lostLog?.after(received) ?? null);
    this.#lostLog = null;
    let replayed = 0;
    if (replay !== null) {
      for (const frame of replay.frames) conn.sendFrame(frame);
      replayed = replay.frames.length;
      if (replay.missing > 0) {
        this.#lose(replay.missing, 0);
        if (this.lossReason === '') this.lossReason = LossReason.BUFFER_FULL;
      }
    }
    for (const frame of this.#held) conn.sendFrame(frame);
    this.#stats.delivered += this.#held.length;
    this.#held = NO_FRAMES;
    this.#heldBytes = 0;
    const lost = {
      frames: this.lostFrames,
      bytes: this.lostBytes,
      reason: this.lossReason,
      replayed,
    };
    this.lostFrames = 0;
    this.lostBytes = 0;
    this.lossReason = '';
    return lost;
  }

  /** Drops held frames without counting them (the place itself is dropped). */
  clear(): void {
    this.#lostLog = null;
    this.#held = NO_FRAMES;
    this.#heldBytes = 0;
  }
}

export const Delivery = {
  SENT: 0,
  HELD: 1,
  /** This frame is the first one given up since the connection was lost. */
  STARTED_LOSING: 2,
  LOST: 3,
} as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];
