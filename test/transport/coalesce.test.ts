/**
 * Coalescing sends to one socket within one event-loop turn (src/transport/connection.ts): the
 * first relayed frame goes out at once, later small frames (and the gateway's own from the first)
 * are staged and written corked at the end of the turn, a close can wait for them, and nothing is
 * reordered, lost or aliased to a buffer the caller reuses. The socket
 * is a fake that records every write and whether it was corked; the turn is ended by calling
 * `flush()` (what the scheduled setImmediate does).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerState, SendStatus } from '../../src/relay/peer.js';
import { SendBudget } from '../../src/relay/send-budget.js';
import { Coalescer, Connection, type SendSocket } from '../../src/transport/connection.js';

class FakeSocket {
  readonly writes: { bytes: Buffer; corked: boolean }[] = [];
  corks = 0;
  buffered = 0;
  result: number = SendStatus.SUCCESS;
  ended: [number, string] | null = null;
  #corked = false;
  send(message: ArrayBuffer | Uint8Array): number {
    const view = message instanceof Uint8Array ? message : new Uint8Array(message as ArrayBuffer);
    this.writes.push({ bytes: Buffer.from(view), corked: this.#corked });
    return this.result;
  }
  cork(cb: () => void): this {
    this.corks++;
    this.#corked = true;
    cb();
    this.#corked = false;
    return this;
  }
  getBufferedAmount(): number {
    return this.buffered;
  }
  /** Whether the close frame was written corked, with the writes before it. */
  endedCorked = false;
  end(code: number, reason: string): void {
    this.ended = [code, reason];
    this.endedCorked = this.#corked;
  }
  get payloads(): number[] {
    return this.writes.map((w) => w.bytes[0]!);
  }
}

function setup(arenaBytes = 4096, maxEntries = 64, maxFrameBytes = 256) {
  const coalescer = new Coalescer(arenaBytes, maxEntries, maxFrameBytes);
  const budget = new SendBudget(64 << 20, 8 << 20, 1 << 20);
  const conn = new Connection('c1', '127.0.0.1', 0, 10_000, budget, coalescer);
  const ws = new FakeSocket();
  conn.attach(ws as unknown as SendSocket);
  conn.state = PeerState.READY;
  return { coalescer, budget, conn, ws };
}

/** A frame whose first byte names it. */
const frame = (id: number, size = 16) => Buffer.alloc(size, id);

test('the first frame of a turn is written at once; the rest wait for the end of the turn, corked and in order', () => {
  const { coalescer, conn, ws } = setup();
  assert.equal(conn.forward(frame(1)), SendStatus.SUCCESS);
  assert.deepEqual(ws.payloads, [1]);
  assert.equal(ws.writes[0]!.corked, false);
  for (let i = 2; i <= 5; i++) assert.equal(conn.forward(frame(i)), SendStatus.SUCCESS);
  assert.deepEqual(ws.payloads, [1], 'later frames are staged, not written');
  assert.equal(conn.stagedBytes, 4 * 16);
  assert.equal(conn.txFrames, 5);
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3, 4, 5]);
  assert.equal(ws.corks, 1);
  assert.ok(ws.writes.slice(1).every((w) => w.corked));
  assert.equal(conn.stagedBytes, 0);
  assert.equal(coalescer.stagedFrames, 4);
  // a new turn: the next frame is written at once again
  conn.forward(frame(6));
  assert.deepEqual(ws.payloads, [1, 2, 3, 4, 5, 6]);
  assert.equal(ws.writes[5]!.corked, false);
});

test('a staged frame is a copy: the sender reusing its buffer changes nothing', () => {
  const { coalescer, conn, ws } = setup();
  conn.forward(frame(1));
  const reused = new ArrayBuffer(8);
  new Uint8Array(reused).fill(7);
  conn.forward(reused);
  new Uint8Array(reused).fill(9); // uWS reuses a message's memory once its callback returns
  coalescer.flush();
  assert.deepEqual([...ws.writes[1]!.bytes], [7, 7, 7, 7, 7, 7, 7, 7]);
});

