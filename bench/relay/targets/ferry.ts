/**
 * Ferry as a relay target: the real Gateway (src/gateway.ts) with its default limits and
 * heartbeats and statistics pushes on, on 127.0.0.1 port 0 with a throwaway data directory and a
 * silent logger. Prints {"type":"target","port":N,"adminPort":N,"secret":...,"adminToken":...}:
 * the generator signs technician tokens with the secret; bench/http uses the admin token.
 * `--set key=value` (repeatable) overrides one config key, e.g. --set heartbeatIntervalMs=500.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Gateway } from '../../../src/gateway.js';
import { silentLogger } from '../../../src/log.js';
import { onShutdown, send } from '../../common/child-side.js';
import { loadConfig, setOverrides } from '../../common/load-config.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
try {
  const config = loadConfig(dataDir, setOverrides(process.argv.slice(2)));
  const gateway = await Gateway.start(config, silentLogger());
  send({
    type: 'target',
    target: 'ferry',
    pid: process.pid,
    port: gateway.port,
    adminPort: gateway.adminPort,
    path: '/v1/ws',
    secret: gateway.config.secret,
    adminToken: gateway.adminToken,
    heartbeatIntervalMs: gateway.config.heartbeatIntervalMs,
    uws: gateway.uwsSource,
  });
  onShutdown(async () => {
    await gateway.close('bench finished');
    const s = gateway.router.stats;
    send({
      type: 'stopped',
      malformed: s.malformed,
      dropped: s.dropped.reduce((a, b) => a + b, 0),
    });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
} catch (err) {
  fs.rmSync(dataDir, { recursive: true, force: true });
  send({ type: 'error', message: `ferry: ${(err as Error).message}` });
  process.exitCode = 1;
}
