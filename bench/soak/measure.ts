/**
 * Readings both sides of the soak take: resident memory samples and event-loop delay summaries
 * (perf_hooks.monitorEventLoopDelay at DELAY_RESOLUTION_MS, nanoseconds in, milliseconds out).
 */
import { type IntervalHistogram, performance } from 'node:perf_hooks';
import v8 from 'node:v8';

export interface RssSample {
  readonly atSeconds: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  /** V8's heap as reserved (what heapUsed may grow into without RSS growing). */
  readonly heapTotalMiB: number;
  /** Memory of ArrayBuffers and other objects outside the V8 heap (uWS copies, journal buffers). */
  readonly externalMiB: number;
  /** V8's young generation as reserved (part of heapTotal: it grows with what survives scavenges). */
  readonly newSpaceMiB: number;
}

export interface DelaySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

const MiB = 1024 * 1024;
export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** Sampling interval of the delay monitors, ms. */
export const DELAY_RESOLUTION_MS = 10;

/**
 * The histogram records the time between two ticks of its sampling timer, which includes the
 * interval itself: the delay is what exceeds it.
 */
export function summarize(h: IntervalHistogram): DelaySummary {
  const ms = (ns: number) => round(Math.max(0, ns / 1e6 - DELAY_RESOLUTION_MS));
  return {
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    maxMs: ms(h.max),
    meanMs: ms(Number.isNaN(h.mean) ? 0 : h.mean),
  };
}

/** This process's memory now, stamped with seconds since `startMs` (performance.now()). */
export function sampleRss(startMs: number): RssSample {
  const m = process.memoryUsage();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    atSeconds: round((performance.now() - startMs) / 1000, 1),
    rssMiB: round(m.rss / MiB, 1),
    heapUsedMiB: round(m.heapUsed / MiB, 1),
    heapTotalMiB: round(m.heapTotal / MiB, 1),
    externalMiB: round(m.external / MiB, 1),
    newSpaceMiB: round((young?.space_size ?? 0) / MiB, 1),
  };
}
