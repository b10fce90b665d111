import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  activeSession,
  encode,
  helloCustomer,
  helloTechnician,
  rawPeer,
  startGateway,
  technician,
} from './harness.js';

const Channel = ferry.v1.Channel;

test('every kind of bad input gets its coded error while another session keeps relaying', async (t) => {
  const { gateway } = await startGateway(t, { maxFrameBytes: 4096, maxControlBytes: 2048 });
  const healthy = await activeSession(t, gateway);

  // A second, hostile pair in its own Active session.
  const { tech: hostileTech, customer: hostileCustomer } = await activeSession(t, gateway, {
    customerName: 'Mallory',
  });
  const techErrors: ferry.v1.Error[] = [];
  const customerErrors: ferry.v1.Error[] = [];
  hostileTech.on('gatewayError', (e) => techErrors.push(e));
  hostileCustomer.on('gatewayError', (e) => customerErrors.push(e));
  const nextTechError = () => waitFor(hostileTech, 'gatewayError').then(([e]) => e.code);
  const nextCustomerError = () => waitFor(hostileCustomer, 'gatewayError').then(([e]) => e.code);

  const cases: [string, () => void, () => Promise<string>, string][] = [
    [
      'frame without field 1',
      () => hostileTech.sendRaw(Buffer.from('1001', 'hex')),
      nextTechError,
      'FERRY_ERR_FRAME_NO_CHANNEL',
    ],
    [
      'truncated channel varint',
      () => hostileTech.sendRaw(Buffer.from('0880', 'hex')),
      nextTechError,
      'FERRY_ERR_FRAME_TRUNCATED',
    ],
    [
      'empty frame',
      () => hostileTech.sendRaw(Buffer.alloc(0)),
      nextTechError,
      'FERRY_ERR_FRAME_EMPTY',
    ],
    [
      'unknown channel',
      () => hostileTech.sendRaw(Buffer.from('0863', 'hex')),
      nextTechError,
      'FERRY_ERR_UNKNOWN_CHANNEL',
    ],
    [
      'customer sends INPUT',
      () =>
        hostileCustomer.sendRaw(
          encode({ channel: Channel.CHANNEL_INPUT, input: { move: { x: 1, y: 1 } } }),
        ),
      nextCustomerError,
      'FERRY_ERR_WRONG_ROLE',
    ],
    [
      'technician sends SCREEN',
      () =>
        hostileTech.sendRaw(encode({ channel: Channel.CHANNEL_SCREEN, screen: { frameSeq: 1 } })),
      nextTechError,
      'FERRY_ERR_WRONG_ROLE',
    ],
    [
      'customer private chat',
      () => hostileCustomer.chat('psst', true),
      nextCustomerError,
      'FERRY_ERR_WRONG_ROLE',
    ],
    [
      'client sends EVENT',
      () => hostileTech.sendRaw(encode({ channel: Channel.CHANNEL_EVENT, event: {} })),
      nextTechError,
      'FERRY_ERR_WRONG_ROLE',
    ],
    [
      'SCREEN over the size limit',
      () =>
        hostileCustomer.sendRaw(
          encode({ channel: Channel.CHANNEL_SCREEN, screen: { data: new Uint8Array(5000) } }),
        ),
      nextCustomerError,
      'FERRY_ERR_FRAME_TOO_LARGE',
    ],
    [
      'chat over the control size limit',
      () => hostileTech.chat('x'.repeat(3000)),
      nextTechError,
      'FERRY_ERR_FRAME_TOO_LARGE',
    ],
    [
      'undecodable CONTROL',
      () => hostileTech.sendRaw(Buffer.from('0808520fff', 'hex')),
      nextTechError,
      'FERRY_ERR_FRAME_DECODE',
    ],
    [
      'second Hello',
      () => hostileTech.sendRaw(helloTechnician('x')),
      nextTechError,
      'FERRY_ERR_HELLO_DUPLICATE',
    ],
    [
      'SHELL without a grant',
      () =>
        hostileTech.sendRaw(
          encode({
            channel: Channel.CHANNEL_SHELL,
            stream: 1,
            opaque: { data: new Uint8Array([1]) },
          }),
        ),
      nextTechError,
      'FERRY_ERR_NOT_GRANTED',
    ],
    [
      'customer creates a session',
      () => hostileCustomer.notify({ createSession: {} }),
      nextCustomerError,
      'FERRY_ERR_WRONG_ROLE',
    ],
    [
      'pick up an unknown session',
      () => hostileTech.notify({ pickUp: { sessionId: 'nope' } }),
      nextTechError,
      'FERRY_ERR_SESSION_NOT_FOUND',
    ],
    [
      'pick up an active session again',
      () => hostileTech.notify({ pickUp: { sessionId: hostileTech.sessionId } }),
      nextTechError,
      'FERRY_ERR_INVALID_TRANSITION',
    ],
    [
      "pick up another technician's session",
      () => hostileTech.notify({ pickUp: { sessionId: healthy.sessionId } }),
      nextTechError,
      'FERRY_ERR_NOT_IN_SESSION',
    ],
  ];
  for (const [name, send, next, code] of cases) {
    const error = next();
    send();
    assert.equal(await error, code, name);
  }
  assert.deepEqual(techErrors.length + customerErrors.length, cases.length);

  // Nothing of the hostile pair reached the healthy pair, and the healthy session still relays.
  const got: Buffer[] = [];
  healthy.tech.on(
    'frame',
    (f, raw) => f.channel === Channel.CHANNEL_SCREEN && got.push(Buffer.from(raw)),
  );
  const frames = healthy.customer.sendScreenFrame();
  const done = waitFor(healthy.tech, 'chat', (c) => c.text === 'ok?');
  healthy.customer.chat('ok?');
  await done;
  assert.equal(got.length, frames.length);
  assert.ok(got.every((b, i) => b.equals(frames[i]!)));
  assert.equal(gateway.registry.sessions.size, 2);
});

