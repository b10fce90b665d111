import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { FROM_ANY, FROM_TECHNICIAN, row } from '../../src/relay/routes.js';
import { activeSession, startGateway, technician } from '../integration/harness.js';

const TOY = 30;
const BOOM = 31;

/** A frame on a channel number the generated enum does not know. */
function frameOn(channel: number, stream: number, data: Uint8Array): Uint8Array {
  return ferry.v1.Frame.encode({
    channel: channel as ferry.v1.Channel,
    stream,
    opaque: { data },
  }).finish();
}

test('a channel added as one row and one handler receives its frames, and only from the roles its row names', async (t) => {
  const seen: { peer: string; stream: number; bytes: string }[] = [];
  const toy = row(TOY, 'toy', {
    from: FROM_TECHNICIAN,
    small: true,
    handler: (peer, bytes, _session, stream) => {
      seen.push({ peer: peer.name, stream, bytes: Buffer.from(bytes).toString('hex') });
    },
  });
  const { gateway } = await startGateway(t, {}, { channels: [toy] });
  const { tech, customer } = await activeSession(t, gateway);
  const sent = frameOn(TOY, 7, Uint8Array.of(1, 2, 3));
  tech.sendRaw(sent);
  // a customer may not send on it: its Error names the channel
  const refused = once(customer, 'gatewayError');
  customer.sendRaw(frameOn(TOY, 1, Uint8Array.of(9)));
  const [err] = (await refused) as [ferry.v1.Error];
  assert.equal(err.code, 'FERRY_ERR_WRONG_ROLE');
  assert.equal(err.channel, TOY);
  assert.deepEqual(seen, [{ peer: 'tech-1', stream: 7, bytes: Buffer.from(sent).toString('hex') }]);
  assert.equal(gateway.router.stats.inFrames[TOY], 2);
});

test('a channel number without a row is refused as FERRY_ERR_UNKNOWN_CHANNEL', async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await technician(t, gateway);
  const refused = once(tech, 'gatewayError');
  tech.sendRaw(frameOn(TOY, 0, Uint8Array.of(1)));
  const [err] = (await refused) as [ferry.v1.Error];
  assert.equal(err.code, 'FERRY_ERR_UNKNOWN_CHANNEL');
});

test('a handler that throws costs its sender FERRY_ERR_INTERNAL and its session, is counted, and every other session goes on', async (t) => {
  const boom = row(BOOM, 'boom', {
    from: FROM_ANY,
    small: true,
    handler: () => {
      throw new Error('handler bug on purpose');
    },
  });
  const { gateway } = await startGateway(t, {}, { channels: [boom] });
  const a = await activeSession(t, gateway);
  const b = await activeSession(t, gateway, { customerName: 'Bob' });
  const aId = a.sessionId;

  const failed = once(a.tech, 'gatewayError');
  a.tech.sendRaw(frameOn(BOOM, 0, Uint8Array.of(1)));
  const [err] = (await failed) as [ferry.v1.Error];
  assert.equal(err.code, 'FERRY_ERR_INTERNAL');
  assert.equal(err.channel, BOOM);
  assert.equal(gateway.router.stats.handlerErrors.get('boom'), 1);
  // the session whose state is in doubt is ended and reported
  assert.equal(gateway.registry.get(aId), undefined);
  assert.match(gateway.registry.reports.get(aId)?.endReason ?? '', /internal error/);
  const metrics = await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`, {
    headers: { authorization: `Bearer ${gateway.adminToken}` },
  });
  assert.match(await metrics.text(), /ferry_handler_errors_total\{handler="boom"\} 1/);

  // the other session still relays chat both ways
  const heard = once(b.customer, 'chat');
  b.tech.chat('still here');
  const [chat] = (await heard) as [ferry.v1.ChatMessage];
  assert.equal(chat.text, 'still here');
  assert.equal(gateway.registry.get(b.sessionId)?.status, 'ACTIVE');
});
