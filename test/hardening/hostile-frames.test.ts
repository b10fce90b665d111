/**
 * Hostile frames (issue 7, item 2), property-based with fast-check.
 *
 * In process: fake peers speak to a real gateway's Router (sessions built over the protocol, see
 * fakes.ts). For every frame of a random storm: the router does not throw; the sender gets at
 * most one Error, exactly one with the expected code when the frame is bad by construction, and
 * the close its code names; a frame that got no Error was handled as valid (relayed byte for
 * byte, or decodable); nothing reaches a participant of another session; after the storm both
 * sessions still relay.
 *
 * Over the wire: a hostile pair and hostile fresh connections send a few hundred such frames
 * while a healthy session runs beside them; the gateway stays up, the healthy session still
 * relays byte-identical screen frames and sees nothing of the storm, and nothing is rejected
 * unhandled.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import type { FerryClient } from '../../src/clients/client.js';
import { waitFor } from '../../src/clients/client.js';
import { Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeerState } from '../../src/relay/peer.js';
import { GRANT_CONTROL, GRANT_VIEW } from '../../src/session/consent.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  activeSession,
  helloTechnician,
  rawPeer,
  startGateway,
  technician,
} from '../integration/harness.js';
import { buildWorld, deliver, encode, type FakePeer, type World } from './fakes.js';
import {
  DECODED,
  fuzzFrame,
  HeaderStatus,
  type Hostile,
  type HostileContext,
  hostileFrame,
  LIMITS,
  readHeader,
  type Sender,
} from './hostile.js';

const Channel = ferry.v1.Channel;
const LIMIT_CONFIG = {
  maxFrameBytes: LIMITS.frame,
  maxControlBytes: LIMITS.control,
  statsIntervalMs: 0,
  // The properties send many refused frames per connection; the bad-frame limit has its own test.
  maxBadFrames: 1_000_000,
} as const;
const ALL: readonly Sender[] = ['techA', 'customerA', 'techW', 'customerW', 'techIdle', 'fresh'];

const entries = new Map<string, (typeof Codes)[keyof typeof Codes]>(
  Object.values(Codes).map((e) => [e.code, e]),
);
const documentedCloses: ReadonlySet<number> = new Set(Object.values(Codes).map((e) => e.close));

const hex = (b: Uint8Array) =>
  Buffer.from(b.subarray(0, 48)).toString('hex') + (b.length > 48 ? `...(${b.length})` : '');
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

function senderOf(w: World, from: Sender): FakePeer {
  return from === 'fresh' ? w.fresh() : w[from];
}

/** Sends one hostile frame in process and checks everything item 2 promises about it. */
function sendAndCheck(w: World, h: Hostile): void {
  const sender = senderOf(w, h.from);
  // uWS delivers nothing on a closed connection
  if (sender.state === PeerState.CLOSED) return;
  const bytes = h.build({ sessionA: w.sessionA, sessionB: w.sessionB });
  const what = `${h.label} from ${h.from} [${hex(bytes)}]`;
  const group = new Set(w.groupOf.get(sender));
  const marks = new Map(w.peers.map((p) => [p, p.sent.length]));
  try {
    deliver(w.router, sender, bytes, h.text !== true);
  } catch (err) {
    assert.fail(`${what}: the router threw ${(err as Error).stack}`);
  }
  const errors = sender.errorsSince(marks.get(sender)!);
  assert.ok(errors.length <= 1, `${what}: ${errors.length} Errors for one frame`);
  if (h.expect !== null) {
    assert.equal(errors.length, 1, `${what}: no Error (expected ${h.expect.join('|') || 'one'})`);
    if (h.expect.length > 0) {
      assert.ok(h.expect.includes(errors[0]!.code), `${what}: got ${errors[0]!.code}`);
    }
  }
  if (errors.length === 1) {
    const err = errors[0]!;
    if (h.requestId !== undefined) assert.equal(err.requestId, h.requestId, `${what}: request id`);
    const entry = entries.get(err.code);
    assert.ok(entry, `${what}: ${err.code} is not in the codes table`);
    if (entry.close !== 0) {
      assert.deepEqual(sender.closedWith, [entry.close, entry.code], `${what}: close`);
    } else {
      assert.equal(sender.closedWith, null, `${what}: closed after ${err.code}`);
    }
    // refused: nothing relayed; a close may tell the others (status, participant left) by EVENT
    for (const p of group) {
      if (p === sender) continue;
      const got = p.framesSince(marks.get(p)!);
      const relayed: ferry.v1.Frame[] =
        entry.close !== 0 ? got.filter((f) => f.channel !== Channel.CHANNEL_EVENT) : got;
      assert.deepEqual(relayed, [], `${what}: refused, yet ${p.label} got frames`);
    }
  } else {
    assertHandledAsValid(sender, group, marks, bytes, what);
    if (sender.closedWith !== null) {
      assert.ok(documentedCloses.has(sender.closedWith[0]), `${what}: undocumented close`);
    }
  }
  for (const p of w.peers) {
    if (!group.has(p)) {
      assert.equal(p.sent.length, marks.get(p), `${what}: reached ${p.label} of another session`);
    }
  }
}

