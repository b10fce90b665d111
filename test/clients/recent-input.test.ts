/**
 * The technician's input kept for a resend (src/clients/recent-input.ts) and the customer's side
 * of it: a resent event the customer has already is dropped, one it lacks is applied, once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CustomerClient } from '../../src/clients/customer.js';
import { RecentInput } from '../../src/clients/recent-input.js';
import { Channel } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

const move = (seq: number): ferry.v1.InputEvent.$Properties => ({
  seq,
  move: { x: seq, y: 1, monitor: 1 },
});

test('recent input is kept for its window, oldest out first, and comes back marked resent', () => {
  const recent = new RecentInput(1000, 100);
  for (let i = 1; i <= 5; i++) recent.record(move(i), i * 100);
  assert.deepEqual(
    recent.resend(500).map(({ event: e }) => [e.seq, e.resent]),
    [1, 2, 3, 4, 5].map((seq) => [seq, true]),
  );
  // at 1250 ms, what was sent before 250 ms is too old to send again
  assert.deepEqual(
    recent.resend(1250).map(({ event: e }) => e.seq),
    [3, 4, 5],
  );
  assert.equal(recent.size, 3);
});

test('recent input keeps at most its count, and a window of 0 sends nothing again', () => {
  const recent = new RecentInput(60_000, 3);
  for (let i = 1; i <= 500; i++) recent.record(move(i), i);
  assert.deepEqual(
    recent.resend(501).map(({ event: e }) => e.seq),
    [498, 499, 500],
  );
  const none = new RecentInput(0);
  none.record(move(1), 10);
  assert.deepEqual(none.resend(10), []);
});

test('with what the gateway received of the lost connection, only what followed goes again; a moved event follows its new connection', () => {
  const recent = new RecentInput(60_000, 100);
  // connection 1: frames 1 (Hello) .. ; inputs at frames 5, 6, 7, 8
  for (const [seq, frame] of [
    [1, 5],
    [2, 6],
    [3, 7],
    [4, 8],
  ] as const) {
    recent.record(move(seq), seq, { connection: 1, frame });
  }
  // the gateway got frames up to 6 of connection 1: 3 and 4 go again
  const again = recent.resend(10, { connection: 1, received: 6 });
  assert.deepEqual(
    again.map(({ event }) => event.seq),
    [3, 4],
  );
  // they went as frames 2 and 3 of connection 2, which is lost in turn after frame 2
  again[0]!.moved({ connection: 2, frame: 2 });
  again[1]!.moved({ connection: 2, frame: 3 });
  recent.record(move(5), 11, { connection: 2, frame: 4 });
  assert.deepEqual(
    recent.resend(12, { connection: 2, received: 2 }).map(({ event }) => event.seq),
    [4, 5],
  );
  // after a restart the gateway cannot say: the whole window goes
  assert.deepEqual(
    recent.resend(12, null).map(({ event }) => event.seq),
    [1, 2, 3, 4, 5],
  );
});

test('the customer drops a resent event it has and applies one it lacks; a lower first-time seq starts afresh', () => {
  const customer = new CustomerClient({ url: 'ws://127.0.0.1:9/v1/ws', pin: '000000' });
  const applied: number[] = [];
  customer.on('input', (input) => applied.push(input.seq));
  const deliver = (input: ferry.v1.InputEvent.$Properties) => {
    // as the client's socket would: bytes decoded
    const bytes = ferry.v1.Frame.encode({ channel: Channel.CHANNEL_INPUT, input }).finish();
    customer.emit('frame', ferry.v1.Frame.decode(bytes), bytes);
  };
  for (const seq of [1, 2, 3]) deliver(move(seq));
  // a resume: the technician sends 2-5 again
  for (const seq of [2, 3, 4, 5]) deliver({ ...move(seq), resent: true });
  assert.deepEqual(applied, [1, 2, 3, 4, 5]);
  assert.equal(customer.inputResentDropped, 2);
  // another technician takes control: its numbers start at 1, and are applied
  deliver(move(1));
  deliver({ ...move(1), resent: true });
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 1]);
  assert.equal(customer.inputResentDropped, 3);
});
