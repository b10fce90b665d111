/**
 * The heap growth setting: a gateway's start sets V8's growing factor from its configuration,
 * once per change, and 0 hands the choice back to V8.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import { resolveConfig } from '../../src/config/config.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { applyHeapGrowth, heapGrowthPercent } from '../../src/session/heap-growth.js';

test('the flag is set on a change only, and 0 gives the choice back to V8', (t) => {
  const before = heapGrowthPercent();
  t.after(() => applyHeapGrowth(before));
  const flags: string[] = [];
  t.mock.method(v8, 'setFlagsFromString', (flag: string) => {
    flags.push(flag);
  });
  applyHeapGrowth(75);
  applyHeapGrowth(75);
  applyHeapGrowth(0);
  assert.deepEqual(flags, ['--heap-growing-percent=75', '--heap-growing-percent=0']);
  assert.equal(heapGrowthPercent(), 0);
});

test('a gateway applies --heap-growth-percent at start; the default is 50', async (t) => {
  const before = heapGrowthPercent();
  t.after(() => applyHeapGrowth(before));
  applyHeapGrowth(0);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-heap-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = resolveConfig(
    { host: '127.0.0.1', port: 0, adminPort: 0, dataDir, logLevel: 'silent' },
    {},
  );
  assert.equal(config.heapGrowthPercent, 50);
  const gateway = await Gateway.start({ ...config, heapGrowthPercent: 30 }, silentLogger());
  t.after(() => gateway.close('test finished'));
  assert.equal(heapGrowthPercent(), 30);
});
