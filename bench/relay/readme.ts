/**
 * Turns a relay result (bench/results/relay-*.json) into the markdown of README.md's
 * `## Performance` tables, so that the section is refreshed from a run rather than retyped:
 *
 *   node dist/bench/relay/readme.js bench/results/relay-<time>.json
 *
 * It prints the machine, the command, whether the rounds started on a quiet machine, one table
 * of the main rows per scenario (median [min–max], ratios Ferry/bare and Ferry/ws) and the
 * targets of issues 5 and 18 with met/missed and what the rounds say (report.ts `RoundsVerdict`).
 */
import fs from 'node:fs';
import { checkTargets, METRICS, ratio, type Stat } from './report.js';
import type { ScenarioKind } from './scenarios.js';

interface ResultFile {
  readonly machine: {
    cpuModel: string;
    cpus: number;
    totalMemoryMiB: number;
    nodeVersion: string;
    kernel: string;
    gitCommit: string;
    gitDirty: boolean;
    date: string;
  };
  readonly command: string[];
  readonly elapsedS: number;
  /** The Node flags of the Ferry target and of the others (results since 2026-12-07). */
  readonly nodeFlags?: { ferry: string[]; others: string[] };
  /** The Ferry target's launch environment, `NAME=value` each (results since 2026-12-07). */
  readonly launchEnv?: { ferry: string[] };
  readonly quietChecks: { quiet: boolean; busyPct: number; round: number }[];
  readonly runs: { retried: boolean; ok: boolean }[];
  readonly scenarios: {
    name: string;
    kind: ScenarioKind;
    title: string;
    stats: Record<string, Record<string, Stat | null>>;
  }[];
}

/** The rows worth a README line per scenario kind; the JSON and the printed report have all. */
const ROWS: Record<ScenarioKind, string[]> = {
  throughput: ['msgsPerSec', 'p99', 'usPerMsg', 'reordered', 'rssMiB'],
  pingpong: ['msgsPerSec', 'p50', 'p99', 'usPerMsg'],
  fleet: ['msgsPerSec', 'p99', 'inputP99', 'targetCpuPct', 'usPerMsg', 'rssMiB', 'idleKiBPerPair'],
  churn: ['sessionsPerSec', 'setupP99', 'cpuMsPerSession', 'warmupCpuMsPerSession'],
};

const TARGETS = ['ferry', 'bare-uws', 'naive-ws'];

function cell(format: (v: number) => string, s: Stat | null | undefined): string {
  if (s == null) return '–';
  if (s.n === 1) return format(s.median);
  return `${format(s.median)} [${format(s.min)}–${format(s.max)}]`;
}

function main(): void {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write(
      'usage: node dist/bench/relay/readme.js bench/results/relay-<time>.json\n',
    );
    process.exitCode = 2;
    return;
  }
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ResultFile;
  const m = r.machine;
  const quiet = r.quietChecks.filter((q) => q.quiet).length;
  const retried = r.runs.filter((x) => x.retried).length;
  const out: string[] = [];
  out.push(
    `Machine: ${m.cpuModel} x${m.cpus}, ${m.totalMemoryMiB} MiB, Node ${m.nodeVersion}, Linux ${m.kernel}; ` +
      `commit \`${m.gitCommit.slice(0, 12)}\`${m.gitDirty ? ' (+local changes)' : ''}, ${m.date.slice(0, 16)}Z.`,
    `Command: \`${r.command.join(' ')}\` (${Math.round(r.elapsedS / 60)} min), ` +
      `result \`${file.replace(/^.*bench\/results\//, 'bench/results/')}\`.`,
    `Rounds started on a quiet machine: ${quiet} of ${r.quietChecks.length} ` +
      `(busiest: ${Math.max(...r.quietChecks.map((q) => q.busyPct)).toFixed(0)}% busy); ` +
      `${retried} of ${r.runs.length} runs were repeated because other processes took CPU meanwhile.`,
  );
  if (r.nodeFlags !== undefined) {
    const flags = (list: string[]) => (list.length === 0 ? '(none)' : `\`${list.join(' ')}\``);
    out.push(
      `Node flags: Ferry ${flags([...(r.launchEnv?.ferry ?? []), ...r.nodeFlags.ferry])} (its launch flags and environment), the others ${flags(r.nodeFlags.others)}.`,
    );
  }
  out.push('');
  for (const s of r.scenarios) {
    out.push(`**${s.name}**: ${s.title}`, '');
    out.push(`| | ${TARGETS.join(' | ')} | ferry/bare | ferry/ws |`);
    out.push(`|---|${TARGETS.map(() => '---:').join('|')}|---:|---:|`);
    for (const key of ROWS[s.kind]) {
      const metric = METRICS.find((x) => x.key === key);
      if (metric === undefined) continue;
      const arrow = metric.better === 'higher' ? '↑ ' : metric.better === 'lower' ? '↓ ' : '';
      const f = s.stats.ferry?.[key];
      const r1 = ratio(f, s.stats['bare-uws']?.[key]);
      const r2 = ratio(f, s.stats['naive-ws']?.[key]);
      out.push(
        `| ${arrow}${metric.label} | ${TARGETS.map((t) => cell(metric.format, s.stats[t]?.[key])).join(' | ')} | ` +
          `${r1 === null ? '–' : `${r1.toFixed(2)}×`} | ${r2 === null ? '–' : `${r2.toFixed(2)}×`} |`,
      );
    }
    out.push('');
  }
  out.push('| target (issues 5 and 18) | median | limit | | rounds |', '|---|---:|---:|---|---|');
  // made again from the medians and ranges (the same checks as the run's), so a file saved
  // before a target was added gets it too
  const byName = new Map(r.scenarios.map((s) => [s.name, s.stats]));
  for (const c of checkTargets((s, t, m) => byName.get(s)?.[t]?.[m])) {
    if (c.value === null) continue;
    out.push(
      `| ${c.goal} | ${c.value.toFixed(2)} | ${c.limit} | ${c.met ? 'met' : '**missed**'} | ${c.rounds ?? '–'} |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
