/**
 * `--direct` on the reference command lines: a CLI technician and a CLI customer go direct on
 * loopback and each prints where its screen and input go; a bad `--direct-networks` is a usage
 * error; `ferry demo --direct` runs its screen and input on the path.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import { runDemo } from '../../src/cli/demo.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../integration/harness.js';

const BIN = path.resolve('bin/ferry.js');

/** A `ferry` process; `line(pattern)` resolves with the first output line that matches. */
function ferryProcess(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  const lines: string[] = [];
  const waiting: [RegExp, (line: string) => void][] = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const [i, [pattern, resolve]] of [...waiting.entries()].reverse()) {
        if (!pattern.test(line)) continue;
        waiting.splice(i, 1);
        resolve(line);
      }
    });
  }
  const line = (pattern: RegExp): Promise<string> => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiting.push([pattern, resolve]);
      child.once('exit', (code) =>
        reject(new Error(`exited ${code} before ${pattern}:\n${lines.join('\n')}`)),
      );
    });
  };
  return { child, line };
}

test('ferry technician --direct and ferry customer --direct go peer-to-peer and say so', async (t) => {
  const { gateway, url } = await startGateway(t, { p2pNetworks: '127.0.0.0/8' });
  const direct = ['--direct', '--direct-networks', '127.0.0.0/8'];
  const tech = ferryProcess(t, [
    'technician',
    '--url',
    url,
    '--token',
    issueToken(gateway.config.secret, 'tech-1', 3600),
    '--name',
    'tech-1',
    '--create',
    '--request',
    'view,control',
    '--stats-every',
    '0',
    ...direct,
  ]);
  const opened = await tech.line(/give the customer PIN/);
  const pin = /PIN (\S+)$/.exec(opened)![1]!;
  const customer = ferryProcess(t, [
    'customer',
    '--url',
    url,
    '--pin',
    pin,
    '--name',
    'Alice',
    '--grant',
    'view,control',
    '--screen',
    'test-pattern',
    ...direct,
  ]);
  await Promise.all([
    tech.line(/^direct path up: screen and input go peer-to-peer/),
    customer.line(/^direct path up/),
  ]);
  assert.equal(gateway.relay.direct.upCount, 1);
});

test('a --direct-networks that is not a list of CIDRs is refused before anything connects', () => {
  const run = spawnSync(
    process.execPath,
    [
      BIN,
      'customer',
      '--url',
      'ws://127.0.0.1:1/v1/ws',
      '--pin',
      '123',
      '--direct',
      '--direct-networks',
      '10.0.0.0/40',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /--direct-networks: "10\.0\.0\.0\/40" is not a CIDR/);
});

test('ferry demo --direct: every screen frame arrives, none through the relay, and the statistics say peer-to-peer', async () => {
  const summary = await runDemo({ seconds: 2, fps: 20, direct: true });
  assert.equal(summary.direct?.up, true, summary.direct?.why);
  assert.ok(summary.screen.sent > 0);
  assert.equal(summary.screen.received, summary.screen.sent);
  assert.equal(
    summary.direct?.screenFrames,
    summary.screen.received,
    'all of them on the direct path',
  );
  assert.equal(summary.relayed.screen, undefined, 'the relay carried no SCREEN frame');
  assert.equal(summary.relayed.input, undefined, 'nor INPUT');
  assert.equal(summary.input.applied, summary.input.sent);
  assert.deepEqual(
    summary.network.map((p) => p.peerToPeer),
    [true, true],
  );
});