test('screen frames before pick-up are refused as wrong state', async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { pin } = await tech.createSession();
  const { CustomerClient } = await import('../../src/clients/customer.js');
  const customer = new CustomerClient({ url: `ws://127.0.0.1:${gateway.port}/v1/ws`, pin });
  t.after(() => customer.close());
  await customer.connect();
  const error = waitFor(customer, 'gatewayError');
  customer.sendScreenFrame();
  const [err] = await error;
  assert.equal(err.code, 'FERRY_ERR_WRONG_STATE');
  assert.equal(err.channel, Channel.CHANNEL_SCREEN);
});

test('a text message is answered with FERRY_ERR_TEXT_FRAME and close 1003', async (t) => {
  const { url } = await startGateway(t);
  const peer = await rawPeer(t, url);
  peer.send('hello?');
  assert.equal((await peer.nextError()).code, 'FERRY_ERR_TEXT_FRAME');
  assert.deepEqual(await peer.closed, {
    code: CloseCodes.UNSUPPORTED_DATA,
    reason: 'FERRY_ERR_TEXT_FRAME',
  });
});

test('a first frame that is not Hello is refused and the connection closed', async (t) => {
  const { url } = await startGateway(t);
  const peer = await rawPeer(t, url);
  peer.send(encode({ channel: Channel.CHANNEL_CHAT, chat: { text: 'hi' } }));
  assert.equal((await peer.nextError()).code, 'FERRY_ERR_HELLO_REQUIRED');
  assert.equal((await peer.closed).code, CloseCodes.HELLO_REQUIRED);
});

test('a connection that sends no Hello within the deadline is closed with FERRY_ERR_HELLO_TIMEOUT', async (t) => {
  const { url } = await startGateway(t, { helloTimeoutMs: 300 });
  const peer = await rawPeer(t, url);
  assert.equal((await peer.nextError()).code, 'FERRY_ERR_HELLO_TIMEOUT');
  assert.deepEqual(await peer.closed, {
    code: CloseCodes.HELLO_TIMEOUT,
    reason: 'FERRY_ERR_HELLO_TIMEOUT',
  });
});

test('unsigned, tampered, foreign and expired technician tokens are refused with their codes', async (t) => {
  const { gateway, url } = await startGateway(t);
  const good = issueToken(gateway.config.secret, 'tech-1', 3600);
  const [prefix, payload] = good.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ sub: 'admin', iat: 1, exp: 4e9, jti: 'x' })).toString(
    'base64url',
  );
  const cases: [string, string, string][] = [
    ['missing', '', 'FERRY_ERR_TOKEN_MALFORMED'],
    ['garbage', 'not-a-token', 'FERRY_ERR_TOKEN_MALFORMED'],
    ['unsigned', `${prefix}.${payload}.`, 'FERRY_ERR_TOKEN_SIGNATURE'],
    ['tampered payload', `${prefix}.${forged}.${good.split('.')[2]}`, 'FERRY_ERR_TOKEN_SIGNATURE'],
    [
      'signed by another secret',
      issueToken('another-gateway-secret', 'tech-1', 3600),
      'FERRY_ERR_TOKEN_SIGNATURE',
    ],
    [
      'expired',
      issueToken(gateway.config.secret, 'tech-1', 60, Date.now() - 3_600_000),
      'FERRY_ERR_TOKEN_EXPIRED',
    ],
  ];
  for (const [name, token, code] of cases) {
    const peer = await rawPeer(t, url);
    peer.send(helloTechnician(token));
    const err = await peer.nextError();
    assert.equal(err.code, code, name);
    assert.equal(err.requestId, 1, name);
    assert.equal((await peer.closed).code, CloseCodes.AUTH_FAILED, name);
  }
  assert.equal(gateway.registry.sessions.size, 0);
});

test('a PIN works once; wrong and reused PINs are refused with FERRY_ERR_PIN_INVALID', async (t) => {
  const { gateway, url } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { pin } = await tech.createSession();
  const wrong = await rawPeer(t, url);
  wrong.send(helloCustomer(pin === '000000000' ? '111111111' : '000000000'));
  assert.equal((await wrong.nextError()).code, 'FERRY_ERR_PIN_INVALID');
  assert.equal((await wrong.closed).code, CloseCodes.AUTH_FAILED);
  const first = await rawPeer(t, url);
  first.send(helloCustomer(pin));
  await new Promise<void>((resolve) => first.ws.once('message', () => resolve()));
  assert.ok(first.frames[0]?.control?.welcome, 'the first customer is welcomed');
  const second = await rawPeer(t, url);
  second.send(helloCustomer(pin));
  assert.equal((await second.nextError()).code, 'FERRY_ERR_PIN_INVALID');
  assert.equal(gateway.registry.pinAccepted, 1);
  assert.equal(gateway.registry.pinRejected, 2);
});

test('a message over twice the frame limit is cut off by uWS without crossing the gateway', async (t) => {
  const { gateway, url } = await startGateway(t, { maxFrameBytes: 4096, maxControlBytes: 2048 });
  const peer = await rawPeer(t, url);
  peer.send(new Uint8Array(8193));
  // uWS drops the TCP connection at once (no close frame: 1006) rather than buffer the message.
  assert.equal((await peer.closed).code, 1006);
  assert.equal(
    gateway.router.stats.inFrames.reduce((a, b) => a + b, 0),
    0,
  );
  assert.equal(gateway.router.stats.malformed, 0);
});
