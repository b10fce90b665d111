/**
 * The direct bench's gateway process: the real Gateway (src/gateway.ts) as the relay bench's
 * Ferry target runs it (bench/common/load-config.ts: 127.0.0.1, port 0, a throwaway data
 * directory, silent logs, per-address and rate limits lifted), with `--set key=value` overrides
 * (the runner sets p2pNetworks=127.0.0.0/8, as `ferry serve --p2p-networks 127.0.0.0/8`).
 *
 * Prints {"type":"target",pid,port,secret} once listening. Each line `sample` on stdin is answered
 * with {"type":"sample",...}: this process's CPU time from process.cpuUsage() (getrusage, every
 * thread, microseconds: /proc's 10 ms ticks are too coarse for a gateway that idles while the
 * frames go direct) and the router's SCREEN and INPUT counters (proof of where the frames went).
 * Stops on SIGTERM or when stdin closes (bench/common/child-side.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { Channel } from '../../src/protocol/frames.js';
import { onShutdown, send } from '../common/child-side.js';
import { loadConfig, setOverrides } from '../common/load-config.js';

const SCREEN = Channel.CHANNEL_SCREEN;
const INPUT = Channel.CHANNEL_INPUT;

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-direct-'));
try {
  const config = loadConfig(dataDir, setOverrides(process.argv.slice(2)));
  const gateway = await Gateway.start(config, silentLogger());
  send({
    type: 'target',
    pid: process.pid,
    port: gateway.port,
    secret: gateway.config.secret,
    p2p: gateway.config.p2p,
    p2pNetworks: gateway.config.p2pNetworks,
  });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() !== 'sample') return;
    const cpu = process.cpuUsage();
    const s = gateway.router.stats;
    const d = gateway.relay.direct;
    send({
      type: 'sample',
      userUs: cpu.user,
      systemUs: cpu.system,
      screenInFrames: s.inFrames[SCREEN],
      screenOutFrames: s.outFrames[SCREEN],
      screenOutBytes: s.outBytes[SCREEN],
      inputInFrames: s.inFrames[INPUT],
      inputOutFrames: s.outFrames[INPUT],
      dropped: s.dropped.reduce((a, b) => a + b, 0),
      directOpened: d.counters.opened,
      directUp: d.counters.up,
      directFlowing: d.flowingCount(),
    });
  });
  onShutdown(async () => {
    lines.close();
    await gateway.close('bench finished');
    send({ type: 'stopped' });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
} catch (err) {
  fs.rmSync(dataDir, { recursive: true, force: true });
  send({ type: 'error', message: `gateway: ${(err as Error).message}` });
  process.exitCode = 1;
}
