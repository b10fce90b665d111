/**
 * The direct-path bench (`npm run bench:direct`, `node dist/bench/direct/run.js --help`): what
 * the direct path (docs/direct-path.md) buys on one host, technician and customer side by side.
 *
 *   input   1 KiB INPUT round trips (technician -> customer -> small SCREEN answer), one in
 *           flight: p50/p99 over the relay and over the WebRTC data channel
 *   screen  4 MiB/s of SCREEN (16 KiB frames at 256 frames/s): the gateway process's CPU over
 *           the relay and with the frames going direct. Target: direct costs the gateway at
 *           most 5% of the relay's CPU
 *
 * Each run (session.ts) starts its own gateway process (gateway.ts: the real Gateway, limits
 * lifted, 127.0.0.1, p2pNetworks=127.0.0.0/8), pinned to the first allowed CPU; the clients run
 * in this process on the others. Rounds interleave relay and direct (the order alternates);
 * cells are median [min–max] over rounds. A run during which other processes took more than a
 * quarter of a core is repeated once and the cleaner one kept. Results go to
 * bench/results/direct-<time>.json.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { installCleanup, pinPlan } from '../common/children.js';
import { describeMachine, machineInfo, repoRoot, writeResult } from '../common/machine.js';
import { waitForQuiet } from '../common/proc.js';
import { fmtCount, type Stat, stat, table } from '../relay/report.js';
import { type Mode, measureRun, type RunResult } from './session.js';

const MODES: readonly Mode[] = ['relay', 'direct'];
/** A run during which other processes took more than this (% of a core) is repeated once. */
const NOISY_OTHER_CPU_PCT = 25;
/** The issue's target: direct costs the gateway at most this share of the relay's CPU. */
const TARGET_CPU_RATIO = 0.05;
/** The load counts as delivered when the technician received this share of what was offered. */
const DELIVERED_SHARE = 0.95;

const USAGE = `usage: node dist/bench/direct/run.js [options]
  --rounds <n>          rounds, each one relay and one direct run (default 3; 1 with --quick)
  --quick               a smoke test: 1 round, 300 round trips, 2 s of screen
  --round-trips <n>     input round trips timed per run (default 2000)
  --warmup <n>          round trips before them, not timed (default 200; 50 with --quick)
  --input-bytes <n>     size of one INPUT frame (default 1024)
  --seconds <s>         measured screen window (default 10; 2 with --quick)
  --screen-bytes <n>    size of one SCREEN frame (default 16384)
  --fps <n>             SCREEN frames per second (default 256: 16 KiB x 256 = 4 MiB/s)
  --window <n>          SCREEN frames in flight at most, sent and not yet received (default 4
                        = 64 KiB); 0 = open loop. werift's SCTP send queue collapses with a
                        deeper queue (see bench/README.md)
  --idle <s>            the gateway alone, then the session idle, for this long each before the
                        input and screen parts (default 4; 1 with --quick)
  --mode <list>         relay, direct or both (default relay,direct)
  --cpu-prof            profile each run's gateway
                        (bench/results/profiles/direct-<mode>-<round>-*.cpuprofile)
  --no-pin              do not pin the gateway and this process to separate CPUs
  --no-json             do not write bench/results/direct-*.json`;

