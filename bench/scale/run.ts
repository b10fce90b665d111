/**
 * The scale bench (`node dist/bench/scale/run.js --help`): what the shared Redis directory costs
 * and what `--workers` buys, on loopback.
 *
 *   directory  a gateway with `--directory memory` and one with `--directory redis://`, side by
 *              side; K sessions paired on each, one pair at a time, alternating between them
 *              (CreateSession, customer join): p50/p99 of each step and the time Redis adds
 *              (directory.ts; `--sequential`: one gateway after the other)
 *   footprint  one gateway with Redis; S live paired sessions with chat: Redis bytes and keys per
 *              session, commands and CPU per setup, chat message and teardown (footprint.ts),
 *              then the paper estimate for a large deployment (estimate.ts)
 *   workers    `ferry serve --workers 1` against `--workers 2`, both with Redis, P pairs relaying
 *              SCREEN frames at full speed through the shared port: msgs/s, the gateways' CPU,
 *              the bench's own (workers.ts)
 *
 * Every process it starts (redis-server, gateways) is bound to 127.0.0.1 and stopped at the end,
 * on failure and on Ctrl-C. Rounds interleave the variants (the order alternates per round);
 * cells are median [min–max] over rounds. Results go to bench/results/scale-<time>.json.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { positive } from '../common/args.js';
import { installCleanup, pinElsewhere, pinPlan } from '../common/children.js';
import { describeMachine, machineInfo, repoRoot, writeResult } from '../common/machine.js';
import { waitForQuiet } from '../common/proc.js';
import { table } from '../relay/report.js';
import {
  benchRedis,
  cell,
  fmtBytes,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtSignedMs,
  fmtX,
  runCleanups,
  stat,
} from './common.js';
import {
  type DirectoryMode,
  interleavedRuns,
  type PairingRun,
  pairingRun,
  summarizeRun,
} from './directory.js';
import { type Estimate, estimate } from './estimate.js';
import { type FootprintResult, footprintRun } from './footprint.js';
import { type WorkersRun, workersRun } from './workers.js';

const PARTS = ['directory', 'footprint', 'workers'] as const;
/** A workers run during which other processes took more than this (% of a core) is repeated. */
const NOISY_OTHER_CPU_PCT = 25;
type Part = (typeof PARTS)[number];

const USAGE = `usage: node dist/bench/scale/run.js [options]
  --part <list>          directory, footprint, workers or all (default), comma-separated
  --rounds <n>           rounds of the directory and workers parts (default 3; 1 with --quick)
  --quick                small sizes: K=50, S=200, P=50, 5 s windows, 1 round (a smoke test)
 directory:
  --pairs <K>            sessions paired per run, one after another (default 300)
  --warmup-pairs <n>     paired first and not counted (default 20)
  --interval <ms>        start a pair every <ms> (default: each as soon as the last is done)
  --set <key=value>      gateway config override for both directory gateways (repeatable;
                         e.g. --set journal=off to see what the journal adds)
  --sequential           pair on the memory gateway, then on the Redis one (the order alternates
                         per round), instead of alternating pair by pair
  --cpu-prof             run the directory part's gateways under --cpu-prof
                         (bench/results/profiles/scale-<mode>-*.cpuprofile)
  --no-pin               do not pin the gateway to the first CPU and redis-server and this
                         process to the others (taskset) while pairing
 footprint:
  --sessions <S>         live paired sessions (default 1000)
  --chats <n>            chat messages per session (default 4)
  --chat-bytes <n>       characters per chat message (default 64)
  --monitor-sessions <n> sessions of the MONITOR sample (default 20)
 workers:
  --workers <list>       worker counts to compare (default 1,2)
  --load-pairs <P>       pairs relaying at once (default 100)
  --duration <s>         measured window (default 10)
  --size <bytes>         SCREEN frame size (default 1024)
  --window <n>           frames in flight per pair (default 16: 1.6 MiB in flight over 100
                         pairs; with 64, one process's queues grow and the per-message CPU of
                         gateway and generator alike triples on loopback)
  --gen-threads <n>      load generator threads in this process (default: the CPU count, 2 max)
 estimate (printed after the footprint part):
  --est-gateways <n>     (default 100)   --est-sessions <n>     (default 1000000)
  --est-setup-rate <n>   new sessions/s (default 1000)
  --est-chat-per-min <n> chat messages per session per minute (default 1)
  --no-json              do not write bench/results/scale-*.json`;

