/**
 * The protobuf runtime the generated module imports (src/protocol/pb-runtime.ts): its oneof
 * setter removes only the members a message holds, with protobuf.js's result: the last member
 * read wins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs/minimal.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import pbRuntime, { oneOfSetter } from '../../src/protocol/pb-runtime.js';

test('the generated module runs on the runtime with the gateway’s oneof setter', () => {
  assert.equal(pbRuntime, protobuf, 'the library itself, not a copy');
  assert.equal(protobuf.util.oneOfSetter, oneOfSetter);
  // a Control with two members on the wire (two encodings concatenated merge into one
  // message): the decoder keeps the last one only
  const control = ferry.v1.Control.decode(
    concat(
      ferry.v1.Control.encode({ requestId: 7, hello: { pin: 'first' } }).finish(),
      ferry.v1.Control.encode({ pickUp: { sessionId: 'second' } }).finish(),
    ),
  );
  assert.equal(control.requestId, 7);
  assert.equal(control.op, 'pickUp');
  assert.equal(control.pickUp?.sessionId, 'second');
  assert.ok(!Object.hasOwn(control, 'hello'), 'the earlier member is gone');
  assert.equal(control.hello, null, 'it reads as the default');
});

test('the setter deletes the members the message holds and leaves the one named', () => {
  const set = oneOfSetter(['a', 'b', 'c']);
  const m: Record<string, unknown> = { a: 1, c: 3, other: 4 };
  set.call(m, 'c');
  assert.deepEqual(m, { c: 3, other: 4 });
  set.call(m, 'b');
  assert.deepEqual(m, { other: 4 });
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
