/**
 * Token buckets for abuse limits: PIN attempts per address and globally, messages per second per
 * connection. A bucket holds at most `burst` tokens and refills `ratePerSecond` a second; time is
 * passed in (monotonic ms), so tests drive it without timers. `KeyedBuckets` bounds its memory:
 * past `maxKeys` it evicts the least recently used key, and full buckets are pruned.
 */

export class TokenBucket {
  tokens: number;
  updatedMs: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.updatedMs = nowMs;
  }

  /** Takes one token if there is one. */
  take(nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until one token is available (0 if one is now). */
  waitMs(nowMs: number): number {
    this.#refill(nowMs);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  full(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.tokens >= this.burst;
  }

  #refill(nowMs: number): void {
    const elapsed = nowMs - this.updatedMs;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.ratePerSecond);
    this.updatedMs = nowMs;
  }
}

export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.#buckets.size;
  }

  take(key: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.maxKeys) {
        const oldest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(oldest);
      }
      bucket = new TokenBucket(this.ratePerSecond, this.burst, nowMs);
    } else {
      this.#buckets.delete(key); // re-insert: Map order is recency
    }
    this.#buckets.set(key, bucket);
    return bucket.take(nowMs);
  }

  /** Drops buckets that have refilled completely: they hold no state worth keeping. */
  prune(nowMs: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full(nowMs)) this.#buckets.delete(key);
  }
}