interface Options {
  parts: Part[];
  rounds: number;
  quick: boolean;
  pairs: number;
  warmupPairs: number;
  intervalMs: number;
  sequential: boolean;
  sets: Record<string, string>;
  cpuProf: boolean;
  noPin: boolean;
  sessions: number;
  chats: number;
  chatBytes: number;
  monitorSessions: number;
  workers: number[];
  loadPairs: number;
  durationS: number;
  size: number;
  window: number;
  genThreads: number;
  est: { gateways: number; sessions: number; setupPerSec: number; chatPerSessionPerMin: number };
  json: boolean;
}

/** `--set key=value` arguments as config overrides. */
function parseSets(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of pairs) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set needs key=value, got "${kv}"`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      part: { type: 'string', default: 'all' },
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      pairs: { type: 'string' },
      'warmup-pairs': { type: 'string' },
      interval: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      sessions: { type: 'string' },
      chats: { type: 'string' },
      'chat-bytes': { type: 'string' },
      'monitor-sessions': { type: 'string' },
      workers: { type: 'string', default: '1,2' },
      'load-pairs': { type: 'string' },
      duration: { type: 'string' },
      size: { type: 'string' },
      window: { type: 'string' },
      'gen-threads': { type: 'string' },
      'est-gateways': { type: 'string' },
      'est-sessions': { type: 'string' },
      'est-setup-rate': { type: 'string' },
      'est-chat-per-min': { type: 'string' },
      'no-json': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
      sequential: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const parts =
    values.part === 'all'
      ? [...PARTS]
      : values.part.split(',').map((p) => {
          const name = p.trim();
          if (!(PARTS as readonly string[]).includes(name)) throw new Error(`unknown part "${p}"`);
          return name as Part;
        });
  const q = values.quick;
  const int = (name: string, raw: string | undefined, fallback: number) =>
    Math.round(positive(name, raw, fallback));
  const workers = values.workers.split(',').map((w) => int('workers', w, 1));
  return {
    parts,
    rounds: int('rounds', values.rounds, q ? 1 : 3),
    quick: q,
    pairs: int('pairs', values.pairs, q ? 50 : 300),
    warmupPairs: int('warmup-pairs', values['warmup-pairs'], q ? 10 : 20),
    intervalMs: positive('interval', values.interval, 0),
    cpuProf: values['cpu-prof'],
    noPin: values['no-pin'],
    sequential: values.sequential,
    sets: parseSets(values.set ?? []),
    sessions: int('sessions', values.sessions, q ? 200 : 1000),
    chats: int('chats', values.chats, 4),
    chatBytes: int('chat-bytes', values['chat-bytes'], 64),
    monitorSessions: int('monitor-sessions', values['monitor-sessions'], q ? 10 : 20),
    workers,
    loadPairs: int('load-pairs', values['load-pairs'], q ? 50 : 100),
    durationS: positive('duration', values.duration, q ? 5 : 10),
    size: int('size', values.size, 1024),
    window: int('window', values.window, 16),
    genThreads: int('gen-threads', values['gen-threads'], Math.min(2, os.availableParallelism())),
    est: {
      gateways: int('est-gateways', values['est-gateways'], 100),
      sessions: int('est-sessions', values['est-sessions'], 1_000_000),
      setupPerSec: positive('est-setup-rate', values['est-setup-rate'], 1000),
      chatPerSessionPerMin: positive('est-chat-per-min', values['est-chat-per-min'], 1),
    },
    json: !values['no-json'],
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Waits (up to 10 s) for a machine below 10% busy, as the relay bench does; says if it never got there. */
async function quiet(what: string, notes: string[]): Promise<void> {
  const q = await waitForQuiet({ thresholdPct: 10, sampleMs: 500, maxTries: 20 });
  if (!q.quiet) {
    const note = `${what}: started on a busy machine (${q.busyPct.toFixed(0)}% busy after ${q.tries} checks)`;
    notes.push(note);
    log(note);
  }
}

// --- part 1 ----------------------------------------------------------------------------------

interface DirectorySummary {
  readonly rows: string[][];
  readonly addedP50: number[];
  readonly addedP99: number[];
  readonly meetsTarget: boolean;
}

function directoryReport(runs: readonly PairingRun[], rounds: number): DirectorySummary {
  const by = (mode: DirectoryMode) => runs.filter((r) => r.mode === mode);
  const sums = (mode: DirectoryMode) => by(mode).map((r) => ({ run: r, s: summarizeRun(r) }));
  const mem = sums('memory');
  const red = sums('redis');
  const row = (
    label: string,
    get: (x: { run: PairingRun; s: ReturnType<typeof summarizeRun> }) => number,
    fmt = fmtMs,
  ) => [label, cell(mem.map(get), fmt), cell(red.map(get), fmt)];
  const addedP50: number[] = [];
  const addedP99: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const m = mem.find((x) => x.run.round === round);
    const r = red.find((x) => x.run.round === round);
    if (m === undefined || r === undefined) continue;
    addedP50.push(r.s.p50.total - m.s.p50.total);
    addedP99.push(r.s.p99.total - m.s.p99.total);
  }
  const perPair = (x: { run: PairingRun }) =>
    x.run.gatewayCpuMs === null ? Number.NaN : (x.run.gatewayCpuMs * 1000) / x.run.pairs;
  const rows: string[][] = [
    ['metric (ms unless said)', 'memory', 'redis://'],
    row('↓ createSession p50', (x) => x.s.p50.create),
    row('↓ createSession p99', (x) => x.s.p99.create),
    row('↓ customer join p50', (x) => x.s.p50.join),
    row('↓ customer join p99', (x) => x.s.p99.join),
    row('↓ create + join p50', (x) => x.s.p50.total),
    row('↓ create + join p99', (x) => x.s.p99.total),
    row('  technician connect p50', (x) => x.s.p50.techConnect),
    row('  gateway CPU µs/pair', perPair, (v) => `${v.toFixed(0)} µs`),
    [
      '  Redis commands/pair',
      '–',
      cell(
        red.map((x) => (x.run.redisCalls ?? Number.NaN) / x.run.pairs),
        (v) => v.toFixed(1),
      ),
    ],
    [
      '  Redis CPU µs/pair',
      '–',
      cell(
        red.map((x) => ((x.run.redisCpuMs ?? Number.NaN) * 1000) / x.run.pairs),
        (v) => `${v.toFixed(0)} µs`,
      ),
    ],
  ];
  const p50 = stat(addedP50);
  const p99 = stat(addedP99);
  const meetsTarget = p50 !== null && p99 !== null && p50.median <= 2 && p99.median <= 2;
  return { rows, addedP50, addedP99, meetsTarget };
}

// --- part 2 ----------------------------------------------------------------------------------

function footprintReport(f: FootprintResult): string {
  const out: string[] = [];
  const S = f.sessions;
  out.push(
    `live: ${S} paired sessions (ACTIVE), ${f.chats} chat messages of ${f.chatBytes} characters each; baseline (gateway registered, no session) ${fmtBytes(f.baseline.usedMemory)}, ${f.baseline.keys} keys`,
  );
  out.push(
    `used_memory per live session: ${fmtNum(f.live.bytesPerSession)} B; keys per live session: ${f.live.keysPerSession.toFixed(2)} (DBSIZE ${f.live.keys})`,
  );
  const kindRows = [['key kind', 'keys', 'per session', 'MEMORY USAGE avg']];
  for (const [kind, k] of Object.entries(f.live.byKind).sort()) {
    kindRows.push([kind, String(k.keys), k.perSession.toFixed(3), `${k.avgBytes.toFixed(0)} B`]);
  }
  out.push(table(kindRows));
  const phases = [
    ['per', 'setup (session)', 'chat message', 'teardown (session)'],
    [
      'commands (commandstats, incl. Lua)',
      f.setup.callsPerUnit.toFixed(1),
      f.chat.callsPerUnit.toFixed(2),
      f.teardown.callsPerUnit.toFixed(1),
    ],
    [
      'commands the gateway sent (MONITOR)',
      f.monitor.setup.clientCommands.toFixed(1),
      f.monitor.chat.clientCommands.toFixed(2),
      f.monitor.teardown.clientCommands.toFixed(1),
    ],
    [
      'round trips (MULTI…EXEC = 1)',
      f.monitor.setup.roundTrips.toFixed(1),
      f.monitor.chat.roundTrips.toFixed(2),
      f.monitor.teardown.roundTrips.toFixed(1),
    ],
    [
      'commands run inside Lua (MONITOR)',
      f.monitor.setup.luaCommands.toFixed(1),
      f.monitor.chat.luaCommands.toFixed(2),
      f.monitor.teardown.luaCommands.toFixed(1),
    ],
    [
      'Redis main-thread CPU',
      `${f.setup.cpuUsPerUnit.toFixed(0)} µs`,
      `${f.chat.cpuUsPerUnit.toFixed(0)} µs`,
      `${f.teardown.cpuUsPerUnit.toFixed(0)} µs`,
    ],
    [
      'used_memory change',
      `${fmtNum(f.setup.bytesPerUnit)} B`,
      `${fmtNum(f.chat.bytesPerUnit)} B`,
      `${fmtNum(f.teardown.bytesPerUnit)} B`,
    ],
    [
      'keys change',
      f.setup.keysPerUnit.toFixed(2),
      f.chat.keysPerUnit.toFixed(3),
      f.teardown.keysPerUnit.toFixed(2),
    ],
  ];
  out.push(
    `\nper unit, Redis' idle rate taken off (${f.idle.callsPerSec.toFixed(1)} commands/s, ${f.idle.cpuMsPerSec.toFixed(2)} ms CPU/s with one gateway):`,
  );
  out.push(table(phases));
  const mix = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
  out.push(`MONITOR sample (${f.monitor.sessions} sessions), per session or message:`);
  out.push(`  setup: ${mix(f.monitor.setup.byCommand)}`);
  out.push(`  chat: ${mix(f.monitor.chat.byCommand)}`);
  out.push(`  teardown: ${mix(f.monitor.teardown.byCommand)}`);
  const left = Object.entries(f.afterTeardown.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out.push(
    `after every session ended: ${f.afterTeardown.keys} keys beyond the baseline${left === '' ? '' : ` (${left})`}`,
  );
  return out.join('\n');
}

