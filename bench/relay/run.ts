/**
 * The relay bench runner (`npm run bench`, `node dist/bench/relay/run.js --help`).
 *
 * For every round, scenario and target it starts the target process (pinned to one CPU), then a
 * generator process (pinned to the others), collects the generator's result and stops both.
 * Targets run interleaved (the order rotates per round and scenario) so that drift on the
 * machine hits all three alike; before each round it waits for a quiet machine (/proc/stat), and
 * a measurement during which other processes took a lot of CPU, the hypervisor stole it, or the
 * fleet generator fell behind its own schedule, is retried once (the cleaner run is kept). It prints one
 * table per scenario (median [min–max] over rounds, ratios Ferry/bare and Ferry/ws) and the
 * targets of issues 5 and 18 (with what the rounds say), and writes everything, headed by the
 * machine, to bench/results/relay-*.json.
 * TLS scenarios (`-tls`) run Ferry and the bare relay on one bench certificate (tls.ts); the
 * report then adds Ferry TLS/plain against each plain twin, and the cipher the targets agreed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { positive } from '../common/args.js';
import {
  type Child,
  installCleanup,
  type PinPlan,
  pinPlan,
  spawnChild,
} from '../common/children.js';
import { ferryEnv, ferryEnvText } from '../common/launch-env.js';
import {
  describeMachine,
  fdLimits,
  machineInfo,
  repoRoot,
  writeResult,
} from '../common/machine.js';
import { type QuietCheck, waitForQuiet } from '../common/proc.js';
import {
  compareReport,
  compareResults,
  describeSaved,
  type SavedResult,
  timingNotes,
} from './compare.js';
import {
  checksTable,
  checkTargets,
  fmtCount,
  fmtUs,
  type RunResult,
  scenarioTable,
  summarize,
  type TargetStats,
  tlsTable,
} from './report.js';
import {
  defaultTiming,
  type GeneratorSpec,
  plainTwin,
  type Scenario,
  selectScenarios,
  TARGET_NAMES,
  type TargetInfo,
  type TargetName,
  type Timing,
  TLS_TARGET_NAMES,
} from './scenarios.js';
import {
  type BenchCertificate,
  disposeBenchCertificate,
  makeBenchCertificate,
  type Negotiated,
  probeTls,
} from './tls.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** A run is repeated once when other processes took more than this share of a core ... */
const NOISY_OTHER_CPU_PCT = 25;
/** ... or the hypervisor stole more than this (a stolen CPU stalls whichever process it ran) ... */
const NOISY_STEAL_PCT = 10;
/**
 * ... or, in the fleet scenario, the generator fell behind its own send schedule by more than
 * this many ms in all (its event loop stalled: the frames it received meanwhile were timed late,
 * whichever target it measured). The bare relay's runs fall 40-70 ms behind on this VM.
 */
const NOISY_LATE_MS = 200;

function noise(r: RunResult): string {
  const other = Number(r.otherCpuPct ?? 0);
  const steal = Number(r.stealCpuPct ?? 0);
  const late = Number(r.lateSlots ?? 0);
  if (other > NOISY_OTHER_CPU_PCT) return `other processes took ${other.toFixed(0)}% CPU`;
  if (steal > NOISY_STEAL_PCT) return `the hypervisor stole ${steal.toFixed(0)}% CPU`;
  if (late > NOISY_LATE_MS) return `the generator fell ${late.toFixed(0)} ms behind its schedule`;
  return '';
}

/** Which of two runs is cleaner: less CPU taken from them, then less generator lateness. */
function noiseLevel(r: RunResult): number {
  const late = Math.min(1, Number(r.lateSlots ?? 0) / NOISY_LATE_MS);
  return Number(r.otherCpuPct ?? 0) + Number(r.stealCpuPct ?? 0) + 10 * late;
}

