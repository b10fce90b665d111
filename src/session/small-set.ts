/**
 * A set for the per-place lists that nearly always hold one member: a `Set` with one entry costs
 * about 150 bytes (the object and its smallest hash table), and a gateway keeps one for each of a
 * session's places (`Seat.sessions`; docs/benchmarks.md, "Idle memory per session"). This holds
 * the first member in a field and makes a `Set` only when a second one comes, dropping it again
 * when the set empties.
 *
 * Iteration follows insertion order, like a `Set`'s. Members added or deleted while iterating:
 * iterate over a copy (`[...set]`), as the callers that change the set in the loop do.
 */
export class SmallSet<T> implements Iterable<T> {
  /** The one member while there is at most one (`#many` is null); undefined when empty. */
  #one: T | undefined = undefined;
  #many: Set<T> | null = null;

  get size(): number {
    if (this.#many !== null) return this.#many.size;
    return this.#one === undefined ? 0 : 1;
  }

  has(value: T): boolean {
    if (this.#many !== null) return this.#many.has(value);
    return this.#one !== undefined && this.#one === value;
  }

  add(value: T): this {
    if (value === undefined) throw new TypeError('SmallSet: undefined is not a member');
    if (this.#many !== null) this.#many.add(value);
    else if (this.#one === undefined || this.#one === value) this.#one = value;
    else {
      this.#many = new Set([this.#one, value]);
      this.#one = undefined;
    }
    return this;
  }

  delete(value: T): boolean {
    if (this.#many !== null) {
      const deleted = this.#many.delete(value);
      if (this.#many.size === 0) this.#many = null;
      return deleted;
    }
    if (this.#one === undefined || this.#one !== value) return false;
    this.#one = undefined;
    return true;
  }

  *[Symbol.iterator](): Iterator<T> {
    if (this.#many !== null) yield* this.#many;
    else if (this.#one !== undefined) yield this.#one;
  }
}
