/**
 * Part 1, directory cost: what pairing a session costs with `--directory redis://` against
 * `--directory memory`, on one gateway process. K sessions are paired one after another with the
 * reference clients: a technician (connected beforehand, not timed) sends CreateSession
 * (timed: request to SessionCreated) and a customer dials with the PIN (timed: from opening the
 * connection to its Welcome). The next pair starts once the technician has seen the customer
 * (SessionQueued); every pair stays live until the run ends. A few warm-up pairs are not counted.
 *
 * With Redis the creation waits for the PIN's reservation (SET NX) and the join for the shared
 * attempt counter (one script: INCR, PEXPIRE); the rest (session, resume tokens, journal copy,
 * PIN release) is written behind the replies. The added cost is the difference of the totals'
 * percentiles (create + join per pair, Redis minus memory), per round.
 */
import { performance } from 'node:perf_hooks';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { issueToken } from '../../src/session/tokens.js';
import { processCpuMs } from '../common/proc.js';
import {
  type BenchRedis,
  percentile,
  type RedisReading,
  readRedis,
  redisDelta,
  startGateway,
} from './common.js';

export type DirectoryMode = 'memory' | 'redis';

export interface PairingRun {
  readonly mode: DirectoryMode;
  readonly round: number;
  readonly pairs: number;
  /** Per pair, ms. */
  readonly techConnectMs: number[];
  readonly createMs: number[];
  readonly joinMs: number[];
  readonly totalMs: number[];
  /** Gateway CPU ms over the counted pairs. */
  gatewayCpuMs: number | null;
  wallMs: number;
  /** Redis: commands (incl. inside Lua) and main-thread CPU over the counted pairs. */
  redisCalls: number | null;
  redisCpuMs: number | null;
}

export interface PairingSummary {
  readonly p50: Record<'techConnect' | 'create' | 'join' | 'total', number>;
  readonly p99: Record<'techConnect' | 'create' | 'join' | 'total', number>;
}

export function summarizeRun(run: PairingRun): PairingSummary {
  const of = (p: number) => ({
    techConnect: percentile(run.techConnectMs, p),
    create: percentile(run.createMs, p),
    join: percentile(run.joinMs, p),
    total: percentile(run.totalMs, p),
  });
  return { p50: of(50), p99: of(99) };
}

interface Pair {
  readonly tech: TechnicianClient;
  customer: CustomerClient | null;
}

/** One gateway in one mode, pairing sessions one at a time and recording the counted ones. */
class Pairer {
  readonly run: PairingRun;
  readonly #gateway: Awaited<ReturnType<typeof startGateway>>;
  readonly #redis: BenchRedis;
  readonly #live: Pair[] = [];
  #cpu0: number | null = null;
  #wall0 = 0;
  #redis0: RedisReading | null = null;

  private constructor(
    run: PairingRun,
    gateway: Awaited<ReturnType<typeof startGateway>>,
    redis: BenchRedis,
  ) {
    this.run = run;
    this.#gateway = gateway;
    this.#redis = redis;
  }

  static async start(
    mode: DirectoryMode,
    round: number,
    pairs: number,
    redis: BenchRedis,
    nodeArgs: readonly string[],
    cpus: string,
    sets: Record<string, string>,
  ): Promise<Pairer> {
    if (mode === 'redis') await redis.client.flushall();
    const directory = mode === 'memory' ? 'memory' : redis.url;
    const gateway = await startGateway(directory, sets, nodeArgs, cpus);
    return new Pairer(
      {
        mode,
        round,
        pairs,
        techConnectMs: [],
        createMs: [],
        joinMs: [],
        totalMs: [],
        gatewayCpuMs: null,
        wallMs: 0,
        redisCalls: null,
        redisCpuMs: null,
      },
      gateway,
      redis,
    );
  }

  /** From here on, pairs are counted: the gateway's CPU and Redis's counters are read. */
  async beginCounting(): Promise<void> {
    this.#cpu0 = processCpuMs(this.#gateway.pid);
    this.#wall0 = performance.now();
    if (this.run.mode === 'redis') this.#redis0 = await readRedis(this.#redis.client);
  }

