/**
 * `ferry serve` with TLS as an operator runs it: certificates that cannot serve stop the start
 * with a clear message and a non-zero exit; SIGHUP and a change of the files reload the
 * certificate while a session keeps relaying.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { type Issued, issue, makeCa, type TestCa } from './certs.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/ferry.js');

function dataDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-tls-serve-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const baseArgs = (dir: string) => [
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--admin-port',
  '0',
  '--data-dir',
  dir,
];

/** Runs `ferry serve` expecting it to stop at once; resolves with its exit code and stderr. */
function failedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // a bound, not a wait: four of these start at once beside another test file on two cores
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

interface Serving {
  readonly child: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  /** Resolves with the next log record whose msg is `msg`. */
  next(msg: string): Promise<Record<string, unknown>>;
}

/** Starts `ferry serve` and resolves once it listens. Lines uWS prints itself are skipped. */
function serve(t: TestContext, args: string[]): Promise<Serving> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  const waiting: Array<{ msg: string; resolve: (r: Record<string, unknown>) => void }> = [];
  const seen: string[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    seen.push(line);
    if (!line.startsWith('{')) return;
    const record = JSON.parse(line) as Record<string, unknown>;
    const i = waiting.findIndex((w) => w.msg === record.msg);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(record);
  });
  const next = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve) => waiting.push({ msg, resolve }));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${seen.join('\n')}`)));
    next('gateway listening').then((record) => {
      child.removeAllListeners('exit');
      resolve({
        child,
        port: record.port as number,
        adminPort: record.adminPort as number,
        next,
      });
    });
  });
}

function peerSerial(port: number, ca: Buffer, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('a missing key, a key of another certificate and an expired certificate each stop the start', async (t) => {
  const ca = makeCa(t);
  const good = issue(ca, 'good');
  const other = issue(ca, 'other');
  const expired = issue(ca, 'expired', { days: -1 });
  const dir = dataDir(t);
  const cases: Array<[string, string[], RegExp]> = [
    [
      'missing key',
      ['--tls-cert', good.cert, '--tls-key', path.join(ca.dir, 'nope.key')],
      /cannot read the TLS key .*nope\.key: ENOENT/,
    ],
    [
      'key of another certificate',
      ['--tls-cert', good.cert, '--tls-key', other.key],
      /the TLS key .*other\.key does not match the certificate .*good\.crt/,
    ],
    [
      'expired certificate',
      ['--tls-cert', expired.cert, '--tls-key', expired.key],
      /the TLS certificate .*expired\.crt expired on/,
    ],
    ['certificate without key', ['--tls-cert', good.cert], /tlsKey is required with tlsCert/],
  ];
  const results = await Promise.all(
    cases.map(([, args]) => failedStart([...baseArgs(dir), ...args])),
  );
  for (const [i, [name, , message]] of cases.entries()) {
    const { code, stderr } = results[i]!;
    assert.notEqual(code, 0, `${name}: exit code`);
    assert.notEqual(code, null, `${name}: exited by itself; its stderr: ${stderr.slice(-2000)}`);
    assert.match(stderr, message, name);
    assert.doesNotMatch(stderr, /\n\s+at /, `${name}: no stack trace`);
  }
});

test('an encrypted key starts with its passphrase file and not without it', async (t) => {
  const ca = makeCa(t);
  const locked = issue(ca, 'locked', { passphrase: 'correct horse' });
  const dir = dataDir(t);
  const refused = await failedStart([
    ...baseArgs(dir),
    '--tls-cert',
    locked.cert,
    '--tls-key',
    locked.key,
  ]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /encrypted and no passphrase file was given/);
  const serving = await serve(t, [
    ...baseArgs(dir),
    '--tls-cert',
    locked.cert,
    '--tls-key',
    locked.key,
    '--tls-passphrase-file',
    path.join(ca.dir, 'locked.pass'),
  ]);
  assert.equal(
    await peerSerial(serving.port, fs.readFileSync(ca.cert), 'localhost'),
    locked.serial,
  );
});

async function session(url: string, ca: Buffer, dir: string, t: TestContext) {
  const { stdout } = await run(process.execPath, [
    BIN,
    'token',
    'issue',
    '--name',
    'tech-1',
    '--data-dir',
    dir,
  ]);
  const tech = new TechnicianClient({ url, token: stdout.trim(), tls: { ca }, reconnect: false });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession('reload');
  const customer = new CustomerClient({
    url,
    pin,
    tls: { ca },
    consent: ['view'],
    screen: { tileBytes: 256 },
    reconnect: false,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return {
    async relays(tag: string) {
      const got = waitFor(customer, 'chat', (c) => c.text === tag);
      tech.chat(tag);
      await got;
    },
  };
}

async function replace(ca: TestCa, current: Issued, base: string): Promise<Issued> {
  const renewed = issue(ca, base);
  // As a renewal tool does: new files written aside, then renamed over the old ones.
  fs.copyFileSync(renewed.cert, `${current.cert}.new`);
  fs.copyFileSync(renewed.key, `${current.key}.new`);
  fs.renameSync(`${current.key}.new`, current.key);
  fs.renameSync(`${current.cert}.new`, current.cert);
  return renewed;
}

test('SIGHUP and a change of the files load the new certificate while the session keeps relaying', async (t) => {
  const ca = makeCa(t);
  const caPem = fs.readFileSync(ca.cert);
  const first = issue(ca, 'server');
  const dir = dataDir(t);
  const serving = await serve(t, [
    ...baseArgs(dir),
    '--tls-cert',
    first.cert,
    '--tls-key',
    first.key,
  ]);
  assert.equal(await peerSerial(serving.port, caPem, 'localhost'), first.serial);
  const s = await session(`wss://127.0.0.1:${serving.port}/v1/ws`, caPem, dir, t);
  await s.relays('before');

  // The watch sees the files change (the reload is debounced).
  const watched = serving.next(
    'TLS certificate reloaded: new connections get it, open ones keep theirs',
  );
  const second = await replace(ca, first, 'second');
  const record = await watched;
  assert.equal(record.trigger, 'certificate files changed');
  assert.equal(await peerSerial(serving.port, caPem, 'localhost'), second.serial);
  await s.relays('after the watch reload');

  // SIGHUP: the files are read again at once (a failing reload names the reason and keeps the
  // certificate).
  const signalled = serving.next(
    'TLS certificate reloaded: new connections get it, open ones keep theirs',
  );
  const third = issue(ca, 'third');
  // Written in place without a rename: the watch may fire too; SIGHUP makes it immediate.
  fs.copyFileSync(third.key, first.key);
  fs.copyFileSync(third.cert, first.cert);
  serving.child.kill('SIGHUP');
  const reloaded = await signalled;
  assert.ok(['SIGHUP', 'certificate files changed'].includes(reloaded.trigger as string));
  assert.equal(await peerSerial(serving.port, caPem, 'localhost'), third.serial);
  assert.equal(await peerSerial(serving.adminPort, caPem, 'localhost'), third.serial);
  await s.relays('after SIGHUP');
});
