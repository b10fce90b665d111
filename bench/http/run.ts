/**
 * The admin-port bench (`npm run bench:http`): autocannon against /healthz, /metrics and
 * /api/v1/status of a real gateway (bench/relay/targets/ferry.ts, pinned to its own CPU), first
 * idle, then while a fleet of 100 pairs relays (the relay generator, fleet-100). A fleet run
 * without scraping is measured too, so the table shows what scraping costs the relay (frame
 * p99, target CPU) next to what each request costs the gateway (CPU µs per request).
 * An endpoint that answers 404 (not built yet) or 401 is reported as such and skipped.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { gatewayEnv, gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { type Child, installCleanup, pinPlan, spawnChild } from '../common/children.js';
import { describeMachine, machineInfo, writeResult } from '../common/machine.js';
import { processCpuMs, processMemory, type QuietCheck, waitForQuiet } from '../common/proc.js';
import { fmtCount, fmtUs, table } from '../relay/report.js';
import { type GeneratorSpec, SCENARIOS } from '../relay/scenarios.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RELAY = path.join(HERE, '..', 'relay');
const ENDPOINTS = ['/healthz', '/metrics', '/api/v1/status'] as const;

interface Probe {
  readonly endpoint: string;
  readonly status: number;
  readonly bytes: number;
  readonly contentType: string;
}

interface Measured {
  readonly phase: 'idle' | 'fleet-100';
  readonly endpoint: string;
  readonly skipped?: string;
  readonly reqPerSec?: number;
  readonly latencyP50Ms?: number;
  readonly latencyP99Ms?: number;
  readonly bytesPerSec?: number;
  readonly requests?: number;
  readonly non2xx?: number;
  readonly errors?: number;
  readonly targetCpuPct?: number;
  /** Target CPU per request, minus the fleet's own share in the fleet phase. */
  readonly cpuUsPerReq?: number;
}

interface Target {
  readonly child: Child;
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number;
  readonly adminToken: string;
  readonly secret: string;
}

async function startTarget(cpus: string): Promise<Target> {
  const child = spawnChild(
    'ferry',
    path.join(RELAY, 'targets', 'ferry.js'),
    [],
    cpus,
    gatewayNodeFlags(),
    gatewayEnv(),
  );
  const line = await child.next('target', 20_000);
  return {
    child,
    pid: Number(line.pid),
    port: Number(line.port),
    adminPort: Number(line.adminPort),
    adminToken: String(line.adminToken),
    secret: String(line.secret),
  };
}

async function probe(target: Target, endpoint: string): Promise<Probe> {
  const res = await fetch(`http://127.0.0.1:${target.adminPort}${endpoint}`, {
    headers: { authorization: `Bearer ${target.adminToken}` },
  });
  const body = await res.arrayBuffer();
  return {
    endpoint,
    status: res.status,
    bytes: body.byteLength,
    contentType: res.headers.get('content-type') ?? '',
  };
}

async function cannon(
  target: Target,
  endpoint: string,
  phase: Measured['phase'],
  durationS: number,
  connections: number,
  baselineCpuPct: number,
): Promise<Measured> {
  const cpu0 = processCpuMs(target.pid);
  const t0 = performance.now();
  const result = await autocannon({
    url: `http://127.0.0.1:${target.adminPort}${endpoint}`,
    connections,
    duration: durationS,
    headers: { authorization: `Bearer ${target.adminToken}` },
  });
  const elapsedMs = performance.now() - t0;
  const cpu1 = processCpuMs(target.pid);
  const cpuMs = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
  const requests = result.requests.total;
  const ownCpuMs = cpuMs === null ? null : Math.max(0, cpuMs - (baselineCpuPct / 100) * elapsedMs);
  return {
    phase,
    endpoint,
    reqPerSec: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    bytesPerSec: result.throughput.average,
    requests,
    non2xx: result.non2xx,
    errors: result.errors,
    targetCpuPct: cpuMs === null ? undefined : (100 * cpuMs) / elapsedMs,
    cpuUsPerReq: ownCpuMs === null || requests === 0 ? undefined : (ownCpuMs * 1000) / requests,
  };
}

/** Starts fleet-100 on the target; resolves once its measured window has opened. */
async function startFleet(target: Target, cpus: string, durationMs: number): Promise<Child> {
  const scenario = SCENARIOS.find((s) => s.name === 'fleet-100')!;
  const spec: GeneratorSpec = {
    scenario,
    target: {
      name: 'ferry',
      pid: target.pid,
      port: target.port,
      path: '/v1/ws',
      secret: target.secret,
    },
    timing: { warmupMs: 1000, durationMs, idleMs: 0, drainMs: 1000 },
    workers: 1,
  };
  const generator = spawnChild(
    'generator',
    path.join(RELAY, 'generator.js'),
    ['--spec', JSON.stringify(spec)],
    cpus,
  );
  await generator.next('measuring', 60_000);
  return generator;
}

interface FleetSummary {
  readonly scraped: boolean;
  readonly msgsPerSec: number;
  readonly p99Us: number;
  readonly targetCpuPct: number;
}

function fleetSummary(result: Record<string, unknown>, scraped: boolean): FleetSummary {
  const latency = result.latency as { p99Us: number };
  return {
    scraped,
    msgsPerSec: Number(result.msgsPerSec),
    p99Us: latency.p99Us,
    targetCpuPct: Number(result.targetCpuPct),
  };
}