// --- part 3 ----------------------------------------------------------------------------------

function workersReport(
  runs: readonly WorkersRun[],
  counts: readonly number[],
  rounds: number,
): {
  text: string;
  ratios: number[];
} {
  const of = (n: number) => runs.filter((r) => r.workers === n);
  const num = (v: number | null) => (v === null ? Number.NaN : v);
  const benchUs = (r: WorkersRun) =>
    r.msgsPerSec > 0 ? (r.benchCpuPct * 1e4) / r.msgsPerSec : Number.NaN;
  const metrics: [string, (r: WorkersRun) => number, (v: number) => string][] = [
    ['↑ msgs/s (delivered)', (r) => r.msgsPerSec, fmtNum],
    ['↑ MB/s', (r) => r.mbPerSec, (v) => v.toFixed(1)],
    ['  gateway CPU (sum)', (r) => num(r.gatewayCpuPct), fmtPct],
    [
      '  gateway CPU per process',
      (r) => Math.max(...r.gatewayCpuPctEach.map(num)),
      (v) => `≤${v.toFixed(0)}%`,
    ],
    ['↓ gateway µs/msg', (r) => num(r.gatewayUsPerMsg), (v) => v.toFixed(2)],
    ['  bench µs/msg', benchUs, (v) => v.toFixed(2)],
    ['  supervisor CPU', (r) => num(r.supervisorCpuPct ?? 0), fmtPct],
    ['  bench (load generator) CPU', (r) => r.benchCpuPct, fmtPct],
    ['  Redis CPU', (r) => r.redisCpuPct, fmtPct],
    ['  irq/softirq CPU', (r) => num(r.irqCpuPct), fmtPct],
    ['  other CPU', (r) => num(r.otherCpuPct), fmtPct],
    ['  machine busy', (r) => num(r.machineBusyPct), fmtPct],
    ['↓ one-way p50', (r) => r.latency.p50Us / 1000, fmtMs],
    ['↓ one-way p99', (r) => r.latency.p99Us / 1000, fmtMs],
    ['  customers redirected', (r) => r.redirected, (v) => v.toFixed(0)],
    ['  stalled windows', (r) => r.stalls, (v) => v.toFixed(0)],
  ];
  const rows: string[][] = [['metric', ...counts.map((n) => `workers ${n}`)]];
  for (const [label, get, fmt] of metrics)
    rows.push([label, ...counts.map((n) => cell(of(n).map(get), fmt))]);
  const spread = counts.map((n) =>
    of(n)
      .map((r) =>
        Object.values(r.pairsByGateway)
          .sort((a, b) => b - a)
          .join('/'),
      )
      .join(', '),
  );
  rows.push(['  pairs per gateway (by round)', ...spread]);
  const ratios: number[] = [];
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  for (let round = 1; round <= rounds; round++) {
    const a = runs.find((r) => r.workers === lo && r.round === round);
    const b = runs.find((r) => r.workers === hi && r.round === round);
    if (a !== undefined && b !== undefined && a.msgsPerSec > 0)
      ratios.push(b.msgsPerSec / a.msgsPerSec);
  }
  // what these 2 shared cores allow at the measured per-message costs (irq and Redis left out)
  const median = (values: number[]) => stat(values.filter(Number.isFinite))?.median ?? Number.NaN;
  const gwLo = median(of(lo).map((r) => num(r.gatewayUsPerMsg)));
  const gwHi = median(of(hi).map((r) => num(r.gatewayUsPerMsg)));
  const genHi = median(of(hi).map(benchUs));
  const msgsLo = median(of(lo).map((r) => r.msgsPerSec));
  const cores = os.availableParallelism();
  const shared = (cores * 1e6) / (gwHi + genHi);
  const dedicated = (hi * 1e6) / gwHi;
  const single = 1e6 / gwLo;
  const notes = [
    `ceiling with gateways and generator sharing ${cores} cores: ${cores} × 10^6 / (${gwHi.toFixed(2)} + ${genHi.toFixed(2)} µs/msg) = ${fmtNum(shared)} msgs/s = ${fmtX(shared / msgsLo)} the measured workers ${lo}`,
    `with a core per worker and the generator elsewhere: ${hi} × 10^6 / ${gwHi.toFixed(2)} µs/msg = ${fmtNum(dedicated)} msgs/s against 10^6 / ${gwLo.toFixed(2)} = ${fmtNum(single)} for one saturated worker (${fmtX(dedicated / single)})`,
  ];
  return { text: `${table(rows)}\n${notes.join('\n')}`, ratios };
}

