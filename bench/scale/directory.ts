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
): Promise<PairingRun> {
  if (mode === 'redis') await redis.client.flushall();
  const directory = mode === 'memory' ? 'memory' : redis.url;
  const gateway = await startGateway(directory, {}, nodeArgs, cpus);
  const live: Pair[] = [];
  const run: PairingRun = {
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
  };
  try {
    let cpu0: number | null = null;
    let wall0 = 0;
    let redis0: RedisReading | null = null;
    let nextStart = performance.now();
    for (let i = 0; i < warmup + pairs; i++) {
      if (intervalMs > 0) {
        const wait = nextStart - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        nextStart = Math.max(nextStart + intervalMs, performance.now());
      }
      const counted = i >= warmup;
      if (i === warmup) {
        cpu0 = processCpuMs(gateway.pid);
        wall0 = performance.now();
        if (mode === 'redis') redis0 = await readRedis(redis.client);
      }
      const name = `scale-tech-${i}`;
      const tech = new TechnicianClient({
        url: gateway.url,
        name,
        token: issueToken(gateway.secret, name, 3600),
        reconnect: false,
      });
      const pair: Pair = { tech, customer: null };
      live.push(pair);
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
      if (!counted) continue;
      run.techConnectMs.push(t1 - t0);
      run.createMs.push(t2 - t1);
      run.joinMs.push(t4 - t3);
      run.totalMs.push(t2 - t1 + (t4 - t3));
    }
    const cpu1 = processCpuMs(gateway.pid);
    run.wallMs = performance.now() - wall0;
    if (cpu0 !== null && cpu1 !== null) run.gatewayCpuMs = cpu1 - cpu0;
    if (redis0 !== null) {
      const d = redisDelta(redis0, await readRedis(redis.client));
      run.redisCalls = d.calls;
      run.redisCpuMs = d.cpuMs;
    }
    if (!gateway.child.running) throw new Error(`gateway exited\n${gateway.child.tail}`);
    return run;
  } finally {
    await Promise.all(
      live.flatMap((p) => [
        p.tech.close().catch(() => undefined),
        p.customer?.close().catch(() => undefined),
      ]),
    );
    await gateway.child.stop();
  }
}
