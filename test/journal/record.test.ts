import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { decodeRecords, encodeRecord } from '../../src/journal/record.js';

function lines(...values: object[]): Buffer {
  return Buffer.concat(values.map((value) => encodeRecord(value)));
}

/** A line with a correct CRC over arbitrary bytes. */
function rawLine(json: string): Buffer {
  const crc = (crc32(Buffer.from(json)) >>> 0).toString(16).padStart(8, '0');
  return Buffer.from(`${crc} ${json}\n`);
}

test('a record is the CRC-32 of its JSON in 8 lowercase hex digits, a space, the JSON and a newline', () => {
  const line = encodeRecord({ t: 'chat', text: 'héllo' });
  const text = line.toString('utf8');
  assert.match(text, /^[0-9a-f]{8} \{.*\}\n$/);
  const json = Buffer.from(text.slice(9, -1));
  assert.equal(text.slice(0, 8), (crc32(json) >>> 0).toString(16).padStart(8, '0'));
  assert.deepEqual(JSON.parse(json.toString()), { t: 'chat', text: 'héllo' });
});

test('a newline inside a string stays escaped, so every record is exactly one line', () => {
  const line = encodeRecord({ text: 'one\ntwo\r\nthree' });
  assert.equal(line.indexOf(0x0a), line.length - 1);
  assert.deepEqual(decodeRecords(line).records, [{ text: 'one\ntwo\r\nthree' }]);
});

test('records decode back in order with the length of the whole buffer as valid bytes', () => {
  const values = Array.from({ length: 50 }, (_, i) => ({ seq: i, data: 'x'.repeat(i) }));
  const buf = lines(...values);
  assert.deepEqual(decodeRecords(buf), {
    records: values,
    corrupt: 0,
    tornTail: false,
    validBytes: buf.length,
  });
});

test('an empty buffer is an empty journal', () => {
  assert.deepEqual(decodeRecords(Buffer.alloc(0)), {
    records: [],
    corrupt: 0,
    tornTail: false,
    validBytes: 0,
  });
});

test('a last line without its newline is a torn tail, skipped, and valid bytes stop before it', () => {
  const whole = lines({ seq: 1 }, { seq: 2 }, { seq: 3 });
  const firstTwo = lines({ seq: 1 }, { seq: 2 }).length;
  for (const cut of [firstTwo + 1, firstTwo + 9, whole.length - 1]) {
    const result = decodeRecords(whole.subarray(0, cut));
    assert.deepEqual(result.records, [{ seq: 1 }, { seq: 2 }], `cut at ${cut}`);
    assert.equal(result.tornTail, true);
    assert.equal(result.corrupt, 0);
    assert.equal(result.validBytes, firstTwo);
  }
});

test('a flipped byte in a middle record counts it corrupt and the records after it still read', () => {
  const buf = lines({ seq: 1 }, { seq: 2, text: 'middle' }, { seq: 3 });
  const at = buf.indexOf('middle');
  buf[at] = buf[at]! ^ 0x01;
  const result = decodeRecords(buf);
  assert.deepEqual(result.records, [{ seq: 1 }, { seq: 3 }]);
  assert.equal(result.corrupt, 1);
  assert.equal(result.tornTail, false);
  assert.equal(result.validBytes, buf.length);
});

test('a malformed prefix, an empty line or JSON that does not parse counts as corrupt', () => {
  const good = encodeRecord({ ok: true });
  const upper = Buffer.from(good.toString().replace(/^[0-9a-f]{8}/, (hex) => hex.toUpperCase()));
  const noSpace = Buffer.from(good.toString().replace(' ', '_'));
  const cases = [
    Buffer.from('\n'),
    Buffer.from('short\n'),
    noSpace,
    rawLine('{not json'),
    rawLine(''),
  ];
  if (!upper.equals(good)) cases.push(upper);
  const buf = Buffer.concat([good, ...cases, good]);
  const result = decodeRecords(buf);
  assert.deepEqual(result.records, [{ ok: true }, { ok: true }]);
  assert.equal(result.corrupt, cases.length);
  assert.equal(result.validBytes, buf.length);
});

test('a record with no JSON form is refused at encode time', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeRecord(cyclic), TypeError);
  assert.throws(() => encodeRecord({ toJSON: () => undefined }), TypeError);
});
