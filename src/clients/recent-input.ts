/**
 * The input a technician's client sent in its last seconds, kept so that it can be sent again
 * after a resume (`InputEvent.resent`). A gateway keeps copies of what it relays only in memory:
 * a restart loses input it held for a customer who was away, or had not yet written to it. The
 * customer drops a resent event it already has (its seq is at or below the highest it received),
 * so sending again loses nothing and applies nothing twice (docs/protocol.md, "Resume and
 * replay"). When the resumed gateway says how many frames it received of the lost connection
 * (`Welcome.replay`), only the events written after those go again; after a restart it cannot
 * say, and the whole window goes.
 *
 * Bounded twice: by age (`windowMs`) and by count (`maxEvents`), oldest out first.
 */
import type { ferry } from '../protocol/gen/ferry.js';

/** Input older than this is not sent again (a stale pointer path is of no use). */
export const INPUT_RESEND_WINDOW_MS = 10_000;
/** At most this many events are kept (60 Hz for 10 s, and some to spare). */
export const INPUT_RESEND_MAX_EVENTS = 1024;

/** Where an event went: the connection (a number the client gives each) and its frame there. */
export interface SentAt {
  readonly connection: number;
  /** Frames written to that connection up to and including this one (the Hello is 1). */
  readonly frame: number;
}

/** What the gateway received of a lost connection (`Welcome.replay`), or null: it does not know. */
export interface LostConnection {
  readonly connection: number;
  readonly received: number;
}

interface Kept {
  readonly event: ferry.v1.InputEvent.$Properties;
  readonly atMs: number;
  at: SentAt | null;
}

export class RecentInput {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #kept: Kept[] = [];
  /** Index of the oldest kept event (the array is compacted when half is dead). */
  #head = 0;

  constructor(windowMs = INPUT_RESEND_WINDOW_MS, maxEvents = INPUT_RESEND_MAX_EVENTS) {
    this.#windowMs = windowMs;
    this.#max = maxEvents;
  }

  get size(): number {
    return this.#kept.length - this.#head;
  }

  /** An event was written at `nowMs` (to frame `at` of a connection, when the client counts). */
  record(event: ferry.v1.InputEvent.$Properties, nowMs: number, at: SentAt | null = null): void {
    this.#kept.push({ event, atMs: nowMs, at });
    if (this.size > this.#max) this.#head++;
    this.#trim(nowMs);
  }

  /**
   * The events to send again after a resume, oldest first, marked `resent`: with `lost`, those
   * written to the lost connection after what the gateway received of it (the others arrived,
   * or went again at an earlier resume); without, every one still inside the window (the
   * gateway restarted: what it held is gone). `moved` numbers each one sent again on the new
   * connection, so a second loss finds them.
   */
  resend(
    nowMs: number,
    lost: LostConnection | null = null,
  ): { event: ferry.v1.InputEvent.$Properties; moved: (at: SentAt) => void }[] {
    this.#trim(nowMs);
    if (this.#windowMs <= 0) return [];
    const out: { event: ferry.v1.InputEvent.$Properties; moved: (at: SentAt) => void }[] = [];
    for (let i = this.#head; i < this.#kept.length; i++) {
      const kept = this.#kept[i]!;
      if (lost !== null && kept.at !== null) {
        if (kept.at.connection !== lost.connection || kept.at.frame <= lost.received) continue;
      }
      out.push({
        event: { ...kept.event, resent: true },
        moved: (at) => {
          kept.at = at;
        },
      });
    }
    return out;
  }

  #trim(nowMs: number): void {
    const oldest = nowMs - this.#windowMs;
    while (this.#head < this.#kept.length && this.#kept[this.#head]!.atMs < oldest) this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#kept.length) {
      this.#kept.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
