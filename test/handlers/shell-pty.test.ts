/**
 * Shells on real pseudo-terminals (the customer client's default): through the gateway a
 * technician's shell is a terminal (`tty`, TERM=xterm-256color, the size asked for), follows the
 * technician's resizes, is recorded as an asciicast v2 file with input ("i") and output ("o")
 * events that asciinema plays, and is named by a small per-session id. When the PTY module
 * cannot load, the shell runs on pipes and the technician is told so. No sleeps: every step
 * waits on output or events.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { recordingsDir } from '../../src/session/shells.js';
import { loadNodePty, ShellHost, type ShellId } from '../../src/tools/shell-host.js';
import { technician } from '../integration/harness.js';
import { adminRequest, logDetails, tempDir, world } from './shell-harness.js';

const skip = process.platform === 'win32' ? 'POSIX terminals only' : false;

/** Runs `file args` on a terminal of its own (asciinema needs one) and resolves with its output. */
function runOnPty(
  file: string,
  args: string[],
  home: string,
): Promise<{ code: number; output: string }> {
  const pty = loadNodePty();
  return new Promise((resolve) => {
    const term = pty.spawn(file, args, {
      cols: 200,
      rows: 50,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: home },
      encoding: null,
    });
    const chunks: Buffer[] = [];
    term.onData((chunk) => chunks.push(chunk as unknown as Buffer));
    term.onExit(({ exitCode }) =>
      resolve({ code: exitCode, output: Buffer.concat(chunks).toString('utf8') }),
    );
  });
}

test('a PTY shell is a terminal: tty prints a /dev/pts device, TERM is xterm-256color, the size is the one asked for', {
  skip,
}, async (t) => {
  const w = await world(t, { grant: ['shell'], pty: true });
  const shell = await w.tech.shells.open({ kind: 'sh', name: 'terminal', cols: 100, rows: 30 });
  assert.equal(shell.pty, true);
  assert.equal(shell.note, '');
  assert.equal(w.customer.shells.host.info(shell.id)?.pty, true);
  // Enter sends CR; the echoed command line never matches the patterns, only the output does
  shell.write('tty; echo "term=$TERM"; echo "size=$(stty size)"\r');
  await shell.waitForOutput(/size=30 100\r\n/);
  assert.match(shell.text, /\/dev\/pts\/\d+\r\n/);
  assert.match(shell.text, /term=xterm-256color\r\n/);
  // a program that needs a terminal on its input finds one
  shell.write('if [ -t 0 ]; then echo "stdin=terminal"; fi\r');
  await shell.waitForOutput(/stdin=terminal\r\n/);
  shell.write('exit 5\r');
  assert.equal((await shell.exited).code, 5);
});

test('stty size follows a resize from the technician, and the gateway records it', {
  skip,
}, async (t) => {
  const w = await world(t, { grant: ['shell'], pty: true, config: { recordShells: 1 } });
  const shell = await w.tech.shells.open({ kind: 'sh', cols: 80, rows: 24 });
  shell.write('echo "before=$(stty size)"\r');
  await shell.waitForOutput(/before=24 80\r\n/);
  // resize and input travel in order: the terminal has its new size before the next command
  shell.resize(132, 43);
  shell.write('echo "after=$(stty size)"\r');
  await shell.waitForOutput(/after=43 132\r\n/);
  assert.deepEqual(
    [w.customer.shells.host.info(shell.id)?.cols, w.customer.shells.host.info(shell.id)?.rows],
    [132, 43],
  );
  // the technician's own terminal: followSize sends its size now and on every 'resize'
  const listeners = new Set<() => void>();
  const terminal = {
    columns: 90,
    rows: 20,
    on: (_e: 'resize', fn: () => void) => listeners.add(fn),
    off: (_e: 'resize', fn: () => void) => listeners.delete(fn),
  };
  const stop = shell.followSize(terminal);
  terminal.columns = 101;
  terminal.rows = 31;
  for (const fn of listeners) fn();
  shell.write('echo "followed=$(stty size)"\r');
  await shell.waitForOutput(/followed=31 101\r\n/);
  stop();
  assert.equal(listeners.size, 0);
  await shell.close();
  const rec = w.gateway.registry.get(w.sessionId)!.recordings[0]!;
  const cast = await adminRequest(
    w.gateway,
    `/api/v1/sessions/${w.sessionId}/recordings/${rec.cast}`,
    { token: w.gateway.adminToken },
  );
  const resizes = cast.text
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((line) => JSON.parse(line) as [number, string, string])
    .filter((e) => e[1] === 'r')
    .map((e) => e[2]);
  assert.deepEqual(resizes, ['132x43', '90x20', '101x31']);
});

