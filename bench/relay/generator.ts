/**
 * The load generator process: `node generator.js --spec <json>` (a GeneratorSpec, written by
 * run.ts). It opens the scenario's pairs on the target, runs warm-up, a measured window and a
 * drain, and prints one JSON line {"type":"result",...}; on the way it prints {"type":"measuring"}
 * when the window opens (bench/http scrapes then).
 *
 * The pairs are split over `workers` shards: one on the main thread, or one per worker thread
 * (this same file, run with workerData) when the generator has more than one core to itself. The
 * main thread reads the target's CPU time and memory from /proc at the window's edges, its own
 * CPU, and the whole machine's busy time, to tell what other processes took meanwhile.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { onShutdown, releaseStdin, send } from '../common/child-side.js';
import {
  busyCoreMs,
  irqCoreMs,
  machineCpu,
  processCpuMs,
  processMemory,
  stealCoreMs,
} from '../common/proc.js';
import { Histogram } from './histogram.js';
import { type MarkKind, Shard, type ShardResult, type ShardSpec } from './load.js';
import type { GeneratorSpec } from './scenarios.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ShardHandle {
  setup(): Promise<number>;
  start(): Promise<void>;
  mark(kind: MarkKind): Promise<void>;
  finish(): Promise<ShardResult>;
  /** Stops the shard at once (shutdown); its pending calls never settle. */
  abort(): Promise<void>;
  close(): Promise<void>;
}

type Command =
  | { cmd: 'setup' }
  | { cmd: 'start' }
  | { cmd: 'mark'; kind: MarkKind }
  | { cmd: 'finish' };
type Reply = { cmd: string; ok: true; value?: unknown } | { cmd: string; ok: false; error: string };

function localShard(spec: ShardSpec): ShardHandle {
  const shard = new Shard(spec);
  return {
    setup: () => shard.setup(),
    start: async () => shard.start(),
    mark: async (kind) => shard.mark(kind),
    finish: () => shard.finish(),
    abort: async () => shard.abort(),
    close: async () => undefined,
  };
}

function workerShard(spec: ShardSpec): ShardHandle {
  const worker = new Worker(new URL(import.meta.url), { workerData: spec });
  let pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  worker.on('message', (reply: Reply) => {
    const p = pending;
    pending = null;
    if (p === null) return;
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(`shard ${spec.shard}: ${reply.error}`));
  });
  worker.on('error', (err) => {
    const p = pending;
    pending = null;
    p?.reject(err);
  });
  const call = <T>(command: Command) =>
    new Promise<T>((resolve, reject) => {
      pending = { resolve: resolve as (v: unknown) => void, reject };
      worker.postMessage(command);
    });
  return {
    setup: () => call<number>({ cmd: 'setup' }),
    start: () => call<void>({ cmd: 'start' }),
    mark: (kind) => call<void>({ cmd: 'mark', kind }),
    finish: () => call<ShardResult>({ cmd: 'finish' }),
    abort: async () => {
      await worker.terminate();
    },
    close: async () => {
      await worker.terminate();
    },
  };
}

function runWorker(): void {
  const shard = new Shard(workerData as ShardSpec);
  const port = parentPort!;
  port.on('message', (command: Command) => {
    const reply = (value?: unknown) =>
      port.postMessage({ cmd: command.cmd, ok: true, value } satisfies Reply);
    const fail = (err: unknown) =>
      port.postMessage({
        cmd: command.cmd,
        ok: false,
        error: (err as Error).stack ?? String(err),
      } satisfies Reply);
    try {
      switch (command.cmd) {
        case 'setup':
          shard.setup().then(reply, fail);
          return;
        case 'start':
          shard.start();
          reply();
          return;
        case 'mark':
          shard.mark(command.kind);
          reply();
          return;
        case 'finish':
          shard.finish().then(reply, fail);
          return;
        default:
          fail(new Error(`unknown command ${JSON.stringify(command)}`));
      }
    } catch (err) {
      fail(err);
    }
  });
}

