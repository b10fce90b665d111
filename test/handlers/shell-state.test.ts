/**
 * A shell types into the customer's machine, as INPUT does: the gateway relays a technician's
 * shell input (and file chunks) only while the session is live (Active, Collaborating, or
 * Reconnecting from one of them), not while it is on hold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame } from '../../src/protocol/frames.js';
import { Channel, settle, streamErrors, world } from './shell-harness.js';

test('shell input and upload chunks are refused while the session is on hold', async (t) => {
  const w = await world(t, { grant: ['shell', 'file'] });
  const shell = await w.tech.shells.open({ kind: 'sh', name: 'held' });
  shell.write('echo live\n');
  await shell.waitForOutput('live\n');
  const fileId = 55;
  const accepted = new Promise<void>((resolve) => {
    w.tech.on('frame', (f) => {
      if (f.stream === fileId && f.file?.accept != null) resolve();
    });
  });
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_FILE,
      stream: fileId,
      file: { offer: { name: 'a.txt', size: 4, sha256: 'b'.repeat(64) } },
    }),
  );
  await accepted;

  await w.tech.hold();
  const got: string[] = [];
  w.customer.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_SHELL && f.shell?.input) got.push('input');
    if (f.channel === Channel.CHANNEL_FILE && f.file?.chunk) got.push('chunk');
  });
  const errors = streamErrors(w.tech);
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: shell.id,
      shell: { input: { data: Buffer.from('echo held\n') } },
    }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_FILE,
      stream: fileId,
      file: { chunk: { offset: 0, data: Buffer.from('abcd') } },
    }),
  );
  await settle(w.tech);
  await settle(w.customer);
  assert.deepEqual(got, []);
  assert.deepEqual(
    errors.map((e) => [e.code, e.stream]),
    [
      ['FERRY_ERR_WRONG_STATE', shell.id],
      ['FERRY_ERR_WRONG_STATE', fileId],
    ],
  );

  // back to Active: the shell takes input again
  await w.tech.unhold();
  shell.write('echo again\n');
  await shell.waitForOutput('again\n');
});
