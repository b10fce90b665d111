/**
 * The FERRY_ERR_* table: well-formed, unique codes, each with a doc, and close codes a WebSocket
 * endpoint may actually send (RFC 6455 section 7.4).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCodes, Codes } from '../../src/protocol/codes.js';

const entries = Object.entries(Codes);

/**
 * Close codes an endpoint may put in a Close frame: the registered 1000-1015 range minus 1004
 * (reserved), 1005, 1006 and 1015 (RFC 6455 7.4.1: never sent on the wire), plus the private
 * 4000-4999 range.
 */
function isSendableCloseCode(code: number): boolean {
  if (code >= 4000 && code <= 4999) return Number.isInteger(code);
  return code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code);
}

test('every code in the table starts with FERRY_ERR_ and is named after its key', () => {
  assert.ok(entries.length > 0);
  for (const [key, entry] of entries) {
    assert.match(entry.code, /^FERRY_ERR_[A-Z0-9_]+$/, key);
    assert.equal(entry.code, `FERRY_ERR_${key}`);
    assert.ok(entry.doc.length > 0, `${key} has no doc`);
  }
});

test('no two entries share a code', () => {
  const codes = entries.map(([, entry]) => entry.code);
  assert.equal(new Set(codes).size, codes.length);
});

test('close codes are 0 (keep open) or WebSocket close codes an endpoint may send', () => {
  for (const [key, entry] of entries) {
    assert.ok(
      entry.close === 0 || isSendableCloseCode(entry.close),
      `${key} closes with ${entry.close}`,
    );
  }
  for (const [name, code] of Object.entries(CloseCodes)) {
    assert.ok(isSendableCloseCode(code), `CloseCodes.${name} = ${code}`);
  }
});

test('no two CloseCodes names share a number', () => {
  const numbers = Object.values(CloseCodes);
  assert.equal(new Set(numbers).size, numbers.length);
});
