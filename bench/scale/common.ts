/**
 * What the three parts of the scale bench share: a redis-server of their own (Debian's, on a
 * free loopback port, killed when the runner ends), a client that reads its INFO, SCAN and
 * MEMORY USAGE, one Ferry gateway process (the relay bench's Ferry target: the real Gateway,
 * limits lifted, silent, port 0, a throwaway data directory), percentiles and the printed cells.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { gatewayEnv, gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { startRedis } from '../../test/support/redis.js';
import { type Child, spawnChild } from '../common/children.js';
import { type Stat, stat } from '../relay/report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The relay bench's Ferry target (read-only reuse): prints {"type":"target",pid,port,secret}. */
const FERRY_TARGET = path.join(HERE, '..', 'relay', 'targets', 'ferry.js');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// --- cleanup ---------------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
let exitHookInstalled = false;

/** Registers `fn` to run at the end (runCleanups) and, its synchronous part, on process exit. */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // startRedis' cleanup kills the server synchronously before it awaits: enough on exit
  process.on('exit', () => {
    for (const f of cleanups.splice(0)) {
      try {
        void f();
      } catch {
        // exiting anyway
      }
    }
  });
}

/** Runs every registered cleanup, newest first. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup failed: ${(err as Error).message}\n`);
    }
  }
}

// --- Redis -----------------------------------------------------------------------------------

export interface BenchRedis {
  readonly url: string;
  readonly port: number;
  /** The server's process (INFO process_id). */
  readonly pid: number;
  /** The bench's own connection (INFO, SCAN, MEMORY USAGE, FLUSHALL). */
  readonly client: Redis;
  readonly version: string;
}

/** A redis-server on a free 127.0.0.1 port, stopped by runCleanups or on exit. */
export async function benchRedis(): Promise<BenchRedis> {
  const server = await startRedis({ after: (fn) => onCleanup(fn) });
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await client.connect();
  onCleanup(() => client.disconnect());
  const info = parseInfo(await client.info('server'));
  return {
    url: server.url,
    port: server.port,
    pid: Number(info.process_id),
    client,
    version: info.redis_version ?? '?',
  };
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/** Commands the bench itself sends (not counted as the gateway's). */
const BENCH_COMMANDS = /^(info|dbsize|scan|memory\|.*|flushall|client\|.*|monitor|select|ping)$/;

export interface CommandCount {
  calls: number;
  usec: number;
}

export interface RedisReading {
  readonly atMs: number;
  readonly usedMemory: number;
  readonly keys: number;
  /** CPU seconds of Redis' main thread (user + system): the single-threaded limit. */
  readonly cpuMainS: number;
  /** commandstats, the bench's own commands left out; includes commands run inside Lua. */
  readonly commands: Record<string, CommandCount>;
}

export async function readRedis(client: Redis): Promise<RedisReading> {
  const info = parseInfo(await client.info('all'));
  const commands: Record<string, CommandCount> = {};
  for (const [key, value] of Object.entries(info)) {
    if (!key.startsWith('cmdstat_')) continue;
    const name = key.slice('cmdstat_'.length);
    if (BENCH_COMMANDS.test(name)) continue;
    const calls = /calls=(\d+)/.exec(value);
    const usec = /usec=(\d+)/.exec(value);
    commands[name] = { calls: Number(calls?.[1] ?? 0), usec: Number(usec?.[1] ?? 0) };
  }
  const keys = /keys=(\d+)/.exec(info.db0 ?? '');
  return {
    atMs: performance.now(),
    usedMemory: Number(info.used_memory ?? 0),
    keys: Number(keys?.[1] ?? 0),
    cpuMainS:
      Number(info.used_cpu_user_main_thread ?? info.used_cpu_user ?? 0) +
      Number(info.used_cpu_sys_main_thread ?? info.used_cpu_sys ?? 0),
    commands,
  };
}

export interface RedisDelta {
  readonly ms: number;
  readonly memory: number;
  readonly keys: number;
  readonly cpuMs: number;
  readonly calls: number;
  readonly byCommand: Record<string, number>;
}

export function redisDelta(a: RedisReading, b: RedisReading): RedisDelta {
  const byCommand: Record<string, number> = {};
  let calls = 0;
  for (const [name, c] of Object.entries(b.commands)) {
    const n = c.calls - (a.commands[name]?.calls ?? 0);
    if (n <= 0) continue;
    byCommand[name] = n;
    calls += n;
  }
  return {
    ms: b.atMs - a.atMs,
    memory: b.usedMemory - a.usedMemory,
    keys: b.keys - a.keys,
    cpuMs: (b.cpuMainS - a.cpuMainS) * 1000,
    calls,
    byCommand,
  };
}

/** Keys by kind (`ferry:<kind>:...`), counted with SCAN; a sample of each measured. */
export async function keysByKind(
  client: Redis,
  samplePerKind = 50,
): Promise<Record<string, { keys: number; sampledBytes: number; sampled: number }>> {
  const out: Record<string, { keys: number; sampledBytes: number; sampled: number }> = {};
  const samples: Record<string, string[]> = {};
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const parts = key.split(':');
      const kind = parts.length > 1 ? `${parts[0]}:${parts[1]}` : key;
      const entry = out[kind] ?? { keys: 0, sampledBytes: 0, sampled: 0 };
      out[kind] = entry;
      entry.keys++;
      const list = samples[kind] ?? [];
      samples[kind] = list;
      if (list.length < samplePerKind) list.push(key);
    }
  } while (cursor !== '0');
  for (const [kind, keys] of Object.entries(samples)) {
    for (const key of keys) {
      const bytes = (await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
      if (bytes === null) continue;
      out[kind]!.sampledBytes += bytes;
      out[kind]!.sampled++;
    }
  }
  return out;
}

