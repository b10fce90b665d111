/**
 * Part 3, workers scaling: `ferry serve --workers N --directory redis://...` (the real CLI, N = 1:
 * one gateway process; N > 1: a supervisor and N workers on one SO_REUSEPORT client port), P pairs
 * dialled on the shared port (load.ts), SCREEN frames relayed at full speed for the window. It
 * reads every gateway process's CPU from /proc/<pid>/stat (pids from the "workers listening" log
 * line; N = 1: the process itself), the supervisor's, this bench process's own (it is the load
 * generator and shares the cores), Redis' main thread, and the whole machine's busy time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { gatewayEnv, gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { issueToken } from '../../src/session/tokens.js';
import { Child } from '../common/children.js';
import { repoRoot } from '../common/machine.js';
import { freeLoopbackPort } from '../common/ports.js';
import { busyCoreMs, irqCoreMs, machineCpu, processCpuMs, stealCoreMs } from '../common/proc.js';
import { Histogram, type LatencySummary } from '../relay/histogram.js';
import { type BenchRedis, onCleanup, readRedis, sleep } from './common.js';
import { LoadThread } from './load-thread.js';

const SETUP_CONCURRENCY = 16;
const LISTEN_TIMEOUT_MS = 30_000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A first port of `count` consecutive free ports on 127.0.0.1. */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freeLoopbackPort();
    if (base + count > 65535) continue;
    let ok = true;
    for (let k = 1; k < count && ok; k++) ok = await portFree(base + k);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports on 127.0.0.1`);
}

/** The pid runs bin/ferry.js (the worker we started, not a recycled pid). */
function isFerry(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ferry.js');
  } catch {
    return false;
  }
}

interface Deployment {
  readonly child: Child;
  readonly port: number;
  /** Gateway processes: the workers (N > 1) or the process itself (N = 1). */
  readonly gatewayPids: number[];
  readonly supervisorPid: number | null;
  readonly secret: string;
  stop(): Promise<void>;
}

/** `ferry serve --workers n` on loopback ports, resolved once every gateway listens. */
async function startDeployment(workers: number, redisUrl: string): Promise<Deployment> {
  const port = await freePortRun(workers + 1);
  const adminPort = await freePortRun(workers);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-scale-'));
  const secret = randomBytes(32).toString('hex');
  const args = [
    ...gatewayNodeFlags(),
    path.join(repoRoot(), 'bin', 'ferry.js'),
    'serve',
    '--workers',
    String(workers),
    '--directory',
    redisUrl,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--admin-host',
    '127.0.0.1',
    '--admin-port',
    String(adminPort),
    '--data-dir',
    dataDir,
    '--secret',
    secret,
    '--admin-token',
    randomBytes(16).toString('hex'),
    // every load client comes from 127.0.0.1 and pipelines (as bench/common/load-config.ts)
    '--pin-attempts-per-minute',
    '1000000',
    '--pin-attempts-per-second',
    '1000000',
    '--max-connections-per-address',
    '1000000',
    '--max-messages-per-second',
    '10000000',
    '--drain-timeout-seconds',
    '1',
    '--log-level',
    'info',
  ];
  const child = new Child(
    `ferry serve --workers ${workers}`,
    process.execPath,
    args,
    '',
    gatewayEnv(),
  );
  let workerPids: number[] = [];
  const stop = async () => {
    await child.stop(5000);
    // a worker whose supervisor is gone drains and exits by itself; make sure
    const deadline = performance.now() + 5000;
    for (const pid of workerPids) {
      while (isFerry(pid) && performance.now() < deadline) await sleep(50);
      if (isFerry(pid)) process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  onCleanup(() => {
    if (child.running) child.proc.kill('SIGKILL');
    for (const pid of workerPids) if (isFerry(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const wanted = workers > 1 ? 'workers listening' : 'gateway listening';
  try {
    const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${wanted}" within ${LISTEN_TIMEOUT_MS} ms\n${child.tail}`)),
        LISTEN_TIMEOUT_MS,
      );
      void child.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(`ferry serve exited (${code ?? signal}) before "${wanted}"\n${child.tail}`),
        );
      });
      readline.createInterface({ input: child.proc.stdout! }).on('line', (text) => {
        if (!text.includes(`"${wanted}"`)) return;
        try {
          const parsed = JSON.parse(text) as Record<string, unknown>;
          if (parsed.msg !== wanted) return;
          clearTimeout(timer);
          resolve(parsed);
        } catch {
          // not a log line
        }
      });
    });
    if (workers > 1) {
      workerPids = (line.workers as { pid: number }[]).map((w) => Number(w.pid));
    }
    return {
      child,
      port,
      gatewayPids: workers > 1 ? workerPids : [child.pid],
      supervisorPid: workers > 1 ? child.pid : null,
      secret,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface WorkersRun {
  readonly workers: number;
  /** Load generator threads (this process). */
  readonly genThreads: number;
  readonly round: number;
  readonly pairs: number;
  readonly setupErrors: number;
  readonly errorSamples: string[];
  readonly setupMs: number;
  /** Pairs per gateway id, and customers that followed a Redirect. */
  readonly pairsByGateway: Record<string, number>;
  readonly redirected: number;
  readonly windowMs: number;
  readonly msgsPerSec: number;
  readonly mbPerSec: number;
  readonly latency: LatencySummary;
  readonly stalls: number;
  readonly gaps: number;
  readonly reordered: number;
  /** CPU over the window, % of one core. */
  readonly gatewayCpuPct: number | null;
  readonly gatewayCpuPctEach: (number | null)[];
  readonly supervisorCpuPct: number | null;
  readonly benchCpuPct: number;
  readonly redisCpuPct: number;
  readonly irqCpuPct: number | null;
  readonly stealCpuPct: number | null;
  readonly otherCpuPct: number | null;
  readonly machineBusyPct: number | null;
  /** Gateway CPU µs per relayed message. */
  readonly gatewayUsPerMsg: number | null;
}

export interface WorkersOptions {
  readonly pairs: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly size: number;
  readonly window: number;
  readonly genThreads: number;
}

const sumOrNull = (values: (number | null)[]): number | null =>
  values.some((v) => v === null) ? null : values.reduce<number>((a, b) => a + (b ?? 0), 0);

/** One deployment of `workers` processes under the load; stops it before returning. */
export async function workersRun(
  workers: number,
  round: number,
  options: WorkersOptions,
  redis: BenchRedis,
): Promise<WorkersRun> {
  await redis.client.flushall();
  const deployment = await startDeployment(workers, redis.url);
  const token = issueToken(deployment.secret, 'scale-tech', 3600);
  const threads = Array.from({ length: options.genThreads }, (_, i) => {
    const from = Math.floor((options.pairs * i) / options.genThreads);
    const to = Math.floor((options.pairs * (i + 1)) / options.genThreads);
    return new LoadThread({
      port: deployment.port,
      token,
      pairs: to - from,
      size: options.size,
      window: options.window,
      concurrency: Math.max(1, Math.round(SETUP_CONCURRENCY / options.genThreads)),
    });
  });
  try {
    const setup0 = performance.now();
    const setups = await Promise.all(threads.map((t) => t.setup()));
    const setupMs = performance.now() - setup0;
    const opened = setups.reduce((n, s) => n + s.opened, 0);
    const errors = setups.flatMap((s) => s.errors).slice(0, 5);
    if (opened < options.pairs * 0.95)
      throw new Error(`only ${opened} of ${options.pairs} pairs opened: ${errors.join('; ')}`);
    const pairsByGateway: Record<string, number> = {};
    let redirected = 0;
    for (const [gatewayId, wasRedirected] of setups.flatMap((s) => s.gateways)) {
      pairsByGateway[gatewayId] = (pairsByGateway[gatewayId] ?? 0) + 1;
      if (wasRedirected) redirected++;
    }

    await Promise.all(threads.map((t) => t.start()));
    await sleep(options.warmupS * 1000);
    const a = await Promise.all(threads.map((t) => t.mark(true)));
    const gw0 = deployment.gatewayPids.map(processCpuMs);
    const sup0 = deployment.supervisorPid === null ? null : processCpuMs(deployment.supervisorPid);
    const bench0 = process.cpuUsage();
    const redis0 = await readRedis(redis.client);
    const m0 = machineCpu();
    await sleep(options.durationS * 1000);
    const b = await Promise.all(threads.map((t) => t.mark(false)));
    const gw1 = deployment.gatewayPids.map(processCpuMs);
    const sup1 = deployment.supervisorPid === null ? null : processCpuMs(deployment.supervisorPid);
    const bench1 = process.cpuUsage(bench0);
    const m1 = machineCpu();
    const redis1 = await readRedis(redis.client);
    const stops = await Promise.all(threads.map((t) => t.stop()));
    for (const pid of deployment.gatewayPids) {
      if (!isFerry(pid)) throw new Error(`gateway process ${pid} exited during the run`);
    }

    // each thread's own window (they are marked within a millisecond of each other)
    const windowMs = b.reduce((sum, x, i) => sum + (x.atMs - a[i]!.atMs), 0) / threads.length;
    const received = b.reduce((sum, x, i) => sum + x.received - a[i]!.received, 0);
    const receivedBytes = b.reduce((sum, x, i) => sum + x.receivedBytes - a[i]!.receivedBytes, 0);
    const latency = new Histogram();
    for (const s of stops) latency.merge(Histogram.fromData(s.latency));
    const pct = (ms: number | null) => (ms === null ? null : (100 * ms) / windowMs);
    const gwEach = gw0.map((c0, i) => (c0 === null || gw1[i] == null ? null : gw1[i]! - c0));
    const gwMs = sumOrNull(gwEach);
    const supMs = sup0 === null || sup1 === null ? null : sup1 - sup0;
    const benchMs = (bench1.user + bench1.system) / 1000;
    const redisMs = (redis1.cpuMainS - redis0.cpuMainS) * 1000;
    const busy = m0 !== null && m1 !== null ? busyCoreMs(m0, m1) : null;
    const irq = m0 !== null && m1 !== null ? irqCoreMs(m0, m1) : null;
    const steal = m0 !== null && m1 !== null ? stealCoreMs(m0, m1) : null;
    const other =
      busy !== null && irq !== null && steal !== null && gwMs !== null
        ? Math.max(0, busy - irq - steal - gwMs - (supMs ?? 0) - benchMs - redisMs)
        : null;
    return {
      workers,
      genThreads: options.genThreads,
      round,
      pairs: opened,
      setupErrors: options.pairs - opened,
      errorSamples: errors,
      setupMs,
      pairsByGateway,
      redirected,
      windowMs,
      msgsPerSec: received / (windowMs / 1000),
      mbPerSec: receivedBytes / (windowMs / 1000) / 1e6,
      latency: latency.summary(),
      stalls: stops.reduce((n, s) => n + s.stalls, 0),
      gaps: stops.reduce((n, s) => n + s.gaps, 0),
      reordered: stops.reduce((n, s) => n + s.reordered, 0),
      gatewayCpuPct: pct(gwMs),
      gatewayCpuPctEach: gwEach.map(pct),
      supervisorCpuPct: pct(supMs),
      benchCpuPct: pct(benchMs)!,
      redisCpuPct: pct(redisMs)!,
      irqCpuPct: pct(irq),
      stealCpuPct: pct(steal),
      otherCpuPct: pct(other),
      machineBusyPct: busy === null ? null : (100 * busy) / windowMs / os.availableParallelism(),
      gatewayUsPerMsg: gwMs === null || received === 0 ? null : (gwMs * 1000) / received,
    };
  } finally {
    await Promise.all(threads.map((t) => t.close()));
    await deployment.stop();
  }
}
