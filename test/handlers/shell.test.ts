/**
 * Command shells end to end (spec session-tools E1-E5, issue 8 item 1): a technician with the
 * shell grant runs several real shells on the customer's machine at once, through the gateway;
 * the gateway caps them, refuses them without the grant, logs every open and close, and, when
 * the operator turns recording on, writes each shell as asciicast v2 plus a transcript that the
 * report lists and the status API serves.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { recordingsDir } from '../../src/session/shells.js';
import { technician } from '../integration/harness.js';
import { adminRequest, Channel, logDetails, settle, streamErrors, world } from './shell-harness.js';

test('two shells at once: interleaved output stays apart and in order; closing one leaves the other running', async (t) => {
  const w = await world(t, { grant: ['shell'] });
  const a = await w.tech.shells.open({ kind: 'sh', name: 'alpha' });
  const b = await w.tech.shells.open({ kind: 'sh', name: 'beta' });
  assert.deepEqual([a.id, b.id], [1, 2], 'shell ids are 1, 2, ... in the session');
  assert.equal(a.name, 'alpha');
  assert.ok(a.pid > 0 && b.pid > 0 && a.pid !== b.pid);
  assert.equal(w.customer.shells.host.size, 2);

  // interleave what is typed and printed: each shell counts in its own loop
  a.write('for i in 1 2 3 4 5; do echo A$i; done\n');
  b.write('for i in 1 2 3 4 5; do echo B$i; done\n');
  a.write('echo A-end\n');
  b.write('echo B-end\n');
  await Promise.all([a.waitForOutput('A-end\n'), b.waitForOutput('B-end\n')]);
  assert.equal(a.text, 'A1\nA2\nA3\nA4\nA5\nA-end\n');
  assert.equal(b.text, 'B1\nB2\nB3\nB4\nB5\nB-end\n');

  // resize is relayed (on pipes the customer's host only records the size)
  const resized = new Promise((resolve) =>
    w.customer.shells.host.once('resize', (...args) => resolve(args)),
  );
  a.resize(120, 40);
  assert.deepEqual(await resized, [a.id, 120, 40]);
  assert.equal(w.customer.shells.host.info(a.id)?.rows, 40);

  const exit = await a.close('done with it');
  assert.equal(exit.errorCode, '');
  assert.equal(w.customer.shells.host.size, 1);
  assert.deepEqual(
    w.tech.shells.list().map((s) => s.id),
    [b.id],
  );
  b.write('echo still-here\n');
  await b.waitForOutput('still-here\n');

  const log = logDetails(w.gateway, w.sessionId, 'shell');
  assert.ok(log.includes(`tech-1 opened shell ${a.id} "alpha" (sh)`), log.join('\n'));
  assert.ok(log.includes(`tech-1 opened shell ${b.id} "beta" (sh)`), log.join('\n'));
  assert.ok(log.includes(`tech-1 closed shell ${a.id} "alpha": done with it`), log.join('\n'));

  // a shell that exits by itself reports its code, and the log says so
  b.write('exit 3\n');
  const ended = await b.exited;
  assert.equal(ended.code, 3);
  assert.ok(
    logDetails(w.gateway, w.sessionId, 'shell').includes(`shell ${b.id} "beta" exited with code 3`),
  );
  assert.equal(w.gateway.registry.get(w.sessionId)!.shells.size, 0);
  // no recording unless the operator turns it on
  assert.equal(fs.existsSync(recordingsDir(w.dataDir, w.sessionId)), false);
});

test('shells are refused with codes: no grant, over the session cap, wrong side, unknown shell; revoking ends them', async (t) => {
  const w = await world(t, { config: { maxShellsPerSession: 2 } });
  const errors = streamErrors(w.tech);
  await assert.rejects(w.tech.shells.open(), { code: 'FERRY_ERR_NOT_GRANTED' });
  assert.equal(errors.at(-1)?.code, 'FERRY_ERR_NOT_GRANTED');
  assert.equal(errors.at(-1)?.channel, Channel.CHANNEL_SHELL);
  assert.ok(errors.at(-1)!.stream > 0, 'the refusal names the shell');
  assert.equal(w.customer.shells.host.size, 0);

  await w.customer.grant(['shell']);
  const one = await w.tech.shells.open();
  await w.tech.shells.open();
  await assert.rejects(w.tech.shells.open(), { code: 'FERRY_ERR_SHELL_LIMIT' });
  assert.equal(w.customer.shells.host.size, 2);

  // the customer may not open shells, a technician may not send output, and a ShellOpen's
  // stream is an open reference above the shell ids (1..1000), which only the gateway allocates
  const customerErrors = streamErrors(w.customer);
  w.customer.sendRaw(
    encodeFrame({ channel: Channel.CHANNEL_SHELL, stream: 9, shell: { open: {} } }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: one.id,
      shell: { output: { data: Buffer.from('x') } },
    }),
  );
  w.tech.sendRaw(
    encodeFrame({ channel: Channel.CHANNEL_SHELL, stream: one.id, shell: { open: {} } }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: 77,
      shell: { input: { data: Buffer.from('ls\n') } },
    }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: one.id,
      shell: { resize: { cols: 0, rows: 5 } },
    }),
  );
  w.tech.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: 5,
      opaque: { data: Buffer.from('raw') },
    }),
  );
  await settle(w.tech);
  await settle(w.customer);
  assert.deepEqual(
    customerErrors.map((e) => [e.code, e.stream]),
    [['FERRY_ERR_WRONG_ROLE', 9]],
  );
  assert.deepEqual(
    errors.slice(-5).map((e) => [e.code, e.stream]),
    [
      ['FERRY_ERR_WRONG_ROLE', one.id],
      ['FERRY_ERR_INVALID_ARGUMENT', one.id],
      ['FERRY_ERR_SHELL_NOT_FOUND', 77],
      ['FERRY_ERR_SHELL_BAD_SIZE', one.id],
      ['FERRY_ERR_FRAME_DECODE', 5],
    ],
  );

  // revocation: every shell ends at once, the technician learns why
  const exits = w.tech.shells.list().map((s) => s.exited);
  await w.customer.revoke(['shell']);
  for (const exit of await Promise.all(exits))
    assert.equal(exit.errorCode, 'FERRY_ERR_NOT_GRANTED');
  assert.equal(w.gateway.registry.get(w.sessionId)!.shells.size, 0);
  await settle(w.customer);
  w.customer.shells.host.ids().length > 0 && (await w.customer.shells.host.closeAll());
  assert.equal(w.customer.shells.host.size, 0);
});

interface CastEvent {
  readonly time: number;
  readonly code: string;
  readonly data: string;
}

/** Parses and checks an asciicast v2 file: a header object line, then [time, code, data] lines. */
function parseCast(text: string): { header: Record<string, unknown>; events: CastEvent[] } {
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  const header = JSON.parse(lines[0]!);
  assert.equal(header.version, 2);
  assert.ok(Number.isInteger(header.width) && header.width > 0);
  assert.ok(Number.isInteger(header.height) && header.height > 0);
  assert.ok(Number.isInteger(header.timestamp) && header.timestamp > 1_600_000_000);
  let last = 0;
  const events = lines.slice(1).map((line) => {
    const e = JSON.parse(line);
    assert.ok(Array.isArray(e) && e.length === 3, line);
    assert.equal(typeof e[0], 'number');
    assert.ok(e[0] >= last, `time goes back in ${line}`);
    last = e[0];
    assert.ok(['o', 'i', 'r'].includes(e[1]), line);
    assert.equal(typeof e[2], 'string');
    return { time: e[0], code: e[1], data: e[2] };
  });
  return { header, events };
}