function splitShards(spec: GeneratorSpec): ShardSpec[] {
  const count = Math.max(1, Math.min(spec.workers, spec.scenario.pairs));
  const out: ShardSpec[] = [];
  for (let i = 0; i < count; i++) {
    const from = Math.floor((spec.scenario.pairs * i) / count);
    const to = Math.floor((spec.scenario.pairs * (i + 1)) / count);
    out.push({ ...spec, shard: i, pairFrom: from, pairTo: to });
  }
  return out;
}

function sum(results: readonly ShardResult[], key: keyof ShardResult): number {
  let total = 0;
  for (const r of results) total += r[key] as number;
  return total;
}

function merged(results: readonly ShardResult[], key: 'screen' | 'input' | 'setup'): Histogram {
  const h = new Histogram();
  for (const r of results) h.merge(Histogram.fromData(r[key]));
  return h;
}

async function runMain(spec: GeneratorSpec): Promise<void> {
  const { target, scenario, timing } = spec;
  const shardSpecs = splitShards(spec);
  const shards = shardSpecs.map((s) => (shardSpecs.length > 1 ? workerShard(s) : localShard(s)));
  let stopping = false;
  onShutdown(async () => {
    stopping = true;
    // Asked to stop, or the runner is gone: the result is moot, so stop now. Pending sleeps
    // and sockets of a run in progress would otherwise keep the process alive (an orphan that
    // keeps loading the machine).
    await Promise.race([Promise.all(shards.map((s) => s.abort())), sleep(1000)]);
    process.exit();
  });
  try {
    const memBase = processMemory(target.pid);
    const setupStarted = performance.now();
    await Promise.all(shards.map((s) => s.setup()));
    const setupMs = performance.now() - setupStarted;
    let idleKiBPerPair: number | null = null;
    let idleRssKiB: number | null = null;
    if (timing.idleMs > 0) {
      await sleep(timing.idleMs);
      const memIdle = processMemory(target.pid);
      if (memBase !== null && memIdle !== null) {
        idleRssKiB = memIdle.rssKiB;
        idleKiBPerPair = (memIdle.rssKiB - memBase.rssKiB) / scenario.pairs;
      }
    }
    await Promise.all(shards.map((s) => s.start()));
    const cpuStart = processCpuMs(target.pid);
    const tStart = performance.now();
    await sleep(timing.warmupMs);
    if (stopping) return;

    await Promise.all(shards.map((s) => s.mark('measure')));
    const cpu0 = processCpuMs(target.pid);
    const gen0 = processCpuMs(process.pid);
    const machine0 = machineCpu();
    const t0 = performance.now();
    const warmupCpuMs = cpuStart !== null && cpu0 !== null ? cpu0 - cpuStart : null;
    send({ type: 'measuring', durationMs: timing.durationMs });
    await sleep(timing.durationMs);
    await Promise.all(shards.map((s) => s.mark('stop')));
    const t1 = performance.now();
    const cpu1 = processCpuMs(target.pid);
    const gen1 = processCpuMs(process.pid);
    const machine1 = machineCpu();
    const mem = processMemory(target.pid);

    const results = await Promise.all(shards.map((s) => s.finish()));
    const windowMs = t1 - t0;
    const windowS = windowMs / 1000;
    const received = sum(results, 'received');
    const receivedBytes = sum(results, 'receivedBytes');
    const targetCpuMs = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
    const genCpuMs = gen0 !== null && gen1 !== null ? gen1 - gen0 : null;
    const machineMs =
      machine0 !== null && machine1 !== null ? busyCoreMs(machine0, machine1) : null;
    const irqMs = machine0 !== null && machine1 !== null ? irqCoreMs(machine0, machine1) : null;
    const stealMs = machine0 !== null && machine1 !== null ? stealCoreMs(machine0, machine1) : null;
    // what other processes took: the machine's busy time minus ours, interrupt work and steal
    const otherCpuMs =
      machineMs !== null &&
      irqMs !== null &&
      stealMs !== null &&
      targetCpuMs !== null &&
      genCpuMs !== null
        ? Math.max(0, machineMs - irqMs - stealMs - targetCpuMs - genCpuMs)
        : null;
    const cycles = sum(results, 'cycles');
    const warmupCycles = sum(results, 'warmupCycles');
    const screen = merged(results, 'screen');
    const input = merged(results, 'input');
    const both = new Histogram();
    both.merge(screen);
    both.merge(input);
    send({
      type: 'result',
      scenario: scenario.name,
      target: target.name,
      pairs: sum(results, 'pairs'),
      shards: shards.length,
      setupMs,
      setupErrors: sum(results, 'setupErrors'),
      windowMs,
      sent: sum(results, 'sent'),
      received,
      receivedBytes,
      msgsPerSec: received / windowS,
      mbPerSec: receivedBytes / windowS / 1e6,
      offeredPerSec: sum(results, 'sent') / windowS,
      // pingpong: both legs are one-way samples alike; fleet: SCREEN is "the frame"
      latency: scenario.kind === 'pingpong' ? both.summary() : screen.summary(),
      inputLatency: input.summary(),
      dropped: sum(results, 'dropped'),
      gaps: sum(results, 'gaps'),
      reordered: sum(results, 'reordered'),
      otherFrames: sum(results, 'other'),
      skipped: sum(results, 'skipped'),
      queuedWrites: sum(results, 'queuedWrites'),
      unsent: sum(results, 'unsent'),
      stalls: sum(results, 'stalls'),
      lateSlots: sum(results, 'lateSlots'),
      pongs: sum(results, 'pongs'),
      closedLegs: sum(results, 'closedLegs'),
      cycles,
      sessionsPerSec: cycles / windowS,
      setupLatency: merged(results, 'setup').summary(),
      cycleErrors: sum(results, 'cycleErrors'),
      errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
      targetCpuMs,
      targetCpuPct: targetCpuMs === null ? null : (100 * targetCpuMs) / windowMs,
      usPerMsg: targetCpuMs === null || received === 0 ? null : (targetCpuMs * 1000) / received,
      msPerMB:
        targetCpuMs === null || receivedBytes === 0 ? null : targetCpuMs / (receivedBytes / 1e6),
      cpuMsPerSession: targetCpuMs === null || cycles === 0 ? null : targetCpuMs / cycles,
      // churn: the same from the first session on (a just-started target: JIT still compiling)
      warmupMs: t0 - tStart,
      warmupCycles,
      warmupCpuMsPerSession:
        warmupCpuMs === null || warmupCycles === 0 ? null : warmupCpuMs / warmupCycles,
      genCpuPct: genCpuMs === null ? null : (100 * genCpuMs) / windowMs,
      otherCpuPct: otherCpuMs === null ? null : (100 * otherCpuMs) / windowMs,
      irqCpuPct: irqMs === null ? null : (100 * irqMs) / windowMs,
      stealCpuPct: stealMs === null ? null : (100 * stealMs) / windowMs,
      rssKiB: mem?.rssKiB ?? null,
      hwmKiB: mem?.hwmKiB ?? null,
      baseRssKiB: memBase?.rssKiB ?? null,
      idleRssKiB,
      idleKiBPerPair,
    });
  } finally {
    await Promise.all(shards.map((s) => s.close()));
    // the stdin listener of onShutdown would keep an idle generator alive
    releaseStdin();
  }
}

function parseSpec(argv: readonly string[]): GeneratorSpec {
  const i = argv.indexOf('--spec');
  if (i < 0 || argv[i + 1] === undefined)
    throw new Error('usage: generator.js --spec <GeneratorSpec JSON>');
  return JSON.parse(argv[i + 1]!) as GeneratorSpec;
}

if (isMainThread) {
  let spec: GeneratorSpec | null = null;
  try {
    spec = parseSpec(process.argv);
  } catch (err) {
    send({ type: 'error', message: (err as Error).message });
    process.exitCode = 2;
  }
  if (spec !== null) {
    runMain(spec).catch((err: unknown) => {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
      process.exitCode = 1;
    });
  }
} else {
  runWorker();
}
