/**
 * The resume policy the Node clients and the console share (src/protocol/resume-policy.ts):
 * which closes are resumed, the backoff, when retries stop, which failures are final.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  finalRefusal,
  givesUp,
  resumableClose,
  retryDelayMs,
} from '../../src/protocol/resume-policy.js';

test('abnormal closes and restarts are resumed; normal ends, refusals and another tab are not; 1001 only when Closing said so', () => {
  for (const code of [1005, 1006, 1011, 1012, 1013, 1014, 4008]) {
    assert.equal(resumableClose(code, false), true, String(code));
  }
  for (const code of [1000, 4100, 4150, 4199, 4003, 4009, 4029, 1008]) {
    assert.equal(resumableClose(code, true), false, String(code));
  }
  assert.equal(resumableClose(1001, false), false);
  assert.equal(resumableClose(1001, true), true);
});

test('retries double from the first delay up to the cap, and stop past the give-up time (0: never)', () => {
  const opts = { initialDelayMs: 100, maxDelayMs: 1000, giveUpAfterMs: 5000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((a) => retryDelayMs(opts, a)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(givesUp(opts, 0, 4000, 1000), false);
  assert.equal(givesUp(opts, 0, 4500, 1000), true);
  assert.equal(givesUp({ ...opts, giveUpAfterMs: 0 }, 0, 1e12, 1000), false);
});

test('a coded refusal ends the retries; no code, a closed connection or a timeout do not', () => {
  assert.equal(finalRefusal('FERRY_ERR_RESUME_INVALID'), true);
  assert.equal(finalRefusal(''), false);
  assert.equal(finalRefusal('FERRY_ERR_CLOSED'), false);
  assert.equal(finalRefusal('FERRY_ERR_TIMEOUT'), false);
});
