import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ShellHost, type ShellHostOptions, type ShellId } from '../../src/tools/shell-host.js';

const skip = process.platform === 'win32' ? 'POSIX shells only' : false;
const SH = '/bin/sh';

// The pipe backend, whose output is exactly what the commands print (no prompt, no echo). The
// PTY backend, the default, is tested in test/handlers/shell-pty.test.ts.

/** A host whose consumer acknowledges every chunk at once, collecting output per shell. */
function autoAckHost(t: { after: (fn: () => Promise<void>) => void }, opts: ShellHostOptions = {}) {
  const host = new ShellHost({ killGraceMs: 1000, backend: 'pipe', ...opts });
  const output = new Map<ShellId, string>();
  host.on('output', (id, chunk) => {
    output.set(id, (output.get(id) ?? '') + chunk.toString('utf8'));
    host.ack(id, chunk.length);
  });
  t.after(() => host.closeAll());
  return { host, output };
}

function exitOf(host: ShellHost, id: ShellId): Promise<[number | null, string | null]> {
  return new Promise((resolve) => {
    const onExit = (exited: ShellId, code: number | null, signal: string | null) => {
      if (exited !== id) return;
      host.off('exit', onExit);
      resolve([code, signal]);
    };
    host.on('exit', onExit);
  });
}

function outputContains(
  host: ShellHost,
  output: Map<ShellId, string>,
  id: ShellId,
  text: string,
): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!(output.get(id) ?? '').includes(text)) return;
      host.off('output', check);
      resolve();
    };
    host.on('output', check);
    check();
  });
}

test('two shells at once keep their interleaved outputs apart and in order', {
  skip,
}, async (t) => {
  const { host, output } = autoAckHost(t);
  host.open(1, { shell: SH });
  host.open(2, { shell: SH });
  assert.equal(host.size, 2);
  const exit1 = exitOf(host, 1);
  const exit2 = exitOf(host, 2);
  host.write(1, 'echo one; echo oops 1>&2\n');
  host.write(2, 'echo alpha\n');
  host.write(1, 'echo two\n');
  host.write(2, 'echo beta\n');
  host.write(1, 'exit 3\n');
  host.write(2, 'exit 0\n');
  assert.deepEqual(await exit1, [3, null]);
  assert.deepEqual(await exit2, [0, null]);
  assert.equal(output.get(1), 'one\noops\ntwo\n', 'stderr joined in order with stdout');
  assert.equal(output.get(2), 'alpha\nbeta\n');
  assert.equal(host.size, 0);
});

test('closing one shell ends only that one; the others keep running', { skip }, async (t) => {
  const { host, output } = autoAckHost(t, { killGraceMs: 10_000 });
  host.open('a', { shell: SH });
  host.open('b', { shell: SH });
  host.write('a', 'sleep 30\n'); // a foreground child: close must end the whole group
  const started = performance.now();
  assert.equal(await host.close('a'), true);
  assert.ok(performance.now() - started < 5_000, 'ended by SIGTERM, not the SIGKILL grace');
  assert.deepEqual(host.ids(), ['b']);
  assert.throws(() => host.write('a', 'echo x\n'), { code: 'FERRY_ERR_SHELL_NOT_FOUND' });
  assert.equal(await host.close('a'), false);
  host.write('b', 'echo still here\n');
  await outputContains(host, output, 'b', 'still here\n');
  assert.equal(output.get('a'), undefined);
});

test('the shell limit refuses one more shell with a code and frees a place at exit', {
  skip,
}, async (t) => {
  const { host } = autoAckHost(t, { maxShells: 2 });
  host.open(1, { shell: SH });
  host.open(2, { shell: SH });
  assert.throws(() => host.open(3, { shell: SH }), { code: 'FERRY_ERR_SHELL_LIMIT' });
  assert.throws(() => host.open(1, { shell: SH }), { code: 'FERRY_ERR_SHELL_EXISTS' });
  const exit = exitOf(host, 1);
  host.write(1, 'exit\n');
  await exit;
  host.open(3, { shell: SH });
  assert.deepEqual(host.ids().sort(), [2, 3]);
});

test('a slow consumer pauses the shell, and acks resume it without losing output', {
  skip,
}, async (t) => {
  const cap = 16 * 1024;
  const host = new ShellHost({ maxUnackedBytes: cap, backend: 'pipe' });
  t.after(() => host.closeAll());
  const chunks: Buffer[] = [];
  let acking = false;
  host.on('output', (id, chunk) => {
    chunks.push(chunk);
    if (acking) host.ack(id, chunk.length);
  });
  const lines = 50_000;
  host.open(1, { shell: SH });
  const exit = exitOf(host, 1);
  host.write(1, `yes line | head -n ${lines}; exit 0\n`);
  await once(host, 'pause');
  const info = host.info(1)!;
  assert.equal(info.paused, true);
  assert.ok(info.unackedBytes >= cap && info.unackedBytes <= cap + 64 * 1024);
  const held = chunks.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(chunks.length, held, 'nothing is emitted while paused');
  acking = true;
  const resumed = once(host, 'resume');
  host.ack(1, info.unackedBytes);
  await resumed;
  assert.deepEqual(await exit, [0, null]);
  assert.equal(Buffer.concat(chunks).toString(), 'line\n'.repeat(lines));
});

test('exit codes, environment size, resize and refusals are reported with codes', {
  skip,
}, async (t) => {
  const { host, output } = autoAckHost(t);
  host.open('missing', { shell: '/nonexistent/shell' });
  assert.deepEqual(await exitOf(host, 'missing'), [127, null]);

  host.open('s', { shell: SH, cols: 100, rows: 30, env: { FERRY_TEST: 'yes' } });
  const resizes: string[] = [];
  host.on('resize', (id, cols, rows) => resizes.push(`${id}:${cols}x${rows}`));
  host.resize('s', 120, 40);
  assert.deepEqual(resizes, ['s:120x40']);
  assert.equal(host.info('s')!.cols, 120);
  assert.throws(() => host.resize('s', 0, 40), { code: 'FERRY_ERR_SHELL_BAD_SIZE' });
  assert.throws(() => host.open('big', { cols: 1.5 }), { code: 'FERRY_ERR_SHELL_BAD_SIZE' });
  assert.throws(() => host.write('nope', 'x'), { code: 'FERRY_ERR_SHELL_NOT_FOUND' });
  assert.equal(host.ack('nope', 1), false);
  const exit = exitOf(host, 's');
  host.write('s', 'echo $COLUMNS $LINES $TERM $FERRY_TEST; exit 7\n');
  assert.deepEqual(await exit, [7, null]);
  assert.equal(output.get('s'), '100 30 dumb yes\n');
});

test('input to a shell that does not read is refused past the input bound', { skip }, async (t) => {
  const { host } = autoAckHost(t, { maxInputBufferedBytes: 1024 * 1024 });
  host.open(1, { shell: SH });
  host.write(1, 'sleep 30\n'); // the shell stops reading stdin while sleep runs
  const block = 'x'.repeat(256 * 1024);
  let refused: unknown = null;
  for (let i = 0; i < 64 && refused === null; i++) {
    try {
      host.write(1, block);
    } catch (err) {
      refused = err;
    }
  }
  assert.equal((refused as { code?: string } | null)?.code, 'FERRY_ERR_SHELL_INPUT_FULL');
  await host.close(1);
});
