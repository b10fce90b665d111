/**
 * The micro-bench runner (`npm run bench:micro`): every suite of bench/micro/*.bench.ts, each
 * Ferry technique against the naive way, ops/s and the ratio, then JSON to
 * bench/results/micro-*.json headed with the machine. Before each suite it waits for a quiet
 * machine (/proc/stat; a suite measured on a busy machine is marked). `--quick` shortens every
 * measurement; `--filter <text>` runs the suites whose name contains it.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, machineInfo, writeResult } from '../common/machine.js';
import { type QuietCheck, waitForQuiet } from '../common/proc.js';
import { fmtCount, table } from '../relay/report.js';
import { suites as accounting } from './accounting.bench.js';
import { suites as decode } from './decode.bench.js';
import { suites as encode } from './encode.bench.js';
import { suites as heartbeat } from './heartbeat.bench.js';
import { suites as peek } from './peek.bench.js';
import { suites as routing } from './routing.bench.js';
import { suites as sessionStore } from './session-store.bench.js';
import { type CaseResult, type MicroSuite, runSuite, sinkValue } from './suite.js';

const ALL: MicroSuite[] = [
  ...peek,
  ...encode,
  ...decode,
  ...heartbeat,
  ...accounting,
  ...routing,
  ...sessionStore,
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      filter: { type: 'string', default: '' },
      'no-json': { type: 'boolean', default: false },
    },
  });
  const machine = machineInfo();
  const maxTimeS = values.quick ? 0.1 : 1;
  const minSamples = values.quick ? 5 : 20;
  const picked = ALL.filter((s) => s.name.includes(values.filter));
  if (picked.length === 0) throw new Error(`no suite matches "${values.filter}"`);
  process.stdout.write(`Ferry micro benches: ${describeMachine(machine)}\n`);
  const report: { suite: string; op: string; quiet: QuietCheck; cases: CaseResult[] }[] = [];
  for (const suite of picked) {
    const quiet = await waitForQuiet({
      thresholdPct: 10,
      sampleMs: 500,
      maxTries: values.quick ? 2 : 20,
    });
    const cases = runSuite(suite, maxTimeS, minSamples);
    report.push({ suite: suite.name, op: suite.op, quiet, cases });
    const busy = quiet.quiet ? '' : ` [machine ${quiet.busyPct.toFixed(0)}% busy]`;
    const rows = [[`${suite.name} (op = ${suite.op})${busy}`, 'ops/s', '±', '× naive']];
    for (const c of cases) {
      rows.push([
        `  ${c.name}${c.naive ? '  [naive]' : ''}`,
        fmtCount(c.hz),
        `${c.rmePct.toFixed(1)}%`,
        c.vsNaive === null ? '–' : `${c.vsNaive.toFixed(c.vsNaive >= 10 ? 0 : 2)}×`,
      ]);
    }
    process.stdout.write(`\n${table(rows)}\n`);
  }
  process.stdout.write(`\n(sink ${sinkValue()})\n`);
  if (!values['no-json']) {
    const file = writeResult('micro', {
      machine,
      command: ['node', 'dist/bench/micro/run.js', ...process.argv.slice(2)],
      maxTimeS,
      minSamples,
      suites: report,
    });
    process.stdout.write(`JSON: ${path.relative(process.cwd(), file)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
