/**
 * Random identifiers and bearer secrets (session ids, resume tokens, direct-path secrets), as
 * base64url text, drawn from a pool of CSPRNG bytes refilled 4 KiB at a time.
 *
 * `randomBytes(n)` costs about 10 µs a call on the gateway's hot set-up path (OpenSSL's DRBG
 * behind a lock, and a new buffer): three calls a session were 2% of a churn profile (`node
 * dist/bench/relay/run.js --scenario churn --targets ferry --rounds 1 --cpu-prof`). A pool makes
 * one such call per 4 KiB, as Node's own `randomUUID` does with its cache. Bytes handed out are
 * zeroed in the pool at once, so it never holds a secret already given out, only future ones.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
/** Next unused byte; POOL_BYTES when the pool must be refilled. */
let next = POOL_BYTES;

/** `bytes` random bytes (1..POOL_BYTES) as base64url text. */
export function randomId(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) {
    throw new RangeError(`randomId: ${bytes} bytes (1..${POOL_BYTES})`);
  }
  if (next + bytes > POOL_BYTES) {
    randomFillSync(pool);
    next = 0;
  }
  const end = next + bytes;
  const text = pool.toString('base64url', next, end);
  pool.fill(0, next, end);
  next = end;
  return text;
}
