/**
 * How the gateway refuses a frame: one coded Error to the sender (naming the frame's channel,
 * stream and request id), then the close its code names. The strike rule: a connection that
 * keeps sending refused frames (more than maxBadFrames a minute) is closed as well.
 *
 * The excuse: a frame the sender could not have known was unwelcome (INPUT or SCREEN arriving
 * within `inputGraceMs` of a revoke, a control hand-over or a status change) is dropped and
 * counted (`RelayStats.excused`), with no Error and no strike. Everything else still strikes.
 */
import type { Config } from '../config/schema.js';
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { errorFrame } from '../protocol/frames.js';
import { PeerState, type RelayPeer } from './peer.js';
import type { RelayStats } from './stats.js';

export class Refusals {
  readonly #config: Config;
  readonly #stats: RelayStats;

  constructor(config: Config, stats: RelayStats) {
    this.#config = config;
    this.#stats = stats;
  }

  fail(
    peer: RelayPeer,
    entry: CodeEntry,
    message: string,
    requestId = 0,
    channel = 0,
    stream = 0,
  ): void {
    this.#stats.error(entry.code);
    if (peer.state === PeerState.CLOSED) return;
    peer.sendFrame(errorFrame(entry, message, requestId, channel, stream));
    if (entry.close !== 0) peer.end(entry.close, entry.code);
    else if (++peer.strikes > this.#config.maxBadFrames) {
      this.#stats.error(Codes.TOO_MANY_ERRORS.code);
      peer.sendFrame(
        errorFrame(
          Codes.TOO_MANY_ERRORS,
          `more than ${this.#config.maxBadFrames} refused frames in a minute`,
        ),
      );
      peer.end(Codes.TOO_MANY_ERRORS.close, Codes.TOO_MANY_ERRORS.code);
    }
  }

  /** Drops a frame refused in the grace after a change the sender had not yet seen: no strike. */
  excuse(channel: number): void {
    this.#stats.excused[channel]!++;
  }

  /**
   * Whether a refusal of `entry` on a SCREEN or INPUT frame is excused: a grant, control or status
   * refusal within the grace after the session last changed one of them.
   */
  excusable(entry: CodeEntry, changedAtMs: number, nowMs: number): boolean {
    return (
      EXCUSABLE.has(entry.code) &&
      changedAtMs > 0 &&
      nowMs - changedAtMs < this.#config.inputGraceMs
    );
  }
}

/** The refusals a revoke race produces; nothing else is ever excused. */
const EXCUSABLE: ReadonlySet<string> = new Set([
  Codes.NOT_GRANTED.code,
  Codes.NOT_CONTROLLER.code,
  Codes.WRONG_STATE.code,
]);
