import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AsciicastRecorder, formatElapsed, LineAssembler } from '../../src/tools/asciicast.js';

const T0 = 1_700_000_000_500;

interface Cast {
  header: Record<string, unknown>;
  events: [number, string, string][];
}

/** Parses and checks a recording against the asciicast v2 rules; throws on any violation. */
function parseCast(text: string): Cast {
  assert.ok(text.endsWith('\n'), 'every line ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(header.version, 2);
  assert.ok(Number.isInteger(header.width) && (header.width as number) > 0, 'width');
  assert.ok(Number.isInteger(header.height) && (header.height as number) > 0, 'height');
  assert.ok(Number.isInteger(header.timestamp), 'timestamp');
  const events: [number, string, string][] = [];
  let last = 0;
  for (const line of lines.slice(1)) {
    const e = JSON.parse(line) as unknown;
    assert.ok(Array.isArray(e) && e.length === 3, `a 3-element array: ${line}`);
    const [time, code, data] = e as [unknown, unknown, unknown];
    assert.equal(typeof time, 'number');
    assert.ok((time as number) >= last, `times never decrease: ${time} after ${last}`);
    last = time as number;
    assert.ok(code === 'o' || code === 'i' || code === 'r', `code ${String(code)}`);
    assert.equal(typeof data, 'string');
    if (code === 'r') assert.match(data as string, /^\d+x\d+$/);
    events.push([time as number, code, data as string]);
  }
  return { header, events };
}

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cast-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a recording is valid asciicast v2: header, then [seconds, code, data] events in time order', () => {
  const rec = new AsciicastRecorder({
    width: 100,
    height: 30,
    startedAtMs: T0,
    title: 'shell 1',
    env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
  });
  assert.equal(rec.output('$ ', T0 + 10), true);
  rec.input('ls\r', T0 + 1_250);
  rec.output('\x1b[32ma.txt\x1b[0m  b.txt\r\n$ ', T0 + 1_300);
  rec.resize(120, 40, T0 + 2_000);
  rec.output('late', T0 + 1_900); // the clock stepped back: stamped with the last time
  const cast = parseCast(rec.toString());
  assert.deepEqual(cast.header, {
    version: 2,
    width: 100,
    height: 30,
    timestamp: 1_700_000_000,
    title: 'shell 1',
    env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
  });
  assert.deepEqual(rec.header(), cast.header);
  assert.deepEqual(cast.events, [
    [0.01, 'o', '$ '],
    [1.25, 'i', 'ls\r'],
    [1.3, 'o', '\x1b[32ma.txt\x1b[0m  b.txt\r\n$ '],
    [2, 'r', '120x40'],
    [2, 'o', 'late'],
  ]);
});

test('a UTF-8 character split across two relayed frames is recorded whole', () => {
  const rec = new AsciicastRecorder({ width: 80, height: 24, startedAtMs: T0 });
  const bytes = Buffer.from('café ✓\n');
  rec.output(bytes.subarray(0, 4), T0 + 1); // ends inside é
  rec.output(bytes.subarray(4, 7), T0 + 2); // ends inside ✓
  rec.output(bytes.subarray(7), T0 + 3);
  const data = parseCast(rec.toString())
    .events.map((e) => e[2])
    .join('');
  assert.equal(data, 'café ✓\n');
  assert.ok(!data.includes('\ufffd'));
});

test('the transcript strips colours and escape sequences and normalises CR/LF', () => {
  const rec = new AsciicastRecorder({ width: 80, height: 24, startedAtMs: T0 });
  rec.output('\x1b[1;31mred\x1b[0m\r\nplain\r\n', T0);
  rec.output('\x1b]0;window title\x07ok\rOK\n', T0); // OSC title; CR redraws the line
  rec.output('10%\r\x1b[K100%\n', T0); // progress redrawn with erase-to-end-of-line
  rec.output('\x1b[?1049h\x1bP+q544e\x1b\\tab\there\x07\n', T0); // DEC mode, DCS string, BEL
  rec.output('split \x1b[3', T0);
  rec.output('8;5;208morange\x1b[0m\n', T0); // an escape sequence cut in two frames
  rec.output('no newline yet', T0);
  assert.equal(rec.transcript(), 'red\nplain\nOK\n100%\ntab\there\nsplit orange\nno newline yet\n');
});