/** A frame that got no Error must have been a valid one: relayed as is, or decodable. */
function assertHandledAsValid(
  sender: FakePeer,
  group: Set<FakePeer>,
  marks: Map<FakePeer, number>,
  bytes: Uint8Array,
  what: string,
): void {
  const { status, channel } = readHeader(bytes);
  assert.equal(status, HeaderStatus.OK, `${what}: malformed, yet no Error`);
  if (channel === Channel.CHANNEL_SCREEN || channel === Channel.CHANNEL_INPUT) {
    // relayed as is to the other side of the session; with nobody connected there, SCREEN is
    // droppable and INPUT is held for the absent customer's resume
    for (const p of group) {
      if (p === sender || !p.connected) continue;
      const got = p.sent.slice(marks.get(p)).some((b) => same(b, bytes));
      assert.ok(got, `${what}: neither relayed to ${p.label} nor refused`);
    }
    return;
  }
  assert.ok(DECODED.has(channel), `${what}: channel ${channel} passed silently`);
  assert.doesNotThrow(() => ferry.v1.Frame.decode(bytes), `${what}: undecodable, yet no Error`);
}

/** Screen, input and chat still flow between `tech` and `customer`, byte for byte. */
function assertRelays(w: World, tech: FakePeer, customer: FakePeer, why: string): void {
  const screen = encode({
    channel: Channel.CHANNEL_SCREEN,
    stream: 1,
    screen: { frameSeq: 9, keyFrame: true, data: randomBytes(64) },
  });
  let mark = tech.sent.length;
  deliver(w.router, customer, screen);
  assert.equal(tech.sent.length, mark + 1, `${why}: screen frame not relayed`);
  assert.ok(same(tech.sent[mark]!, screen), `${why}: screen frame changed on the way`);
  const input = encode({ channel: Channel.CHANNEL_INPUT, input: { seq: 1, move: { x: 3, y: 4 } } });
  mark = customer.sent.length;
  deliver(w.router, tech, input);
  assert.equal(customer.sent.length, mark + 1, `${why}: input not relayed`);
  assert.ok(same(customer.sent[mark]!, input), `${why}: input changed on the way`);
  const chatText = `still here ${randomBytes(4).toString('hex')}`;
  mark = tech.sent.length;
  deliver(w.router, customer, encode({ channel: Channel.CHANNEL_CHAT, chat: { text: chatText } }));
  const chats = tech.framesSince(mark).filter((f) => f.chat?.text === chatText);
  assert.equal(chats.length, 1, `${why}: chat not relayed`);
}

function assertStillServing(w: World): void {
  assertRelays(w, w.techB, w.customerB, 'bystander session B');
  const a = w.gateway.registry.get(w.sessionA);
  // a storm may revoke the grants of session A (a valid RevokeConsent from its customer)
  const both = GRANT_VIEW | GRANT_CONTROL;
  const granted = a !== undefined && (a.grants & both) === both;
  if (a?.status === 'ACTIVE' && granted && w.techA.connected && w.customerA.connected) {
    assertRelays(w, w.techA, w.customerA, 'hostile session A');
  }
  const tech = w.fresh();
  deliver(w.router, tech, helloTechnician(issueToken(w.gateway.config.secret, 'late', 60)));
  assert.ok(
    tech.framesSince(0).some((f) => f.control?.welcome),
    'a new technician is welcomed after the storm',
  );
}

const storm = (arb: fc.Arbitrary<Hostile>) => fc.array(arb, { minLength: 1, maxLength: 40 });

test('every bad-by-construction frame gets exactly one coded Error (or its documented close) and touches no other session', async (t) => {
  const { gateway } = await startGateway(t, LIMIT_CONFIG);
  fc.assert(
    fc.property(storm(hostileFrame(ALL)), (frames) => {
      const w = buildWorld(gateway);
      for (const h of frames) sendAndCheck(w, h);
      assertStillServing(w);
    }),
    { numRuns: 150, includeErrorInReport: true },
  );
});

