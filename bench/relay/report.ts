/**
 * Turns generator results into the relay report: per scenario and target the median and min–max
 * of every metric over the rounds, the ratios Ferry/bare and Ferry/ws of the medians, a printed
 * table per scenario, and the targets of issues 5 and 18 checked against the medians, each with
 * what the rounds say (reported, never asserted). A metric's direction says which way is better,
 * so a ratio can be read at a glance.
 */
import type { ScenarioKind } from './scenarios.js';

/** One generator "result" line (see generator.ts), as parsed JSON. */
interface Latency {
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
}

export type RunResult = Record<string, unknown> & {
  readonly latency: Latency;
  readonly inputLatency: Latency;
  readonly setupLatency: Latency;
};

type Better = 'higher' | 'lower' | 'info';

interface Metric {
  readonly key: string;
  readonly label: string;
  readonly better: Better;
  readonly kinds: readonly ScenarioKind[];
  readonly get: (r: RunResult) => number | null;
  readonly format: (v: number) => string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A percentile of a histogram that recorded nothing is no reading (not 0 µs). */
const pct = (h: Latency | undefined, key: 'p50Us' | 'p99Us' | 'p999Us'): number | null =>
  h == null || !(h.count > 0) ? null : num(h[key]);

export function fmtCount(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtUs(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} s`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} ms`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(2)} ms`;
  return `${v.toFixed(v >= 100 ? 0 : 1)} µs`;
}

const fmtPct = (v: number) => `${v.toFixed(0)}%`;
const fmtMiB = (v: number) => `${v.toFixed(1)}`;

const RATE_KINDS: ScenarioKind[] = ['throughput', 'pingpong', 'fleet'];

export const METRICS: readonly Metric[] = [
  {
    key: 'msgsPerSec',
    label: 'msgs/s',
    better: 'higher',
    kinds: RATE_KINDS,
    get: (r) => num(r.msgsPerSec),
    format: fmtCount,
  },
  {
    key: 'mbPerSec',
    label: 'MB/s',
    better: 'higher',
    kinds: ['throughput', 'fleet'],
    get: (r) => num(r.mbPerSec),
    format: fmtCount,
  },
  {
    key: 'sessionsPerSec',
    label: 'sessions/s',
    better: 'higher',
    kinds: ['churn'],
    get: (r) => num(r.sessionsPerSec),
    format: fmtCount,
  },
  {
    key: 'p50',
    label: 'one-way p50',
    better: 'lower',
    kinds: RATE_KINDS,
    get: (r) => pct(r.latency, 'p50Us'),
    format: fmtUs,
  },
  {
    key: 'p99',
    label: 'one-way p99',
    better: 'lower',
    kinds: RATE_KINDS,
    get: (r) => pct(r.latency, 'p99Us'),
    format: fmtUs,
  },
  {
    key: 'p999',
    label: 'one-way p99.9',
    better: 'lower',
    kinds: RATE_KINDS,
    get: (r) => pct(r.latency, 'p999Us'),
    format: fmtUs,
  },
  {
    key: 'inputP99',
    label: 'input p99',
    better: 'lower',
    kinds: ['fleet'],
    get: (r) => pct(r.inputLatency, 'p99Us'),
    format: fmtUs,
  },
  {
    key: 'setupP50',
    label: 'setup p50',
    better: 'lower',
    kinds: ['churn'],
    get: (r) => pct(r.setupLatency, 'p50Us'),
    format: fmtUs,
  },
  {
    key: 'setupP99',
    label: 'setup p99',
    better: 'lower',
    kinds: ['churn'],
    get: (r) => pct(r.setupLatency, 'p99Us'),
    format: fmtUs,
  },
  {
    key: 'dropped',
    label: 'dropped frames',
    better: 'lower',
    kinds: ['throughput', 'pingpong', 'fleet'],
    get: (r) => num(r.dropped),
    format: fmtCount,
  },
  {
    key: 'reordered',
    label: 'out-of-order frames',
    better: 'lower',
    kinds: ['throughput', 'pingpong', 'fleet'],
    get: (r) => num(r.reordered),
    format: fmtCount,
  },
  {
    key: 'targetCpuPct',
    label: 'target CPU',
    better: 'info',
    kinds: [...RATE_KINDS, 'churn'],
    get: (r) => num(r.targetCpuPct),
    format: fmtPct,
  },
  {
    key: 'usPerMsg',
    label: 'target µs/msg',
    better: 'lower',
    kinds: RATE_KINDS,
    get: (r) => num(r.usPerMsg),
    format: fmtCount,
  },
  {
    key: 'msPerMB',
    label: 'target ms/MB',
    better: 'lower',
    kinds: ['throughput', 'fleet'],
    get: (r) => num(r.msPerMB),
    format: fmtCount,
  },
  {
    key: 'cpuMsPerSession',
    label: 'target ms/session',
    better: 'lower',
    kinds: ['churn'],
    get: (r) => num(r.cpuMsPerSession),
    format: fmtCount,
  },
  {
    key: 'warmupCpuMsPerSession',
    label: 'target ms/session, warm-up',
    better: 'lower',
    kinds: ['churn'],
    get: (r) => num(r.warmupCpuMsPerSession),
    format: fmtCount,
  },
  {
    key: 'rssMiB',
    label: 'target RSS MiB',
    better: 'lower',
    kinds: [...RATE_KINDS, 'churn'],
    get: (r) => (num(r.rssKiB) === null ? null : (r.rssKiB as number) / 1024),
    format: fmtMiB,
  },
  {
    key: 'idleKiBPerPair',
    label: 'idle KiB/session',
    better: 'lower',
    kinds: ['fleet'],
    get: (r) => num(r.idleKiBPerPair),
    format: fmtCount,
  },
  {
    key: 'genCpuPct',
    label: 'generator CPU',
    better: 'info',
    kinds: [...RATE_KINDS, 'churn'],
    get: (r) => num(r.genCpuPct),
    format: fmtPct,
  },
  {
    key: 'lateSlots',
    label: 'generator late ms',
    better: 'info',
    kinds: ['fleet'],
    get: (r) => num(r.lateSlots),
    format: fmtCount,
  },
  {
    key: 'otherCpuPct',
    label: 'other CPU',
    better: 'info',
    kinds: [...RATE_KINDS, 'churn'],
    get: (r) => num(r.otherCpuPct),
    format: fmtPct,
  },
  {
    key: 'stealCpuPct',
    label: 'steal (VM)',
    better: 'info',
    kinds: [...RATE_KINDS, 'churn'],
    get: (r) => num(r.stealCpuPct),
    format: fmtPct,
  },
];

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function stat(values: readonly number[]): Stat | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

export type TargetStats = Record<string, Stat | null>;

export function summarize(kind: ScenarioKind, runs: readonly RunResult[]): TargetStats {
  const out: TargetStats = {};
  for (const m of METRICS) {
    if (!m.kinds.includes(kind)) continue;
    const values = runs.map(m.get).filter((v): v is number => v !== null);
    out[m.key] = stat(values);
  }
  return out;
}

export function ratio(a: Stat | null | undefined, b: Stat | null | undefined): number | null {
  if (a == null || b == null || b.median === 0) return null;
  return a.median / b.median;
}

function cell(m: Metric, s: Stat | null | undefined): string {
  if (s == null) return '–';
  if (s.n === 1) return m.format(s.median);
  return `${m.format(s.median)} [${m.format(s.min)}–${m.format(s.max)}]`;
}

const arrow: Record<Better, string> = { higher: '↑', lower: '↓', info: ' ' };

/** A plain-text table: rows of cells, the first column left-aligned, the rest right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, [...row[i]!].length);
  }
  return rows
    .map((row) =>
      row
        .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function scenarioTable(
  kind: ScenarioKind,
  targets: readonly string[],
  stats: Readonly<Record<string, TargetStats>>,
): string {
  const rows: string[][] = [['metric', ...targets, 'ferry/bare', 'ferry/ws']];
  for (const m of METRICS) {
    if (!m.kinds.includes(kind)) continue;
    const f = stats.ferry?.[m.key];
    const r1 = ratio(f, stats['bare-uws']?.[m.key]);
    const r2 = ratio(f, stats['naive-ws']?.[m.key]);
    rows.push([
      `${arrow[m.better]} ${m.label}`,
      ...targets.map((t) => cell(m, stats[t]?.[m.key])),
      r1 === null ? '–' : `${r1.toFixed(2)}×`,
      r2 === null ? '–' : `${r2.toFixed(2)}×`,
    ]);
  }
  return table(rows);
}

/** The rows of the TLS table: rates, latency and the target's cost. */
const TLS_ROWS = new Set([
  'msgsPerSec',
  'mbPerSec',
  'sessionsPerSec',
  'p50',
  'p99',
  'setupP50',
  'setupP99',
  'targetCpuPct',
  'usPerMsg',
  'msPerMB',
  'cpuMsPerSession',
  'warmupCpuMsPerSession',
  'rssMiB',
]);

/**
 * TLS against plain text: per TLS scenario and row, each target's median over TLS, in plain
 * text (its twin scenario of the same run), and tls/plain; then Ferry/bare over TLS.
 */
export function tlsTable(
  pairs: readonly { kind: ScenarioKind; tls: string; plain: string }[],
  targets: readonly string[],
  stats: Readonly<Record<string, Readonly<Record<string, TargetStats>>>>,
): string {
  const head = ['scenario', 'metric'];
  for (const t of targets) head.push(`${t} plain`, `${t} tls`, 'tls/plain');
  if (targets.includes('ferry') && targets.includes('bare-uws')) head.push('ferry/bare tls');
  const rows: string[][] = [head];
  for (const p of pairs) {
    for (const m of METRICS) {
      if (!m.kinds.includes(p.kind) || !TLS_ROWS.has(m.key)) continue;
      const row = [p.tls, `${arrow[m.better]} ${m.label}`];
      for (const t of targets) {
        const plain = stats[p.plain]?.[t]?.[m.key];
        const secure = stats[p.tls]?.[t]?.[m.key];
        const r = ratio(secure, plain);
        row.push(
          plain == null ? '–' : m.format(plain.median),
          secure == null ? '–' : m.format(secure.median),
          r === null ? '–' : `${r.toFixed(2)}×`,
        );
      }
      if (head.at(-1) === 'ferry/bare tls') {
        const r = ratio(stats[p.tls]?.ferry?.[m.key], stats[p.tls]?.['bare-uws']?.[m.key]);
        row.push(r === null ? '–' : `${r.toFixed(2)}×`);
      }
      rows.push(row);
    }
  }
  return table(rows);
}

/** Do the [min–max] ranges of two stats overlap? */
export function overlaps(a: Stat, b: Stat): boolean {
  return a.min <= b.max && b.min <= a.max;
}

/**
 * What the rounds say beside the median: whether the limit was met in every round ("all
 * rounds"), in some ("some rounds") or in none ("no round"). For a ratio, a round's ratio may
 * pair any round of Ferry with any round of the other target (they ran at different moments),
 * so "all rounds" means even Ferry's worst round against the other's best meets the limit, and
 * "no round" that even Ferry's best against the other's worst misses it. Null with fewer than
 * two rounds (no spread to read) or a figure missing.
 */
export type RoundsVerdict = 'all rounds' | 'some rounds' | 'no round';

export interface TargetCheck {
  readonly goal: string;
  readonly scenario: string;
  readonly value: number | null;
  readonly limit: string;
  readonly met: boolean | null;
  readonly rounds?: RoundsVerdict | null;
}

type Lookup = (scenario: string, target: string, metric: string) => Stat | null | undefined;

/** Where the best and the worst reading fall against `cmp limit`. */
function verdictOf(best: number, worst: number, cmp: '>=' | '<=', limit: number): RoundsVerdict {
  const meets = (v: number) => (cmp === '>=' ? v >= limit : v <= limit);
  return meets(worst) ? 'all rounds' : meets(best) ? 'some rounds' : 'no round';
}

/** Which rounds of `s` meet `cmp limit`. */
function roundsAgainst(s: Stat | null | undefined, cmp: '>=' | '<=', limit: number) {
  if (s == null || s.n < 2) return null;
  return cmp === '>=' ? verdictOf(s.max, s.min, cmp, limit) : verdictOf(s.min, s.max, cmp, limit);
}

/** Which pairings of a round of `mine` with a round of `theirs` give a ratio meeting the limit. */
function ratioRoundsAgainst(
  mine: Stat | null | undefined,
  theirs: Stat | null | undefined,
  cmp: '>=' | '<=',
  limit: number,
): RoundsVerdict | null {
  if (mine == null || theirs == null || mine.n < 2 || theirs.n < 2) return null;
  if (!(theirs.min > 0)) return null;
  const high = mine.max / theirs.min;
  const low = mine.min / theirs.max;
  return cmp === '>=' ? verdictOf(high, low, cmp, limit) : verdictOf(low, high, cmp, limit);
}

/**
 * The targets, checked against the medians of this run: issue 5's (item 4), and where the
 * performance issue (18) set a stricter or a new one, that one too.
 */
export function checkTargets(get: Lookup): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (
    goal: string,
    scenario: string,
    metric: string,
    versus: string,
    cmp: '>=' | '<=',
    limit: number,
  ) => {
    const mine = get(scenario, 'ferry', metric);
    const theirs = get(scenario, versus, metric);
    const value = ratio(mine, theirs);
    const met = value === null ? null : cmp === '>=' ? value >= limit : value <= limit;
    const rounds = ratioRoundsAgainst(mine, theirs, cmp, limit);
    checks.push({
      goal,
      scenario,
      value,
      limit: `${cmp} ${Number(limit.toFixed(2))}`,
      met,
      rounds,
    });
  };
  const absolute = (
    goal: string,
    scenario: string,
    metric: string,
    cmp: '>=' | '<=',
    limit: number,
  ) => {
    const s = get(scenario, 'ferry', metric);
    checks.push({
      goal,
      scenario,
      value: s?.median ?? null,
      limit: `${cmp} ${limit}`,
      met: s == null ? null : cmp === '>=' ? s.median >= limit : s.median <= limit,
      rounds: roundsAgainst(s, cmp, limit),
    });
  };
  add('throughput 64 B, msgs/s Ferry/bare', 'throughput-64', 'msgsPerSec', 'bare-uws', '>=', 0.9);
  add('throughput 64 B, msgs/s Ferry/ws', 'throughput-64', 'msgsPerSec', 'naive-ws', '>=', 1.3);
  add('throughput 1 KiB, msgs/s Ferry/bare', 'throughput-1k', 'msgsPerSec', 'bare-uws', '>=', 0.9);
  add('throughput 1 KiB, msgs/s Ferry/ws', 'throughput-1k', 'msgsPerSec', 'naive-ws', '>=', 1.4);
  add(
    'throughput 64 KiB, msgs/s Ferry/bare',
    'throughput-64k',
    'msgsPerSec',
    'bare-uws',
    '>=',
    0.95,
  );
  add(
    'throughput 64 KiB, msgs/s Ferry/bare (issue 18)',
    'throughput-64k',
    'msgsPerSec',
    'bare-uws',
    '>=',
    1,
  );
  // the generator may cap every target alike: CPU per message shows the same goal without that cap
  add(
    'throughput 64 B, CPU µs/msg Ferry/bare',
    'throughput-64',
    'usPerMsg',
    'bare-uws',
    '<=',
    1 / 0.9,
  );
  add(
    'throughput 1 KiB, CPU µs/msg Ferry/bare',
    'throughput-1k',
    'usPerMsg',
    'bare-uws',
    '<=',
    1 / 0.9,
  );
  add(
    'throughput 64 KiB, CPU µs/msg Ferry/bare',
    'throughput-64k',
    'usPerMsg',
    'bare-uws',
    '<=',
    1 / 0.95,
  );
  // the same goals over TLS, both targets on one certificate and cipher
  add(
    'TLS: throughput 64 B, msgs/s Ferry/bare',
    'throughput-64-tls',
    'msgsPerSec',
    'bare-uws',
    '>=',
    0.9,
  );
  add(
    'TLS: throughput 64 KiB, msgs/s Ferry/bare',
    'throughput-64k-tls',
    'msgsPerSec',
    'bare-uws',
    '>=',
    0.95,
  );
  add(
    'TLS: throughput 64 B, CPU µs/msg Ferry/bare',
    'throughput-64-tls',
    'usPerMsg',
    'bare-uws',
    '<=',
    1 / 0.9,
  );
  add(
    'TLS: throughput 64 KiB, CPU µs/msg Ferry/bare',
    'throughput-64k-tls',
    'usPerMsg',
    'bare-uws',
    '<=',
    1 / 0.95,
  );
  for (const s of ['pingpong-64', 'pingpong-1k', 'pingpong-64k']) {
    add(`${s} one-way p99 Ferry/bare`, s, 'p99', 'bare-uws', '<=', 1.1);
  }
  add('fleet 1000: target CPU Ferry/bare', 'fleet-1000', 'targetCpuPct', 'bare-uws', '<=', 1.15);
  add('fleet 1000: frame p99 Ferry/bare', 'fleet-1000', 'p99', 'bare-uws', '<=', 1.2);
  add('fleet 1000: RSS Ferry/bare', 'fleet-1000', 'rssMiB', 'bare-uws', '<=', 1.5);
  absolute(
    'memory per idle session (KiB, both legs, heartbeats on)',
    get('fleet-1000', 'ferry', 'idleKiBPerPair') != null ? 'fleet-1000' : 'fleet-100',
    'idleKiBPerPair',
    '<=',
    20,
  );
  add('churn: sessions/s Ferry/bare (issue 18)', 'churn', 'sessionsPerSec', 'bare-uws', '>=', 0.5);
  absolute('churn: gateway CPU ms/session (issue 18)', 'churn', 'cpuMsPerSession', '<=', 0.5);
  return checks;
}

export function checksTable(checks: readonly TargetCheck[]): string {
  const rows = [['goal', 'median', 'limit', '', 'rounds']];
  for (const c of checks) {
    if (c.value === null) continue;
    rows.push([c.goal, c.value.toFixed(2), c.limit, c.met ? 'met' : 'MISSED', c.rounds ?? '–']);
  }
  return table(rows);
}