// --- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  installCleanup();
  const onSignal = (signal: NodeJS.Signals) => {
    void runCleanups().finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const machine = machineInfo();
  log(describeMachine(machine));
  const started = Date.now();
  const out: string[] = [];
  const saved: Record<string, unknown> = {
    machine,
    command: ['node', 'dist/bench/scale/run.js', ...process.argv.slice(2)],
    options,
  };
  let failed = false;
  const notes: string[] = [];
  try {
    const redis = await benchRedis();
    log(`redis-server ${redis.version} on 127.0.0.1:${redis.port}`);
    saved.redisVersion = redis.version;
    out.push(`Ferry scale bench: ${describeMachine(machine)}`);
    out.push(
      `command: node dist/bench/scale/run.js ${process.argv.slice(2).join(' ')}`.trimEnd() +
        `\nredis-server ${redis.version} (loopback); cells: median [min–max] over rounds`,
    );

    if (options.parts.includes('directory')) {
      // the gateway alone on one CPU, redis-server and the clients (this process) on the others,
      // as the relay bench pins its target: the tail then measures the gateway, not who ran
      const pin = pinPlan(options.noPin);
      const unpin = pinElsewhere(pin, [process.pid, redis.pid]);
      log(`directory: ${pin.reason}`);
      const runs: PairingRun[] = [];
      const profile = (mode: DirectoryMode, round: number) =>
        options.cpuProf
          ? [
              '--cpu-prof',
              `--cpu-prof-dir=${path.join(repoRoot(), 'bench', 'results', 'profiles')}`,
              `--cpu-prof-name=scale-${mode}-${round}-${process.pid}.cpuprofile`,
            ]
          : [];
      const logRun = (run: PairingRun) => {
        const s = summarizeRun(run);
        log(
          `directory round ${run.round} ${run.mode.padEnd(6)}: create p50/p99 ${fmtMs(s.p50.create)}/${fmtMs(s.p99.create)}, join ${fmtMs(s.p50.join)}/${fmtMs(s.p99.join)}, total ${fmtMs(s.p50.total)}/${fmtMs(s.p99.total)}`,
        );
        runs.push(run);
      };
      for (let round = 1; round <= options.rounds; round++) {
        if (!options.sequential) {
          await quiet(`directory round ${round}`, notes);
          const both = await interleavedRuns(
            round,
            options.pairs,
            options.warmupPairs,
            redis,
            (mode) => profile(mode, round),
            pin.targetCpus,
            options.intervalMs,
            options.sets,
          );
          for (const run of both) logRun(run);
          continue;
        }
        const order: DirectoryMode[] = round % 2 === 1 ? ['memory', 'redis'] : ['redis', 'memory'];
        for (const mode of order) {
          await quiet(`directory round ${round} ${mode}`, notes);
          logRun(
            await pairingRun(
              mode,
              round,
              options.pairs,
              options.warmupPairs,
              redis,
              profile(mode, round),
              pin.targetCpus,
              options.intervalMs,
              options.sets,
            ),
          );
        }
      }
      unpin();
      const d = directoryReport(runs, options.rounds);
      out.push(`\ndirectory: ${pin.reason}${pin.pinned ? ' (redis-server and the clients)' : ''}`);
      out.push(
        `\n== directory: ${options.pairs} sessions paired one after another on each gateway, ${options.sequential ? 'one gateway after the other' : 'both gateways side by side, alternating pair by pair'} (${options.warmupPairs} warm-up pairs not counted), ${options.rounds} round(s)\n${table(d.rows)}`,
      );
      out.push(
        `added by Redis (redis − memory, create + join, per round): p50 ${cell(d.addedP50, fmtSignedMs)}, p99 ${cell(d.addedP99, fmtSignedMs)}; target ≤ 2 ms both: ${d.meetsTarget ? 'met' : 'NOT met'}`,
      );
      saved.directory = {
        runs: runs.map((r) => ({ ...r, summary: summarizeRun(r) })),
        addedP50: d.addedP50,
        addedP99: d.addedP99,
        meetsTarget: d.meetsTarget,
      };
    }

    if (options.parts.includes('footprint')) {
      await quiet('footprint', notes);
      log(`footprint: ${options.sessions} sessions, ${options.chats} chats each`);
      const f = await footprintRun(
        {
          sessions: options.sessions,
          chats: options.chats,
          chatBytes: options.chatBytes,
          concurrency: 16,
          idleS: 3,
          monitorSessions: options.monitorSessions,
        },
        redis,
        log,
      );
      out.push(
        `\n== footprint: Redis with ${options.sessions} live sessions on one gateway\n${footprintReport(f)}`,
      );
      const e: Estimate = estimate(f, options.est);
      out.push(
        `\n== paper estimate (from the footprint above)\n${e.lines.map((l) => `- ${l}`).join('\n')}`,
      );
      saved.footprint = f;
      saved.estimate = e;
    }

    if (options.parts.includes('workers')) {
      const runs: WorkersRun[] = [];
      const counts = options.workers;
      for (let round = 1; round <= options.rounds; round++) {
        const order = round % 2 === 1 ? counts : [...counts].reverse();
        for (const n of order) {
          const measure = async () => {
            await quiet(`workers round ${round} n=${n}`, notes);
            return workersRun(
              n,
              round,
              {
                pairs: options.loadPairs,
                durationS: options.durationS,
                warmupS: 2,
                size: options.size,
                window: options.window,
                genThreads: options.genThreads,
              },
              redis,
            );
          };
          let run = await measure();
          // as the relay bench: a run during which other processes took a quarter of a core is
          // repeated once, and the cleaner one kept
          if ((run.otherCpuPct ?? 0) > NOISY_OTHER_CPU_PCT) {
            log(
              `workers round ${round} n=${n}: other processes took ${fmtPct(run.otherCpuPct ?? 0)} CPU, once more`,
            );
            const again = await measure();
            if ((again.otherCpuPct ?? 0) < (run.otherCpuPct ?? 0)) run = again;
          }
          log(
            `workers round ${round} n=${n}: ${fmtNum(run.msgsPerSec)} msgs/s, gateways ${fmtPct(run.gatewayCpuPct ?? 0)} CPU (${run.gatewayCpuPctEach.map((v) => fmtPct(v ?? 0)).join(' + ')}), bench ${fmtPct(run.benchCpuPct)}, other ${fmtPct(run.otherCpuPct ?? 0)}, pairs ${JSON.stringify(run.pairsByGateway)}, redirected ${run.redirected}`,
          );
          runs.push(run);
        }
      }
      const w = workersReport(runs, counts, options.rounds);
      out.push(
        `\n== workers: ${options.loadPairs} pairs through the shared port, ${options.size} B SCREEN frames, window ${options.window} per pair, ${options.durationS} s windows, ${options.genThreads} load generator thread(s) in this process; ${os.availableParallelism()} CPUs shared by gateways, generator and Redis\n${w.text}`,
      );
      out.push(
        `workers ${Math.max(...counts)} / workers ${Math.min(...counts)} msgs/s (per round): ${cell(w.ratios, fmtX)}; issue target ≥ 1.70x on 2 cores`,
      );
      saved.workers = { runs, ratios: w.ratios };
    }
  } catch (err) {
    failed = true;
    out.push(`\nFAILED: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await runCleanups();
  }
  const elapsedS = (Date.now() - started) / 1000;
  if (notes.length > 0) out.push(`\nnotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);
  out.push(`\n${elapsedS.toFixed(0)} s`);
  saved.notes = notes;
  process.stdout.write(`${out.join('\n')}\n`);
  saved.elapsedS = elapsedS;
  saved.failed = failed;
  if (options.json) {
    const file = writeResult('scale', saved);
    process.stdout.write(`JSON: ${file}\n`);
  }
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