// --- one gateway process ---------------------------------------------------------------------

export interface GatewayProcess {
  readonly child: Child;
  readonly pid: number;
  readonly port: number;
  readonly secret: string;
  readonly url: string;
}

/**
 * Starts one gateway (the relay bench's Ferry target) with `sets` as config overrides and
 * `nodeArgs` for its Node (e.g. --cpu-prof).
 */
export async function startGateway(
  directory: string,
  sets: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
  /** taskset -c list ('' = not pinned). */
  cpus = '',
): Promise<GatewayProcess> {
  const args = Object.entries({ directory, ...sets }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const child = spawnChild(
    'gateway',
    FERRY_TARGET,
    args,
    cpus,
    gatewayNodeFlags(nodeArgs),
    gatewayEnv(),
  );
  try {
    const line = await child.next('target', 20_000);
    const port = Number(line.port);
    return {
      child,
      pid: Number(line.pid),
      port,
      secret: String(line.secret),
      url: `ws://127.0.0.1:${port}/v1/ws`,
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

// --- numbers ---------------------------------------------------------------------------------

/** The p-th percentile (0..100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export { type Stat, stat };

/** `median [min–max]` over rounds (one round: the value), each formatted by `fmt`. */
export function cell(values: readonly number[], fmt: (v: number) => string): string {
  const s = stat(values.filter((v) => Number.isFinite(v)));
  if (s === null) return '–';
  if (s.n === 1) return fmt(s.median);
  return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
}

export const fmtMs = (v: number) => `${v.toFixed(v >= 10 ? 1 : 2)} ms`;
export const fmtSignedMs = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms`;
export const fmtPct = (v: number) => `${v.toFixed(0)}%`;
export const fmtX = (v: number) => `${v.toFixed(2)}x`;

/** 1234567 -> "1.23M"; bytes -> "1.2 MiB" style. */
export function fmtBytes(v: number): string {
  const a = Math.abs(v);
  if (a >= 2 ** 30) return `${(v / 2 ** 30).toFixed(2)} GiB`;
  if (a >= 2 ** 20) return `${(v / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 2 ** 10) return `${(v / 2 ** 10).toFixed(1)} KiB`;
  return `${v.toFixed(0)} B`;
}

/** Counts as the relay bench prints them (1.23M, 45.6k, 789, 12.3, 1.23). */
export { fmtCount as fmtNum } from '../relay/report.js';

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
