/**
 * The FERRY_ERR_* table: well-formed, unique codes, each with a doc, close codes a WebSocket
 * endpoint may actually send (RFC 6455 section 7.4), HTTP statuses on the admin API's codes only,
 * and the `Refusal` helpers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCodes, Codes, isRefusal, refuse } from '../../src/protocol/codes.js';

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
    assert.match(entry.code, /^FERRY_ERR_[A-Z_]+$/, key);
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

test('every close code in the table is one of the documented CloseCodes', () => {
  const documented = new Set<number>(Object.values(CloseCodes));
  for (const [key, entry] of entries) {
    if (entry.close !== 0)
      assert.ok(documented.has(entry.close), `${key} closes with ${entry.close}`);
  }
});

test('codes with an HTTP status are client errors that never close a WebSocket', () => {
  const withHttp = entries.filter(([, entry]) => entry.http !== undefined);
  assert.ok(withHttp.length > 0);
  for (const [key, entry] of withHttp) {
    assert.ok(Number.isInteger(entry.http) && entry.http! >= 400 && entry.http! <= 499, key);
    assert.equal(entry.close, 0, key);
  }
});

test('the codes the gateway, the admin API and the clients raise are all in the table', () => {
  const names = new Set(Object.keys(Codes));
  for (const name of ['INTERNAL', 'UNAUTHORIZED', 'NOT_FOUND', 'CLOSED', 'TIMEOUT', 'PROTOCOL']) {
    assert.ok(names.has(name), name);
  }
  assert.equal(Codes.RESUME_GAVE_UP.code, 'FERRY_ERR_RESUME_GAVE_UP');
  assert.equal(Codes.REGISTRY_CORRUPT.code, 'FERRY_ERR_REGISTRY_CORRUPT');
});

test('refuse builds a coded refusal that isRefusal recognises', () => {
  const r = refuse(Codes.NOT_OWNER, 'session abc is not yours');
  assert.deepEqual(r, { ok: false, entry: Codes.NOT_OWNER, message: 'session abc is not yours' });
  assert.ok(isRefusal(r));
});

test('isRefusal is false for results, successes and non-objects', () => {
  for (const x of [
    null,
    undefined,
    0,
    false,
    'FERRY_ERR_NOT_OWNER',
    {},
    { ok: true },
    [],
    Codes.NOT_OWNER,
  ]) {
    assert.equal(isRefusal(x), false, JSON.stringify(x) ?? String(x));
  }
});