test('a PTY shell recording has "i" and "o" events and plays with asciinema cat', {
  skip,
}, async (t) => {
  const w = await world(t, { grant: ['shell'], pty: true, config: { recordShells: 1 } });
  const shell = await w.tech.shells.open({ kind: 'sh', name: 'recorded', cols: 100, rows: 30 });
  shell.write('echo "rec-$((6 * 7))"\r');
  await shell.waitForOutput(/rec-42\r\n/);
  shell.write('exit\r');
  await shell.exited;

  const rec = w.gateway.registry.get(w.sessionId)!.recordings[0]!;
  assert.equal(rec.shellId, shell.id);
  // served by the status API once flushed; the file on disk is the same
  const served = await adminRequest(
    w.gateway,
    `/api/v1/sessions/${w.sessionId}/recordings/${rec.cast}`,
    { token: w.gateway.adminToken },
  );
  assert.equal(served.status, 200);
  const file = path.join(recordingsDir(w.dataDir, w.sessionId), rec.cast);
  const text = fs.readFileSync(file, 'utf8');
  assert.equal(text, served.text);
  const [headerLine, ...eventLines] = text.trimEnd().split('\n');
  const header = JSON.parse(headerLine!);
  assert.equal(header.version, 2);
  assert.deepEqual([header.width, header.height], [100, 30]);
  assert.equal(header.env.TERM, 'xterm-256color');
  const events = eventLines.map((line) => JSON.parse(line) as [number, string, string]);
  const joined = (code: string) =>
    events
      .filter((e) => e[1] === code)
      .map((e) => e[2])
      .join('');
  assert.equal(joined('i'), 'echo "rec-$((6 * 7))"\rexit\r', 'what the technician typed');
  assert.match(joined('o'), /rec-42\r\n/, 'what the shell printed');
  assert.match(joined('o'), /echo "rec-\$\(\(6 \* 7\)\)"/, 'the terminal echo is output');

  const player = fs.existsSync('/usr/bin/asciinema') ? '/usr/bin/asciinema' : 'asciinema';
  const played = await runOnPty(player, ['cat', file], tempDir(t, 'ferry-asciinema-')).catch(
    (err: Error) => {
      throw new Error(`asciinema is needed (Debian: apt-get install -y asciinema): ${err.message}`);
    },
  );
  assert.equal(played.code, 0, played.output);
  assert.ok(played.output.includes(joined('o')), played.output);
});

test('shell ids are 1, 2, 3 in the order the session opens them, whichever technician opens them', async (t) => {
  const w = await world(t, { grant: ['shell'] });
  const tech2 = await technician(t, w.gateway, 'tech-2');
  const invited = waitFor(tech2, 'status', (s) => s.sessionId === w.sessionId);
  await w.tech.invite('tech-2');
  await invited;
  await tech2.acceptInvitation(w.sessionId);
  // both technicians open at once: the gateway allocates, so they never collide
  const opened = await Promise.all([
    w.tech.shells.open({ name: 'a' }),
    tech2.shells.open({ name: 'b' }),
    w.tech.shells.open({ name: 'c' }),
  ]);
  assert.deepEqual(opened.map((s) => s.id).sort(), [1, 2, 3]);
  assert.deepEqual(w.customer.shells.host.ids().sort(), [1, 2, 3]);
  const [a, b] = opened;
  assert.equal(w.tech.shells.get(a!.id), a);
  assert.equal(tech2.shells.get(b!.id), b);
  assert.equal(tech2.shells.get(a!.id), undefined, "another technician's shell is not yours");
  assert.equal(a!.name, 'a', 'unnamed shells would be "shell <id>"');
  const unnamed = await w.tech.shells.open();
  assert.equal(unnamed.id, 4);
  assert.equal(unnamed.name, 'shell 4');
  // an id is never reused within the session
  await a!.close();
  const next = await tech2.shells.open();
  assert.equal(next.id, 5);
  b!.write('echo typed-into-b\n');
  await b!.waitForOutput('typed-into-b\n');
  const log = logDetails(w.gateway, w.sessionId, 'shell');
  assert.ok(log.includes('tech-1 opened shell 4 "shell 4"'), log.join('\n'));
  assert.ok(log.includes('tech-2 opened shell 5 "shell 5"'), log.join('\n'));
});

