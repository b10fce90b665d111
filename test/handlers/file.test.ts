/**
 * File transfer end to end (issue 8 item 2): files of several MiB go both ways between the
 * reference clients through the gateway, chunked and windowed, verified by SHA-256, with progress
 * on both sides, also when either side's connection is killed mid-transfer and resumed. The
 * gateway refuses oversize offers, chunks past the announced size and transfers without the
 * grant, with codes; the customer shares one directory and nothing outside it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { FileProgress } from '../../src/clients/files.js';
import { Codes } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { Channel, logDetails, settle, streamErrors, world } from './shell-harness.js';

const MiB = 1024 * 1024;

function writeRandom(file: string, bytes: number): string {
  const data = randomBytes(bytes);
  fs.writeFileSync(file, data);
  return createHash('sha256').update(data).digest('hex');
}

const sha256Of = (file: string): string =>
  createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function progressOf(emitter: {
  on(e: 'progress', l: (p: FileProgress) => void): unknown;
}): FileProgress[] {
  const got: FileProgress[] = [];
  emitter.on('progress', (p) => got.push(p));
  return got;
}

/** Resolves at the first progress event of `direction` past `bytes`. */
function past(
  emitter: {
    on(e: 'progress', l: (p: FileProgress) => void): unknown;
    off(e: 'progress', l: (p: FileProgress) => void): unknown;
  },
  bytes: number,
): Promise<void> {
  return new Promise((resolve) => {
    const check = (p: FileProgress) => {
      if (p.bytes < bytes) return;
      emitter.off('progress', check);
      resolve();
    };
    emitter.on('progress', check);
  });
}

test('a file of several MiB goes to the customer and another comes back, verified by SHA-256, with progress on both sides', async (t) => {
  const w = await world(t, { grant: ['file'] });
  const up = path.join(w.techDir, 'tool.bin');
  const upSha = writeRandom(up, 5 * MiB + 123);
  const techProgress = progressOf(w.tech.files);
  const customerProgress = progressOf(w.customer.files!);

  const sent = await w.tech.files.upload(up);
  assert.equal(sent.sha256, upSha);
  const landed = path.join(w.customerDir, 'tool.bin');
  assert.equal(sha256Of(landed), upSha);
  assert.deepEqual(fs.readdirSync(w.customerDir), ['tool.bin'], 'no part file left behind');
  const sends = techProgress.filter((p) => p.direction === 'send');
  assert.ok(sends.length > 10);
  assert.equal(sends.at(-1)!.percent, 100);
  for (let i = 1; i < sends.length; i++) assert.ok(sends[i]!.bytes >= sends[i - 1]!.bytes);
  const receives = customerProgress.filter((p) => p.direction === 'receive');
  assert.equal(receives.at(-1)!.bytes, 5 * MiB + 123);

  const logFile = path.join(w.customerDir, 'logs', 'app.log');
  fs.mkdirSync(path.dirname(logFile));
  const downSha = writeRandom(logFile, 3 * MiB + 7);
  const got = await w.tech.files.download('logs/app.log', path.join(w.techDir, 'app.log'));
  assert.equal(got.sha256, downSha);
  assert.equal(got.size, 3 * MiB + 7);
  assert.equal(sha256Of(path.join(w.techDir, 'app.log')), downSha);
  assert.equal(techProgress.filter((p) => p.direction === 'receive').at(-1)!.percent, 100);
  assert.equal(customerProgress.filter((p) => p.direction === 'send').at(-1)!.percent, 100);

  // an empty file is a transfer too: accepted, verified and placed without a chunk
  const empty = path.join(w.techDir, 'empty.txt');
  fs.writeFileSync(empty, '');
  const none = await w.tech.files.upload(empty);
  assert.equal(none.sha256, createHash('sha256').digest('hex'));
  assert.equal(fs.statSync(path.join(w.customerDir, 'empty.txt')).size, 0);

  await settle(w.tech); // the technician's FileDone reached the gateway
  const session = w.gateway.registry.get(w.sessionId)!;
  assert.equal(session.transfers.size, 0);
  assert.deepEqual(
    session.fileTransfers.map((f) => [
      f.direction,
      f.name,
      f.size,
      f.sha256,
      f.status,
      f.bytesAcked,
    ]),
    [
      ['to-customer', 'tool.bin', 5 * MiB + 123, upSha, 'done', 5 * MiB + 123],
      ['from-customer', 'app.log', 3 * MiB + 7, downSha, 'done', 3 * MiB + 7],
      ['to-customer', 'empty.txt', 0, none.sha256, 'done', 0],
    ],
  );
  const log = logDetails(w.gateway, w.sessionId, 'file');
  assert.ok(log.some((d) => d.startsWith(`file ${sent.id} "tool.bin" (${5 * MiB + 123} bytes`)));
  assert.ok(log.some((d) => d.includes('received from the customer')));
});

