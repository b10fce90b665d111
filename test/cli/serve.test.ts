import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { configKeys, flagName } from '../../src/config/schema.js';
import { storedReport } from '../support/reports.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/ferry.js');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `ferry serve` and resolves with its "gateway listening" log record. */
function serve(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; listening: Record<string, unknown>; lines: string[] }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`ferry serve exited with ${code}: ${lines.join('\n')}`)),
    );
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record.msg === 'gateway listening') {
        child.removeAllListeners('exit');
        resolve({ child, listening: record, lines });
      }
    });
  });
}

/** `ferry serve` with a technician and a customer in one Active session, for the drain tests. */
async function servingSession(t: { after: (fn: () => void) => void }, drainSeconds: number) {
  const dataDir = tempDir(t);
  const { child, listening, lines } = await serve([
    '--port',
    '0',
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
    '--host',
    '127.0.0.1',
    '--drain-timeout-seconds',
    String(drainSeconds),
  ]);
  t.after(() => child.kill('SIGKILL'));
  const { stdout } = await run(process.execPath, [
    BIN,
    'token',
    'issue',
    '--name',
    'tech-1',
    '--data-dir',
    dataDir,
  ]);
  const tech = new TechnicianClient({
    url: `ws://127.0.0.1:${listening.port}/v1/ws`,
    token: stdout.trim(),
    reconnect: false,
  });
  t.after(() => tech.close());
  await tech.connect();
  // An Active session: the spec lets a technician close a session only once it is picked up.
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url: `ws://127.0.0.1:${listening.port}/v1/ws`,
    pin,
    reconnect: false,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  const closing = waitFor(tech, 'event', (e) => e.closing != null);
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  return { dataDir, child, listening, lines, tech, sessionId, closing, exited };
}

test('ferry token issue and ferry serve agree on the secret in the data directory with no set-up', async (t) => {
  const dataDir = tempDir(t);
  const { stdout } = await run(process.execPath, [
    BIN,
    'token',
    'issue',
    '--name',
    'tech-1',
    '--data-dir',
    dataDir,
  ]);
  const token = stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(fs.statSync(path.join(dataDir, 'secret')).mode & 0o777, 0o600);
  const { child, listening } = await serve(
    ['--port', '0', '--admin-port', '0', '--host', '127.0.0.1'],
    { FERRY_DATA_DIR: dataDir },
  );
  t.after(() => child.kill('SIGKILL'));
  const tech = new TechnicianClient({ url: `ws://127.0.0.1:${listening.port}/v1/ws`, token });
  t.after(() => tech.close());
  const welcome = await tech.connect();
  assert.ok(welcome.participantId);
});

test('ferry serve drains on SIGTERM: readyz 503, clients told the deadline, exit 0 once sessions end, reports written', async (t) => {
  const { dataDir, child, listening, lines, tech, sessionId, closing, exited } =
    await servingSession(t, 60);
  child.kill('SIGTERM');
  const [event] = await closing;
  assert.equal(event.closing?.deadlineMs, 60_000);
  const ready = await fetch(`http://127.0.0.1:${listening.adminPort}/readyz`);
  assert.equal(ready.status, 503);
  // The last session ends: the drain is over well before its deadline.
  tech.closeSession(sessionId, 'done before the deadline');
  assert.equal(await exited, 0);
  assert.equal(storedReport(dataDir, sessionId)?.id, sessionId, 'its report is stored');
  assert.ok(lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'gateway stopped'));
});

test('a second SIGTERM during the drain exits at once', async (t) => {
  const { child, closing, exited } = await servingSession(t, 600);
  child.kill('SIGTERM');
  await closing;
  child.kill('SIGTERM');
  assert.equal(await exited, 1);
});

test('ferry serve refuses a bad setting with a clear message and exit code 2', async () => {
  await assert.rejects(
    run(process.execPath, [BIN, 'serve', '--port', '70000']),
    (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /port .*between 0 and 65535/);
      return true;
    },
  );
});

test('ferry serve --help lists every setting of the schema', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'serve', '--help']);
  for (const key of configKeys)
    assert.ok(stdout.includes(`--${flagName(key)}`), `--${flagName(key)} missing from --help`);
});

test('ferry demo --json relays screen, input and chat between a real technician and customer and exits 0', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'demo', '--seconds', '2', '--json']);
  const summary = JSON.parse(stdout) as {
    status: string;
    screen: { sent: number; received: number };
    input: { sent: number; applied: number };
    chat: { sent: number; received: number };
    relayed: Record<string, { frames: number }>;
    errors: Record<string, number>;
  };
  assert.equal(summary.status, 'ACTIVE');
  assert.ok(summary.screen.sent > 0);
  assert.equal(summary.screen.received, summary.screen.sent);
  assert.equal(summary.relayed.screen?.frames, summary.screen.sent);
  assert.ok(summary.input.applied > 0);
  assert.ok(summary.chat.received >= summary.chat.sent);
  assert.deepEqual(summary.errors, {});
});
