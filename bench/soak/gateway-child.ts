/**
 * The gateway side of the soak: a real Gateway in its own process (so its event loop and memory
 * are measured apart from the load generator), on 127.0.0.1 port 0 with a throwaway data
 * directory and a silent logger. Talks JSON lines: argv[2] is a JSON object of config overrides;
 * it prints {"type":"ready",...} once listening; on stdin it takes {"type":"start"} (reset the
 * event-loop histogram, start sampling RSS every `sampleMs`) and {"type":"report"} (answer with
 * the samples, the histogram and the relay counters). Each RSS sample is also printed as it is
 * taken ({"type":"rss",...}), so a gateway killed mid-run leaves its samples behind. When stdin
 * closes it closes the gateway and exits by itself.
 *
 * Soak-only flags after the JSON: --data-dir DIR (kept on exit: the faults soak restarts the
 * gateway on it), --port N (the client port of a restarted gateway), --throwing-channel N (a
 * channel whose handler throws, through GatewayHooks.channels, as test/handlers/dispatch.test.ts).
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { channelName } from '../../src/protocol/frames.js';
import { FROM_ANY, row } from '../../src/relay/routes.js';
import { dropReasonNames } from '../../src/relay/stats.js';
import { loadConfig } from '../common/load-config.js';
import { DELAY_RESOLUTION_MS, type RssSample, sampleRss, summarize } from './measure.js';

function send(message: { type: string } & Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main(): Promise<void> {
  const overrides = JSON.parse(process.argv[2] ?? '{}') as Partial<Record<ConfigKey, unknown>>;
  const { values: flags } = parseArgs({
    args: process.argv.slice(3),
    options: {
      'data-dir': { type: 'string', default: '' },
      port: { type: 'string', default: '0' },
      'throwing-channel': { type: 'string', default: '0' },
    },
  });
  const sampleMs = Number(process.env.FERRY_SOAK_SAMPLE_MS ?? 5000);
  const ownDir = flags['data-dir'] === '';
  const dataDir = ownDir
    ? fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-soak-'))
    : flags['data-dir'];
  const config = loadConfig(dataDir, overrides);
  config.port = Number(flags.port);
  const throwing = Number(flags['throwing-channel']);
  const channels =
    throwing > 0
      ? [
          row(throwing, 'soak_throwing', {
            from: FROM_ANY,
            small: true,
            handler: () => {
              throw new Error('soak: a handler that fails on purpose');
            },
          }),
        ]
      : [];
  const gateway = await Gateway.start(config, silentLogger(), { channels });
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  let startMs = performance.now();
  const samples: RssSample[] = [];
  let sampler: NodeJS.Timeout | null = null;

  // FERRY_SOAK_HEAP_SAMPLE=<file>: V8's sampling heap profiler from 'start' to 'report', counting
  // objects a major GC collected too (what was promoted and died: the old generation's sawtooth)
  const heapSample = process.env.FERRY_SOAK_HEAP_SAMPLE ?? '';
  const profiler = heapSample === '' ? null : new inspector.Session();
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) =>
      profiler!.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const message = JSON.parse(line) as { type: string };
    if (message.type === 'start') {
      startMs = performance.now();
      delay.reset();
      samples.length = 0;
      const take = () => {
        const sample = sampleRss(startMs);
        samples.push(sample);
        send({ type: 'rss', ...sample });
      };
      take();
      sampler = setInterval(take, sampleMs);
      if (profiler !== null) {
        profiler.connect();
        void post('HeapProfiler.enable').then(() =>
          post('HeapProfiler.startSampling', {
            samplingInterval: 16384,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: false,
          }),
        );
      }
    } else if (message.type === 'report') {
      if (sampler !== null) clearInterval(sampler);
      sampler = null;
      if (profiler !== null) {
        void post('HeapProfiler.stopSampling').then((r) =>
          fs.writeFileSync(heapSample, JSON.stringify((r as { profile: unknown }).profile)),
        );
      }
      const last = sampleRss(startMs);
      samples.push(last);
      send({ type: 'rss', ...last });
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
        handlerErrors: Object.fromEntries(stats.handlerErrors),
        sessions: gateway.registry.sessions.size,
        connections: gateway.connections.size,
      });
    }
  });
  input.on('close', () => {
    if (sampler !== null) clearInterval(sampler);
    delay.disable();
    gateway.close('soak finished').then(
      () => {
        if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
      },
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
