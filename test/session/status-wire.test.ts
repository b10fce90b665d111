import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { statusToWire } from '../../src/session/session.js';
import { Status } from '../../src/session/states.js';

test('every session status goes on the wire as its own SessionStatus value', () => {
  const seen = new Set<number>();
  for (const status of Object.values(Status)) {
    const wire = statusToWire(status);
    assert.equal(ferry.v1.SessionStatus[wire], `SESSION_STATUS_${status}`, status);
    seen.add(wire);
  }
  assert.equal(seen.size, Object.values(Status).length, 'no two statuses share a value');
});