const USAGE = `usage: node dist/bench/relay/run.js [options]
  --scenario <list>   all (default), a kind (throughput, pingpong, fleet, churn: plain only),
                      tls (throughput-64-tls, throughput-64k-tls, churn-tls: Ferry and
                      bare-uws over wss://, one certificate), a name (throughput-64,
                      pingpong-1k, fleet-1000, churn-tls, ...) or a comma list
  --rounds <n>        rounds per target (default 3; 1 with --quick)
  --duration <s>      measured window per run, seconds (default 3, fleet 4)
  --quick             tiny warm-up/window/drain: a smoke test of every path, not a measurement
  --targets <list>    subset of ferry,bare-uws,naive-ws
  --workers <n>       generator worker threads (default: the CPUs left to the generator, max 4)
  --no-pin            do not pin target and generator with taskset
  --quiet-pct <p>     a machine is quiet below p% busy over 500 ms (default 10)
  --quiet-tries <n>   quiet checks before a round starts anyway (default 20, 4 with --quick;
                      recorded)
  --ferry-set k=v     gateway config override for the Ferry target (repeatable)
  --ferry-env K=V     environment variable of the Ferry target (repeatable), over its launch
                      environment (src/cli/node-flags.ts); K= removes K, e.g. --ferry-env
                      MALLOC_ARENA_MAX= measures glibc's default
  --no-json           do not write bench/results/relay-*.json
  --cpu-prof          run the Ferry target under --cpu-prof (bench/results/profiles/*.cpuprofile)
  --node-flag <flag>  a Node/V8 flag for every target process alike (repeatable), e.g.
                      --node-flag=--max-semi-space-size=2; Ferry also gets its launch flags
                      (src/cli/node-flags.ts) that these do not set
  --compare <file>    after the run, compare it with a saved result (old/new median [min–max],
                      Δ%, and "within noise" when the ranges overlap, else better/worse)
  --compare-only <old.json> <new.json>
                      compare two saved results and exit, running nothing`;

interface Options {
  scenarios: Scenario[];
  rounds: number;
  durationS: number | undefined;
  quick: boolean;
  targets: TargetName[];
  workers: number | undefined;
  pin: boolean;
  quietPct: number;
  quietTries: number;
  ferrySets: string[];
  ferryEnv: string[];
  json: boolean;
  cpuProf: boolean;
  nodeFlags: string[];
  compare: string | undefined;
  compareOnly: [string, string] | undefined;
}

function parseOptions(argv: string[]): Options | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      scenario: { type: 'string', default: 'all' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      quick: { type: 'boolean', default: false },
      targets: { type: 'string', default: TARGET_NAMES.join(',') },
      workers: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'quiet-pct': { type: 'string' },
      'quiet-tries': { type: 'string' },
      'ferry-set': { type: 'string', multiple: true },
      'ferry-env': { type: 'string', multiple: true },
      'no-json': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'node-flag': { type: 'string', multiple: true },
      compare: { type: 'string' },
      'compare-only': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const compareOnly = values['compare-only'];
  if (positionals.length !== (compareOnly === undefined ? 0 : 1))
    throw new Error(
      compareOnly === undefined
        ? `unexpected argument "${positionals[0]}"`
        : '--compare-only takes two files: <old.json> <new.json>',
    );
  const targets = values.targets.split(',').map((t) => t.trim());
  for (const t of targets) {
    if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`unknown target "${t}"`);
  }
  return {
    scenarios: selectScenarios(values.scenario),
    rounds: Math.round(positive('rounds', values.rounds, values.quick ? 1 : 3)!),
    durationS: positive('duration', values.duration, undefined),
    quick: values.quick,
    targets: targets as TargetName[],
    workers: positive('workers', values.workers, undefined),
    pin: !values['no-pin'],
    quietPct: positive('quiet-pct', values['quiet-pct'], 10)!,
    quietTries: Math.round(positive('quiet-tries', values['quiet-tries'], values.quick ? 4 : 20)!),
    ferrySets: values['ferry-set'] ?? [],
    ferryEnv: values['ferry-env'] ?? [],
    json: !values['no-json'],
    cpuProf: values['cpu-prof'],
    nodeFlags: values['node-flag'] ?? [],
    compare: values.compare,
    compareOnly: compareOnly === undefined ? undefined : [compareOnly, positionals[0]!],
  };
}

interface RunRecord {
  readonly round: number;
  readonly scenario: string;
  readonly target: TargetName;
  readonly order: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly retried: boolean;
  readonly result?: RunResult;
}

