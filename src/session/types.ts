/**
 * Shapes shared by the parts of the session registry (directory, operations, lifecycle) and by
 * `SessionTools`, kept here so that none of them imports the registry that composes them:
 * the gateway-wide counters, and what the tools need of the
 * registry. Types only; nothing in this file runs.
 */
import type { SessionListeners } from './listeners.js';
import type { Participant } from './participant.js';
import type { SessionReport } from './report.js';
import type { Seat } from './seat.js';
import type { Session } from './session.js';

/** Gateway-wide session counters (the status API and metrics read them). */
export interface SessionCounters {
  /** Sessions ever created and ended. */
  created: number;
  ended: number;
  pinAccepted: number;
  pinRejected: number;
  /** PIN attempts refused by the rate limits before the book was consulted. */
  pinRateLimited: number;
  resumed: number;
  /** Reliable frames written again on resumes (in flight when a connection broke). */
  replayed: number;
  /**
   * Transitions the state machine refused where no caller could be told (timers, lost
   * connections, a customer attached by the gateway); each is also logged at error level.
   */
  refusedTransitions: number;
}

/** What `SessionTools` needs of the registry. */
export interface SessionToolsHost {
  get(sessionId: string): Session | undefined;
  /** The place of a connection, created on first use. */
  seatOf(p: Participant): Seat;
  /** The place of a live connection, if it said Hello. */
  placeOf(p: Participant): Seat | undefined;
  /** Archived reports of ended sessions, by session id. */
  readonly reports: ReadonlyMap<string, SessionReport>;
  /** Replaces an ended session's archived report and rewrites it. */
  rearchive(report: SessionReport): void;
  /** Who must hear of a revocation (shells and transfers end). */
  readonly listeners: SessionListeners;
  /** The session clock (ms): stamps `Session.changedAtMs` on a revoke. */
  now(): number;
}