test('a frame too large to stage writes the staged ones first', () => {
  const { coalescer, conn, ws } = setup();
  conn.forward(frame(1));
  conn.forward(frame(2));
  conn.forward(frame(3, 1000)); // over maxFrameBytes (256)
  assert.deepEqual(ws.payloads, [1, 2, 3]);
  conn.forward(frame(4));
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3, 4]);
});

test('a full arena writes what is staged and the frame at once, in order', () => {
  const { coalescer, conn, ws } = setup(64, 64, 32); // room for two 32-byte frames
  conn.forward(frame(1, 32));
  conn.forward(frame(2, 32));
  conn.forward(frame(3, 32));
  assert.deepEqual(ws.payloads, [1]);
  conn.forward(frame(4, 32)); // the arena is full
  assert.deepEqual(ws.payloads, [1, 2, 3, 4]);
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3, 4]);
});

test('staged bytes count as queued bytes for the send budget until they are written', () => {
  const { coalescer, budget, conn, ws } = setup();
  conn.forward(frame(1, 100));
  conn.forward(frame(2, 100));
  conn.forward(frame(3, 50));
  assert.equal(conn.queuedBytes, 150);
  assert.equal(budget.used, 150);
  assert.equal(conn.bufferedAmount(), 150);
  ws.buffered = 40; // uWS kept 40 bytes back
  coalescer.flush();
  assert.equal(conn.queuedBytes, 40);
  assert.equal(budget.used, 40);
});

test('end() writes the staged frames before the close', () => {
  const { coalescer, conn, ws } = setup();
  conn.forward(frame(1));
  conn.forward(frame(2));
  conn.forward(frame(3));
  conn.end(4000, 'bye');
  assert.deepEqual(ws.payloads, [1, 2, 3]);
  assert.deepEqual(ws.ended, [4000, 'bye']);
  conn.onClosed();
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3], 'nothing is written to a closed socket');
});

test('a socket closed by the client drops what was staged for it, and the budget forgets it', () => {
  const { coalescer, budget, conn, ws } = setup();
  conn.forward(frame(1));
  conn.forward(frame(2));
  conn.onClosed();
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1]);
  assert.equal(budget.used, 0);
  assert.equal(conn.forward(frame(3)), SendStatus.DROPPED);
});

test('frames to different sockets are staged apart and each socket gets its own, in order', () => {
  const coalescer = new Coalescer(4096, 64, 256);
  const budget = new SendBudget(64 << 20, 8 << 20, 1 << 20);
  const sockets = [new FakeSocket(), new FakeSocket()];
  const conns = sockets.map((ws, i) => {
    const c = new Connection(`c${i}`, '127.0.0.1', 0, 10_000, budget, coalescer);
    c.attach(ws as unknown as SendSocket);
    c.state = PeerState.READY;
    return c;
  });
  for (let i = 1; i <= 6; i++) conns[i % 2]!.forward(frame(i));
  coalescer.flush();
  assert.deepEqual(sockets[1]!.payloads, [1, 3, 5]);
  assert.deepEqual(sockets[0]!.payloads, [2, 4, 6]);
});

test('a frame uWS refuses at the end of the turn is counted as dropped', () => {
  const { coalescer, conn, ws } = setup();
  conn.forward(frame(1));
  conn.forward(frame(2));
  ws.result = SendStatus.DROPPED;
  coalescer.flush();
  assert.equal(conn.droppedFrames, 1);
});

test('a held connection writes nothing until released, then everything in order, from copies', () => {
  const { coalescer, conn, ws } = setup();
  conn.hold();
  const reused = frame(1);
  assert.equal(conn.forward(reused), SendStatus.SUCCESS);
  reused.fill(9); // the relayed frame's bytes belonged to its callback
  assert.equal(conn.sendFrame(frame(2)), true);
  conn.forward(frame(3, 1024));
  assert.deepEqual(ws.payloads, [], 'held');
  conn.release();
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3]);
  conn.forward(frame(4));
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3, 4], 'released: written as usual');
});

