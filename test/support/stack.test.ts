/** stackOf and exitWithin: a child spinning in a microtask loop still yields its stack. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { exitWithin, INSPECT_ON_SIGNAL } from './stack.js';

function run(code: string): { child: ReturnType<typeof spawn>; stderr: () => string } {
  const child = spawn(process.execPath, [INSPECT_ON_SIGNAL, '-e', code], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return { child, stderr: () => stderr };
}

test('a child that exits in time gives its exit code', async () => {
  const { child, stderr } = run('process.exitCode = 3');
  assert.equal(await exitWithin(child, 30_000, stderr), 3);
});

test('a child stuck in an endless microtask chain is named where it spins, then killed', async () => {
  // timers never run again once spinAround starts: only the inspector can reach it
  const { child, stderr } = run(
    'function spinAround() { return Promise.resolve().then(spinAround); }' +
      "process.stderr.write('spinning\\n'); spinAround()",
  );
  const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  // stderr is a pipe, written synchronously: once this arrives the child spins
  while (!stderr().includes('spinning')) await once(child.stderr!, 'data');
  await assert.rejects(
    exitWithin(child, 500, stderr),
    /did not exit within 0\.5 s[\s\S]*at spinAround/,
  );
  assert.equal(await exited, 'SIGKILL');
});
