/**
 * One-time customer PINs. A PIN maps to the session it opens until a customer joins with it
 * (single use) or its lifetime ends. Expired PINs are swept by the gateway's shared clock and
 * also refused on lookup, so a late sweep never lets one through.
 *
 * The book is keyed by an HMAC of the PIN under a per-book random key, never by the PIN itself:
 * how long a lookup takes then says nothing about how close a guess was (the hash-table probe
 * compares keyed digests, not digits), and the stored digest is compared in constant time.
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** `length` uniformly random digits. */
export function randomPin(length: number): string {
  let pin = '';
  for (let i = 0; i < length; i++) pin += randomInt(10);
  return pin;
}

interface PinEntry<T> {
  readonly target: T;
  readonly expiresAtMs: number;
  readonly pin: string;
  readonly digest: Buffer;
}

/** The digest loop's start when no PIN is reserved: never stored, never compared. */
const EMPTY = Buffer.alloc(0);

export class PinBook<T> {
  readonly #pins = new Map<string, PinEntry<T>>();
  readonly #length: number;
  readonly #ttlMs: number;
  readonly #key = randomBytes(32);

  constructor(length: number, ttlMs: number) {
    this.#length = length;
    this.#ttlMs = ttlMs;
  }

  #digest(pin: string): Buffer {
    return createHmac('sha256', this.#key).update(pin).digest();
  }

  get size(): number {
    return this.#pins.size;
  }

  /**
   * Creates a fresh PIN (uniformly random digits, never one in use) for `target`, or books
   * `reserved`, a PIN drawn and reserved in the shared directory (then the caller made sure it
   * is free everywhere).
   */
  issue(target: T, nowMs: number, reserved = ''): { pin: string; expiresAtMs: number } {
    let pin = reserved;
    // one HMAC for a reserved PIN, one a draw otherwise (none for the empty PIN)
    let digest = pin === '' ? EMPTY : this.#digest(pin);
    while (pin === '' || (reserved === '' && this.#pins.has(digest.toString('base64')))) {
      pin = randomPin(this.#length);
      digest = this.#digest(pin);
    }
    const expiresAtMs = nowMs + this.#ttlMs;
    this.#pins.set(digest.toString('base64'), { target, expiresAtMs, pin, digest });
    return { pin, expiresAtMs };
  }

  /** Puts back a PIN issued before a restart (a journal kept it), with its own expiry. */
  restore(target: T, pin: string, expiresAtMs: number): void {
    const digest = this.#digest(pin);
    this.#pins.set(digest.toString('base64'), { target, expiresAtMs, pin, digest });
  }

  /** Takes the PIN out of the book: returns its target once, then never again. */
  consume(pin: string, nowMs: number): T | undefined {
    const digest = this.#digest(pin);
    const key = digest.toString('base64');
    const entry = this.#pins.get(key);
    // An expired PIN stays for the sweep, which reports it (its session must end).
    if (entry === undefined || entry.expiresAtMs <= nowMs) return undefined;
    if (!timingSafeEqual(entry.digest, digest)) return undefined;
    this.#pins.delete(key);
    return entry.target;
  }

  revoke(pin: string): void {
    this.#pins.delete(this.#digest(pin).toString('base64'));
  }

  /** Removes expired PINs; calls `onExpire` for each. */
  sweep(nowMs: number, onExpire: (target: T, pin: string) => void): void {
    for (const [key, entry] of this.#pins) {
      if (entry.expiresAtMs <= nowMs) {
        this.#pins.delete(key);
        onExpire(entry.target, entry.pin);
      }
    }
  }
}
