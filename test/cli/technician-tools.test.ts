/**
 * The session tools from the command line: `ferry customer` asks its user for consent (answers
 * typed on stdin; denied once stdin ends) or answers by itself with --grant / --deny;
 * `ferry technician` asks for consent, chats in public and in private, adds notes and reads
 * system information with its /commands. Real processes against an in-process gateway; every
 * step waits for the output line or gateway state it causes.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { toNames } from '../../src/clients/permissions.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  Channel,
  framesOn,
  settle,
  startGateway,
  technician,
  url,
} from '../handlers/tools-harness.js';

const BIN = path.resolve('bin/ferry.js');

/** A `ferry` child process whose stdout lines can be waited for. */
class Cli {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  readonly #events = new EventEmitter();

  constructor(t: TestContext, args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => {
      this.child.kill();
    });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.#events.emit('line', line);
    });
    this.child.stderr.on('data', (d: Buffer) => this.lines.push(`stderr: ${d.toString()}`));
  }

  /** Resolves with the first line matching `pattern` printed after line `from`. */
  line(pattern: RegExp, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onLine = (l: string) => {
        if (!pattern.test(l)) return;
        this.#events.off('line', onLine);
        resolve(l);
      };
      this.#events.on('line', onLine);
      this.child.once('exit', (code) =>
        reject(new Error(`exited ${code} before ${pattern}:\n${this.lines.join('\n')}`)),
      );
    });
  }

  /** Types `text` and resolves with the first line matching `pattern` it causes. */
  type(text: string, pattern: RegExp): Promise<string> {
    const from = this.lines.length;
    this.child.stdin.write(`${text}\n`);
    return this.line(pattern, from);
  }
}

test('ferry customer asks its user: the typed answer is what the gateway records, and once stdin ends every request is denied', async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const customer = new Cli(t, [
    'customer',
    '--url',
    url(gateway),
    '--pin',
    pin,
    '--name',
    'Bob',
    '--screen',
    'test-pattern',
  ]);
  await customer.line(/not a terminal: consent questions are answered by its lines/);
  await tech.waitForCustomer(sessionId);
  await tech.pickUp(sessionId);

  // listening before consent: the first SCREEN frame may come in the turn the answer does
  const screen = framesOn(tech, Channel.CHANNEL_SCREEN);
  const firstScreen = waitFor(tech, 'frame', (f) => f.channel === Channel.CHANNEL_SCREEN, 30_000);
  const answer = tech.requestConsent(['view', 'sysinfo'], 'to look at the printer');
  await customer.line(
    /^tech-1 asks to: see your screen; read system information .*\(to look at the printer\)$/,
  );
  assert.match(await customer.type('view', /^allowed|^denied/), /^allowed: view$/);
  const result = await answer;
  assert.deepEqual(toNames(result.granted), ['view']);
  assert.deepEqual(toNames(result.denied), ['sysinfo']);
  // The CLI starts sharing once view is granted in an active session.
  await firstScreen;
  assert.ok(screen.length > 0);

  customer.child.stdin.end();
  const denied = await tech.requestConsent(['control']);
  assert.deepEqual(toNames(denied.denied), ['control']);
  assert.deepEqual(toNames(denied.granted), ['view']);
  await customer.line(/asked to: use your mouse and keyboard; no input, denied/);
});

test('ferry customer --grant answers without asking, granting only what is both asked and listed; --deny grants nothing', async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await technician(t, gateway);
  const first = await tech.createSession();
  const granting = new Cli(t, [
    'customer',
    '--url',
    url(gateway),
    '--pin',
    first.pin,
    '--grant',
    'view,control',
  ]);
  await tech.waitForCustomer(first.sessionId);
  await tech.pickUp(first.sessionId);
  const result = await tech.requestConsent(['view', 'control', 'sysinfo']);
  assert.deepEqual(toNames(result.granted), ['view', 'control']);
  assert.deepEqual(toNames(result.denied), ['sysinfo']);
  assert.ok(
    granting.lines.every((l) => !l.includes('asks to')),
    'nobody was asked',
  );

  const other = await technician(t, gateway, 'tech-2');
  const second = await other.createSession();
  new Cli(t, ['customer', '--url', url(gateway), '--pin', second.pin, '--deny']);
  await other.waitForCustomer(second.sessionId);
  await other.pickUp(second.sessionId);
  const refused = await other.requestConsent(['view']);
  assert.deepEqual(refused.granted, []);
  assert.deepEqual(toNames(refused.denied), ['view']);
});

test('ferry technician asks for consent, chats in public and in private, adds notes and reads system information from its /commands', async (t) => {
  const { gateway } = await startGateway(t);
  const token = issueToken(gateway.config.secret, 'cli-tech', 3600);
  const tech = new Cli(t, [
    'technician',
    '--url',
    url(gateway),
    '--token',
    token,
    '--request',
    '',
    '--input-rate',
    '0',
  ]);
  const opened = await tech.line(/^session \S+: give the customer PIN \S+$/);
  const [, sessionId, pin] = /^session (\S+): give the customer PIN (\S+)$/.exec(opened)!;
  const customer = new CustomerClient({
    url: url(gateway),
    pin: pin!,
    name: 'Alice',
    consent: ['view', 'sysinfo'],
  });
  t.after(() => customer.close());
  const chats: string[] = [];
  customer.on('chat', (c) => chats.push(c.text));
  await customer.connect();
  await tech.line(/picking up/);
  await tech.line(/ACTIVE/);

  assert.match(await tech.type('/consent sysinfo', /^granted:/), /^granted: sysinfo$/);
  const heard = waitFor(customer, 'chat', (c) => c.text === 'hello from the CLI');
  tech.child.stdin.write('/private only for technicians\n');
  await tech.type('hello from the CLI', /\[chat #\d+\] cli-tech: hello from the CLI/);
  await heard;
  assert.match(
    await tech.type('/private between us', /private\] cli-tech: between us/),
    /^\[chat #\d+ private\]/,
  );
  assert.equal(await tech.type('/note printer driver 4.2', /^note added$/), 'note added');
  const snapshot = await tech.type('/sysinfo os', /"hostname":/);
  assert.ok(snapshot.includes(JSON.stringify(os.hostname())), snapshot);
  assert.equal(customer.sysinfoRequests, 1);

  await settle(customer);
  assert.deepEqual(chats, ['hello from the CLI'], 'private chat never reached the customer');
  const session = gateway.registry.get(sessionId!)!;
  assert.deepEqual(
    session.notes.map((n) => `${n.author}: ${n.text}`),
    ['cli-tech: printer driver 4.2'],
  );
  assert.deepEqual(
    session.log.entries
      .filter((e) => e.kind === 'chat' && e.audience === 'technicians')
      .map((e) => e.kind === 'chat' && e.text),
    ['only for technicians', 'between us'],
  );
});
