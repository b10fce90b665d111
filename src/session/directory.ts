/**
 * The session directory: where a gateway finds things. Live sessions by id, open PINs, the
 * place (seat) of each live connection, places by resume token (its SHA-256: a journal keeps
 * only that, so a restarted gateway finds the place without ever having stored the token), and the places that are away
 * but may still resume. Operations and timers reach all of it through `SessionDirectory`, the
 * seam a shared store (Redis) implements later; `MemoryDirectory` is the one-gateway version.
 * The directory decides nothing: who may do what lives in operations.ts, when things end in
 * lifecycle.ts.
 * Invariants of `MemoryDirectory`: a place is in the token index until it is forgotten; a place
 * is in the absent set exactly while its connection is lost and it was not forgotten.
 */
import { Role } from '../protocol/frames.js';
import type { Participant } from './participant.js';
import { PinBook } from './pins.js';
import { type HoldStats, Seat, type SeatIdentity, tokenKey } from './seat.js';
import type { Session } from './session.js';

export interface SessionDirectory {
  /** Live sessions. */
  get(sessionId: string): Session | undefined;
  all(): IterableIterator<Session>;
  readonly sessionCount: number;
  add(session: Session): void;
  remove(session: Session): void;

  /**
   * One-time PINs: a fresh one for `session`, valid until `expiresAtMs`; `reserved` is one the
   * shared directory reserved for this gateway (fleet mode), booked as it is.
   */
  issuePin(
    session: Session,
    nowMs: number,
    reserved?: string,
  ): { pin: string; expiresAtMs: number };
  /** Takes a PIN out (single use): its session, or undefined when none waits for it. */
  takePin(pin: string, nowMs: number): Session | undefined;
  revokePin(pin: string): void;
  /** Drops expired PINs, calling `expired` with the session of each. */
  sweepPins(nowMs: number, expired: (session: Session) => void): void;
  readonly openPins: number;

  /** The place of a connection, created on first use (at Hello). */
  seatOf(p: Participant): Seat;
  /** The place of a live connection, if it has one. */
  placeOf(p: Participant): Seat | undefined;
  /** The place a resume token takes back, while it is not forgotten. */
  byResumeToken(token: string): Seat | undefined;
  /**
   * A place rebuilt from a journal: away since `lostAtMs`, resumable by its token. A place with
   * the same token key already rebuilt (a technician in several sessions) is that one.
   */
  restoreSeat(identity: SeatIdentity, lostAtMs: number): Seat;
  /** A PIN kept in a journal goes back into the book with its own expiry. */
  restorePin(session: Session, pin: string, expiresAtMs: number): void;
  /** `p` is now the connection of `seat` (a resume); the place is no longer absent. */
  bind(p: Participant, seat: Seat): void;
  /** `p` no longer stands for a place. */
  unbind(p: Participant): void;
  /** The place's connection is lost: it waits for a resume. */
  markAbsent(seat: Seat): void;
  /** Places whose connection is lost and which may still resume (a copy). */
  absent(): Seat[];
  readonly absentCount: number;
  /** Forgets a place: its token stops working and what it held is dropped. */
  forget(seat: Seat): void;
  /** The place is connected or may still come back with its token. */
  resumable(seat: Seat): boolean;
  /** The connected technician place with this name or participant id (newest), but `except`. */
  findTechnician(who: string, except: Seat): Seat | null;
}

export interface MemoryDirectoryOptions {
  readonly pinLength: number;
  readonly pinTtlMs: number;
  /** Reliable frames held per absent place. */
  readonly resumeBufferBytes: number;
  readonly holdStats: HoldStats;
}

export class MemoryDirectory implements SessionDirectory {
  readonly sessions = new Map<string, Session>();
  readonly #pins: PinBook<Session>;
  readonly #resumeBufferBytes: number;
  readonly #holdStats: HoldStats;
  /** Places by live connection. */
  readonly #seats = new Map<Participant, Seat>();
  /** Places that can be resumed, by token. */
  readonly #byToken = new Map<string, Seat>();
  /** Places whose connection is lost, still resumable. */
  readonly #absent = new Set<Seat>();

  constructor(options: MemoryDirectoryOptions) {
    this.#pins = new PinBook(options.pinLength, options.pinTtlMs);
    this.#resumeBufferBytes = options.resumeBufferBytes;
    this.#holdStats = options.holdStats;
  }

  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  add(session: Session): void {
    this.sessions.set(session.id, session);
  }

  remove(session: Session): void {
    this.sessions.delete(session.id);
  }

  issuePin(session: Session, nowMs: number, reserved = ''): { pin: string; expiresAtMs: number } {
    return this.#pins.issue(session, nowMs, reserved);
  }

  takePin(pin: string, nowMs: number): Session | undefined {
    return this.#pins.consume(pin, nowMs);
  }

  revokePin(pin: string): void {
    this.#pins.revoke(pin);
  }

  sweepPins(nowMs: number, expired: (session: Session) => void): void {
    this.#pins.sweep(nowMs, expired);
  }

  get openPins(): number {
    return this.#pins.size;
  }

  seatOf(p: Participant): Seat {
    let seat = this.#seats.get(p);
    if (seat === undefined) {
      seat = new Seat(p, this.#resumeBufferBytes, this.#holdStats);
      this.#seats.set(p, seat);
      this.#byToken.set(seat.tokenKey, seat);
    }
    return seat;
  }

  placeOf(p: Participant): Seat | undefined {
    return this.#seats.get(p);
  }

  byResumeToken(token: string): Seat | undefined {
    return this.#byToken.get(tokenKey(token));
  }

  restoreSeat(identity: SeatIdentity, lostAtMs: number): Seat {
    const known = this.#byToken.get(identity.tokenKey);
    if (known !== undefined) return known;
    const seat = new Seat(null, this.#resumeBufferBytes, this.#holdStats, {
      ...identity,
      lostAtMs,
    });
    this.#byToken.set(seat.tokenKey, seat);
    this.#absent.add(seat);
    return seat;
  }

  restorePin(session: Session, pin: string, expiresAtMs: number): void {
    this.#pins.restore(session, pin, expiresAtMs);
  }

  bind(p: Participant, seat: Seat): void {
    this.#seats.set(p, seat);
    this.#absent.delete(seat);
  }

  unbind(p: Participant): void {
    this.#seats.delete(p);
  }

  markAbsent(seat: Seat): void {
    this.#absent.add(seat);
  }

  absent(): Seat[] {
    return [...this.#absent];
  }

  get absentCount(): number {
    return this.#absent.size;
  }

  forget(seat: Seat): void {
    this.#byToken.delete(seat.tokenKey);
    this.#absent.delete(seat);
    if (seat.conn !== null) this.#seats.delete(seat.conn);
    seat.clear();
  }

  resumable(seat: Seat): boolean {
    return seat.conn !== null || this.#byToken.get(seat.tokenKey) === seat;
  }

  findTechnician(who: string, except: Seat): Seat | null {
    let found: Seat | null = null;
    for (const seat of this.#seats.values()) {
      if (seat === except || seat.role !== Role.ROLE_TECHNICIAN || seat.conn === null) continue;
      if (seat.name === who || seat.participantId === who) found = seat;
    }
    return found;
  }
}
