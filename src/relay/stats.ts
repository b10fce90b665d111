/**
 * Gateway-wide relay counters in plain typed arrays indexed by channel number, bumped on the hot
 * path with no lookups; prom-client and the status API read them at scrape time.
 */
import { MAX_CHANNEL } from '../protocol/peek.js';

/** Counters are indexed by channel number: every number a frame may carry. */
const CHANNEL_COUNT = MAX_CHANNEL + 1;

export const DropReason = {
  SLOW_CONSUMER: 0,
  NO_RECIPIENT: 1,
  BACKPRESSURE_LIMIT: 2,
} as const;
export const dropReasonNames = ['slow_consumer', 'no_recipient', 'backpressure_limit'] as const;

/** Why a WebSocket upgrade was refused (HTTP status at the upgrade; counted in metrics). */
export const RefusalReasons = ['address_limit', 'origin', 'draining'] as const;
export type RefusalReason = (typeof RefusalReasons)[number];

export class RelayStats {
  /** Frames and bytes received from clients, by channel. */
  readonly inFrames = new Float64Array(CHANNEL_COUNT);
  readonly inBytes = new Float64Array(CHANNEL_COUNT);
  /** Frames and bytes written to clients, by channel (a frame sent to two technicians counts twice). */
  readonly outFrames = new Float64Array(CHANNEL_COUNT);
  readonly outBytes = new Float64Array(CHANNEL_COUNT);
  /** Dropped frames: index channel * dropReasonNames.length + reason. */
  readonly dropped = new Float64Array(CHANNEL_COUNT * dropReasonNames.length);
  /** Error frames sent, by FERRY_ERR_* code. */
  readonly errors = new Map<string, number>();
  /** Handlers that threw, by handler name (caught at the dispatch point; the sessions go on). */
  readonly handlerErrors = new Map<string, number>();
  /**
   * SCREEN and INPUT frames refused within the grace after a revoke, hand-over or status change
   * (`--input-grace-ms`): dropped with no Error and no strike, by channel.
   */
  readonly excused = new Float64Array(CHANNEL_COUNT);
  /** Frames that failed peek (no channel could be read). */
  malformed = 0;
  connectionsOpened = 0;
  connectionsClosed = 0;

  drop(channel: number, reason: number): void {
    this.dropped[channel * dropReasonNames.length + reason]!++;
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
