/**
 * spec session-tools A2.3: the owner removes a collaborator and the gateway drops the removed
 * member's streams at once. Its shells end (the customer is told to close them) and the
 * customer's output for them no longer reaches the removed technician; its file transfers end
 * likewise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { technician } from '../integration/harness.js';
import { Channel, settle, world } from './shell-harness.js';

test("a removed collaborator's shells and transfers end at once and relay nothing more to it", async (t) => {
  const w = await world(t, { grant: ['shell', 'file'] });
  const tech2 = await technician(t, w.gateway, 'tech-2');
  const invited = waitFor(tech2, 'status', (s) => s.sessionId === w.sessionId);
  await w.tech.invite('tech-2');
  await invited;
  await tech2.acceptInvitation(w.sessionId);
  const theirs = await tech2.shells.open({ kind: 'sh', name: 'collaborator' });
  theirs.write('echo before\n');
  await theirs.waitForOutput('before\n');
  // an upload of tech-2 the customer accepted and waits to receive
  const fileId = 77;
  const accepted = waitFor(tech2, 'frame', (f) => f.stream === fileId && f.file?.accept != null);
  tech2.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_FILE,
      stream: fileId,
      file: { offer: { name: 'notes.txt', size: 10, sha256: 'a'.repeat(64) } },
    }),
  );
  await accepted;
  const session = w.gateway.registry.get(w.sessionId)!;
  assert.ok(session.shells.has(theirs.id));
  assert.ok(session.transfers.has(fileId));

  const closes: number[] = [];
  w.customer.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_SHELL && f.shell?.close) closes.push(f.stream);
  });
  const cancels: number[] = [];
  w.customer.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_FILE && f.file?.cancel) cancels.push(f.stream);
  });
  const seen: string[] = [];
  tech2.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_SHELL && f.shell?.output) seen.push('output');
    if (f.channel === Channel.CHANNEL_FILE && f.file?.ack) seen.push('ack');
  });
  await w.tech.removeCollaborator('tech-2');
  assert.equal(session.shells.has(theirs.id), false);
  assert.equal(session.transfers.has(fileId), false);

  // whatever the customer still sends for them goes nowhere
  w.customer.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: theirs.id,
      shell: { output: { data: Buffer.from('after removal\n') } },
    }),
  );
  w.customer.sendRaw(
    encodeFrame({ channel: Channel.CHANNEL_FILE, stream: fileId, file: { ack: { offset: 0 } } }),
  );
  await settle(w.customer);
  // a round trip: every frame the gateway sent tech-2 before it has arrived
  await tech2.listQueue();
  assert.deepEqual(seen, []);
  assert.ok(closes.includes(theirs.id));
  assert.ok(cancels.includes(fileId));
});

test("an owner's shells end when the transfer target takes the session over", async (t) => {
  const w = await world(t, { grant: ['shell'] });
  const tech2 = await technician(t, w.gateway, 'tech-2');
  const mine = await w.tech.shells.open({ kind: 'sh', name: 'owner' });
  mine.write('echo before\n');
  await mine.waitForOutput('before\n');
  const offered = waitFor(tech2, 'status', (s) => s.sessionId === w.sessionId);
  await w.tech.transfer('tech-2', 'over to you');
  await offered;
  const session = w.gateway.registry.get(w.sessionId)!;
  assert.ok(session.shells.has(mine.id));
  await tech2.pickUp(w.sessionId);
  assert.equal(session.shells.has(mine.id), false);
});
