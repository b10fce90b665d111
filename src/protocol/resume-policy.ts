/**
 * When a client resumes its place after a lost connection, and how soon: one policy for the
 * Node reference clients (src/clients/client.ts) and the browser console (src/console/web/conn.ts).
 * The close codes are docs/protocol.md "How a connection ends".
 */
import { Codes, isNormalClose } from './codes.js';

export interface ReconnectOptions {
  /** First retry delay; doubles per attempt up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Stop retrying this long after the loss; 0 = never stop. */
  readonly giveUpAfterMs?: number;
}

/**
 * Close codes after which the place can be resumed: abnormal closure, server errors and restarts,
 * and FERRY_ERR_SLOW_CONSUMER (4008). 1001 (going away) only when the gateway's `Closing` said
 * it keeps the sessions (`resume`). Anything else is final: a normal end (1000 and the session
 * ends 4100-4199, see `isNormalClose`), refusals and 4009 resumed elsewhere.
 */
const RESUMABLE_CLOSE_CODES: ReadonlySet<number> = new Set([
  1005, 1006, 1011, 1012, 1013, 1014, 4008,
]);

/** Whether a welcomed connection closed with `code` may be resumed. */
export function resumableClose(code: number, closingSaidResume: boolean): boolean {
  if (isNormalClose(code)) return false;
  return RESUMABLE_CLOSE_CODES.has(code) || (code === 1001 && closingSaidResume);
}

/** The wait before retry `attempt` (0-based): doubling from the first delay, capped. */
export function retryDelayMs(options: Required<ReconnectOptions>, attempt: number): number {
  return Math.min(options.initialDelayMs * 2 ** attempt, options.maxDelayMs);
}

/** Whether a retry `delayMs` from `nowMs` would come past the give-up time of a loss at `lostAtMs`. */
export function givesUp(
  options: Required<ReconnectOptions>,
  lostAtMs: number,
  nowMs: number,
  delayMs: number,
): boolean {
  return options.giveUpAfterMs > 0 && nowMs + delayMs - lostAtMs > options.giveUpAfterMs;
}

/**
 * Whether a failed resume ends the retries: a coded refusal (token gone, session ended) is
 * final; a network failure (no code, the connection closed, a timeout) is retried.
 */
export function finalRefusal(code: string): boolean {
  return code !== '' && code !== Codes.CLOSED.code && code !== Codes.TIMEOUT.code;
}