/** autocannon reports whole milliseconds. */
function fmtMs(ms: number): string {
  return ms < 1 ? '<1 ms' : `${ms} ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string', default: '10' },
      quick: { type: 'boolean', default: false },
      'no-fleet': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
    },
  });
  installCleanup();
  const durationS = Number(values.duration ?? (values.quick ? 1 : 5));
  const connections = Number(values.connections);
  if (!(durationS > 0) || !(connections > 0))
    throw new Error('--duration and --connections must be positive');
  const machine = machineInfo();
  const plan = pinPlan(values['no-pin']);
  if (plan.pinned) {
    // autocannon runs in this process: keep it off the gateway's CPU
    execFileSync('taskset', ['-cp', plan.generatorCpus, String(process.pid)], { stdio: 'ignore' });
  }
  process.stderr.write(
    `${describeMachine(machine)}\npinning: ${plan.reason} (autocannon with the generator)\n`,
  );

  const quietChecks: QuietCheck[] = [];
  const settle = async () => {
    quietChecks.push(
      await waitForQuiet({ thresholdPct: 10, sampleMs: 500, maxTries: values.quick ? 2 : 20 }),
    );
  };
  await settle();
  const target = await startTarget(plan.targetCpus);
  const measured: Measured[] = [];
  const fleets: FleetSummary[] = [];
  let probes: Probe[] = [];
  try {
    probes = await Promise.all(ENDPOINTS.map((e) => probe(target, e)));
    const served = probes.filter((p) => p.status === 200).map((p) => p.endpoint);
    const skipped = (phase: Measured['phase']) =>
      probes
        .filter((p) => p.status !== 200)
        .map((p) => ({
          phase,
          endpoint: p.endpoint,
          skipped: p.status === 404 ? '404: not served (yet)' : `${p.status}: not measured`,
        }));

    measured.push(...skipped('idle'));
    for (const endpoint of served) {
      measured.push(await cannon(target, endpoint, 'idle', durationS, connections, 0));
      process.stderr.write(`  idle ${endpoint} done\n`);
    }

    if (!values['no-fleet']) {
      await settle();
      const windowMs = Math.max(3000, served.length * (durationS * 1000 + 500) + 1000);
      // the fleet alone first: its CPU is subtracted from the scraped runs' CPU per request
      const alone = await startFleet(target, plan.generatorCpus, windowMs);
      const aloneResult = await alone.next('result', windowMs + 60_000);
      await alone.stop();
      const baseline = fleetSummary(aloneResult, false);
      fleets.push(baseline);
      process.stderr.write('  fleet-100 alone done\n');

      const generator = await startFleet(target, plan.generatorCpus, windowMs);
      measured.push(...skipped('fleet-100'));
      for (const endpoint of served) {
        measured.push(
          await cannon(
            target,
            endpoint,
            'fleet-100',
            durationS,
            connections,
            baseline.targetCpuPct,
          ),
        );
        process.stderr.write(`  fleet-100 ${endpoint} done\n`);
      }
      const scrapedResult = await generator.next('result', windowMs + 60_000);
      await generator.stop();
      fleets.push(fleetSummary(scrapedResult, true));
    }
  } finally {
    await target.child.stop();
  }
  const memory = processMemory(target.pid);

  const lines: string[] = [];
  lines.push(`Ferry admin HTTP bench: ${describeMachine(machine)}`);
  lines.push(
    `command: node dist/bench/http/run.js ${process.argv.slice(2).join(' ')}`.trimEnd() +
      `\nautocannon: ${connections} connections, ${durationS} s per endpoint and phase; ${plan.reason}`,
  );
  lines.push(
    `\nresponses: ${probes.map((p) => `${p.endpoint} ${p.status} (${p.bytes} B)`).join(', ')}`,
  );
  const rows = [
    ['phase', 'endpoint', 'req/s', 'p50', 'p99', 'MB/s', 'non-2xx', 'target CPU', 'CPU µs/req'],
  ];
  for (const m of measured) {
    if (m.skipped !== undefined) {
      rows.push([m.phase, m.endpoint, m.skipped, '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      m.phase,
      m.endpoint,
      fmtCount(m.reqPerSec ?? 0),
      fmtMs(m.latencyP50Ms ?? 0),
      fmtMs(m.latencyP99Ms ?? 0),
      ((m.bytesPerSec ?? 0) / 1e6).toFixed(1),
      String(m.non2xx ?? 0),
      m.targetCpuPct === undefined ? '–' : `${m.targetCpuPct.toFixed(0)}%`,
      m.cpuUsPerReq === undefined ? '–' : fmtCount(m.cpuUsPerReq),
    ]);
  }
  lines.push(`\n${table(rows)}`);
  if (fleets.length > 0) {
    const fr = [['fleet-100 relay', 'msgs/s', 'frame p99', 'target CPU']];
    for (const f of fleets) {
      fr.push([
        f.scraped ? 'while scraped' : 'alone',
        fmtCount(f.msgsPerSec),
        fmtUs(f.p99Us),
        `${f.targetCpuPct.toFixed(0)}%`,
      ]);
    }
    lines.push(`\n${table(fr)}`);
  }
  const busy = quietChecks.filter((q) => !q.quiet).length;
  if (busy > 0) lines.push(`\nnote: ${busy} phase(s) started on a machine that never got quiet`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!values['no-json']) {
    const file = writeResult('http', {
      machine,
      command: ['node', 'dist/bench/http/run.js', ...process.argv.slice(2)],
      durationS,
      connections,
      pinning: plan,
      quietChecks,
      probes,
      measured,
      fleets,
      targetMemoryKiB: memory,
    });
    process.stdout.write(`JSON: ${path.relative(process.cwd(), file)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
