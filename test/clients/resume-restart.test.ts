/**
 * Resume after a process restart, end to end: `ferry customer` (a child process) joins, chats,
 * is killed with SIGKILL mid-session, and `ferry customer --resume` takes its place back from the
 * resume file: the session goes Reconnecting/Offline, then Active again, with the chat history
 * intact, and the file goes when the session ends. A corrupt or foreign resume file is refused
 * with a clear message and removed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { resumeFile } from '../../src/clients/resume-state.js';
import { Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway, technician } from '../integration/harness.js';
import { CustomerProcess, stateDir } from '../support/customer-process.js';

const S = ferry.v1.SessionStatus;

test('a customer killed mid-session comes back with --resume: Active again, chat history intact', {
  timeout: 60_000,
}, async (t) => {
  const { gateway, url } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const dir = stateDir(t);

  const queued = tech.waitForCustomer(sessionId);
  const first = new CustomerProcess(t, [
    '--url',
    url,
    '--pin',
    pin,
    '--name',
    'Alice',
    '--grant',
    'view,control',
    '--state-dir',
    dir,
  ]);
  await first.line(/no screen to share/);
  await first.line(/^resume state kept in /);
  await queued;
  await tech.pickUp(sessionId);
  await tech.requestConsent(['view']);
  await first.line(/^permissions in force: view/);

  tech.chat('hello Alice');
  await first.line(/\] tech-1: hello Alice$/);
  const heard = waitFor(tech, 'chat', (c) => c.text === 'hello tech');
  first.say('hello tech');
  await heard;
  const file = resumeFile(dir);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  const away = waitFor(tech, 'status', (s) =>
    [S.SESSION_STATUS_RECONNECTING, S.SESSION_STATUS_OFFLINE].includes(s.status),
  );
  first.child.kill('SIGKILL');
  await first.exited;
  await away;

  const back = waitFor(tech, 'status', (s) => s.status === S.SESSION_STATUS_ACTIVE);
  const second = new CustomerProcess(t, ['--url', url, '--resume', '--state-dir', dir]);
  const [, resumed] = await second.line(/^resumed session ([^;\s]+)/);
  assert.equal(resumed, sessionId);
  await back;
  await second.line(/permissions in force: view/);

  const history = await tech.chatHistory(sessionId);
  const texts = history.entries.flatMap((e) => (e.chat ? [e.chat.text ?? ''] : []));
  assert.deepEqual(
    texts.filter((x) => x.startsWith('hello')),
    ['hello Alice', 'hello tech'],
  );
  const again = waitFor(tech, 'chat', (c) => c.text === 'back again');
  second.say('back again');
  const [chat] = await again;
  assert.equal(chat.senderName, 'Alice');

  await tech.endSession(sessionId, 'done');
  await second.line(/^connection closed/);
  second.child.stdin!.end();
  await second.exited;
  assert.equal(fs.existsSync(file), false, 'the resume file goes with the session');
});

test('a corrupt resume file is refused with a clear message, removed, and the client exits', async (t) => {
  const dir = stateDir(t);
  fs.writeFileSync(resumeFile(dir), '{"version":1,"token":');
  const p = new CustomerProcess(t, [
    '--url',
    'ws://127.0.0.1:9/v1/ws',
    '--resume',
    '--state-dir',
    dir,
  ]);
  const { input: line } = await p.line(new RegExp(Codes.RESUME_STATE_INVALID.code));
  assert.match(line, /refused and removed: not valid JSON/);
  assert.equal(await p.exited, 1);
  assert.equal(fs.existsSync(resumeFile(dir)), false);
});

test('a resume file of another gateway is refused, and with --pin the client joins afresh', async (t) => {
  const { gateway, url } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const dir = stateDir(t);
  fs.writeFileSync(
    resumeFile(dir),
    JSON.stringify({
      version: 1,
      gatewayUrl: 'ws://gateway.elsewhere:8080/v1/ws',
      gatewayId: 'other',
      sessionId: 'old',
      token: 'old-token',
      granted: [],
      savedAtMs: 1,
    }),
  );
  const queued = tech.waitForCustomer(sessionId);
  const p = new CustomerProcess(t, ['--url', url, '--resume', '--pin', pin, '--state-dir', dir]);
  const { input: line } = await p.line(/RESUME_STATE_INVALID/);
  assert.match(line, /belongs to gateway ws:\/\/gateway\.elsewhere:8080\/v1\/ws/);
  await p.line(/^joined session /);
  await queued;
});
