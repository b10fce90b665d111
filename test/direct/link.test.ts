/**
 * One end of the direct path (src/clients/direct-link.ts) over fake WebRTC objects, time driven
 * with mock.timers: the customer closes a channel whose first message is not the gateway's
 * token, drops SCREEN frames while the channel is full and asks for a key frame once it drained,
 * falls back on a stall, and refuses frames of the wrong channel.
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import {
  type DataChannelLike,
  DirectLink,
  type PeerConnectionLike,
  SCREEN_HIGH_WATER,
} from '../../src/clients/direct-link.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

class FakeChannel implements DataChannelLike {
  readyState = 'open';
  bufferedAmount = 0;
  readonly sent: (string | Uint8Array)[] = [];
  onopen: DataChannelLike['onopen'] = null;
  onclose: DataChannelLike['onclose'] = null;
  onmessage: DataChannelLike['onmessage'] = null;
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 'closed';
  }
  /** A message from the other end. */
  receive(data: string | Uint8Array): void {
    this.onmessage?.({ data });
  }
}

class FakePeer implements PeerConnectionLike {
  connectionState = 'new';
  localDescription = null;
  onicecandidate: PeerConnectionLike['onicecandidate'] = null;
  ondatachannel: PeerConnectionLike['ondatachannel'] = null;
  onconnectionstatechange: PeerConnectionLike['onconnectionstatechange'] = null;
  createDataChannel(): DataChannelLike {
    return new FakeChannel();
  }
  createOffer() {
    return Promise.resolve({ type: 'offer', sdp: 'v=0' });
  }
  createAnswer() {
    return Promise.resolve({ type: 'answer', sdp: 'v=0' });
  }
  setLocalDescription() {
    return Promise.resolve();
  }
  setRemoteDescription() {
    return Promise.resolve();
  }
  addIceCandidate() {
    return Promise.resolve();
  }
  close(): void {
    this.connectionState = 'closed';
  }
}

const OPEN: ferry.v1.IDirectOpen = {
  pathId: 7,
  token: 'the-token',
  offerer: false,
  keepaliveMs: 250,
  stallMs: 1500,
  reportIntervalMs: 2000,
};

/** A customer's end, its channel opened by the fake technician. */
function customerEnd(accept = true) {
  let now = 0;
  const controls: ferry.v1.IControl[] = [];
  const delivered: ferry.v1.Frame[] = [];
  let drained = 0;
  const peer = new FakePeer();
  const link = new DirectLink({
    role: 'customer',
    sendControl: (c) => controls.push(c),
    createPeer: () => peer,
    deliver: (frame) => {
      if (accept) delivered.push(frame);
      return accept;
    },
    drained: () => drained++,
    now: () => now,
  });
  link.onControl({ directOpen: OPEN });
  const channel = new FakeChannel();
  peer.ondatachannel?.({ channel });
  return {
    link,
    channel,
    controls,
    delivered,
    drained: () => drained,
    advance(ms: number) {
      now += ms;
      mock.timers.tick(ms);
    },
  };
}

const screen = encodeFrame({ channel: ferry.v1.Channel.CHANNEL_SCREEN, screen: {} });
const input = encodeFrame({ channel: ferry.v1.Channel.CHANNEL_INPUT, input: { seq: 1 } });

test('the customer closes a channel whose first message is not the token', () => {
  const c = customerEnd();
  c.channel.receive('t:somebody-else');
  assert.equal(c.link.state, 'idle');
  const close = c.controls.find((x) => x.directClose)?.directClose;
  assert.equal(close?.cause, ferry.v1.DirectCloseCause.DIRECT_CLOSE_BAD_TOKEN);
  assert.equal(close?.pathId, 7);
  assert.equal(c.channel.readyState, 'closed');
  assert.ok(!c.controls.some((x) => x.directUp), 'never said up');
});

test('with the token the path is up; only INPUT frames are taken, and frames before the token are ignored', () => {
  const c = customerEnd();
  c.channel.receive(input);
  assert.equal(c.delivered.length, 0, 'nothing before the token');
  c.channel.receive('t:the-token');
  assert.equal(c.link.state, 'up');
  assert.deepEqual(c.channel.sent, ['ok']);
  assert.ok(c.controls.some((x) => x.directUp?.pathId === 7));
  c.channel.receive(input);
  c.channel.receive(screen);
  assert.equal(c.delivered.length, 1);
  assert.equal(c.link.refused, 1, 'SCREEN is not for a customer');
  // a frame that starts as INPUT but decodes as SHELL (a protobuf field given twice keeps its
  // last value) is refused: the whole frame is checked, not its first bytes
  const shell = encodeFrame({ channel: ferry.v1.Channel.CHANNEL_SHELL, shell: {} });
  const smuggled = new Uint8Array([...input.subarray(0, 2), ...shell]);
  assert.equal(ferry.v1.Frame.decode(smuggled).channel, ferry.v1.Channel.CHANNEL_SHELL);
  c.channel.receive(smuggled);
  // INPUT on the channel field, a chat body
  c.channel.receive(encodeFrame({ channel: ferry.v1.Channel.CHANNEL_INPUT, chat: { text: 'x' } }));
  c.channel.receive(new Uint8Array([0x08, 0x02, 0xff, 0xff])); // does not decode
  assert.equal(c.delivered.length, 1);
  assert.equal(c.link.refused, 4);
  assert.equal(c.delivered[0]!.body, 'input');
  c.link.close();
});

test('a full channel drops SCREEN frames (counted, not sent) and asks for a key frame once it drained', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const c = customerEnd();
    c.channel.receive('t:the-token');
    assert.equal(c.link.send(screen), true);
    assert.equal(c.channel.sent.length, 2, 'ok, then the frame');
    c.channel.bufferedAmount = SCREEN_HIGH_WATER + 1;
    assert.equal(c.link.send(screen), true, 'handled: dropped here');
    assert.equal(c.link.screenDropped, 1);
    assert.equal(c.channel.sent.length, 2);
    assert.equal(c.link.bufferedAmount, SCREEN_HIGH_WATER + 1);
    c.channel.receive('p:1'); // the other end is alive
    c.advance(250);
    assert.equal(c.drained(), 0, 'still full');
    c.channel.bufferedAmount = SCREEN_HIGH_WATER / 2;
    c.channel.receive('p:2');
    c.advance(250);
    assert.equal(c.drained(), 1, 'drained to half: a key frame is due');
    c.advance(250);
    assert.equal(c.drained(), 1, 'once');
    c.link.close();
  } finally {
    mock.timers.reset();
  }
});

test('nothing heard for stall_ms: the end falls back and tells the gateway', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const c = customerEnd();
    c.channel.receive('t:the-token');
    c.advance(1500);
    assert.equal(c.link.state, 'up', 'not before the stall time has passed');
    c.advance(250);
    assert.equal(c.link.state, 'idle');
    const close = c.controls.find((x) => x.directClose)?.directClose;
    assert.equal(close?.cause, ferry.v1.DirectCloseCause.DIRECT_CLOSE_STALLED);
    assert.equal(c.link.fallbacks, 1);
    assert.equal(c.link.send(screen), false, 'frames go back to the relay');
  } finally {
    mock.timers.reset();
  }
});
