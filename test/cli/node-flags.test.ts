/**
 * How Node is launched for a gateway (src/cli/node-flags.ts): every launch point carries the
 * flags, a real `bin/ferry.js` run through its `#!` line gets them, and `ferry serve` says so when
 * node was started without them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import {
  envNotInForce,
  flagsNotInForce,
  GATEWAY_ENV,
  GATEWAY_NODE_FLAGS,
  gatewayEnv,
  gatewayNodeFlags,
  missingNodeFlags,
  workerNodeFlags,
} from '../../src/cli/node-flags.js';

const BIN = path.resolve('bin/ferry.js');

test('a flag given by the operator, under either spelling, wins over Ferry’s own value', () => {
  assert.deepEqual(GATEWAY_NODE_FLAGS, ['--max-semi-space-size=4']);
  assert.deepEqual(missingNodeFlags([]), ['--max-semi-space-size=4']);
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=16']), []);
  assert.deepEqual(missingNodeFlags(['--max_semi_space_size=16']), []);
  assert.deepEqual(missingNodeFlags(['--max-old-space-size=512']), ['--max-semi-space-size=4']);
  assert.deepEqual(gatewayNodeFlags(['--cpu-prof']), ['--cpu-prof', '--max-semi-space-size=4']);
  assert.deepEqual(gatewayNodeFlags(['--max-semi-space-size=8']), ['--max-semi-space-size=8']);
  // a worker takes its supervisor's value of Ferry's flags, and nothing else of its arguments
  assert.deepEqual(workerNodeFlags(['--inspect=9229', '--max-semi-space-size=2'], ''), [
    '--max-semi-space-size=2',
  ]);
  assert.deepEqual(workerNodeFlags(['--inspect=9229'], ''), ['--max-semi-space-size=4']);
  // NODE_OPTIONS reaches the worker itself: a flag on its command line would override it
  assert.deepEqual(workerNodeFlags([], '--max-semi-space-size=8'), []);
  assert.deepEqual(flagsNotInForce([], '--max-semi-space-size=8  --trace-warnings'), []);
  assert.deepEqual(flagsNotInForce(['--max-semi-space-size=4'], ''), []);
  assert.deepEqual(flagsNotInForce(['--trace-gc'], '--max-old-space-size=100'), [
    '--max-semi-space-size=4',
  ]);
});

test('a launch variable the environment sets already wins over Ferry’s own value', () => {
  assert.deepEqual(GATEWAY_ENV, { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
  assert.equal(gatewayEnv({ PATH: '/bin' }).MALLOC_ARENA_MAX, '2');
  assert.equal(gatewayEnv({ PATH: '/bin' }).PATH, '/bin');
  assert.equal(gatewayEnv({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX, '8');
  // an empty value is missing (glibc would read an empty MALLOC_MMAP_THRESHOLD_ as 0)
  assert.equal(gatewayEnv({ MALLOC_ARENA_MAX: '' }).MALLOC_ARENA_MAX, '2');
  assert.deepEqual(envNotInForce({}, true), [
    'MALLOC_ARENA_MAX=2',
    'MALLOC_MMAP_THRESHOLD_=131072',
  ]);
  assert.deepEqual(envNotInForce({ MALLOC_ARENA_MAX: '4' }, true), [
    'MALLOC_MMAP_THRESHOLD_=131072',
  ]);
  // other C libraries do not read it: nothing is missing there
  assert.deepEqual(envNotInForce({}, false), []);
});

test('bin/ferry.js’s #! line passes the gateway’s flags, npm start its flags and environment', () => {
  // the #! line starts every command: a variable there would reach a customer's shells
  const first = fs.readFileSync(BIN, 'utf8').split('\n')[0];
  assert.equal(first, `#!/usr/bin/env -S node ${GATEWAY_NODE_FLAGS.join(' ')}`);
  assert.ok((fs.statSync(BIN).mode & 0o111) !== 0, 'bin/ferry.js is executable');
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as {
    scripts: Record<string, string>;
  };
  assert.match(pkg.scripts.start ?? '', /&& (\S+=\S+ )*node (\S+ )*bin\/ferry\.js serve$/);
  for (const flag of GATEWAY_NODE_FLAGS) {
    assert.ok(pkg.scripts.start?.split(' ').includes(flag), `npm start passes ${flag}`);
  }
  // an operator's value in the environment wins (the shell's default-value expansion)
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    assert.ok(
      pkg.scripts.start?.split(' ').includes(`${name}=\${${name}:-${value}}`),
      `npm start sets ${name}`,
    );
  }
});

interface Served {
  /** node's own arguments, read from /proc. */
  readonly argv: string[];
  /** node's environment at its start, read from /proc. */
  readonly environ: string[];
  /** Log records up to and with "gateway listening". */
  readonly records: Record<string, unknown>[];
}

/** Starts `command args... serve` on port 0, reads its node arguments, and stops it. */
async function serve(
  t: TestContext,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Served> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-flags-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(
    command,
    [
      ...args,
      'serve',
      ...['--host', '127.0.0.1', '--port', '0', '--admin-host', '127.0.0.1'],
      ...['--admin-port', '0', '--data-dir', dataDir],
    ],
    {
      env: { ...withoutLaunchEnv(process.env), NODE_OPTIONS: '', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(() => child.kill('SIGKILL'));
  const records: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ferry serve exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      records.push(record);
      if (record.msg === 'gateway listening') resolve();
    });
  });
  const argv = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  const environ = fs.readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { argv, environ, records };
}

/** `env` without Ferry's launch variables: what a shell that never set them passes. */
function withoutLaunchEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of Object.keys(GATEWAY_ENV)) delete out[name];
  return out;
}

const warning = (records: Record<string, unknown>[]) =>
  records.find((r) => String(r.msg).startsWith('node was started without'));

test('bin/ferry.js run as a program starts the gateway with the flags; the environment is the launcher’s', async (t) => {
  const launched = await serve(t, BIN, [], { ...GATEWAY_ENV });
  for (const flag of GATEWAY_NODE_FLAGS) {
    assert.ok(launched.argv.includes(flag), launched.argv.join(' '));
  }
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    assert.ok(launched.environ.includes(`${name}=${value}`), `${name}=${value} in its environment`);
  }
  assert.equal(warning(launched.records), undefined);

  // run by hand without them: it runs, and says which variables it misses (node runs on glibc here)
  const byHand = await serve(t, BIN, []);
  assert.deepEqual(warning(byHand.records)?.missing, envNotInForce({}, true));
  assert.ok(byHand.records.some((r) => r.msg === 'gateway listening'));
});

test('ferry serve under a bare node warns, naming the missing flags; NODE_OPTIONS counts', async (t) => {
  const bare = await serve(t, process.execPath, [BIN]);
  const record = warning(bare.records);
  assert.ok(record !== undefined, 'a warning');
  assert.equal(record.level, 40);
  // this machine's node runs on glibc, where the malloc variable counts
  assert.deepEqual(record.missing, [...GATEWAY_NODE_FLAGS, ...envNotInForce({}, true)]);
  assert.ok(
    bare.records.some((r) => r.msg === 'gateway listening'),
    'the gateway runs all the same',
  );

  const viaEnv = await serve(t, process.execPath, [BIN], {
    NODE_OPTIONS: '--max-semi-space-size=8',
    MALLOC_ARENA_MAX: '4',
    MALLOC_MMAP_THRESHOLD_: '65536',
  });
  assert.equal(warning(viaEnv.records), undefined);
});