test('the transcript can interleave typed lines, edited as typed, with timestamps', () => {
  const rec = new AsciicastRecorder({
    width: 80,
    height: 24,
    startedAtMs: T0,
    transcript: { timestamps: true, input: true },
  });
  for (const [i, key] of ['l', 'x', '\x7f', 's', '\r'].entries()) rec.input(key, T0 + 1000 + i);
  rec.output('a.txt\r\nb.txt\r\n', T0 + 1_200);
  rec.input('exit\r\n', T0 + 3_723_004);
  assert.equal(
    rec.transcript(),
    '[00:00:01.000] > ls\n[00:00:01.200] a.txt\n[00:00:01.200] b.txt\n[01:02:03.004] > exit\n',
  );
  assert.equal(formatElapsed(0), '[00:00:00.000]');
});

test('the recording stays within its byte bound and ends with one truncation marker', () => {
  const maxBytes = 2_000;
  const rec = new AsciicastRecorder({ width: 80, height: 24, startedAtMs: T0, maxBytes });
  let accepted = 0;
  for (let i = 0; i < 100; i++)
    if (rec.output(`line ${i} ${'x'.repeat(40)}\r\n`, T0 + i)) accepted++;
  const text = rec.toString();
  assert.ok(Buffer.byteLength(text) <= maxBytes, `${Buffer.byteLength(text)} bytes`);
  const cast = parseCast(text);
  assert.equal(rec.truncated, true);
  assert.ok(accepted > 10 && accepted < 100, `${accepted} accepted`);
  assert.equal(cast.events.length, accepted + 1);
  assert.match(cast.events.at(-1)![2], /recording truncated at 2000 bytes/);
  assert.equal(rec.stats().droppedEvents, 100 - accepted);
  assert.equal(rec.stats().bytes, Buffer.byteLength(text));
  assert.equal(rec.input('x', T0 + 200), false, 'later events are dropped');
  assert.equal(parseCast(rec.toString()).events.length, accepted + 1);
});

test('the transcript has its own bound and marker', () => {
  const rec = new AsciicastRecorder({
    width: 80,
    height: 24,
    startedAtMs: T0,
    maxTranscriptBytes: 300,
  });
  for (let i = 0; i < 50; i++) rec.output(`row ${i}\n`, T0 + i);
  const text = rec.transcript();
  assert.ok(Buffer.byteLength(text) <= 300);
  assert.match(text, /^row 0\nrow 1\n/);
  assert.match(text, /\[ferry: transcript truncated at 300 bytes\]\n$/);
  assert.equal(rec.stats().transcriptTruncated, true);
  assert.equal(rec.truncated, false, 'the recording itself was not truncated');
});

test('the line assembler wraps a line that never ends instead of growing without bound', () => {
  const lines: string[] = [];
  const a = new LineAssembler((text) => lines.push(text));
  a.feed('y'.repeat(40_000), 0);
  a.flush();
  assert.deepEqual(
    lines.map((l) => l.length),
    [16_384, 16_384, 40_000 - 2 * 16_384],
  );
});

test('streaming mode writes the same lines to new 0600 files, flushed on close', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'shell-1.cast');
  const transcriptFile = path.join(dir, 'shell-1.txt');
  const opts = { width: 80, height: 24, startedAtMs: T0, title: 'one' };
  const streamed = new AsciicastRecorder({ ...opts, file, transcriptFile });
  const memory = new AsciicastRecorder(opts);
  for (const r of [streamed, memory]) {
    r.output('hello \x1b[1mworld\x1b[0m\r\n', T0 + 5);
    r.input('echo hi\r', T0 + 7);
    r.resize(90, 25, T0 + 8);
    r.output(Buffer.from([0xe2, 0x9c]), T0 + 9); // half a character, completed at close
  }
  assert.throws(() => streamed.toString(), { code: 'FERRY_ERR_RECORDING_STREAMED' });
  assert.throws(() => streamed.transcript(), { code: 'FERRY_ERR_RECORDING_STREAMED' });
  await streamed.close(T0 + 10);
  await memory.close(T0 + 10);
  const onDisk = fs.readFileSync(file, 'utf8');
  assert.equal(onDisk, memory.toString());
  parseCast(onDisk);
  assert.equal(fs.readFileSync(transcriptFile, 'utf8'), memory.transcript());
  assert.equal(memory.transcript(), 'hello world\n\ufffd\n');
  if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(streamed.output('after close', T0 + 11), false);
});

test('streaming mode never replaces an existing file: close reports the error', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'taken.cast');
  fs.writeFileSync(file, 'keep me');
  const rec = new AsciicastRecorder({ width: 80, height: 24, startedAtMs: T0, file });
  rec.output('x', T0);
  await assert.rejects(rec.close(), { code: 'EEXIST' });
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
});