interface Options {
  rounds: number;
  quick: boolean;
  roundTrips: number;
  warmup: number;
  inputBytes: number;
  seconds: number;
  screenBytes: number;
  fps: number;
  window: number;
  idleS: number;
  modes: Mode[];
  cpuProf: boolean;
  pin: boolean;
  json: boolean;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return v;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'round-trips': { type: 'string' },
      warmup: { type: 'string' },
      'input-bytes': { type: 'string' },
      seconds: { type: 'string' },
      'screen-bytes': { type: 'string' },
      fps: { type: 'string' },
      window: { type: 'string' },
      idle: { type: 'string' },
      mode: { type: 'string', default: 'relay,direct' },
      'cpu-prof': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const q = values.quick;
  const int = (name: string, raw: string | undefined, fallback: number) =>
    Math.round(positive(name, raw, fallback));
  const modes = values.mode.split(',').map((m) => {
    const name = m.trim();
    if (!(MODES as readonly string[]).includes(name)) throw new Error(`unknown mode "${m}"`);
    return name as Mode;
  });
  return {
    rounds: int('rounds', values.rounds, q ? 1 : 3),
    quick: q,
    roundTrips: int('round-trips', values['round-trips'], q ? 300 : 2000),
    warmup: int('warmup', values.warmup, q ? 50 : 200),
    inputBytes: int('input-bytes', values['input-bytes'], 1024),
    seconds: positive('seconds', values.seconds, q ? 2 : 10),
    screenBytes: int('screen-bytes', values['screen-bytes'], 16384),
    fps: int('fps', values.fps, 256),
    window: values.window === '0' ? 0 : int('window', values.window, 4),
    idleS: positive('idle', values.idle, q ? 1 : 4),
    modes: MODES.filter((m) => modes.includes(m)),
    cpuProf: values['cpu-prof'],
    pin: !values['no-pin'],
    json: !values['no-json'],
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

// --- formatting ------------------------------------------------------------------------------

const fmtMs = (v: number) => `${v.toFixed(v >= 10 ? 1 : v >= 1 ? 2 : 3)} ms`;
const fmtPct = (v: number) => `${v.toFixed(v >= 10 ? 0 : v >= 1 ? 1 : 2)}%`;
const fmtMBps = (v: number) => `${v.toFixed(2)} MB/s`;

/** `median [min–max]` over rounds (one round: the value). */
function cell(values: readonly number[], fmt: (v: number) => string): string {
  const s = stat(values.filter((v) => Number.isFinite(v)));
  if (s === null) return '–';
  if (s.n === 1) return fmt(s.median);
  return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
}

const median = (values: readonly number[]): number =>
  stat(values.filter((v) => Number.isFinite(v)))?.median ?? Number.NaN;

// --- the report ------------------------------------------------------------------------------

type Metric = readonly [label: string, get: (r: RunResult) => number, fmt: (v: number) => string];

const num = (v: number | null) => (v === null ? Number.NaN : v);

/** The gateway's CPU while the screen flows less its CPU with the session idle (same run). */
const aboveIdle = (r: RunResult) => r.screen.cpu.gatewayCpuPct - r.idle.gatewayCpuPct;

const METRICS: readonly Metric[] = [
  ['↓ input round trip p50', (r) => r.latency.p50Ms, fmtMs],
  ['↓ input round trip p99', (r) => r.latency.p99Ms, fmtMs],
  ['  input round trip p90', (r) => r.latency.p90Ms, fmtMs],
  ['  input round trip min', (r) => r.latency.minMs, fmtMs],
  ['  input round trip max', (r) => r.latency.maxMs, fmtMs],
  ['  round trips timed', (r) => r.latency.count, (v) => v.toFixed(0)],
  ['  round trips/s (one in flight)', (r) => r.latency.perSec, fmtCount],
  ['  INPUT frames via the gateway', (r) => r.latency.gatewayInputFrames, (v) => v.toFixed(0)],
  ['  gateway CPU, ping-pong', (r) => r.latency.cpu.gatewayCpuPct, fmtPct],
  ['  screen offered', (r) => r.screen.offeredMBps, fmtMBps],
  ['↑ screen received (technician)', (r) => r.screen.receivedMBps, fmtMBps],
  [
    '  screen frames received/s',
    (r) => r.screen.framesReceived / (r.screen.cpu.ms / 1000),
    fmtCount,
  ],
  ['  screen frames lost', (r) => r.screen.lost, (v) => v.toFixed(0)],
  ['  SCREEN frames into the gateway/s', (r) => r.screen.cpu.gatewayScreenInPerSec, fmtCount],
  [
    '  SCREEN frames via the gateway/s',
    (r) => r.screen.gatewayScreenFrames / (r.screen.cpu.ms / 1000),
    fmtCount,
  ],
  ['  window held a due frame (ticks)', (r) => r.screen.heldTicks, (v) => v.toFixed(0)],
  ['↓ gateway CPU, screen 4 MiB/s', (r) => r.screen.cpu.gatewayCpuPct, fmtPct],
  ['  gateway CPU above the idle session', aboveIdle, fmtPct],
  ['  of the gateway CPU, system time', (r) => r.screen.cpu.gatewaySystemPct, fmtPct],
  ['  gateway CPU ms per MB', (r) => r.screen.gatewayMsPerMB, (v) => v.toFixed(3)],
  ['  gateway CPU, /proc ticks', (r) => num(r.screen.cpu.gatewayProcCpuPct), fmtPct],
  ['  gateway CPU, idle session', (r) => r.idle.gatewayCpuPct, fmtPct],
  ['  gateway CPU, no client yet', (r) => r.bare.gatewayCpuPct, fmtPct],
  ['  clients CPU (this process)', (r) => r.screen.cpu.runnerCpuPct, fmtPct],
  ['  irq/softirq CPU', (r) => num(r.screen.cpu.irqCpuPct), fmtPct],
  ['  other CPU', (r) => num(r.screen.cpu.otherCpuPct), fmtPct],
  ['  session set-up', (r) => r.setupMs, fmtMs],
  ['  direct path up after', (r) => num(r.directUpMs), fmtMs],
];

function ratioCell(relay: Stat | null, direct: Stat | null): string {
  if (relay === null || direct === null || relay.median === 0) return '–';
  return `${(direct.median / relay.median).toFixed(3)}×`;
}

function reportTable(runs: readonly RunResult[], modes: readonly Mode[]): string {
  const of = (m: Mode) => runs.filter((r) => r.mode === m);
  const both = modes.length === 2;
  const rows: string[][] = [['metric', ...modes, ...(both ? ['direct/relay'] : [])]];
  for (const [label, get, fmt] of METRICS) {
    const cells = modes.map((m) => cell(of(m).map(get), fmt));
    const extra = both
      ? [
          ratioCell(
            stat(of('relay').map(get).filter(Number.isFinite)),
            stat(of('direct').map(get).filter(Number.isFinite)),
          ),
        ]
      : [];
    rows.push([label, ...cells, ...extra]);
  }
  return table(rows);
}

interface Verdicts {
  readonly lines: string[];
  /** direct / relay gateway CPU in the screen window, per round (the issue's target). */
  readonly cpuRatios: number[];
  readonly cpuRatioMedian: number;
  readonly cpuTargetMet: boolean | null;
  /** The same with each run's idle-session CPU taken off both sides: what the screen costs. */
  readonly aboveIdleRatios: number[];
  readonly aboveIdleRatioMedian: number;
  readonly aboveIdleTargetMet: boolean | null;
  readonly loadDelivered: boolean;
}

function verdicts(runs: readonly RunResult[], rounds: number): Verdicts {
  const lines: string[] = [];
  const of = (m: Mode) => runs.filter((r) => r.mode === m);
  const cpuRatios: number[] = [];
  const aboveIdleRatios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const relay = runs.find((r) => r.mode === 'relay' && r.round === round);
    const direct = runs.find((r) => r.mode === 'direct' && r.round === round);
    if (relay === undefined || direct === undefined) continue;
    if (relay.screen.cpu.gatewayCpuPct > 0) {
      cpuRatios.push(direct.screen.cpu.gatewayCpuPct / relay.screen.cpu.gatewayCpuPct);
    }
    if (aboveIdle(relay) > 0) aboveIdleRatios.push(aboveIdle(direct) / aboveIdle(relay));
  }
  const offered = of('relay')[0]?.screen.offeredMBps ?? of('direct')[0]?.screen.offeredMBps ?? 0;
  const delivered = runs.every((r) => r.screen.receivedMBps >= DELIVERED_SHARE * offered);
  const shortfall = delivered ? '' : ' (the load was not delivered in full: see below)';
  const med = (m: Mode, get: (r: RunResult) => number) => fmtPct(median(of(m).map(get)));
  const target = `target ≤ ${(TARGET_CPU_RATIO * 100).toFixed(0)}%`;
  const cpuRatioMedian = median(cpuRatios);
  const aboveIdleRatioMedian = median(aboveIdleRatios);
  let cpuTargetMet: boolean | null = null;
  let aboveIdleTargetMet: boolean | null = null;
  if (cpuRatios.length > 0) {
    cpuTargetMet = cpuRatioMedian <= TARGET_CPU_RATIO && delivered;
    lines.push(
      `gateway CPU at ${fmtMBps(offered)} of screen, whole process: relay ${med('relay', (r) => r.screen.cpu.gatewayCpuPct)}, direct ${med('direct', (r) => r.screen.cpu.gatewayCpuPct)} of one core; direct/relay per round ${cell(
        cpuRatios.map((v) => v * 100),
        fmtPct,
      )}; ${target}: ${cpuTargetMet ? 'met' : 'NOT met'}${shortfall}`,
    );
  }
  if (aboveIdleRatios.length > 0) {
    aboveIdleTargetMet = aboveIdleRatioMedian <= TARGET_CPU_RATIO && delivered;
    lines.push(
      `gateway CPU the screen adds (screen window − idle session, same run): relay ${med('relay', aboveIdle)}, direct ${med('direct', aboveIdle)} of one core; direct/relay per round ${cell(
        aboveIdleRatios.map((v) => v * 100),
        fmtPct,
      )}; ${target}: ${aboveIdleTargetMet ? 'met' : 'NOT met'}${shortfall}`,
    );
  }
  const rates = (m: Mode) =>
    cell(
      of(m).map((r) => r.screen.receivedMBps),
      fmtMBps,
    );
  const parts = MODES.filter((m) => of(m).length > 0).map((m) => `${m} ${rates(m)}`);
  lines.push(
    `screen load delivered (technician received ≥ ${(DELIVERED_SHARE * 100).toFixed(0)}% of ${fmtMBps(offered)} in every run): ${delivered ? 'yes' : 'NO'}; ${parts.join(', ')}`,
  );
  if (of('relay').length > 0 && of('direct').length > 0) {
    const p = (m: Mode, get: (r: RunResult) => number) => fmtMs(median(of(m).map(get)));
    lines.push(
      `input round trip (1 KiB, no target, reported): p50 relay ${p('relay', (r) => r.latency.p50Ms)} -> direct ${p('direct', (r) => r.latency.p50Ms)}, p99 relay ${p('relay', (r) => r.latency.p99Ms)} -> direct ${p('direct', (r) => r.latency.p99Ms)}`,
    );
  }
  return {
    lines,
    cpuRatios,
    cpuRatioMedian,
    cpuTargetMet,
    aboveIdleRatios,
    aboveIdleRatioMedian,
    aboveIdleTargetMet,
    loadDelivered: delivered,
  };
}

// --- main ------------------------------------------------------------------------------------

const noisy = (r: RunResult) =>
  Math.max(num(r.latency.cpu.otherCpuPct), num(r.screen.cpu.otherCpuPct), 0);

function describeRun(r: RunResult): string {
  const l = r.latency;
  const s = r.screen;
  return (
    `round ${r.round} ${r.mode.padEnd(6)}: input p50/p99 ${fmtMs(l.p50Ms)}/${fmtMs(l.p99Ms)} ` +
    `(${l.count} trips, ${l.gatewayInputFrames} via the gateway), screen ${fmtMBps(s.receivedMBps)} ` +
    `received of ${fmtMBps(s.offeredMBps)} (${fmtCount(s.gatewayScreenFrames)} frames via the gateway, ${s.lost} lost), ` +
    `gateway ${fmtPct(s.cpu.gatewayCpuPct)} CPU (idle session ${fmtPct(r.idle.gatewayCpuPct)}, no client ${fmtPct(r.bare.gatewayCpuPct)}), clients ${fmtPct(s.cpu.runnerCpuPct)}, other ${fmtPct(num(s.cpu.otherCpuPct))}`
  );
}

/** Pins this process (every thread) to `cpus`; false when taskset cannot. */
function pinSelf(cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', cpus, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch (err) {
    log(`taskset for this process failed (${(err as Error).message.split('\n')[0]}): not pinned`);
    return false;
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  installCleanup();
  const machine = machineInfo();
  log(describeMachine(machine));
  const plan = pinPlan(!options.pin);
  const pinned = plan.pinned && pinSelf(plan.generatorCpus);
  const gatewayCpus = pinned ? plan.targetCpus : '';
  const pinning = pinned
    ? `gateway on CPU ${plan.targetCpus}, clients (this process) on CPU ${plan.generatorCpus}`
    : `not pinned (${plan.pinned ? 'taskset failed' : plan.reason})`;
  log(pinning);
  const started = Date.now();
  const notes: string[] = [];
  const runs: RunResult[] = [];
  const out: string[] = [];
  const command = ['node', 'dist/bench/direct/run.js', ...process.argv.slice(2)];
  out.push(`Ferry direct-path bench: ${describeMachine(machine)}`);
  out.push(`command: ${command.join(' ')}`);
  out.push(
    `loopback only (127.0.0.1; gateway p2pNetworks and client networks 127.0.0.0/8); ${pinning}; cells: median [min–max] over ${options.rounds} round(s)`,
  );
  let failed = false;
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? options.modes : [...options.modes].reverse();
      for (const mode of order) {
        const measure = async () => {
          const q = await waitForQuiet({ thresholdPct: 10, sampleMs: 500, maxTries: 20 });
          if (!q.quiet) {
            const note = `round ${round} ${mode}: started on a busy machine (${q.busyPct.toFixed(0)}% busy after ${q.tries} checks)`;
            notes.push(note);
            log(note);
          }
          return measureRun({
            mode,
            round,
            roundTrips: options.roundTrips,
            warmupRoundTrips: options.warmup,
            inputBytes: options.inputBytes,
            screenBytes: options.screenBytes,
            screenFps: options.fps,
            window: options.window,
            seconds: options.seconds,
            screenWarmupS: 1,
            idleS: options.idleS,
            gatewayCpus,
            gatewayNodeArgs: options.cpuProf
              ? [
                  '--cpu-prof',
                  `--cpu-prof-dir=${path.join(repoRoot(), 'bench', 'results', 'profiles')}`,
                  `--cpu-prof-name=direct-${mode}-${round}-${process.pid}-${Date.now()}.cpuprofile`,
                ]
              : [],
          });
        };
        let run = await measure();
        if (noisy(run) > NOISY_OTHER_CPU_PCT) {
          log(
            `round ${round} ${mode}: other processes took ${fmtPct(noisy(run))} of a core, once more`,
          );
          const again = await measure();
          notes.push(
            `round ${round} ${mode}: repeated (other CPU ${fmtPct(noisy(run))}), kept the run with ${fmtPct(Math.min(noisy(run), noisy(again)))}`,
          );
          if (noisy(again) < noisy(run)) run = again;
        }
        log(describeRun(run));
        runs.push(run);
      }
    }
  } catch (err) {
    failed = true;
    out.push(`\nFAILED: ${(err as Error).stack ?? String(err)}`);
  }
  const first = runs[0];
  if (first !== undefined) {
    out.push(
      `\n== ${first.latency.count} input round trips of ${first.latency.inputFrameBytes} B INPUT -> ${first.latency.echoFrameBytes} B SCREEN answer (after ${first.latency.warmup} not timed), then ${options.seconds} s of ${first.screen.frameBytes} B SCREEN frames at ${options.fps}/s (${first.screen.offeredMBps.toFixed(2)} MB/s = ${((first.screen.frameBytes * options.fps) / 2 ** 20).toFixed(2)} MiB/s; ${options.window > 0 ? `at most ${options.window} in flight` : 'open loop'}) after 1 s of warm-up; idle windows ${options.idleS} s`,
    );
    out.push(reportTable(runs, options.modes));
  }
  const v = verdicts(runs, options.rounds);
  if (runs.length > 0) out.push(`\n${v.lines.join('\n')}`);
  const elapsedS = (Date.now() - started) / 1000;
  if (notes.length > 0) out.push(`\nnotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);
  out.push(`\n${elapsedS.toFixed(0)} s`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (options.json) {
    const file = writeResult('direct', {
      machine,
      command,
      options,
      pinning,
      runs,
      verdict: {
        lines: v.lines,
        targetCpuRatio: TARGET_CPU_RATIO,
        cpuRatios: v.cpuRatios,
        cpuRatioMedian: v.cpuRatioMedian,
        cpuTargetMet: v.cpuTargetMet,
        aboveIdleRatios: v.aboveIdleRatios,
        aboveIdleRatioMedian: v.aboveIdleRatioMedian,
        aboveIdleTargetMet: v.aboveIdleTargetMet,
        loadDelivered: v.loadDelivered,
      },
      notes,
      elapsedS,
      failed,
    });
    process.stdout.write(`JSON: ${file}\n`);
  }
  if (failed) process.exitCode = 1;
  // werift may keep a UDP socket or timer of a closed peer connection alive: the bench is done
  setTimeout(() => process.exit(), 1000).unref();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
