/**
 * One copy of a short string that many sessions hold alike: a client's version, a name, a
 * gateway address, a log event's detail ("granted view, control"). Each connection decodes its
 * own copy of such a string, and with thousands of sessions the copies add up: a heap snapshot
 * of 1000 idle pairs held about 0.26 KB a pair of equal strings (docs/benchmarks.md, "Idle memory
 * per session").
 *
 * Bounded: past MAX_INTERNED distinct strings the pool starts again from empty, so strings that
 * never repeat (a chat's text is never passed here) cost a Map entry for a while and no more.
 * Strings already shared stay shared; only later copies miss the pool until it fills again.
 */

/** Longer strings are returned as they are: they rarely repeat, and a copy costs little. */
export const MAX_INTERNED_LENGTH = 64;
/**
 * Distinct strings the pool holds before it starts again: at most about 100 KB (200 KB of
 * strings outside Latin-1), as each is a copy of its own.
 */
export const MAX_INTERNED = 1024;

const pool = new Map<string, string>();

/** The pool's copy of `s` (equal to it), or `s` itself when too long to pool. */
export function intern(s: string): string {
  if (s.length > MAX_INTERNED_LENGTH) return s;
  const known = pool.get(s);
  if (known !== undefined) return known;
  if (pool.size >= MAX_INTERNED) pool.clear();
  // a copy of its own, flat: `s` may be a slice of a larger string (a trimmed name of a large
  // frame), which the pool would otherwise keep alive; split('') keeps every UTF-16 unit
  const own = s.split('').join('');
  pool.set(own, own);
  return own;
}

/** Distinct strings in the pool now (tests). */
export function internedCount(): number {
  return pool.size;
}