function targetArgs(name: TargetName, options: Options, cert: BenchCertificate | null): string[] {
  const args = name === 'ferry' ? options.ferrySets.flatMap((kv) => ['--set', kv]) : [];
  if (cert === null) return args;
  if (name === 'ferry') args.push('--set', `tlsCert=${cert.cert}`, '--set', `tlsKey=${cert.key}`);
  else args.push('--tls-cert', cert.cert, '--tls-key', cert.key);
  return args;
}

/** The targets a scenario runs on: TLS scenarios only on the targets that serve TLS. */
function scenarioTargets(scenario: Scenario, options: Options): TargetName[] {
  return scenario.tls
    ? options.targets.filter((t) => TLS_TARGET_NAMES.includes(t))
    : options.targets;
}

async function measureOnce(
  scenario: Scenario,
  name: TargetName,
  timing: Timing,
  plan: PinPlan,
  workers: number,
  options: Options,
  cert: BenchCertificate | null,
): Promise<RunResult> {
  const script = path.join(HERE, 'targets', `${name}.js`);
  // Ferry runs with its launch flags (src/cli/node-flags.ts), as `ferry serve` does
  const nodeArgs = name === 'ferry' ? gatewayNodeFlags(options.nodeFlags) : [...options.nodeFlags];
  if (options.cpuProf && name === 'ferry') {
    nodeArgs.push(
      '--cpu-prof',
      `--cpu-prof-dir=${path.join(repoRoot(), 'bench', 'results', 'profiles')}`,
    );
  }
  const target = spawnChild(
    name,
    script,
    targetArgs(name, options, cert),
    plan.targetCpus,
    nodeArgs,
    name === 'ferry' ? ferryEnv(options.ferryEnv) : process.env,
  );
  let generator: Child | null = null;
  try {
    const line = await target.next('target', 20_000);
    const info: TargetInfo = {
      name,
      pid: Number(line.pid),
      port: Number(line.port),
      path: String(line.path),
      secret: typeof line.secret === 'string' ? line.secret : '',
      ...(cert === null ? {} : { tls: { caFile: cert.caFile, servername: cert.servername } }),
    };
    // one verified handshake before the run, outside it: what the generator's clients agree on
    const negotiated: Negotiated | null =
      cert === null ? null : await probeTls(info.port, info.tls!);
    const spec: GeneratorSpec = { scenario, target: info, timing, workers };
    generator = spawnChild(
      'generator',
      path.join(HERE, 'generator.js'),
      ['--spec', JSON.stringify(spec)],
      plan.generatorCpus,
    );
    const budgetMs =
      60_000 +
      timing.idleMs +
      timing.warmupMs +
      timing.durationMs +
      timing.drainMs +
      scenario.pairs * 20;
    const result = (await generator.next('result', budgetMs)) as unknown as RunResult;
    if (!target.running) throw new Error(`${name} exited during the run\n${target.tail}`);
    return negotiated === null ? result : { ...result, tls: negotiated };
  } finally {
    await generator?.stop();
    await target.stop();
  }
}

function describe(r: RunResult, kind: Scenario['kind']): string {
  const cpu =
    `target CPU ${Number(r.targetCpuPct ?? 0).toFixed(0)}%, gen ${Number(r.genCpuPct ?? 0).toFixed(0)}%, ` +
    `other ${Number(r.otherCpuPct ?? 0).toFixed(0)}%, steal ${Number(r.stealCpuPct ?? 0).toFixed(0)}%`;
  if (kind === 'churn') {
    return `${fmtCount(Number(r.sessionsPerSec))} sessions/s, setup p99 ${fmtUs(r.setupLatency.p99Us)}, ${cpu}`;
  }
  return `${fmtCount(Number(r.msgsPerSec))} msgs/s, p99 ${fmtUs(r.latency.p99Us)}, dropped ${r.dropped}, ${cpu}`;
}

function readSaved(file: string): SavedResult {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SavedResult;
}