test('ending a held connection writes what was held before the close', () => {
  const { conn, ws } = setup();
  conn.hold();
  conn.sendFrame(frame(1));
  conn.end(4000, 'bye');
  assert.deepEqual(ws.payloads, [1]);
  assert.deepEqual(ws.ended, [4000, 'bye']);
});

test('a held connection past its budget closes as a slow consumer, also when ended meanwhile, without throwing', () => {
  const coalescer = new Coalescer(4096, 64, 256);
  const budget = new SendBudget(64 << 20, 10_000, 1 << 20);
  const conn = new Connection('c1', '127.0.0.1', 0, 10_000, budget, coalescer);
  const ws = new FakeSocket();
  // uWS runs the close handler from inside end()
  const end = ws.end.bind(ws);
  ws.end = (code: number, reason: string) => {
    end(code, reason);
    conn.onClosed();
  };
  conn.attach(ws as unknown as SendSocket);
  conn.state = PeerState.READY;
  conn.hold();
  for (let i = 1; i <= 3; i++) assert.equal(conn.sendFrame(frame(i, 3000)), true);
  assert.equal(conn.sendFrame(frame(4, 3000)), false, 'past 10 000 bytes held');
  assert.deepEqual(ws.ended, [4008, 'FERRY_ERR_SLOW_CONSUMER']);
  assert.deepEqual(ws.payloads, [1, 2, 3], 'what was held went out before the close');
  assert.doesNotThrow(() => conn.end(1001, 'going away'));
});

test('while held no heartbeat is sent (it would be timed from the hold); a heartbeat refused at release skips only itself', () => {
  const { coalescer, conn, ws } = setup();
  conn.hold();
  assert.equal(conn.sendHeartbeat(frame(7)), false);
  conn.forward(frame(1)); // unreliable, refused by uWS at release
  conn.sendFrame(frame(2));
  ws.result = SendStatus.DROPPED;
  const send = ws.send.bind(ws);
  ws.send = (message: ArrayBuffer | Uint8Array) => {
    const first = (message instanceof Uint8Array ? message : new Uint8Array(message))[0];
    ws.result = first === 1 ? SendStatus.DROPPED : SendStatus.SUCCESS;
    return send(message);
  };
  conn.release();
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2], 'the reliable frame after the refused one went out');
  assert.equal(conn.connected, true);
});

test('a frame the gateway makes waits for the end of the turn even when it is the first, and relayed frames queue behind it', () => {
  const { coalescer, conn, ws } = setup();
  assert.equal(conn.sendFrame(frame(1)), true);
  assert.deepEqual(ws.payloads, [], 'staged, not written');
  assert.equal(conn.forward(frame(2)), SendStatus.SUCCESS, 'a relayed frame in the same turn');
  assert.equal(conn.sendFrame(frame(3)), true);
  assert.deepEqual(ws.payloads, []);
  assert.equal(conn.stagedBytes, 3 * 16);
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3], 'one corked write, in order');
  assert.equal(ws.corks, 1);
  assert.ok(ws.writes.every((w) => w.corked));
  // the next turn: a relayed frame is written at once again
  conn.forward(frame(4));
  assert.deepEqual(ws.payloads, [1, 2, 3, 4]);
  assert.equal(ws.writes[3]!.corked, false);
});

test('a gateway frame too large to stage is written at once, after what is staged', () => {
  const { coalescer, conn, ws } = setup(4096, 64, 256);
  conn.sendFrame(frame(1));
  conn.sendFrame(frame(2, 1000));
  assert.deepEqual(ws.payloads, [1, 2]);
  assert.equal(ws.writes[1]!.bytes.length, 1000);
  coalescer.flush();
  assert.equal(ws.corks, 0, 'nothing was left to write');
});