test('with recording on, each shell is an asciicast v2 file plus a transcript, in the report and served by the status API', async (t) => {
  const w = await world(t, { grant: ['shell'], config: { recordShells: 1 } });
  const shell = await w.tech.shells.open({ kind: 'sh', name: 'recorded', cols: 100, rows: 30 });
  const other = await w.tech.shells.open({ kind: 'sh', name: 'second' });
  shell.write('echo hello-rec\n');
  other.write('echo other-shell\n');
  await shell.waitForOutput('hello-rec\n');
  await other.waitForOutput('other-shell\n');
  shell.resize(132, 43);
  shell.write('printf "caf\\303\\251 %s\\n" done\n');
  await shell.waitForOutput('café done\n');
  shell.write('exit\n');
  await shell.exited;

  const token = w.gateway.adminToken;
  const live = await adminRequest(w.gateway, `/api/v1/sessions/${w.sessionId}/recordings`, {
    token,
  });
  assert.equal(live.status, 200);
  assert.equal(live.json.recordings.length, 2);

  const closed = waitFor(
    w.tech,
    'status',
    (s) => s.status === ferry.v1.SessionStatus.SESSION_STATUS_CLOSED_BY_TECHNICIAN,
  );
  w.tech.closeSession(w.sessionId, 'done');
  await closed;
  const report = (
    await adminRequest(w.gateway, `/api/v1/sessions/${w.sessionId}/report`, { token })
  ).json;
  assert.equal(report.recordings.length, 2);
  const rec = report.recordings.find((r: { name: string }) => r.name === 'recorded');
  assert.equal(rec.shellId, shell.id);
  assert.equal(rec.openedBy, 'tech-1');
  assert.match(rec.cast, /^shell-\d+-\d+\.cast$/);
  assert.match(rec.transcript, /^shell-\d+-\d+\.txt$/);
  assert.ok(rec.endedAt !== null && rec.stats.events > 0 && rec.stats.truncated === false);
  // the other shell was still open when the session ended: its recording was closed then
  const second = report.recordings.find((r: { name: string }) => r.name === 'second');
  assert.ok(second.endedAt !== null);

  const cast = await adminRequest(
    w.gateway,
    `/api/v1/sessions/${w.sessionId}/recordings/${rec.cast}`,
    { token },
  );
  assert.equal(cast.status, 200);
  assert.equal(cast.contentType, 'application/x-asciicast');
  const { header, events } = parseCast(cast.text);
  assert.equal(header.width, 100);
  assert.equal(header.height, 30);
  const joined = (code: string) =>
    events
      .filter((e) => e.code === code)
      .map((e) => e.data)
      .join('');
  assert.equal(joined('i'), 'echo hello-rec\nprintf "caf\\303\\251 %s\\n" done\nexit\n');
  assert.equal(joined('o'), 'hello-rec\ncafé done\n');
  assert.deepEqual(
    events.filter((e) => e.code === 'r').map((e) => e.data),
    ['132x43'],
  );
  assert.ok(!cast.text.includes('other-shell'), 'each shell has its own recording');
  // the file on disk is the one served, readable by the gateway's user only
  const onDisk = path.join(recordingsDir(w.dataDir, w.sessionId), rec.cast);
  assert.equal(fs.readFileSync(onDisk, 'utf8'), cast.text);
  assert.equal(fs.statSync(onDisk).mode & 0o777, 0o600);

  const transcript = await adminRequest(
    w.gateway,
    `/api/v1/sessions/${w.sessionId}/recordings/${rec.transcript}`,
    { token },
  );
  assert.equal(transcript.status, 200);
  assert.match(transcript.contentType, /^text\/plain/);
  const lines = transcript.text.trimEnd().split('\n');
  for (const line of lines) assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] /);
  const body = lines.map((l) => l.replace(/^\[[^\]]+\] /, ''));
  assert.deepEqual(body, [
    '> echo hello-rec',
    'hello-rec',
    '> printf "caf\\303\\251 %s\\n" done',
    'café done',
    '> exit',
  ]);

  // only listed files of that session, never another path, and never without the token
  const base = `/api/v1/sessions/${w.sessionId}/recordings`;
  for (const bad of ['shell-99-9.cast', '..%2F..%2Freports', '.%2Fshell-1-1.cast', 'secret']) {
    const reply = await adminRequest(w.gateway, `${base}/${bad}`, { token });
    assert.equal(reply.status, 404, bad);
  }
  assert.equal((await adminRequest(w.gateway, `${base}/${rec.cast}`)).status, 401);
  assert.equal(
    (await adminRequest(w.gateway, '/api/v1/sessions/nope/recordings', { token })).status,
    404,
  );
});

