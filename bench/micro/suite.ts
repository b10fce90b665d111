/**
 * A micro-bench suite: cases measured with benchmark.js, one of them marked as the naive way;
 * the runner prints each case's ops/s and its ratio to the naive case. Case functions return a
 * number that is folded into a sink the runner prints, so the work cannot be optimised away.
 */
import Benchmark from 'benchmark';

export interface Case {
  readonly name: string;
  readonly fn: () => number;
  /** The way it is done without Ferry's technique: the ratio's denominator. */
  readonly naive?: boolean;
}

export interface MicroSuite {
  readonly name: string;
  /** What one operation is. */
  readonly op: string;
  readonly cases: readonly Case[];
}

export interface CaseResult {
  readonly name: string;
  readonly naive: boolean;
  readonly hz: number;
  readonly rmePct: number;
  readonly samples: number;
  /** hz / naive hz; 1 for the naive case itself. */
  readonly vsNaive: number | null;
}

let sink = 0;

/** Read once at the end: keeps every case's result alive. */
export function sinkValue(): number {
  return sink;
}

export function runSuite(suite: MicroSuite, maxTimeS: number, minSamples: number): CaseResult[] {
  const bench = new Benchmark.Suite(suite.name);
  for (const c of suite.cases) {
    const fn = c.fn;
    bench.add(
      c.name,
      () => {
        sink = (sink + fn()) | 0;
      },
      { maxTime: maxTimeS, minSamples },
    );
  }
  const failures: string[] = [];
  bench.on('error', (event: Benchmark.Event) => {
    const target = event.target as unknown as { name?: string; error?: Error };
    failures.push(`${target.name}: ${target.error?.message ?? 'failed'}`);
  });
  bench.run({ async: false });
  if (failures.length > 0) throw new Error(`suite "${suite.name}": ${failures.join('; ')}`);
  const results = suite.cases.map((c, i) => {
    const b = (bench as unknown as ArrayLike<Benchmark>)[i]!;
    return {
      name: c.name,
      naive: c.naive === true,
      hz: b.hz,
      rmePct: b.stats.rme,
      samples: b.stats.sample.length,
    };
  });
  const naive = results.find((r) => r.naive);
  return results.map((r) => ({
    ...r,
    vsNaive: naive === undefined || naive.hz === 0 ? null : r.hz / naive.hz,
  }));
}
