/**
 * The interactive technician command line, driven through the stdin of real `ferry technician`
 * processes against an in-process gateway: a session run from start to close with the CLI only
 * (create, a customer joins, chat, consent, shell, file, hold, transfer to a second CLI
 * technician, close), coded errors and /help, and Ctrl-C leaving the session cleanly (no session
 * waits past the orphan grace). Every step waits for the output line or gateway state it causes.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import { TechnicianRepl } from '../../src/cli/technician-repl.js';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { issueToken } from '../../src/session/tokens.js';
import { type Started, startGateway, statusOf } from '../lifecycle/harness.js';

const BIN = path.resolve('bin/ferry.js');

/** A `ferry` child process whose stdout lines can be waited for. */
class Cli {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  readonly #events = new EventEmitter();

  constructor(t: TestContext, args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => {
      if (this.child.exitCode === null) this.child.kill();
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        this.#events.emit('line', line);
      });
    }
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

function technicianCli(t: TestContext, started: Started, name: string, ...more: string[]): Cli {
  const token = issueToken(started.gateway.config.secret, name, 3600);
  return new Cli(t, [
    'technician',
    '--url',
    started.url,
    '--token',
    token,
    '--name',
    name,
    '--request',
    '',
    '--input-rate',
    '0',
    '--stats-every',
    '0',
    ...more,
  ]);
}

