/**
 * Technician frames the customer client cannot act on (input to a closing or full shell, a
 * resize of a closed shell, an ack from before a resume) are counted, and any other failure is
 * not swallowed. No gateway: the clients are never connected and get their frames by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryClient } from '../../src/clients/client.js';
import { TechnicianFiles } from '../../src/clients/files.js';
import { CustomerShells } from '../../src/clients/shells.js';
import { Codes } from '../../src/protocol/codes.js';
import { Channel } from '../../src/protocol/frames.js';
import { ToolError } from '../../src/tools/errors.js';

/** A client that never connects (port 1 is not listened on; nothing here opens it). */
const idleClient = () => new FerryClient({ url: 'ws://127.0.0.1:1/v1/ws', reconnect: false });

function shellFrame(client: FerryClient, stream: number, shell: object): void {
  client.emit(
    'frame',
    { channel: Channel.CHANNEL_SHELL, stream, shell } as never,
    new Uint8Array(),
  );
}

test('input and resizes for a shell that is not open are counted as dropped', () => {
  const client = idleClient();
  const shells = new CustomerShells(client);
  shellFrame(client, 7, { kind: 'input', input: { data: Buffer.from('ls\n') } });
  shellFrame(client, 7, { kind: 'resize', resize: { cols: 80, rows: 24 } });
  shellFrame(client, 7, { kind: 'input', input: { data: Buffer.from('pwd\n') } });
  assert.deepEqual(shells.dropped, { input: 2, resize: 1 });
});

test('a shell host failure without an expected code is not swallowed', () => {
  const client = idleClient();
  const shells = new CustomerShells(client);
  shells.host.write = () => {
    throw new Error('the pipe broke');
  };
  assert.throws(
    () => shellFrame(client, 7, { kind: 'input', input: { data: Buffer.from('x') } }),
    /the pipe broke/,
  );
  assert.equal(shells.dropped.input, 0);
});

class OpenFiles extends TechnicianFiles {
  /** Puts a sending transfer whose acks go to `onAck`. */
  sending(id: number, onAck: (offset: number) => boolean): void {
    this.outgoing.set(id, { id, sender: { onAck } } as never);
  }
}

test('an ack from before a resume is counted as stale, any other ack failure is thrown', () => {
  const client = idleClient();
  const files = new OpenFiles(client);
  files.sending(3, () => {
    throw new ToolError('FILE_BAD_ACK', '5 (acked 10, sent 20)');
  });
  const ack = (stream: number) =>
    client.emit(
      'frame',
      { channel: Channel.CHANNEL_FILE, stream, file: { kind: 'ack', ack: { offset: 5 } } } as never,
      new Uint8Array(),
    );
  ack(3);
  assert.equal(files.staleAcks, 1);
  files.sending(4, () => {
    throw new ToolError('FILE_CLOSED');
  });
  assert.throws(() => ack(4), { code: Codes.FILE_CLOSED.code });
  assert.equal(files.staleAcks, 1);
});
