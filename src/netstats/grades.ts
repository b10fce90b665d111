/**
 * Connectivity classes from a leg's average RTT (docs/spec/network-stats.md 3.4) and their display
 * text. Pure functions over the generated `ferry.v1.Connectivity` values, whose numeric order is
 * also their severity order (UNKNOWN = 0 < EXCELLENT < GOOD < AVERAGE < POOR); `overall` relies
 * on that and a test keeps it true.
 */
import { ferry } from '../protocol/gen/ferry.js';

export const Connectivity = ferry.v1.Connectivity;
export type ConnectivityValue = ferry.v1.Connectivity;

/** spec NS-D4 */
export const MIN_SAMPLES_FOR_CLASS = 3;
/** spec NS-D1: upper bounds in ms; EXCELLENT is strictly below, the others inclusive. */
export const EXCELLENT_BELOW_MS = 50;
export const GOOD_MAX_MS = 150;
export const AVERAGE_MAX_MS = 300;

export function classify(avgMs: number, sampleCount: number): ConnectivityValue {
  if (sampleCount < MIN_SAMPLES_FOR_CLASS) return Connectivity.CONNECTIVITY_UNKNOWN; // spec NS-D4
  // spec NS-D1, NS-D2: the unrounded average; exactly 50 is GOOD
  if (avgMs < EXCELLENT_BELOW_MS) return Connectivity.CONNECTIVITY_EXCELLENT;
  if (avgMs <= GOOD_MAX_MS) return Connectivity.CONNECTIVITY_GOOD;
  if (avgMs <= AVERAGE_MAX_MS) return Connectivity.CONNECTIVITY_AVERAGE;
  return Connectivity.CONNECTIVITY_POOR;
}

/**
 * spec NS-D5: the worst class among the classes given (pass only connected participants);
 * UNKNOWN is ignored unless every class is UNKNOWN or there is none.
 */
export function overall(classes: Iterable<ConnectivityValue>): ConnectivityValue {
  let worst: ConnectivityValue = Connectivity.CONNECTIVITY_UNKNOWN;
  for (const c of classes) if (c > worst) worst = c;
  return worst;
}

export const CONNECTIVITY_NAMES: Readonly<Record<ConnectivityValue, string>> = {
  [Connectivity.CONNECTIVITY_UNKNOWN]: 'UNKNOWN',
  [Connectivity.CONNECTIVITY_EXCELLENT]: 'EXCELLENT',
  [Connectivity.CONNECTIVITY_GOOD]: 'GOOD',
  [Connectivity.CONNECTIVITY_AVERAGE]: 'AVERAGE',
  [Connectivity.CONNECTIVITY_POOR]: 'POOR',
};

/** `CONNECTIVITY_GOOD` -> `GOOD`; values outside the enum -> `UNKNOWN`. */
export function connectivityName(c: number): string {
  return CONNECTIVITY_NAMES[c as ConnectivityValue] ?? 'UNKNOWN';
}

/** What a row shows instead of the class name while the class is UNKNOWN (spec NS-D4). */
export const MEASURING_LABEL = 'measuring...';

/**
 * spec NS-D2: whole milliseconds, except one decimal for 49.5 <= a < 50 so that an EXCELLENT
 * average never reads "50 ms". That decimal is truncated, not rounded: 49.96 shows as "49.9 ms".
 */
export function formatRtt(avgMs: number): string {
  if (avgMs >= 49.5 && avgMs < EXCELLENT_BELOW_MS) {
    return `${(Math.floor(avgMs * 10) / 10).toFixed(1)} ms`;
  }
  return `${Math.round(avgMs)} ms`;
}
