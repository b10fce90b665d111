/**
 * `--direct` on the reference command lines: a CLI technician and a CLI customer go direct on
 * loopback and each prints where its screen and input go; a bad `--direct-networks` is a usage
 * error; `ferry demo --direct` runs its screen and input on the path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { runDemo } from '../../src/cli/demo.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../integration/harness.js';
import { FerryProcess } from '../support/customer-process.js';

const BIN = path.resolve('bin/ferry.js');

test('ferry technician --direct and ferry customer --direct go peer-to-peer and say so', async (t) => {
  const { gateway, url } = await startGateway(t, { p2pNetworks: '127.0.0.0/8' });
  const direct = ['--direct', '--direct-networks', '127.0.0.0/8'];
  const tech = new FerryProcess(t, [
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
  const opened = await tech.line(/give the customer PIN (\S+)$/);
  const pin = opened[1]!;
  const customer = new FerryProcess(t, [
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
  // every frame arrives but those the customer dropped, counted, for a full channel (a loaded
  // machine slows the channel's SCTP down): none is lost silently
  assert.equal(summary.screen.received, summary.screen.sent - summary.direct!.screenDropped);
  assert.ok(
    summary.direct!.screenDropped <= summary.screen.sent / 4,
    'most frames are not dropped',
  );
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
