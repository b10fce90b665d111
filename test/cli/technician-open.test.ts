import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { consoleUrl } from '../../src/cli/technician.js';

const BIN = path.resolve('bin/ferry.js');

test('ferry technician --open prints the console URL with the token in the fragment, never the query', () => {
  const run = spawnSync(
    process.execPath,
    [BIN, 'technician', '--open', '--url', 'ws://127.0.0.1:1234/v1/ws', '--token', 'ft1.a+b/c'],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  const url = new URL(run.stdout.trim());
  assert.equal(url.origin, 'http://127.0.0.1:1234');
  assert.equal(url.pathname, '/');
  assert.equal(url.search, '', 'a token in the query string would reach logs and proxies');
  assert.equal(new URLSearchParams(url.hash.slice(1)).get('token'), 'ft1.a+b/c');
});

test('a wss:// gateway gives an https:// console URL', () => {
  const url = new URL(consoleUrl('wss://gw.example:8443/v1/ws?x=1', 'tok'));
  assert.equal(url.protocol, 'https:');
  assert.equal(url.host, 'gw.example:8443');
  assert.equal(url.search, '');
  assert.equal(url.hash, '#token=tok');
});
