/**
 * A latency histogram with log-spaced buckets 1% wide from 1 µs to 100 s: fixed memory, O(1)
 * record, mergeable by adding counts (workers send their counts to the generator's main thread).
 * Percentiles are reported as the upper bound of their bucket, so they err high by under 1%.
 */
const MIN_US = 1;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
export const BUCKETS = Math.ceil(Math.log(1e8) / LOG_GROWTH) + 2;

export interface LatencySummary {
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

export class Histogram {
  readonly counts: Float64Array;
  count = 0;
  sumUs = 0;
  maxUs = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(BUCKETS);
  }

  record(us: number): void {
    const i =
      us <= MIN_US ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us / MIN_US) / LOG_GROWTH));
    this.counts[i]!++;
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maxUs, MIN_US * GROWTH ** i);
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50Us: this.percentile(0.5),
      p99Us: this.percentile(0.99),
      p999Us: this.percentile(0.999),
      maxUs: this.maxUs,
      meanUs: this.count === 0 ? 0 : this.sumUs / this.count,
    };
  }

  /** Plain data for postMessage / JSON. */
  toData(): HistogramData {
    return { counts: this.counts, count: this.count, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  static fromData(data: HistogramData): Histogram {
    const h = new Histogram(Float64Array.from(data.counts));
    h.count = data.count;
    h.sumUs = data.sumUs;
    h.maxUs = data.maxUs;
    return h;
  }
}

export interface HistogramData {
  readonly counts: Float64Array;
  readonly count: number;
  readonly sumUs: number;
  readonly maxUs: number;
}
