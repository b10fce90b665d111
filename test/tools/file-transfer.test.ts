import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  checkSize,
  type FileChunk,
  FileReceiver,
  FileSender,
  partPath,
  pumpFile,
  TransferGuard,
  type TransferProgress,
} from '../../src/tools/file-transfer.js';

const MiB = 1024 * 1024;

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-file-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function randomFile(dir: string, size: number): { file: string; sha256: string } {
  const file = path.join(dir, 'source.bin');
  const data = randomBytes(size);
  fs.writeFileSync(file, data);
  return { file, sha256: createHash('sha256').update(data).digest('hex') };
}

interface LinkOptions {
  /** Stop delivering (both ways) once this many chunks were sent: the connection drops. */
  readonly cutAfterChunks?: number;
  /** Flip one byte of the chunk that starts at this offset. */
  readonly corruptOffset?: number;
}

/**
 * An in-memory connection: chunks reach the receiver and acks come back asynchronously, in
 * order, like frames over one WebSocket. Records the largest window seen.
 */
function link(sender: FileSender, receiver: FileReceiver, opts: LinkOptions = {}) {
  const abort = new AbortController();
  const state = { alive: true, sent: 0, maxInflight: 0, errors: [] as unknown[] };
  const send = (chunk: FileChunk) => {
    if (!state.alive) return;
    state.maxInflight = Math.max(state.maxInflight, sender.inflightChunks);
    state.sent++;
    if (opts.cutAfterChunks !== undefined && state.sent > opts.cutAfterChunks) {
      state.alive = false;
      abort.abort();
      return;
    }
    const data = chunk.offset === opts.corruptOffset ? Buffer.from(chunk.data) : chunk.data;
    if (chunk.offset === opts.corruptOffset) data[7]! ^= 0xff;
    setImmediate(() => {
      if (!state.alive) return;
      receiver.write(chunk.offset, data).then(
        (ack) => {
          if (state.alive) setImmediate(() => state.alive && sender.onAck(ack));
        },
        (err: unknown) => state.errors.push(err),
      );
    });
  };
  return { state, run: () => pumpFile(sender, send, abort.signal) };
}

test('a file of several MiB goes through a small window and arrives with the same SHA-256', async (t) => {
  const dir = tmpDir(t);
  const size = 5 * MiB + 123;
  const src = randomFile(dir, size);
  const sender = await FileSender.open(src.file, { chunkBytes: 64 * 1024, windowChunks: 4 });
  t.after(() => sender.close());
  assert.equal(sender.size, size);
  assert.equal(sender.sha256, src.sha256);
  const dest = path.join(dir, 'received.bin');
  const receiver = await FileReceiver.open({ path: dest, size, sha256: sender.sha256 });
  const sent: TransferProgress[] = [];
  const received: TransferProgress[] = [];
  sender.on('progress', (p) => sent.push(p));
  receiver.on('progress', (p) => received.push(p));

  const l = link(sender, receiver);
  assert.equal(await l.run(), 'done');
  assert.deepEqual(l.state.errors, []);
  assert.ok(l.state.maxInflight <= 4, `window ${l.state.maxInflight}`);
  const result = await receiver.finish();
  assert.deepEqual(result, { path: dest, size, sha256: src.sha256 });
  assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(src.file)));
  assert.equal(fs.existsSync(receiver.tempPath), false, 'the temporary file was moved');
  assert.equal(sent.at(-1)!.percent, 100);
  assert.deepEqual(received.at(-1), { bytes: size, total: size, percent: 100 });
  assert.equal(received.length, Math.ceil(size / (64 * 1024)));
  for (let i = 1; i < received.length; i++) assert.ok(received[i]!.bytes > received[i - 1]!.bytes);
});

test("an interrupted transfer resumes from the receiver's offset and matches SHA-256", async (t) => {
  const dir = tmpDir(t);
  const size = 3 * MiB + 7;
  const src = randomFile(dir, size);
  const sender = await FileSender.open(src.file, { chunkBytes: 32 * 1024, windowChunks: 3 });
  t.after(() => sender.close());
  const dest = path.join(dir, 'received.bin');
  const receiver = await FileReceiver.open({ path: dest, size, sha256: sender.sha256 });

  const first = link(sender, receiver, { cutAfterChunks: 40 });
  assert.equal(await first.run(), 'aborted');
  const offset = await receiver.settled();
  assert.ok(offset > 0 && offset < size, `stopped at ${offset}`);
  assert.ok(offset <= sender.sentOffset);

  sender.resumeFrom(offset); // reported by the receiver on the new connection
  const second = link(sender, receiver);
  assert.equal(await second.run(), 'done');
  assert.deepEqual([...first.state.errors, ...second.state.errors], []);
  assert.equal((await receiver.finish()).sha256, src.sha256);
  assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(src.file)));
});