test('transfers survive a forced reconnect of either side and finish with matching SHA-256', async (t) => {
  const w = await world(t, { grant: ['file'] });
  // upload; the technician (sender) loses its connection mid-way
  const up = path.join(w.techDir, 'big.bin');
  const upSha = writeRandom(up, 6 * MiB);
  const upload = w.tech.files.upload(up);
  await past(w.tech.files, 1 * MiB);
  const resumedTech = new Promise((resolve) => w.tech.once('resumed', resolve));
  w.tech.dropConnection();
  await resumedTech;
  const sent = await upload;
  assert.equal(sent.sha256, upSha);
  assert.equal(sha256Of(path.join(w.customerDir, 'big.bin')), upSha);

  // upload again; this time the customer (receiver) loses its connection
  const up2 = path.join(w.techDir, 'second.bin');
  const up2Sha = writeRandom(up2, 5 * MiB);
  const upload2 = w.tech.files.upload(up2);
  await past(w.customer.files!, 1 * MiB);
  const resumedCustomer = new Promise((resolve) => w.customer.once('resumed', resolve));
  w.customer.dropConnection();
  await resumedCustomer;
  assert.equal((await upload2).sha256, up2Sha);
  assert.equal(sha256Of(path.join(w.customerDir, 'second.bin')), up2Sha);

  // download; the technician (receiver) drops, then the customer (sender) drops
  const remote = path.join(w.customerDir, 'dump.bin');
  const downSha = writeRandom(remote, 6 * MiB);
  const local = path.join(w.techDir, 'dump.bin');
  const download = w.tech.files.download('dump.bin', local);
  await past(w.tech.files, 1 * MiB);
  const again = new Promise((resolve) => w.tech.once('resumed', resolve));
  w.tech.dropConnection();
  await again;
  await past(w.tech.files, 3 * MiB);
  const customerBack = new Promise((resolve) => w.customer.once('resumed', resolve));
  w.customer.dropConnection();
  await customerBack;
  const got = await download;
  assert.equal(got.sha256, downSha);
  assert.equal(sha256Of(local), downSha);
  assert.ok(w.tech.reconnects >= 2 && w.customer.reconnects >= 2);
  await settle(w.tech);
  assert.deepEqual(
    w.gateway.registry.get(w.sessionId)!.fileTransfers.map((f) => f.status),
    ['done', 'done', 'done'],
  );
});

test('oversize, ungranted and out-of-bounds transfers are refused with codes', async (t) => {
  const w = await world(t, { config: { fileTransferMaxBytes: 1 * MiB } });
  const small = path.join(w.techDir, 'small.bin');
  writeRandom(small, 1000);
  const errors = streamErrors(w.tech);
  // no grant yet: both directions refused
  await assert.rejects(w.tech.files.upload(small), { code: 'FERRY_ERR_NOT_GRANTED' });
  await assert.rejects(w.tech.files.download('x', path.join(w.techDir, 'x')), {
    code: 'FERRY_ERR_NOT_GRANTED',
  });
  assert.equal(errors.at(-1)!.channel, Channel.CHANNEL_FILE);
  assert.ok(errors.at(-1)!.stream > 0);

  await w.customer.grant(['file']);
  // over the gateway's limit: an upload offer, and a file the customer would send
  const big = path.join(w.techDir, 'big.bin');
  writeRandom(big, 1 * MiB + 1);
  await assert.rejects(w.tech.files.upload(big), { code: 'FERRY_ERR_FILE_TOO_LARGE' });
  writeRandom(path.join(w.customerDir, 'big.bin'), 2 * MiB);
  await assert.rejects(w.tech.files.download('big.bin', path.join(w.techDir, 'got.bin')), {
    code: 'FERRY_ERR_FILE_TOO_LARGE',
  });
  assert.equal(fs.existsSync(path.join(w.techDir, 'got.bin')), false);
  // nothing outside the shared directory, not even through a link
  fs.symlinkSync(w.techDir, path.join(w.customerDir, 'link'));
  for (const wanted of ['../secret', '/etc/passwd', 'link/small.bin', 'missing.bin']) {
    await assert.rejects(w.tech.files.download(wanted, path.join(w.techDir, 'leak')), {
      code: 'FERRY_ERR_FILE_NOT_FOUND',
    });
  }
  // a sender that announces 10 bytes and sends more: the chunk is refused, not relayed
  const customerChunks: number[] = [];
  w.customer.on('frame', (f) => {
    if (f.file?.chunk) customerChunks.push(f.file.chunk.data!.length);
  });
  const sha = 'a'.repeat(64);
  const frame = (file: object) => encodeFrame({ channel: Channel.CHANNEL_FILE, stream: 700, file });
  w.tech.sendRaw(frame({ offer: { name: 'liar.bin', size: 10, sha256: sha } }));
  w.tech.sendRaw(frame({ chunk: { offset: 0, data: Buffer.alloc(20) } }));
  w.tech.sendRaw(frame({ chunk: { offset: 8, data: Buffer.alloc(4) } }));
  w.tech.sendRaw(frame({ chunk: { offset: 0, data: Buffer.alloc(10) } }));
  // a bad digest, a negative-looking size, a second offer on the same id, a customer chunk
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_FILE,
      stream: 701,
      file: { offer: { name: 'a', size: 1, sha256: 'nope' } },
    }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_FILE,
      stream: 702,
      file: { offer: { name: 'a', size: 2 ** 60, sha256: sha } },
    }),
  );
  await settle(w.tech);
  await settle(w.customer);
  assert.deepEqual(
    errors.slice(-4).map((e) => [e.code, e.stream]),
    [
      ['FERRY_ERR_FILE_BEYOND_SIZE', 700],
      ['FERRY_ERR_FILE_BEYOND_SIZE', 700],
      ['FERRY_ERR_FILE_DIGEST_INVALID', 701],
      ['FERRY_ERR_FILE_SIZE_INVALID', 702],
    ],
  );
  assert.deepEqual(customerChunks, [10], 'only the chunk inside the announced size was relayed');
  const customerErrors = streamErrors(w.customer);
  w.customer.sendRaw(frame({ chunk: { offset: 0, data: Buffer.alloc(1) } }));
  w.customer.sendRaw(
    encodeFrame({ channel: Channel.CHANNEL_FILE, stream: 703, file: { request: { path: 'x' } } }),
  );
  await settle(w.customer);
  assert.deepEqual(
    customerErrors.map((e) => [e.code, e.stream]),
    [
      ['FERRY_ERR_FILE_UNKNOWN', 700],
      ['FERRY_ERR_WRONG_ROLE', 703],
    ],
  );

  // revoking the grant cancels what is under way, on both sides
  const slow = path.join(w.techDir, 'slow.bin');
  writeRandom(slow, 900 * 1024);
  const pending = w.tech.files.upload(slow);
  const refused = assert.rejects(pending, { code: 'FERRY_ERR_NOT_GRANTED' });
  // the customer has at most two chunks acknowledged, the sender a window of eight in flight:
  // 900 KiB cannot all arrive before the revocation
  await past(w.customer.files!, 64 * 1024);
  await w.customer.revoke(['file']);
  await refused;
  assert.equal(fs.existsSync(path.join(w.customerDir, 'slow.bin')), false);
  assert.equal(w.gateway.registry.get(w.sessionId)!.transfers.size, 0);
});

