/**
 * Compares two saved relay bench results (bench/results/relay-*.json): per scenario, target and
 * metric, the old and new median with their min–max ranges, the change of the median in percent
 * and a noise verdict. Ranges that overlap are "within noise"; ranges that do not are "better" or
 * "worse" by the metric's direction (msgs/s up, µs/msg, p99 and RSS down), or "higher"/"lower"
 * for a context metric without one. A metric, target or scenario in one file only is "missing".
 * Pure functions: reading the files and printing are the runner's (run.ts).
 */
import {
  METRICS,
  overlaps,
  type RunResult,
  type Stat,
  summarize,
  type TargetStats,
  table,
} from './report.js';
import type { ScenarioKind } from './scenarios.js';

/** The parts of a saved result that the comparison reads. */
export interface SavedResult {
  readonly machine?: {
    readonly gitCommit?: string;
    readonly gitDirty?: boolean;
    readonly date?: string;
  };
  readonly scenarios?: readonly {
    readonly name: string;
    readonly kind?: ScenarioKind;
    readonly stats?: Readonly<Record<string, TargetStats>>;
    /** The phases it ran with (bench/relay/scenarios.ts `Timing`; absent in the oldest files). */
    readonly timing?: { readonly warmupMs?: number; readonly durationMs?: number };
  }[];
  readonly runs?: readonly {
    readonly scenario: string;
    readonly target: string;
    readonly ok: boolean;
    readonly result?: RunResult;
  }[];
}

export const VERDICTS = {
  noise: 'within noise',
  better: 'better',
  worse: 'worse',
  higher: 'higher',
  lower: 'lower',
  missing: 'missing',
} as const;

export type Verdict = (typeof VERDICTS)[keyof typeof VERDICTS];

export interface ComparisonRow {
  readonly scenario: string;
  readonly target: string;
  readonly metric: string;
  readonly label: string;
  readonly old: Stat | null;
  readonly new: Stat | null;
  /** (new − old) / old of the medians, in percent; null when missing or old is 0 and new is not. */
  readonly deltaPct: number | null;
  readonly verdict: Verdict;
}

type AllStats = Record<string, Record<string, TargetStats>>;

/** Scenario → target → metric stats of a saved result: its summary, or one made from its runs. */
export function statsOf(saved: SavedResult): AllStats {
  const out: AllStats = {};
  for (const s of saved.scenarios ?? []) {
    if (s.stats !== undefined) {
      out[s.name] = { ...s.stats };
      continue;
    }
    if (s.kind === undefined) continue;
    const byTarget: Record<string, TargetStats> = {};
    const runs = (saved.runs ?? []).filter((r) => r.scenario === s.name && r.ok && r.result);
    for (const target of new Set(runs.map((r) => r.target))) {
      byTarget[target] = summarize(
        s.kind,
        runs.filter((r) => r.target === target).map((r) => r.result!),
      );
    }
    out[s.name] = byTarget;
  }
  return out;
}

export function deltaPct(old: Stat, now: Stat): number | null {
  if (old.median === 0) return now.median === 0 ? 0 : null;
  return ((now.median - old.median) / Math.abs(old.median)) * 100;
}

/** The noise verdict of one metric; `better` is the metric's direction from report.ts. */
export function verdict(
  better: 'higher' | 'lower' | 'info',
  old: Stat | null | undefined,
  now: Stat | null | undefined,
): Verdict {
  if (old == null || now == null) return VERDICTS.missing;
  if (overlaps(old, now)) return VERDICTS.noise;
  const up = now.median > old.median || (now.median === old.median && now.min > old.max);
  if (better === 'info') return up ? VERDICTS.higher : VERDICTS.lower;
  return up === (better === 'higher') ? VERDICTS.better : VERDICTS.worse;
}

/** Keys of both objects, those of `first` first, in order, without repeats. */
function union(first: readonly string[], second: readonly string[]): string[] {
  return [...new Set([...first, ...second])];
}

