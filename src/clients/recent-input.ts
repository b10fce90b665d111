/**
 * The input a technician's client sent in its last seconds, kept so that it can be sent again
 * after a resume (`InputEvent.resent`). A gateway keeps copies of what it relays only in memory:
 * a restart loses input it held for a customer who was away, or had not yet written to it. The
 * customer drops a resent event it already has (its seq is at or below the highest it received),
 * so sending the whole window again loses nothing and applies nothing twice
 * (docs/protocol.md, "Resume and replay").
 *
 * Bounded twice: by age (`windowMs`) and by count (`maxEvents`), oldest out first.
 */
import type { ferry } from '../protocol/gen/ferry.js';

/** Input older than this is not sent again (a stale pointer path is of no use). */
export const INPUT_RESEND_WINDOW_MS = 10_000;
/** At most this many events are kept (60 Hz for 10 s, and some to spare). */
export const INPUT_RESEND_MAX_EVENTS = 1024;

export class RecentInput {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #events: ferry.v1.InputEvent.$Properties[] = [];
  readonly #times: number[] = [];
  /** Index of the oldest kept event (the arrays are compacted when half is dead). */
  #head = 0;

  constructor(windowMs = INPUT_RESEND_WINDOW_MS, maxEvents = INPUT_RESEND_MAX_EVENTS) {
    this.#windowMs = windowMs;
    this.#max = maxEvents;
  }

  get size(): number {
    return this.#events.length - this.#head;
  }

  /** An event was written to the connection at `nowMs`. */
  record(event: ferry.v1.InputEvent.$Properties, nowMs: number): void {
    this.#events.push(event);
    this.#times.push(nowMs);
    if (this.size > this.#max) this.#head++;
    this.#trim(nowMs);
  }

  /** The events still inside the window at `nowMs`, oldest first, marked as sent again. */
  resend(nowMs: number): ferry.v1.InputEvent.$Properties[] {
    this.#trim(nowMs);
    if (this.#windowMs <= 0) return [];
    return this.#events.slice(this.#head).map((e) => ({ ...e, resent: true }));
  }

  #trim(nowMs: number): void {
    const oldest = nowMs - this.#windowMs;
    while (this.#head < this.#events.length && this.#times[this.#head]! < oldest) this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#events.length) {
      this.#events.splice(0, this.#head);
      this.#times.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