test('a receiver reopened after a restart resumes from the bytes on disk', async (t) => {
  const dir = tmpDir(t);
  const size = 2 * MiB + 5;
  const src = randomFile(dir, size);
  const dest = path.join(dir, 'received.bin');
  const sender1 = await FileSender.open(src.file, { chunkBytes: 64 * 1024, windowChunks: 2 });
  const receiver1 = await FileReceiver.open({ path: dest, size, sha256: sender1.sha256 });
  assert.equal(await link(sender1, receiver1, { cutAfterChunks: 10 }).run(), 'aborted');
  const kept = await receiver1.suspend();
  await sender1.close();
  assert.equal(fs.statSync(partPath(dest, src.sha256)).size, kept);

  // both ends restarted: a new sender (other chunk size) and a receiver from the part file
  const sender2 = await FileSender.open(src.file, { chunkBytes: 100_000, windowChunks: 5 });
  t.after(() => sender2.close());
  const receiver2 = await FileReceiver.open({ path: dest, size, sha256: sender2.sha256 });
  assert.equal(receiver2.offset, kept);
  sender2.resumeFrom(receiver2.offset);
  assert.equal(await link(sender2, receiver2).run(), 'done');
  assert.equal((await receiver2.finish()).sha256, src.sha256);
  assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(src.file)));
});

test('a chunk corrupted in transit is detected at the end and the file is discarded', async (t) => {
  const dir = tmpDir(t);
  const size = 2 * MiB;
  const src = randomFile(dir, size);
  const sender = await FileSender.open(src.file, { chunkBytes: 64 * 1024, windowChunks: 4 });
  t.after(() => sender.close());
  const dest = path.join(dir, 'received.bin');
  const receiver = await FileReceiver.open({ path: dest, size });
  assert.equal(await link(sender, receiver, { corruptOffset: MiB }).run(), 'done');
  await assert.rejects(receiver.finish(sender.sha256), { code: 'FERRY_ERR_FILE_DIGEST_MISMATCH' });
  assert.equal(fs.existsSync(dest), false);
  assert.equal(fs.existsSync(receiver.tempPath), false);
  await assert.rejects(receiver.write(size, Buffer.alloc(0)), {
    code: 'FERRY_ERR_FILE_DIGEST_MISMATCH',
  });
});

test('oversize offers and chunks past the announced size are refused with codes', async (t) => {
  const dir = tmpDir(t);
  assert.equal(checkSize(5 * MiB, 5 * MiB), null);
  assert.equal(checkSize(5 * MiB + 1, 5 * MiB), 'FERRY_ERR_FILE_TOO_LARGE');
  assert.equal(checkSize(-1, 5 * MiB), 'FERRY_ERR_FILE_SIZE_INVALID');
  assert.equal(checkSize(1.5, 5 * MiB), 'FERRY_ERR_FILE_SIZE_INVALID');
  await assert.rejects(
    FileReceiver.open({ path: path.join(dir, 'big'), size: 11, limitBytes: 10 }),
    { code: 'FERRY_ERR_FILE_TOO_LARGE' },
  );
  assert.equal(fs.readdirSync(dir).length, 0, 'nothing was created');

  const guard = new TransferGuard(100, 1000);
  assert.equal(guard.checkOffer(), null);
  assert.equal(guard.onChunk(0, 60), null);
  assert.equal(
    guard.onChunk(60, 41),
    'FERRY_ERR_FILE_BEYOND_SIZE',
    'a client lying past its offer',
  );
  assert.equal(guard.onChunk(0, 60), null, 'a resent range after a resume');
  assert.equal(guard.onChunk(-1, 1), 'FERRY_ERR_FILE_BEYOND_SIZE');
  assert.equal(new TransferGuard(2000, 1000).checkOffer(), 'FERRY_ERR_FILE_TOO_LARGE');
});