test('hostile SHELL and FILE frames in a granted session get coded errors and never crash the gateway', async (t) => {
  const w = await world(t, { grant: ['shell', 'file'], config: { maxBadFrames: 100_000 } });
  const known = new Set(Object.values(Codes).map((e) => e.code as string));
  const techErrors = streamErrors(w.tech);
  const customerErrors = streamErrors(w.customer);
  // a fixed-seed generator: the same frames every run
  let seed = 0x2f6b1c3d;
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed;
  };
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => next() & 0xff));
  const kinds = [
    { shell: { open: { cols: 0xffffffff, rows: 3, kind: '\u0000'.repeat(100) } } },
    { shell: { input: { data: junk(64) } } },
    { shell: { resize: { cols: 20_000, rows: 1 } } },
    { shell: { exit: { code: -5, errorCode: 'x'.repeat(500) } } },
    { file: { offer: { name: '../../etc/passwd', size: 5, sha256: 'f'.repeat(64) } } },
    { file: { offer: { name: '', size: 5, sha256: 'f'.repeat(64) } } },
    { file: { chunk: { offset: 2 ** 62, data: junk(8) } } },
    { file: { ack: { offset: 2 ** 40 } } },
    { file: { done: { sha256: 'nope' } } },
    { file: { cancel: { code: 'FERRY_ERR_<script>', message: junk(10).toString('latin1') } } },
    { file: { request: { path: '' } } },
  ];
  for (let i = 0; i < 300; i++) {
    const from = i % 2 === 0 ? w.tech : w.customer;
    const stream = next() % 4;
    if (i % 3 === 0) {
      // a valid SHELL or FILE header, then garbage
      const channel = i % 6 === 0 ? Channel.CHANNEL_SHELL : Channel.CHANNEL_FILE;
      from.sendRaw(
        Buffer.concat([Buffer.from([0x08, channel, 0x10, stream + 1]), junk(next() % 40)]),
      );
    } else {
      const body = kinds[next() % kinds.length]!;
      const channel = 'shell' in body ? Channel.CHANNEL_SHELL : Channel.CHANNEL_FILE;
      from.sendRaw(encodeFrame({ channel, stream, ...body } as never));
    }
  }
  await settle(w.tech);
  await settle(w.customer);
  assert.ok(techErrors.length > 50 && customerErrors.length > 50);
  for (const e of [...techErrors, ...customerErrors]) assert.ok(known.has(e.code), e.code);
  // the session still works: a real shell and a real transfer go through
  const shell = await w.tech.shells.open({ kind: 'sh' });
  shell.write('echo alive\n');
  await shell.waitForOutput('alive\n');
  const file = path.join(w.techDir, 'after.bin');
  const sha = writeRandom(file, 100_000);
  assert.equal((await w.tech.files.upload(file)).sha256, sha);
  assert.ok(!fs.existsSync('/etc/passwd.ferry-part'));
});
