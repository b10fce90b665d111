/**
 * The gateway side of the soak: a real Gateway in its own process (so its event loop and memory
 * are measured apart from the load generator), on 127.0.0.1 port 0 with a throwaway data
 * directory and a silent logger. Talks JSON lines: argv[2] is a JSON object of config overrides;
 * it prints {"type":"ready",...} once listening; on stdin it takes {"type":"start"} (reset the
 * event-loop histogram, start sampling RSS every `sampleMs`) and {"type":"report"} (answer with
 * the samples, the histogram and the relay counters). When stdin closes it closes the gateway
 * and exits by itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import readline from 'node:readline';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { channelName } from '../../src/protocol/frames.js';
import { dropReasonNames } from '../../src/relay/stats.js';
import { loadConfig } from '../common/load-config.js';
import { DELAY_RESOLUTION_MS, type RssSample, sampleRss, summarize } from './measure.js';

function send(message: { type: string } & Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main(): Promise<void> {
  const overrides = JSON.parse(process.argv[2] ?? '{}') as Partial<Record<ConfigKey, unknown>>;
  const sampleMs = Number(process.env.FERRY_SOAK_SAMPLE_MS ?? 5000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-soak-'));
  const config = loadConfig(dataDir, overrides);
  const gateway = await Gateway.start(config, silentLogger());
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  let startMs = performance.now();
  const samples: RssSample[] = [];
  let sampler: NodeJS.Timeout | null = null;

  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const message = JSON.parse(line) as { type: string };
    if (message.type === 'start') {
      startMs = performance.now();
      delay.reset();
      samples.length = 0;
      samples.push(sampleRss(startMs));
      sampler = setInterval(() => samples.push(sampleRss(startMs)), sampleMs);
    } else if (message.type === 'report') {
      if (sampler !== null) clearInterval(sampler);
      sampler = null;
      samples.push(sampleRss(startMs));
      const stats = gateway.router.stats;
      const dropped: Record<string, number> = {};
      stats.dropped.forEach((n, i) => {
        if (n === 0) return;
        const channel = Math.floor(i / dropReasonNames.length);
        dropped[`${channelName(channel)}/${dropReasonNames[i % dropReasonNames.length]}`] = n;
      });
      send({
        type: 'report',
        rss: samples,
        eventLoop: summarize(delay),
        errors: Object.fromEntries(stats.errors),
        dropped,
        malformed: stats.malformed,
        inFrames: stats.inFrames.reduce((a, b) => a + b, 0),
        outFrames: stats.outFrames.reduce((a, b) => a + b, 0),
        sessions: gateway.registry.sessions.size,
        connections: gateway.connections.size,
      });
    }
  });
  input.on('close', () => {
    if (sampler !== null) clearInterval(sampler);
    delay.disable();
    gateway.close('soak finished').then(
      () => fs.rmSync(dataDir, { recursive: true, force: true }),
      (err: unknown) => {
        process.stderr.write(`gateway close failed: ${(err as Error).stack}\n`);
        process.exitCode = 1;
      },
    );
  });
  send({
    type: 'ready',
    pid: process.pid,
    port: gateway.port,
    secret: gateway.config.secret,
    uws: gateway.uwsSource,
  });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exitCode = 1;
});