function comparison(oldFile: string, old: SavedResult, newFile: string, now: SavedResult): string {
  return (
    `== compare: median [min–max] over rounds; ranges overlap = within noise, else better/worse\n` +
    `${describeSaved('old', oldFile, old)}\n${describeSaved('new', newFile, now)}\n\n` +
    compareReport(compareResults(old, now), timingNotes(old, now))
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (options.compareOnly !== undefined) {
    const [oldFile, newFile] = options.compareOnly;
    process.stdout.write(
      `${comparison(oldFile, readSaved(oldFile), newFile, readSaved(newFile))}\n`,
    );
    return;
  }
  // read it before the run: a bad path should fail now, not after ten minutes
  const compareWith = options.compare === undefined ? null : readSaved(options.compare);
  installCleanup();
  const machine = machineInfo();
  const plan = pinPlan(!options.pin);
  const workers = Math.max(1, Math.min(4, Math.round(options.workers ?? plan.generatorCores)));
  const largest = Math.max(...options.scenarios.map((s) => (s.kind === 'churn' ? 64 : s.pairs)));
  const fds = fdLimits();
  const fdWarning =
    fds.soft > 0 && fds.soft < largest * 2 + 256
      ? `ulimit -n is ${fds.soft}: ${largest} pairs need about ${largest * 2 + 256} descriptors per process; raise it (ulimit -n ${Math.min(fds.hard, 65536)}) or expect setup errors`
      : '';
  process.stderr.write(
    `${describeMachine(machine)}\npinning: ${plan.reason}; generator workers: ${workers}\n`,
  );
  if (fdWarning !== '') process.stderr.write(`warning: ${fdWarning}\n`);

  const cert = options.scenarios.some((s) => s.tls) ? makeBenchCertificate() : null;
  if (cert !== null) process.on('exit', () => disposeBenchCertificate(cert));
  const records: RunRecord[] = [];
  const quietChecks: (QuietCheck & { round: number })[] = [];
  const startedAt = Date.now();
  for (let round = 1; round <= options.rounds; round++) {
    const quiet = await waitForQuiet({
      thresholdPct: options.quietPct,
      sampleMs: 500,
      maxTries: options.quietTries,
    });
    quietChecks.push({ ...quiet, round });
    process.stderr.write(
      `round ${round}/${options.rounds}: machine ${quiet.quiet ? 'quiet' : 'NOT quiet'} (${quiet.busyPct.toFixed(0)}% busy after ${quiet.tries} check(s))\n`,
    );
    for (const [si, scenario] of options.scenarios.entries()) {
      const timing = defaultTiming(scenario.kind, options.quick, options.durationS);
      const targets = scenarioTargets(scenario, options);
      const shift = (round - 1 + si) % Math.max(1, targets.length);
      const order = [...targets.slice(shift), ...targets.slice(0, shift)];
      const scenarioCert = scenario.tls ? cert : null;
      for (const [oi, name] of order.entries()) {
        const label = `  ${scenario.name} ${name}`.padEnd(28);
        let record: RunRecord;
        try {
          let result = await measureOnce(
            scenario,
            name,
            timing,
            plan,
            workers,
            options,
            scenarioCert,
          );
          let retried = false;
          // --quick is a smoke test of every path: a noisy machine is not worth a second run
          const why = options.quick ? '' : noise(result);
          if (why !== '') {
            process.stderr.write(`${label} ${why}: retrying once\n`);
            await waitForQuiet({
              thresholdPct: options.quietPct,
              sampleMs: 500,
              maxTries: options.quietTries,
            });
            const again = await measureOnce(
              scenario,
              name,
              timing,
              plan,
              workers,
              options,
              scenarioCert,
            );
            retried = true;
            if (noiseLevel(again) < noiseLevel(result)) result = again;
          }
          record = {
            round,
            scenario: scenario.name,
            target: name,
            order: oi,
            ok: true,
            retried,
            result,
          };
          process.stderr.write(`${label} ${describe(result, scenario.kind)}\n`);
        } catch (err) {
          const message = (err as Error).message;
          record = {
            round,
            scenario: scenario.name,
            target: name,
            order: oi,
            ok: false,
            retried: false,
            error: message,
          };
          process.stderr.write(
            `${label} FAILED: ${message.split('\n').slice(0, 6).join('\n    ')}\n`,
          );
        }
        records.push(record);
      }
    }
  }
  const elapsedS = (Date.now() - startedAt) / 1000;
  if (cert !== null) disposeBenchCertificate(cert);

  const stats: Record<string, Record<string, TargetStats>> = {};
  const out: string[] = [];
  out.push(`Ferry relay bench: ${describeMachine(machine)}`);
  out.push(
    `command: node dist/bench/relay/run.js ${process.argv.slice(2).join(' ')}`.trimEnd() +
      `\n${options.rounds} round(s), ${plan.reason}, ${workers} generator worker(s), ${elapsedS.toFixed(0)} s` +
      `\nnode flags: Ferry ${[...ferryEnvText(options.ferryEnv), ...gatewayNodeFlags(options.nodeFlags)].join(' ')} (its launch flags and environment, src/cli/node-flags.ts); others ${options.nodeFlags.join(' ') || '(none)'}` +
      `\ncells: median [min–max] over rounds; ↑ higher is better, ↓ lower is better`,
  );
  for (const scenario of options.scenarios) {
    stats[scenario.name] = {};
    const targets = scenarioTargets(scenario, options);
    for (const t of targets) {
      const runs = records
        .filter((r) => r.scenario === scenario.name && r.target === t && r.ok)
        .map((r) => r.result!);
      stats[scenario.name]![t] = summarize(scenario.kind, runs);
    }
    const failures = records.filter((r) => r.scenario === scenario.name && !r.ok).length;
    out.push(
      `\n== ${scenario.name}: ${scenario.title}${failures > 0 ? ` (${failures} failed run(s), see JSON)` : ''}\n` +
        scenarioTable(scenario.kind, targets, stats[scenario.name]!),
    );
  }
  const tlsRuns = records.filter((r) => r.ok && r.result?.tls !== undefined);
  const agreed = [
    ...new Set(
      tlsRuns.map((r) => {
        const n = r.result!.tls as Negotiated;
        return `${r.target}: ${n.protocol} ${n.cipher} ${n.group}`;
      }),
    ),
  ];
  const pairs = options.scenarios
    .filter((s) => s.tls && options.scenarios.some((p) => p.name === plainTwin(s)))
    .map((s) => ({ kind: s.kind, tls: s.name, plain: plainTwin(s) }));
  if (pairs.length > 0 || agreed.length > 0) {
    out.push(
      `\n== TLS: each target's medians over TLS against the same scenario in plain text (tls/plain)` +
        `\nnegotiated with the generator's Node client: ${agreed.length > 0 ? agreed.join('; ') : '–'}` +
        (pairs.length > 0
          ? `\n${tlsTable(pairs, scenarioTargets(options.scenarios.find((s) => s.tls)!, options), stats)}`
          : ''),
    );
  }
  const checks = checkTargets((s, t, m) => stats[s]?.[t]?.[m]);
  const checked = checksTable(checks);
  if (checked.includes('\n'))
    out.push(
      `\n== targets of issues 5 and 18 (medians; reported, not asserted${options.quick ? '; --quick: a smoke test, not a measurement' : ''})` +
        `\nrounds: the limit met in all, some or no rounds (a ratio: Ferry's worst and best round against the other target's best and worst)\n${checked}`,
    );
  const notQuiet = quietChecks.filter((q) => !q.quiet).length;
  if (notQuiet > 0)
    out.push(`\nnote: ${notQuiet} round(s) started on a machine that never got quiet`);
  process.stdout.write(`${out.join('\n')}\n`);

  const saved = {
    machine,
    command: ['node', 'dist/bench/relay/run.js', ...process.argv.slice(2)],
    options: { ...options, scenarios: options.scenarios.map((s) => s.name) },
    pinning: plan,
    nodeFlags: { ferry: gatewayNodeFlags(options.nodeFlags), others: options.nodeFlags },
    launchEnv: { ferry: ferryEnvText(options.ferryEnv) },
    generatorWorkers: workers,
    fdWarning,
    elapsedS,
    quietChecks,
    scenarios: options.scenarios.map((s) => ({
      ...s,
      timing: defaultTiming(s.kind, options.quick, options.durationS),
      stats: stats[s.name],
    })),
    targets: checks,
    runs: records,
  };
  let newFile = 'this run';
  if (options.json) {
    const file = writeResult('relay', saved);
    newFile = path.relative(process.cwd(), file);
    process.stdout.write(`\nJSON: ${newFile}\n`);
  }
  if (compareWith !== null) {
    process.stdout.write(
      `\n${comparison(options.compare!, compareWith, newFile, saved as unknown as SavedResult)}\n`,
    );
  }
  if (records.some((r) => !r.ok)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
