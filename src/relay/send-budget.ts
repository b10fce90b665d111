/**
 * The gateway's own account of bytes waiting in send buffers, per connection and in total.
 * uWS's per-socket limit alone bounds one socket, not the process: this budget bounds both.
 * Connections report their buffer level after each send that left bytes behind and on drain;
 * the relay consults the budget before every write:
 * - SCREEN is dropped for a receiver over `screenDropBytes`, or for everyone once the gateway is
 *   over half its budget (screens are the only droppable traffic);
 * - a reliable frame is never dropped: if it would take a receiver past `perConnectionBytes`,
 *   or the gateway past its budget while that receiver is itself congested, the receiver is
 *   closed as a slow consumer (it resumes through the lifecycle) instead.
 */

export class SendBudget {
  /** Bytes queued in all connections' send buffers, as last reported. */
  used = 0;

  constructor(
    /** Gateway-wide budget. */
    readonly limitBytes: number,
    /** Hard cap of one connection. */
    readonly perConnectionBytes: number,
    /** A receiver above this misses SCREEN frames. */
    readonly screenDropBytes: number,
  ) {}

  /** A connection's buffer level changed from `before` to `after` bytes. */
  settle(before: number, after: number): void {
    this.used += after - before;
  }

  /** SCREEN to a receiver with `queued` bytes waiting: false = drop it. */
  admitsScreen(queued: number): boolean {
    return queued <= this.screenDropBytes && this.used <= this.limitBytes / 2;
  }

  /** A reliable frame of `length` bytes to a receiver with `queued` bytes waiting: false = close it. */
  admitsReliable(queued: number, length: number): boolean {
    if (queued + length > this.perConnectionBytes) return false;
    return this.used + length <= this.limitBytes || queued <= this.screenDropBytes;
  }
}