test('random bytes, random bodies and truncated frames never crash the router, get at most one Error each and leak nowhere', async (t) => {
  const { gateway } = await startGateway(t, LIMIT_CONFIG);
  fc.assert(
    fc.property(storm(fuzzFrame(ALL)), (frames) => {
      const w = buildWorld(gateway);
      for (const h of frames) sendAndCheck(w, h);
      assertStillServing(w);
    }),
    { numRuns: 150, includeErrorInReport: true },
  );
});

test('a mixed storm of hostile and fuzzed frames leaves both sessions relaying', async (t) => {
  const { gateway } = await startGateway(t, LIMIT_CONFIG);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(hostileFrame(ALL), fuzzFrame(ALL)), { minLength: 50, maxLength: 200 }),
      (frames) => {
        const w = buildWorld(gateway);
        for (const h of frames) sendAndCheck(w, h);
        assertStillServing(w);
      },
    ),
    { numRuns: 20, includeErrorInReport: true },
  );
});

// --- over the wire ------------------------------------------------------------------------------

let nextSentinel = 0xf0000000;

/**
 * A CONTROL frame every gateway state answers with one Error carrying its request id (session
 * not found, wrong role, or Hello required): sent after a batch, its answer proves the batch was
 * processed, and the Errors before it are the batch's.
 */
function sentinel(): { id: number; bytes: Uint8Array } {
  const id = nextSentinel++;
  return {
    id,
    bytes: encode({
      channel: Channel.CHANNEL_CONTROL,
      control: { requestId: id, pickUp: { sessionId: 'sentinel: no such session' } },
    }),
  };
}

/** Sends `frames` then a sentinel; resolves with the Errors that came before its answer. */
function answersTo(client: FerryClient, frames: Uint8Array[]): Promise<ferry.v1.Error[]> {
  const { id, bytes } = sentinel();
  const errors: ferry.v1.Error[] = [];
  return new Promise((resolve) => {
    const done = () => {
      client.off('frame', onFrame);
      client.off('close', done);
      resolve(errors);
    };
    const onFrame = (frame: ferry.v1.Frame) => {
      const err = frame.event?.error as ferry.v1.Error | undefined;
      if (!err) return;
      if (err.requestId === id) done();
      else errors.push(err);
    };
    client.on('frame', onFrame);
    client.on('close', done);
    for (const f of frames) client.sendRaw(f);
    client.sendRaw(bytes);
  });
}