/** The session a CLI technician opened, and a reference customer joined to it. */
async function openedWithCustomer(t: TestContext, started: Started, cli: Cli) {
  const opened = await cli.line(/^session \S+: give the customer PIN \S+$/);
  const [, sessionId, pin] = /^session (\S+): give the customer PIN (\S+)$/.exec(opened)!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-repl-customer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const customer = new CustomerClient({
    url: started.url,
    pin: pin!,
    name: 'Alice',
    consent: ['view', 'control', 'shell', 'file', 'sysinfo'],
    rebootDelayMs: 50,
    shells: {
      defaultShell: '/bin/sh',
      backend: 'pipe',
      killGraceMs: 500,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
    files: { dir },
  });
  t.after(() => customer.close());
  await customer.connect();
  await cli.line(/picking up/);
  await cli.line(/-> ACTIVE/);
  return { sessionId: sessionId!, customer, dir };
}

test('a session runs from start to close with the technician CLI only: chat, consent, shell, file, hold, transfer to a second CLI technician, close', async (t) => {
  const started = await startGateway(t);
  const first = technicianCli(t, started, 'tech-1');
  const { sessionId, customer, dir } = await openedWithCustomer(t, started, first);

  const heard = waitFor(customer, 'chat', (c) => c.text === 'hello from the CLI');
  await first.type('hello from the CLI', /\[chat #\d+\] tech-1: hello from the CLI/);
  await heard;
  assert.equal(
    await first.type('/consent shell,file', /^granted:|^\/consent:/),
    'granted: shell, file',
  );

  const opened = await first.type('/shell', /^\[shell \d+\] .* open$|^\/shell:/);
  const shellId = /^\[shell (\d+)\]/.exec(opened)?.[1];
  assert.ok(shellId, opened);
  await first.type(`/sh ${shellId} echo from-the-shell`, /^\[shell \d+\] from-the-shell$/);
  assert.match(
    await first.type(`/close-shell ${shellId}`, /\] closed$|^\/close-shell:/),
    new RegExp(`^\\[shell ${shellId}\\] closed$`),
  );

  const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-repl-tech-')), 'notes.txt');
  fs.writeFileSync(local, 'printer driver 4.2\n');
  await first.type(`/file put ${local}`, /^\[file \d+\] sent notes\.txt \(19 bytes/);
  assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'printer driver 4.2\n');
  const back = `${local}.back`;
  await first.type(`/file get notes.txt ${back}`, /^\[file \d+\] saved .* \(19 bytes/);
  assert.equal(fs.readFileSync(back, 'utf8'), 'printer driver 4.2\n');

  await first.type('/hold', /^on hold: session \S+ is ON_HOLD$/);
  // input is never sent while the session is not Active: dropped with a message
  await first.type('/type secret', /^input not sent: the session is ON_HOLD/);
  await first.type('/unhold', /^off hold: session \S+ is ACTIVE$/);

  const second = technicianCli(t, started, 'tech-2', '--no-create');
  await second.line(/^connected as tech-2/);
  await first.type(
    '/transfer tech-2 printer issue',
    /^offered to tech-2: session \S+ is OUTGOING$/,
  );
  await second.line(
    new RegExp(`^transfer of session ${sessionId} offered by tech-1 \\(printer issue\\)`),
  );
  const active = statusOf(customer, sessionId, 'SESSION_STATUS_ACTIVE');
  await second.type('/accept', new RegExp(`^picked up session ${sessionId}$`));
  await active;
  assert.equal(started.gateway.registry.get(sessionId)?.owner.name, 'tech-2');
  await second.type('/queue', new RegExp(`^queue: ${sessionId} ACTIVE owner customer "Alice"`));

  const released = once(customer, 'close');
  await second.type('/close', /^closed: session \S+ is CLOSED_BY_TECHNICIAN$/);
  await released;
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
  const exited = once(second.child, 'exit');
  await second.type('/quit', /^quitting/);
  assert.deepEqual(await exited, [0, null]);
});

test('the CLI invites, accepts, removes and declines, and reads statistics, notes and system information, elevates and reboots', async (t) => {
  const started = await startGateway(t);
  const first = technicianCli(t, started, 'tech-1');
  const { sessionId, customer } = await openedWithCustomer(t, started, first);
  const second = technicianCli(t, started, 'tech-2', '--no-create');
  await second.line(/^connected as tech-2/);

  await first.type('/invite tech-2', /^invited tech-2: session \S+ is ACTIVE$/);
  await second.line(new RegExp(`^invitation to session ${sessionId} from tech-1`));
  await second.type('/accept', /^joined: session \S+ is COLLABORATING$/);
  await first.type('/remove tech-2', /^removed tech-2: session \S+ is ACTIVE$/);
  const again = second.lines.length;
  await first.type('/invite tech-2', /^invited tech-2:/);
  await second.line(/^invitation to session/, again);
  await second.type('/decline', /^declined: session \S+ is REMOVED_FROM_TC_QUEUE$/);

  await first.type('/stats', /^role\s+name\s+rtt avg/);
  await first.type('/note printer driver 4.2', /^note added$/);
  assert.match(await first.type('/notes', /^#\d+ /), /tech-1: printer driver 4\.2$/);
  assert.equal(await first.type('/consent sysinfo', /^granted:/), 'granted: sysinfo');
  await first.type('/sysinfo os', /"hostname":/);
  assert.match(await first.type('/elevate', /elevated|^\/elevate:/), /elevated|FERRY_ERR_/);
  const back = statusOf(customer, sessionId, 'SESSION_STATUS_ACTIVE');
  await first.type('/reboot', /^restarting the customer: session \S+ is REBOOTING$/);
  await back;
});

test('each command prints its result or the coded error, and /help lists them', async (t) => {
  const started = await startGateway(t);
  const cli = technicianCli(t, started, 'tech-1', '--no-create');
  await cli.line(/^connected as tech-1/);
  const from = cli.lines.length;
  await cli.type('/help', /\/uninstall/);
  const help = cli.lines.slice(from).join('\n');
  for (const command of [
    '/transfer <technician>',
    '/pickup <session>',
    '/close-shell <id>',
    '/stats',
    '/quit',
  ]) {
    assert.ok(help.includes(command), `${command} in:\n${help}`);
  }
  assert.equal(
    await cli.type('/help pickup', /^\/pickup/),
    '/pickup <session>: pick a session up from the queue',
  );
  assert.match(
    await cli.type('/pickup nope', /^\/pickup:/),
    /^\/pickup: FERRY_ERR_SESSION_NOT_FOUND: no session nope$/,
  );
  assert.match(await cli.type('/hold', /^\/hold:/), /^\/hold: FERRY_ERR_/);
  assert.match(await cli.type('/transfer', /^\/transfer:/), /name the technician/);
  assert.match(await cli.type('/frobnicate', /^\/frobnicate:/), /unknown command; \/help/);
  assert.equal(await cli.type('/queue', /^queue:/), 'queue: empty');
  assert.match(await cli.type('/accept', /^\/accept:/), /nothing is offered to you/);
});

test('completion offers the commands, then technicians, sessions and permissions', () => {
  const repl = new TechnicianRepl(
    // completion reads only the names seen and the latest queue listing
    { on: () => undefined, options: { name: 'tech-1' }, sessionId: '' } as never,
    { print: () => undefined },
  );
  assert.deepEqual(repl.complete('/ho')[0], ['/hold']);
  assert.deepEqual(repl.complete('/un')[0], ['/unhold']);
  assert.ok(repl.complete('/')[0].includes('/close-shell'));
  assert.deepEqual(repl.complete('/consent view,sh'), [['shell'], 'sh']);
  assert.deepEqual(repl.complete('/file g'), [['get'], 'g']);
  assert.deepEqual(repl.complete('hello'), [[], 'hello']);
});

test('Ctrl-C on the CLI technician leaves the session cleanly: the customer is told, and no session waits past the grace', async (t) => {
  const ticks = new EventEmitter();
  const started = await startGateway(
    t,
    { orphanGraceSeconds: 90 },
    {
      onTick: () => ticks.emit('tick'),
    },
  );
  const cli = technicianCli(t, started, 'tech-1');
  const { sessionId, customer } = await openedWithCustomer(t, started, cli);
  const waiting = statusOf(customer, sessionId, 'SESSION_STATUS_WAITING');
  const told = waitFor(customer, 'sessionEvent', (e) => e.type === 'quit');
  const exited = once(cli.child, 'exit');
  cli.child.kill('SIGINT');
  await cli.line(/^quitting \(SIGINT\)/);
  assert.deepEqual(await exited, [0, null]);
  await waiting;
  assert.match(
    (await told)[0].detail,
    /tech-1 quit \(SIGINT\); the session waits in the queue for 90 s/,
  );
  const session = started.gateway.registry.get(sessionId)!;
  assert.ok(
    !session.history.some((h) => h.trigger === 'connection_lost'),
    'a quit is not a network drop',
  );
  const released = once(customer, 'close');
  started.clock.advance(91_000);
  await released;
  await once(ticks, 'tick');
  assert.equal(started.gateway.registry.sessions.size, 0, 'no session waits past the grace');
  assert.equal(started.gateway.registry.reports.get(sessionId)?.status, 'CLOSED_BY_TECHNICIAN');
});
