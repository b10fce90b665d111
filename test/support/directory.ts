/**
 * Waits of the shared directory's tests: a gateway's view of the store's availability, and a
 * bounded poll of a value read from the deployment (never a fixed sleep).
 */
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway.js';

/** Resolves once `gateway`'s directory availability is `up`. */
export async function availability(gateway: Gateway, up: boolean): Promise<void> {
  const fleet = gateway.fleet!;
  if (fleet.available === up) return;
  await new Promise<void>((resolve) => {
    fleet.shared.onAvailability((now) => {
      if (now === up) resolve();
    });
  });
}

/** Reads `read` every 20 ms until `done` holds for its value; fails after `boundMs`. */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  boundMs = 5000,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