test("a collaborator runs its own shells; another technician's shell output never reaches it and it cannot type into it", async (t) => {
  const w = await world(t, { grant: ['shell'] });
  const tech2 = await technician(t, w.gateway, 'tech-2');
  const invited = waitFor(tech2, 'status', (s) => s.sessionId === w.sessionId);
  await w.tech.invite('tech-2');
  await invited;
  await tech2.acceptInvitation(w.sessionId);
  const mine = await w.tech.shells.open({ kind: 'sh', name: 'owner' });
  const theirs = await tech2.shells.open({ kind: 'sh', name: 'collaborator' });
  assert.notEqual(mine.id, theirs.id);
  const seenByTech2: number[] = [];
  tech2.on('frame', (f) => {
    if (f.channel === Channel.CHANNEL_SHELL) seenByTech2.push(f.stream);
  });
  mine.write('echo owner-secret\n');
  theirs.write('echo collab-out\n');
  await mine.waitForOutput('owner-secret\n');
  await theirs.waitForOutput('collab-out\n');
  assert.ok(!seenByTech2.includes(mine.id));
  assert.equal(theirs.text, 'collab-out\n');

  const errors = streamErrors(tech2);
  tech2.sendRaw(
    encodeFrame({
      channel: Channel.CHANNEL_SHELL,
      stream: mine.id,
      shell: { input: { data: Buffer.from('echo hijack\n') } },
    }),
  );
  tech2.sendRaw(
    encodeFrame({ channel: Channel.CHANNEL_SHELL, stream: mine.id, shell: { close: {} } }),
  );
  await settle(tech2);
  assert.deepEqual(
    errors.map((e) => [e.code, e.stream]),
    [
      ['FERRY_ERR_SHELL_NOT_FOUND', mine.id],
      ['FERRY_ERR_SHELL_NOT_FOUND', mine.id],
    ],
  );
  mine.write('echo after\n');
  await mine.waitForOutput('after\n');
  assert.ok(!mine.text.includes('hijack'));
  assert.ok(
    logDetails(w.gateway, w.sessionId, 'shell').includes(
      `tech-2 opened shell ${theirs.id} "collaborator" (sh)`,
    ),
  );
});

test('a recording stops at shellRecordingMaxBytes with a marker; the shell itself goes on', async (t) => {
  const w = await world(t, {
    grant: ['shell'],
    config: { recordShells: 1, shellRecordingMaxBytes: 4096 },
  });
  const shell = await w.tech.shells.open({ kind: 'sh' });
  shell.write('i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done; echo END\n');
  await shell.waitForOutput('line-999\nEND\n');
  assert.ok(shell.text.length > 4096, 'the technician got everything');
  await shell.close();
  const rec = w.gateway.registry.get(w.sessionId)!.recordings[0]!;
  assert.equal(rec.stats?.truncated, true);
  assert.ok(rec.stats!.droppedEvents > 0);
  const reply = await adminRequest(
    w.gateway,
    `/api/v1/sessions/${w.sessionId}/recordings/${rec.cast}`,
    { token: w.gateway.adminToken },
  );
  assert.ok(Buffer.byteLength(reply.text) <= 4096);
  const last = JSON.parse(reply.text.trimEnd().split('\n').at(-1)!);
  assert.equal(last[1], 'o');
  assert.match(last[2], /recording truncated at 4096 bytes/);
});
