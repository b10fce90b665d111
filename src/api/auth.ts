/**
 * The admin API's bearer-token check. Both sides are hashed to fixed-length digests and compared
 * with `timingSafeEqual`, so neither the token's content nor its length shows in the timing.
 * An empty configured token matches nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer +(\S+) *$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Returns a checker of `Authorization` header values against `token`. */
export function bearerChecker(token: string): (authorization: string) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const match = BEARER.exec(authorization);
    const same = timingSafeEqual(digest(match?.[1] ?? ''), expected);
    return same && match !== null && token !== '';
  };
}