test('without the PTY module the shell runs on pipes and the technician is told so', async (t) => {
  const failing = () => {
    throw new Error('Cannot find module @lydell/node-pty-test-platform');
  };
  const w = await world(t, {
    grant: ['shell'],
    shells: { backend: 'auto', loadPty: failing },
  });
  assert.equal(w.customer.shells.host.backend, 'pipe');
  assert.match(w.customer.shells.host.fallbackReason ?? '', /node-pty-test-platform/);
  const shell = await w.tech.shells.open({ kind: 'sh' });
  assert.equal(shell.pty, false);
  assert.match(shell.note, /^no PTY \(the PTY module @lydell\/node-pty did not load: /);
  assert.match(shell.note, /top, less, editors and sudo prompts will not work/);
  shell.write('echo piped\n');
  await shell.waitForOutput('piped\n');
  // asked for a PTY outright, a host that cannot have one refuses with a code
  assert.throws(() => new ShellHost({ backend: 'pty', loadPty: failing }), {
    code: 'FERRY_ERR_UNSUPPORTED_OPERATION',
  });
});

test('closing a PTY shell hangs up its whole terminal session, jobs in their own process groups included', {
  skip,
}, async (t) => {
  const host = new ShellHost({ killGraceMs: 60_000 });
  t.after(() => host.closeAll());
  assert.equal(host.backend, 'pty');
  let out = '';
  host.on('output', (id, chunk) => {
    out += chunk.toString('utf8');
    host.ack(id, chunk.length);
  });
  const exited = new Promise<[ShellId, number | null, string | null]>((resolve) =>
    host.once('exit', (...args) => resolve(args)),
  );
  host.open(1, { shell: '/bin/sh', env: { PS1: '$ ' } });
  // an interactive shell runs a foreground job in a process group of its own
  host.write(1, `sh -c 'echo "job=$$"; exec sleep 300'\r`);
  const job = await new Promise<number>((resolve) => {
    const check = () => {
      const m = /job=(\d+)\r\n/.exec(out);
      if (m === null) return;
      host.off('output', check);
      resolve(Number(m[1]));
    };
    host.on('output', check);
    check();
  });
  const started = performance.now();
  assert.equal(await host.close(1), true);
  const [, code, signal] = await exited;
  assert.ok(performance.now() - started < 30_000, 'ended by the hang-up, not the SIGKILL grace');
  assert.equal(code, null);
  assert.equal(signal, 'SIGHUP');
  // the job held the terminal open, so it had ended before the shell's exit came
  const stat = fs.existsSync(`/proc/${job}/stat`)
    ? fs.readFileSync(`/proc/${job}/stat`, 'utf8')
    : '';
  assert.ok(stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')'))), stat);
});

test('a slow consumer pauses a PTY shell, and acks resume it without losing output', {
  skip,
}, async (t) => {
  const cap = 16 * 1024;
  const host = new ShellHost({ maxUnackedBytes: cap });
  t.after(() => host.closeAll());
  const chunks: Buffer[] = [];
  let acking = false;
  host.on('output', (id, chunk) => {
    chunks.push(chunk);
    if (acking) host.ack(id, chunk.length);
  });
  const lines = 20_000;
  host.open(1, { shell: '/bin/sh' });
  const paused = new Promise((resolve) => host.once('pause', resolve));
  // the shell stays: node-pty may drop the last bytes of a process that exits right after a
  // burst (see src/tools/shell-host.ts), which is not what this test is about
  host.write(1, `yes pty-line | head -n ${lines}; echo "end-$((40 + 2))"\r`);
  await paused;
  const info = host.info(1)!;
  assert.equal(info.paused, true);
  assert.ok(info.unackedBytes >= cap && info.unackedBytes <= cap + 64 * 1024);
  acking = true;
  const resumed = new Promise((resolve) => host.once('resume', resolve));
  host.ack(1, info.unackedBytes);
  await resumed;
  const text = await new Promise<string>((resolve) => {
    const check = () => {
      const all = Buffer.concat(chunks).toString();
      if (!/end-42\r\n/.test(all)) return;
      host.off('output', check);
      resolve(all);
    };
    host.on('output', check);
    check();
  });
  assert.equal(text.split('pty-line\r\n').length - 1, lines);
});