test('over the wire: hundreds of hostile frames leave the gateway up, a parallel session relaying byte-identical screen frames, and no rejection unhandled', {
  timeout: 60_000,
}, async (t) => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));

  const { gateway, url } = await startGateway(t, LIMIT_CONFIG);
  const healthy = await activeSession(t, gateway);
  const hostile = await activeSession(t, gateway, { customerName: 'Mallory' });
  const ctx: HostileContext = { sessionA: hostile.sessionId, sessionB: healthy.sessionId };
  const leaked: string[] = [];
  for (const [who, client] of [
    ['healthy technician', healthy.tech],
    ['healthy customer', healthy.customer],
  ] as const) {
    client.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_HEARTBEAT) return;
      leaked.push(
        `${who}: channel ${frame.channel} ${frame.body ?? ''} ${frame.event?.kind ?? ''}`,
      );
    });
  }
  const clients = { techA: hostile.tech, customerA: hostile.customer } as const;
  // SCREEN and INPUT are relayed unread (docs/architecture.md hot path), so the hostile pair receives each
  // other's garbage; the reference client reports it as an 'error' event, which must be heard.
  const undecodable: Error[] = [];
  for (const c of Object.values(clients)) c.on('error', (err) => undecodable.push(err));
  const seed = randomBytes(4).readUInt32BE(0) >>> 1;
  const where = `(fast-check seed ${seed})`;

  // Bad by construction: every frame is answered with exactly its one coded Error, in order.
  const strict = fc.sample(
    hostileFrame(['techA', 'customerA', 'fresh']).filter(
      (h) => h.text !== true || h.from === 'fresh',
    ),
    { numRuns: 300, seed },
  );
  for (const from of ['techA', 'customerA'] as const) {
    const frames = strict.filter((h) => h.from === from);
    const errors = await answersTo(
      clients[from],
      frames.map((h) => h.build(ctx)),
    );
    assert.equal(errors.length, frames.length, `${from}: one Error per frame ${where}`);
    frames.forEach((h, i) => {
      const got = errors[i]!;
      const expect = h.expect ?? [];
      if (expect.length > 0) {
        assert.ok(expect.includes(got.code), `${from}: ${h.label} -> ${got.code} ${where}`);
      }
      if (h.requestId !== undefined) assert.equal(got.requestId, h.requestId, h.label);
    });
  }
  for (const h of strict.filter((x) => x.from === 'fresh')) {
    const peer = await rawPeer(t, url);
    const bytes = h.build(ctx);
    const { id, bytes: probe } = sentinel();
    peer.send(h.text === true ? new TextDecoder().decode(bytes) : bytes);
    peer.send(probe);
    const answered = new Promise<void>((resolve) => {
      peer.ws.on('message', () => {
        if (peer.frames.some((f) => f.event?.error?.requestId === id)) resolve();
      });
    });
    await Promise.race([answered, peer.closed]);
    const errors = peer.frames
      .map((f) => f.event?.error)
      .filter((e): e is ferry.v1.Error => e != null && e.requestId !== id);
    assert.equal(errors.length, 1, `${h.label}: ${JSON.stringify(errors)} ${where}`);
    const err = errors[0]!;
    assert.ok(
      (h.expect ?? []).length === 0 || h.expect!.includes(err.code),
      `${h.label} -> ${err.code} ${where}`,
    );
    const close = entries.get(err.code)!.close;
    if (close !== 0) assert.equal((await peer.closed).code, close, `${h.label}: close code`);
    peer.ws.close();
  }

  // Fuzzed: at most one Error per frame; the sentinel proves every frame was processed.
  const fuzzed = fc.sample(fuzzFrame(['techA', 'customerA']), { numRuns: 300, seed: seed + 1 });
  for (const from of ['techA', 'customerA'] as const) {
    const frames = fuzzed.filter((h) => h.from === from);
    const errors = await answersTo(
      clients[from],
      frames.map((h) => h.build(ctx)),
    );
    assert.ok(errors.length <= frames.length, `${from}: more Errors than frames ${where}`);
    for (const e of errors) assert.ok(entries.has(e.code), `${e.code} is not a Ferry code`);
  }

  // The healthy session saw nothing of it and still relays the very same bytes.
  assert.deepEqual(leaked, [], 'frames of the storm reached the healthy session');
  const received: Buffer[] = [];
  healthy.tech.on('frame', (f, raw) => {
    if (f.channel === Channel.CHANNEL_SCREEN) received.push(Buffer.from(raw));
  });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) sent.push(...healthy.customer.sendScreenFrame());
  const marker = waitFor(healthy.tech, 'chat', (c) => c.text === 'after the storm');
  healthy.customer.chat('after the storm');
  await marker;
  assert.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++)
    assert.ok(received[i]!.equals(sent[i]!), `frame ${i} differs`);

  const health = await fetch(`http://127.0.0.1:${gateway.adminPort}/healthz`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
  const late = await technician(t, gateway, 'tech-late');
  assert.ok(late.welcome, 'a new technician connects after the storm');
  assert.deepEqual(rejections, [], 'unhandled rejections');
});

test('a connection that keeps sending bad frames is closed', { timeout: 30_000 }, async (t) => {
  const { gateway, url } = await startGateway(t, { ...LIMIT_CONFIG, maxBadFrames: 20 });
  const peer = await rawPeer(t, url);
  peer.send(helloTechnician(issueToken(gateway.config.secret, 'noisy', 60)));
  await new Promise<void>((resolve) => peer.ws.once('message', () => resolve()));
  const bad = Buffer.from('ff', 'hex');
  for (let i = 0; i < 2000 && peer.ws.readyState === 1; i++) peer.send(bad);
  const { id, bytes } = sentinel();
  peer.send(bytes);
  const answered = new Promise<'answered'>((resolve) => {
    peer.ws.on('message', () => {
      if (peer.frames.some((f) => f.event?.error?.requestId === id)) resolve('answered');
    });
  });
  const outcome = await Promise.race([answered, peer.closed.then((c) => c.code)]);
  assert.equal(outcome, 1008, '2000 bad frames in a row and the connection is still open');
});

test('an Error for a refused CHAT or HEARTBEAT frame names that channel', async (t) => {
  const { gateway } = await startGateway(t, LIMIT_CONFIG);
  const w = buildWorld(gateway);
  const cases: [number, Uint8Array][] = [
    [Channel.CHANNEL_CHAT, encode({ channel: Channel.CHANNEL_CHAT, chat: { text: 'hi' } })],
    [Channel.CHANNEL_CHAT_PRIVATE, encode({ channel: Channel.CHANNEL_CHAT_PRIVATE })],
    [Channel.CHANNEL_HEARTBEAT, encode({ channel: Channel.CHANNEL_HEARTBEAT })],
  ];
  for (const [channel, frame] of cases) {
    const mark = w.techIdle.sent.length;
    deliver(w.router, w.techIdle, frame);
    const [err] = w.techIdle.errorsSince(mark);
    assert.equal(err?.channel, channel, `${err?.code} for channel ${channel}`);
  }
});