/** One row per scenario, target and metric found in either result (scenario order: new first). */
export function compareResults(oldSaved: SavedResult, newSaved: SavedResult): ComparisonRow[] {
  const a = statsOf(oldSaved);
  const b = statsOf(newSaved);
  const known = new Map(METRICS.map((m) => [m.key, m]));
  const rows: ComparisonRow[] = [];
  for (const scenario of union(Object.keys(b), Object.keys(a))) {
    const sa = a[scenario] ?? {};
    const sb = b[scenario] ?? {};
    for (const target of union(Object.keys(sb), Object.keys(sa))) {
      const ta = sa[target] ?? {};
      const tb = sb[target] ?? {};
      const keys = union(Object.keys(tb), Object.keys(ta));
      // report.ts's order first, then anything it does not know
      const ordered = [
        ...METRICS.map((m) => m.key).filter((k) => keys.includes(k)),
        ...keys.filter((k) => !known.has(k)),
      ];
      for (const key of ordered) {
        const m = known.get(key);
        const old = ta[key] ?? null;
        const now = tb[key] ?? null;
        rows.push({
          scenario,
          target,
          metric: key,
          label: m?.label ?? key,
          old,
          new: now,
          deltaPct: old === null || now === null ? null : deltaPct(old, now),
          verdict: verdict(m?.better ?? 'info', old, now),
        });
      }
    }
  }
  return rows;
}

/**
 * Scenario → a warning when the two results ran it with a different warm-up or window: their
 * figures then differ by method as well as by code (churn warmed up 0.5 s until 2026-12-07, 6 s
 * since, and a just-started gateway spends more a session: docs/benchmarks.md, churn finding 11).
 */
export function timingNotes(oldSaved: SavedResult, newSaved: SavedResult): Map<string, string> {
  const notes = new Map<string, string>();
  const before = new Map((oldSaved.scenarios ?? []).map((s) => [s.name, s.timing]));
  for (const s of newSaved.scenarios ?? []) {
    if (!before.has(s.name)) continue;
    const a = before.get(s.name);
    const b = s.timing;
    const phase = (t: typeof a) =>
      t?.warmupMs === undefined
        ? 'unknown phases'
        : `warm-up ${t.warmupMs / 1000} s, window ${(t.durationMs ?? 0) / 1000} s`;
    if (a?.warmupMs !== b?.warmupMs || a?.durationMs !== b?.durationMs) {
      notes.set(s.name, `note: old ran ${phase(a)}, new ${phase(b)}: not measured alike`);
    }
  }
  return notes;
}

const ARROWS = { higher: '↑', lower: '↓', info: ' ' } as const;

function cell(key: string, s: Stat | null): string {
  if (s === null) return '–';
  const format = METRICS.find((m) => m.key === key)?.format ?? ((v: number) => v.toPrecision(3));
  if (s.n === 1) return format(s.median);
  return `${format(s.median)} [${format(s.min)}–${format(s.max)}]`;
}

function fmtDelta(d: number | null): string {
  if (d === null) return '–';
  return `${d > 0 ? '+' : ''}${d.toFixed(1)}%`;
}

/** A header naming each file's commit and date, as far as the results carry them. */
export function describeSaved(label: string, file: string, saved: SavedResult): string {
  const m = saved.machine;
  const commit =
    m?.gitCommit === undefined
      ? ''
      : ` commit ${m.gitCommit.slice(0, 7)}${m.gitDirty ? '+dirty' : ''}`;
  return `${label}: ${file}${commit}${m?.date === undefined ? '' : `, ${m.date}`}`;
}

/** The printed comparison: one table per scenario. */
export function compareReport(
  rows: readonly ComparisonRow[],
  notes: ReadonlyMap<string, string> = new Map(),
): string {
  const out: string[] = [];
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const these = rows.filter((x) => x.scenario === scenario);
    const width = Math.max(...these.map((r) => r.target.length));
    const lines: string[][] = [['target  metric', 'old', 'new', 'Δ median', 'verdict']];
    const absent = new Set<string>();
    for (const r of these) {
      // a target in one result only: one line, not one per metric
      const whole = these.filter((x) => x.target === r.target);
      const side = r.old === null ? 'old' : 'new';
      if (
        whole.every((x) => x.verdict === VERDICTS.missing && (x.old === null) === (r.old === null))
      ) {
        if (absent.has(r.target)) continue;
        absent.add(r.target);
        lines.push([`${r.target.padEnd(width)}  (all metrics)`, '', '', '', `missing in ${side}`]);
        continue;
      }
      const arrow = ARROWS[METRICS.find((m) => m.key === r.metric)?.better ?? 'info'];
      lines.push([
        `${r.target.padEnd(width)}  ${arrow} ${r.label}`,
        cell(r.metric, r.old),
        cell(r.metric, r.new),
        fmtDelta(r.deltaPct),
        r.verdict === VERDICTS.missing ? `missing in ${side}` : r.verdict,
      ]);
    }
    const note = notes.get(scenario);
    out.push(`== ${scenario}\n${note === undefined ? '' : `${note}\n`}${table(lines)}`);
  }
  return out.join('\n\n');
}
