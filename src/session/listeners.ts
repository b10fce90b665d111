/**
 * The one list of what must happen when a seat leaves a session, a grant is revoked or a session
 * ends. Tools that hold per-seat or per-session state (shells, file transfers, requests waiting
 * for the customer's answer) register here once, at construction; the session registry calls
 * the list. Every "departed seat" case goes through this one place.
 */
import type { Seat } from './seat.js';
import type { Session } from './session.js';

export interface SessionListener {
  /** `seat` left `session` (quit, removed, transferred away); `actor` did it. */
  left?(session: Session, seat: Seat, actor: string): void;
  /** The customer revoked the GRANT_* bits in `removed`. */
  revoked?(session: Session, removed: number, actor: string): void;
  /** `session` ended: its report is being written. */
  ended?(session: Session): void;
}

export class SessionListeners implements Required<SessionListener> {
  readonly #list: SessionListener[] = [];

  add(listener: SessionListener): void {
    this.#list.push(listener);
  }

  left(session: Session, seat: Seat, actor: string): void {
    for (const l of this.#list) l.left?.(session, seat, actor);
  }

  revoked(session: Session, removed: number, actor: string): void {
    for (const l of this.#list) l.revoked?.(session, removed, actor);
  }

  ended(session: Session): void {
    for (const l of this.#list) l.ended?.(session);
  }
}
