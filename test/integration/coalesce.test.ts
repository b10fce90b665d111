/**
 * End to end through a real gateway: bursts of small frames are coalesced (the gateway stages
 * them and writes each receiver's share of a turn corked) and still arrive as the same frames,
 * in the order they were sent, with a chat sent after them arriving after them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { coalescer } from '../../src/transport/connection.js';
import { activeSession, encode, startGateway } from './harness.js';

const Channel = ferry.v1.Channel;

test('a burst of small SCREEN and INPUT frames is coalesced and arrives complete and in order', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activeSession(t, gateway);
  const screens: Buffer[] = [];
  const inputs: Buffer[] = [];
  tech.on('frame', (frame, raw) => {
    if (frame.channel === Channel.CHANNEL_SCREEN) screens.push(Buffer.from(raw));
  });
  customer.on('frame', (frame, raw) => {
    if (frame.channel === Channel.CHANNEL_INPUT) inputs.push(Buffer.from(raw));
  });
  const stagedBefore = coalescer.stagedFrames;
  const sentScreens: Uint8Array[] = [];
  const sentInputs: Uint8Array[] = [];
  // sizes cross the staging limit now and then: a large frame must not overtake staged ones
  for (let i = 0; i < 300; i++) {
    const size = i % 50 === 25 ? 20_000 : 40 + (i % 7);
    const s = encode({ channel: Channel.CHANNEL_SCREEN, screen: { data: Buffer.alloc(size, i) } });
    sentScreens.push(s);
    customer.sendRaw(s);
    const k = encode({
      channel: Channel.CHANNEL_INPUT,
      input: { seq: i + 1, move: { x: i, y: i } },
    });
    sentInputs.push(k);
    tech.sendRaw(k);
  }
  const afterScreens = waitFor(tech, 'chat', (c) => c.text === 'after-screens');
  const afterInputs = waitFor(customer, 'chat', (c) => c.text === 'after-inputs');
  customer.chat('after-screens');
  tech.chat('after-inputs');
  await Promise.all([afterScreens, afterInputs]);
  assert.equal(screens.length, sentScreens.length);
  assert.equal(inputs.length, sentInputs.length);
  for (let i = 0; i < sentScreens.length; i++) {
    assert.ok(screens[i]!.equals(sentScreens[i]!), `screen frame ${i} differs`);
    assert.ok(inputs[i]!.equals(sentInputs[i]!), `input frame ${i} differs`);
  }
  assert.ok(
    coalescer.stagedFrames > stagedBefore,
    'the gateway received the burst in few reads, so some frames were staged',
  );
});