test('gaps, overlaps and bad acks are refused with codes and change nothing', async (t) => {
  const dir = tmpDir(t);
  const dest = path.join(dir, 'out.bin');
  const r = await FileReceiver.open({ path: dest, size: 100, maxChunkBytes: 64 });
  await assert.rejects(r.write(10, Buffer.alloc(10)), { code: 'FERRY_ERR_FILE_OUT_OF_ORDER' });
  assert.equal(await r.write(0, Buffer.alloc(10, 1)), 10);
  await assert.rejects(r.write(5, Buffer.alloc(10)), { code: 'FERRY_ERR_FILE_OVERLAP' });
  await assert.rejects(r.write(10, Buffer.alloc(65)), { code: 'FERRY_ERR_FILE_CHUNK_TOO_LARGE' });
  await assert.rejects(r.write(50, Buffer.alloc(51)), { code: 'FERRY_ERR_FILE_OUT_OF_ORDER' });
  await assert.rejects(
    r.write(10, Buffer.alloc(64)).then(() => r.write(74, Buffer.alloc(27))),
    {
      code: 'FERRY_ERR_FILE_BEYOND_SIZE',
    },
  );
  assert.equal(r.offset, 74);
  await assert.rejects(r.finish('0'.repeat(64)), { code: 'FERRY_ERR_FILE_INCOMPLETE' });
  await assert.rejects(r.finish('not hex'), { code: 'FERRY_ERR_FILE_DIGEST_INVALID' });
  await r.abort();
  assert.deepEqual(fs.readdirSync(dir), [], 'abort removed the temporary file');
  await assert.rejects(r.write(74, Buffer.alloc(1)), { code: 'FERRY_ERR_FILE_CLOSED' });

  const srcFile = path.join(dir, 'src');
  fs.writeFileSync(srcFile, Buffer.alloc(300, 2));
  const s = await FileSender.open(srcFile, { chunkBytes: 100, windowChunks: 2 });
  t.after(() => s.close());
  const c1 = await s.read();
  const c2 = await s.read();
  assert.equal(s.canSend(), false);
  await assert.rejects(s.read(), { code: 'FERRY_ERR_FILE_WINDOW_FULL' });
  assert.throws(() => s.onAck(50), { code: 'FERRY_ERR_FILE_BAD_ACK' }, 'not a chunk end');
  assert.throws(() => s.onAck(300), { code: 'FERRY_ERR_FILE_BAD_ACK' }, 'never sent');
  assert.equal(s.onAck(c2.offset + c2.data.length), true, 'a cumulative ack covers both chunks');
  assert.throws(() => s.onAck(c1.offset + c1.data.length), { code: 'FERRY_ERR_FILE_BAD_ACK' });
  assert.equal(s.onAck(200), false, 'a repeated ack is ignored');
  assert.throws(() => s.resumeFrom(301), { code: 'FERRY_ERR_FILE_BAD_ACK' });

  fs.writeFileSync(dest, 'already here');
  await assert.rejects(FileReceiver.open({ path: dest, size: 1 }), {
    code: 'FERRY_ERR_FILE_EXISTS',
  });
});

test('an existing destination is never replaced unless overwriting is allowed', async (t) => {
  const dir = tmpDir(t);
  const dest = path.join(dir, 'out.txt');
  const data = Buffer.from('new content');
  const sha = createHash('sha256').update(data).digest('hex');
  const r1 = await FileReceiver.open({ path: dest, size: data.length, sha256: sha });
  await r1.write(0, data);
  fs.writeFileSync(dest, 'appeared meanwhile');
  await assert.rejects(r1.finish(), { code: 'FERRY_ERR_FILE_EXISTS' });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'appeared meanwhile');
  assert.deepEqual(fs.readdirSync(dir), ['out.txt']);

  const r2 = await FileReceiver.open({
    path: dest,
    size: data.length,
    sha256: sha,
    overwrite: true,
  });
  await r2.write(0, data);
  await r2.finish();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'new content');
});

test('an empty file transfers with the SHA-256 of nothing', async (t) => {
  const dir = tmpDir(t);
  const src = randomFile(dir, 0);
  const sender = await FileSender.open(src.file);
  t.after(() => sender.close());
  assert.equal(sender.done, true);
  const receiver = await FileReceiver.open({ path: path.join(dir, 'empty'), size: 0 });
  assert.equal(await link(sender, receiver).run(), 'done');
  assert.equal((await receiver.finish(sender.sha256)).sha256, src.sha256);
});
