/**
 * The one list of what must happen when a session is created, a technician joins or leaves it, a grant is
 * revoked or a session ends. Tools that hold per-seat or per-session state (shells, file transfers, requests waiting
 * for the customer's answer) register here once, at construction; the session registry calls
 * the list. Every "departed seat" case goes through this one place.
 */
import type { Seat } from './seat.js';
import type { Session } from './session.js';
import type { SummaryData } from './summary.js';

export interface SessionListener {
  /** `session` was just created (a PIN, a jump client, a support button). */
  created?(session: Session): void;
  /** `session` was rebuilt from its journal by a restarted gateway. */
  restored?(session: Session): void;
  /** A technician's `seat` took its part in `session` (pick-up, accepted invitation): brief it. */
  joined?(session: Session, seat: Seat): void;
  /** The customer's `seat` joined `session` (PIN, jump client, support button). */
  attached?(session: Session, seat: Seat): void;
  /** `seat` left `session` (quit, removed, transferred away); `actor` did it. */
  left?(session: Session, seat: Seat, actor: string): void;
  /** The customer revoked the GRANT_* bits in `removed`. */
  revoked?(session: Session, removed: number, actor: string): void;
  /** `session` ended: its report is being written; `summary` is it as it was before the end. */
  ended?(session: Session, summary: SummaryData): void;
}

export class SessionListeners implements Required<SessionListener> {
  readonly #list: SessionListener[] = [];

  add(listener: SessionListener): void {
    this.#list.push(listener);
  }

  created(session: Session): void {
    for (const l of this.#list) l.created?.(session);
  }

  restored(session: Session): void {
    for (const l of this.#list) l.restored?.(session);
  }

  joined(session: Session, seat: Seat): void {
    for (const l of this.#list) l.joined?.(session, seat);
  }

  attached(session: Session, seat: Seat): void {
    for (const l of this.#list) l.attached?.(session, seat);
  }

  left(session: Session, seat: Seat, actor: string): void {
    for (const l of this.#list) l.left?.(session, seat, actor);
  }

  revoked(session: Session, removed: number, actor: string): void {
    for (const l of this.#list) l.revoked?.(session, removed, actor);
  }

  ended(session: Session, summary: SummaryData): void {
    for (const l of this.#list) l.ended?.(session, summary);
  }
}