test('end(afterTurn) sends the frames of the turn in one corked write, then the close, and takes no frame meanwhile', () => {
  const { coalescer, conn, ws } = setup();
  conn.sendFrame(frame(1));
  conn.sendFrame(frame(2));
  conn.end(4100, 'session ended', true);
  assert.equal(ws.ended, null, 'the close waits for the end of the turn');
  assert.equal(conn.state, PeerState.READY);
  assert.equal(conn.forward(frame(3)), SendStatus.DROPPED);
  assert.equal(conn.sendFrame(frame(4)), false);
  assert.equal(conn.sendHeartbeat(frame(5)), false);
  assert.equal(conn.ending, true);
  conn.end(4101, 'again', true);
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2]);
  assert.deepEqual(ws.ended, [4100, 'session ended'], 'the first close stays');
  assert.equal(ws.corks, 1);
  assert.ok(ws.writes.every((w) => w.corked));
  // uWS holds a FIN back while the socket is corked: the close goes after the cork
  assert.equal(ws.endedCorked, false);
  assert.equal(conn.state, PeerState.CLOSED);
  assert.equal(conn.ending, false);
});

test('a plain end() while a close waits for the turn closes at once, with the waiting close and its frames', () => {
  const { coalescer, conn, ws } = setup();
  conn.sendFrame(frame(1));
  conn.end(1001, 'FERRY_ERR_SHUTTING_DOWN', true);
  conn.end(1011, 'a shutdown that cannot wait');
  assert.deepEqual(ws.payloads, [1]);
  assert.deepEqual(ws.ended, [1001, 'FERRY_ERR_SHUTTING_DOWN']);
  assert.equal(conn.state, PeerState.CLOSED);
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1], 'nothing written twice');
});

test('sendFrame(now) writes at once, behind what is staged (an answer the client times)', () => {
  const { coalescer, conn, ws } = setup();
  conn.sendFrame(frame(1), true);
  assert.deepEqual(ws.payloads, [1]);
  assert.equal(ws.writes[0]!.corked, false);
  conn.sendFrame(frame(2));
  conn.sendFrame(frame(3, 1000), true);
  assert.deepEqual(ws.payloads, [1, 2, 3], 'the staged frame went first');
  coalescer.flush();
  assert.deepEqual(ws.payloads, [1, 2, 3]);
});

test('end(afterTurn) outside a turn closes at once', () => {
  const { coalescer, conn, ws } = setup();
  conn.end(4100, 'session ended', true);
  assert.deepEqual(ws.ended, [4100, 'session ended']);
  assert.equal(ws.endedCorked, false);
  assert.equal(conn.state, PeerState.CLOSED);
  coalescer.flush();
  assert.equal(ws.corks, 0);
});

test('a client that closes before the end of the turn leaves nothing to write or end', () => {
  const { coalescer, conn, ws } = setup();
  conn.sendFrame(frame(1));
  conn.end(4100, 'session ended', true);
  conn.onClosed();
  coalescer.flush();
  assert.deepEqual(ws.payloads, []);
  assert.equal(ws.ended, null);
  assert.equal(ws.corks, 0);
});

test('a staged reliable frame uWS refuses while ending closes the socket once, as a slow consumer', () => {
  const { conn, ws } = setup();
  const ends: [number, string][] = [];
  ws.end = (code: number, reason: string) => {
    ends.push([code, reason]);
    conn.onClosed(); // what uWS's close handler does, synchronously
  };
  conn.sendFrame(frame(1));
  ws.result = SendStatus.DROPPED;
  assert.doesNotThrow(() => conn.end(4000, 'bye'));
  assert.equal(ends.length, 1);
  assert.equal(ends[0]![1], 'FERRY_ERR_SLOW_CONSUMER');
  assert.equal(conn.state, PeerState.CLOSED);
});