  /** Pairs session `i`: a new technician connects, creates it, and a customer joins by PIN. */
  async pair(i: number, counted: boolean): Promise<void> {
    const gateway = this.#gateway;
    const name = `scale-tech-${this.run.mode}-${i}`;
    const tech = new TechnicianClient({
      url: gateway.url,
      name,
      token: issueToken(gateway.secret, name, 3600),
      reconnect: false,
    });
    const pair: Pair = { tech, customer: null };
    this.#live.push(pair);
    const t0 = performance.now();
    await tech.connect();
    const t1 = performance.now();
    const { sessionId, pin } = await tech.createSession(`customer ${i}`);
    const t2 = performance.now();
    const queued = tech.waitForCustomer(sessionId, 10_000);
    const customer = new CustomerClient({
      url: gateway.url,
      pin,
      name: `customer ${i}`,
      noScreen: 'scale bench',
      reconnect: false,
    });
    pair.customer = customer;
    const t3 = performance.now();
    await customer.connect();
    const t4 = performance.now();
    await queued;
    if (!counted) return;
    this.run.techConnectMs.push(t1 - t0);
    this.run.createMs.push(t2 - t1);
    this.run.joinMs.push(t4 - t3);
    this.run.totalMs.push(t2 - t1 + (t4 - t3));
  }

  /** Ends counting: CPU, wall time and Redis's counters over the counted pairs. */
  async endCounting(): Promise<void> {
    const cpu1 = processCpuMs(this.#gateway.pid);
    this.run.wallMs = performance.now() - this.#wall0;
    if (this.#cpu0 !== null && cpu1 !== null) this.run.gatewayCpuMs = cpu1 - this.#cpu0;
    if (this.#redis0 !== null) {
      const d = redisDelta(this.#redis0, await readRedis(this.#redis.client));
      this.run.redisCalls = d.calls;
      this.run.redisCpuMs = d.cpuMs;
    }
    if (!this.#gateway.child.running) {
      throw new Error(`gateway exited\n${this.#gateway.child.tail}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#live.flatMap((p) => [
        p.tech.close().catch(() => undefined),
        p.customer?.close().catch(() => undefined),
      ]),
    );
    await this.#gateway.child.stop();
  }
}

/** Waits until `nextStart`, then gives the start after it (`intervalMs` 0: no pacing). */
async function pace(nextStart: number, intervalMs: number): Promise<number> {
  if (intervalMs <= 0) return nextStart;
  const wait = nextStart - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return Math.max(nextStart + intervalMs, performance.now());
}

/** One gateway, `warmup` + `pairs` sessions paired in turn; returns the counted timings. */
export async function pairingRun(
  mode: DirectoryMode,
  round: number,
  pairs: number,
  warmup: number,
  redis: BenchRedis,
  nodeArgs: readonly string[] = [],
  /** taskset -c list for the gateway ('' = not pinned). */
  cpus = '',
  /** ms from one pair's start to the next (0 = each pair starts when the last is done). */
  intervalMs = 0,
  /** Gateway config overrides (`--set`). */
  sets: Record<string, string> = {},
): Promise<PairingRun> {
  const pairer = await Pairer.start(mode, round, pairs, redis, nodeArgs, cpus, sets);
  try {
    let nextStart = performance.now();
    for (let i = 0; i < warmup + pairs; i++) {
      nextStart = await pace(nextStart, intervalMs);
      if (i === warmup) await pairer.beginCounting();
      await pairer.pair(i, i >= warmup);
    }
    await pairer.endCounting();
    return pairer.run;
  } finally {
    await pairer.stop();
  }
}

/**
 * Both modes at once, pair by pair: a gateway with each directory runs for the whole round, and
 * the pairs alternate between them, one at a time: pair i goes to both, which one first
 * alternating with i (redis, memory, memory, redis, ... in odd rounds). Each gateway's CPU is read
 * over the whole round, so its CPU per pair includes its background work during the other's
 * pairs. Whatever the machine does meanwhile (a neighbour on the VM, the
 * clients' own pauses) then falls on both alike, which the same pairs run one mode after the
 * other do not get: there the two percentiles come from different minutes.
 */
export async function interleavedRuns(
  round: number,
  pairs: number,
  warmup: number,
  redis: BenchRedis,
  nodeArgs: (mode: DirectoryMode) => readonly string[],
  cpus = '',
  intervalMs = 0,
  sets: Record<string, string> = {},
): Promise<PairingRun[]> {
  const started: Pairer[] = [];
  try {
    for (const mode of ['memory', 'redis'] as const) {
      started.push(await Pairer.start(mode, round, pairs, redis, nodeArgs(mode), cpus, sets));
    }
    const [memory, directory] = started as [Pairer, Pairer];
    let nextStart = performance.now();
    for (let i = 0; i < warmup + pairs; i++) {
      if (i === warmup) {
        await memory.beginCounting();
        await directory.beginCounting();
      }
      const order = (i + round) % 2 === 0 ? [memory, directory] : [directory, memory];
      for (const pairer of order) {
        nextStart = await pace(nextStart, intervalMs);
        await pairer.pair(i, i >= warmup);
      }
    }
    await memory.endCounting();
    await directory.endCounting();
    return [memory.run, directory.run];
  } finally {
    await Promise.all(started.map((p) => p.stop()));
  }
}
