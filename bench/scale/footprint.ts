/**
 * Part 2, Redis footprint: one gateway with `--directory redis://`, S sessions set up with the
 * reference clients (technician connects, CreateSession, customer joins with the PIN, PickUp:
 * ACTIVE), then `chats` chat messages per session (alternately technician and customer, each
 * waited for until its echo, which waits for the journal line's copy in Redis), then every
 * session ended by its technician. Redis is read between the phases (INFO memory, keyspace,
 * commandstats, main-thread CPU); its idle rate (the gateway's heartbeat and member listing,
 * Redis' own cron) is measured first and taken off every phase. The live state is counted by
 * key kind (SCAN) with MEMORY USAGE of a sample of each kind.
 *
 * commandstats counts the commands run inside Lua scripts too. A second, small sample of
 * sessions goes through the same phases with MONITOR on, which tells the commands the gateway
 * sent (round trips: a MULTI…EXEC block is one) from those its scripts ran, heartbeats left out.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  type BenchRedis,
  type GatewayProcess,
  keysByKind,
  pool,
  type RedisDelta,
  readRedis,
  redisDelta,
  sleep,
  startGateway,
} from './common.js';

/** Writes the gateway makes behind its replies land within this after a phase. */
const SETTLE_MS = 500;

export interface FootprintOptions {
  readonly sessions: number;
  readonly chats: number;
  readonly chatBytes: number;
  readonly concurrency: number;
  readonly idleS: number;
  readonly monitorSessions: number;
}

export interface PhaseCost {
  readonly units: number;
  readonly ms: number;
  /** Commands (commandstats, incl. inside Lua) per unit, the idle rate taken off. */
  readonly callsPerUnit: number;
  /** Redis main-thread CPU µs per unit, the idle rate taken off. */
  readonly cpuUsPerUnit: number;
  /** used_memory change per unit, bytes. */
  readonly bytesPerUnit: number;
  readonly keysPerUnit: number;
  readonly byCommandPerUnit: Record<string, number>;
}

export interface MonitorPhase {
  /** Commands the gateway sent (MULTI and EXEC included), per session or chat message. */
  clientCommands: number;
  /** Commands its Lua scripts ran. */
  luaCommands: number;
  /** Requests it waited for a reply to (a MULTI…EXEC block is one). */
  roundTrips: number;
  byCommand: Record<string, number>;
}

export interface FootprintResult {
  readonly sessions: number;
  readonly chats: number;
  readonly chatBytes: number;
  readonly baseline: { usedMemory: number; keys: number };
  readonly idle: {
    callsPerSec: number;
    cpuMsPerSec: number;
    byCommandPerSec: Record<string, number>;
  };
  readonly setup: PhaseCost;
  readonly chat: PhaseCost;
  readonly teardown: PhaseCost;
  /** With every session live and its chats sent. */
  readonly live: {
    readonly usedMemory: number;
    readonly keys: number;
    readonly bytesPerSession: number;
    readonly keysPerSession: number;
    readonly byKind: Record<string, { keys: number; perSession: number; avgBytes: number }>;
  };
  /** Keys still there once every session ended (beyond the baseline). */
  readonly afterTeardown: { keys: number; bytesPerSession: number; byKind: Record<string, number> };
  readonly monitor: {
    readonly sessions: number;
    readonly setup: MonitorPhase;
    readonly chat: MonitorPhase;
    readonly teardown: MonitorPhase;
  };
  /** Sizes of the records a heartbeat and a member listing move. */
  readonly memberRecordBytes: number;
}

interface Live {
  readonly tech: TechnicianClient;
  customer: CustomerClient | null;
  sessionId: string;
}

async function setUp(gateway: GatewayProcess, index: number, into: Live[]): Promise<void> {
  const name = `scale-tech-${index}`;
  const tech = new TechnicianClient({
    url: gateway.url,
    name,
    token: issueToken(gateway.secret, name, 3600),
    reconnect: false,
  });
  const live: Live = { tech, customer: null, sessionId: '' };
  into.push(live);
  await tech.connect();
  const { sessionId, pin } = await tech.createSession(`customer ${index}`);
  live.sessionId = sessionId;
  const queued = tech.waitForCustomer(sessionId, 20_000);
  const customer = new CustomerClient({
    url: gateway.url,
    pin,
    name: `customer ${index}`,
    noScreen: 'scale bench',
    reconnect: false,
  });
  live.customer = customer;
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
}

function chatText(session: number, n: number, bytes: number): string {
  const head = `s${session} m${n} `;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

async function converse(live: Live, index: number, chats: number, bytes: number): Promise<void> {
  for (let n = 0; n < chats; n++) {
    const sender = n % 2 === 0 ? live.tech : live.customer!;
    const text = chatText(index, n, bytes);
    // the echo comes back once the gateway logged it (and Redis has the journal line)
    const echo = waitFor(sender, 'chat', (c) => c.text === text, 20_000);
    sender.chat(text);
    await echo;
  }
}

async function tearDown(live: Live): Promise<void> {
  const customerGone = live.customer?.ws
    ? new Promise<void>((resolve) => live.customer!.ws!.once('close', () => resolve()))
    : Promise.resolve();
  await live.tech.endSession(live.sessionId, 'scale bench');
  await Promise.race([customerGone, sleep(5000)]);
  await live.tech.close();
  await live.customer?.close();
}

async function closeAll(lives: readonly Live[]): Promise<void> {
  await Promise.all(
    lives.flatMap((l) => [
      l.tech.close().catch(() => undefined),
      l.customer?.close().catch(() => undefined),
    ]),
  );
}

function phaseCost(d: RedisDelta, units: number, idle: FootprintResult['idle']): PhaseCost {
  const s = d.ms / 1000;
  const byCommandPerUnit: Record<string, number> = {};
  for (const [name, n] of Object.entries(d.byCommand)) {
    const net = n - (idle.byCommandPerSec[name] ?? 0) * s;
    if (net / units >= 0.005) byCommandPerUnit[name] = net / units;
  }
  return {
    units,
    ms: d.ms,
    callsPerUnit: Math.max(0, d.calls - idle.callsPerSec * s) / units,
    cpuUsPerUnit: (Math.max(0, d.cpuMs - idle.cpuMsPerSec * s) * 1000) / units,
    bytesPerUnit: d.memory / units,
    keysPerUnit: d.keys / units,
    byCommandPerUnit,
  };
}

const HEARTBEAT_KEY = /^ferry:(gws$|gw:)/;

/** Counts what the gateway sends Redis while `run` goes, by phase (MONITOR). */
class Monitor {
  phase: 'setup' | 'chat' | 'teardown' | null = null;
  readonly counts = {
    setup: Monitor.#empty(),
    chat: Monitor.#empty(),
    teardown: Monitor.#empty(),
  };
  readonly #blocks = new Map<string, string[][]>();
  #conn: Redis | null = null;

  static #empty(): MonitorPhase {
    return { clientCommands: 0, luaCommands: 0, roundTrips: 0, byCommand: {} };
  }

  async start(client: Redis): Promise<void> {
    this.#conn = await client.duplicate().monitor();
    this.#conn.on('monitor', (_time: string, args: string[], source: string) =>
      this.#seen(args, source),
    );
  }

  #seen(args: string[], source: string): void {
    const phase = this.phase;
    if (phase === null || args.length === 0) return;
    const c = this.counts[phase];
    const name = args[0]!.toLowerCase();
    const keyOf = (a: string[]) => {
      const n = a[0]!.toLowerCase();
      return (n === 'evalsha' || n === 'eval' ? a[3] : a[1]) ?? '';
    };
    if (source === 'lua') {
      if (HEARTBEAT_KEY.test(keyOf(args))) return; // the member listing's script
      c.luaCommands++;
      c.byCommand[`lua ${name}`] = (c.byCommand[`lua ${name}`] ?? 0) + 1;
      return;
    }
    if (name === 'multi') {
      this.#blocks.set(source, []);
      return;
    }
    const block = this.#blocks.get(source);
    if (block !== undefined) {
      if (name !== 'exec') {
        block.push(args);
        return;
      }
      this.#blocks.delete(source);
      if (block.some((a) => HEARTBEAT_KEY.test(keyOf(a)))) return; // a heartbeat
      c.roundTrips++;
      c.clientCommands += block.length + 2;
      const label = `multi(${block.map((a) => a[0]!.toLowerCase()).join(',')})`;
      c.byCommand[label] = (c.byCommand[label] ?? 0) + 1;
      return;
    }
    if (/^(info|dbsize|scan|memory|flushall|client|monitor|select|ping)$/.test(name)) return;
    if (HEARTBEAT_KEY.test(keyOf(args))) return; // the member listing
    c.roundTrips++;
    c.clientCommands++;
    c.byCommand[name] = (c.byCommand[name] ?? 0) + 1;
  }

  stop(): void {
    this.phase = null;
    this.#conn?.disconnect();
  }
}

function perUnit(m: MonitorPhase, units: number): MonitorPhase {
  const byCommand: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.byCommand)) byCommand[k] = v / units;
  return {
    clientCommands: m.clientCommands / units,
    luaCommands: m.luaCommands / units,
    roundTrips: m.roundTrips / units,
    byCommand,
  };
}

export async function footprintRun(
  options: FootprintOptions,
  redis: BenchRedis,
  log: (line: string) => void,
): Promise<FootprintResult> {
  const { client } = redis;
  await client.flushall();
  const gateway = await startGateway(redis.url);
  const lives: Live[] = [];
  const sample: Live[] = [];
  let monitor: Monitor | null = null;
  try {
    // the gateway's membership written and its first listing done
    await sleep(2500);
    const r0 = await readRedis(client);
    await sleep(options.idleS * 1000);
    const r1 = await readRedis(client);
    const idleD = redisDelta(r0, r1);
    const idleS = idleD.ms / 1000;
    const idle = {
      callsPerSec: idleD.calls / idleS,
      cpuMsPerSec: idleD.cpuMs / idleS,
      byCommandPerSec: Object.fromEntries(
        Object.entries(idleD.byCommand).map(([k, v]) => [k, v / idleS]),
      ),
    };
    const gwKey = (await client.keys('ferry:gw:*'))[0];
    const memberRecordBytes = gwKey === undefined ? 0 : ((await client.strlen(gwKey)) as number);

    const S = options.sessions;
    const t0 = performance.now();
    await pool(
      Array.from({ length: S }, (_, i) => i),
      options.concurrency,
      (i) => setUp(gateway, i, lives),
    );
    log(`  ${S} sessions set up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(SETTLE_MS);
    const r2 = await readRedis(client);
    const t1 = performance.now();
    await pool(lives, options.concurrency, (l, i) =>
      converse(l, i, options.chats, options.chatBytes),
    );
    log(
      `  ${S * options.chats} chat messages in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    await sleep(SETTLE_MS);
    const r3 = await readRedis(client);
    const kinds = await keysByKind(client);
    const r3b = await readRedis(client);
    await pool(lives, options.concurrency, (l) => tearDown(l));
    log(`  ${S} sessions ended`);
    await sleep(SETTLE_MS);
    const r4 = await readRedis(client);
    const leftKinds = await keysByKind(client, 0);

    // the MONITOR sample: a few sessions through the same phases, one at a time
    monitor = new Monitor();
    await monitor.start(client);
    await sleep(200);
    const M = options.monitorSessions;
    monitor.phase = 'setup';
    for (let i = 0; i < M; i++) await setUp(gateway, S + i, sample);
    await sleep(SETTLE_MS);
    monitor.phase = 'chat';
    for (const [i, l] of sample.entries())
      await converse(l, S + i, options.chats, options.chatBytes);
    await sleep(SETTLE_MS);
    monitor.phase = 'teardown';
    for (const l of sample) await tearDown(l);
    await sleep(SETTLE_MS);
    monitor.stop();
    if (!gateway.child.running) throw new Error(`gateway exited\n${gateway.child.tail}`);

    const baselineKinds = new Set(['ferry:gw', 'ferry:gws']);
    const byKind: FootprintResult['live']['byKind'] = {};
    for (const [kind, k] of Object.entries(kinds)) {
      if (baselineKinds.has(kind)) continue;
      byKind[kind] = {
        keys: k.keys,
        perSession: k.keys / S,
        avgBytes: k.sampled === 0 ? 0 : k.sampledBytes / k.sampled,
      };
    }
    const left: Record<string, number> = {};
    for (const [kind, k] of Object.entries(leftKinds)) {
      if (!baselineKinds.has(kind)) left[kind] = k.keys;
    }
    return {
      sessions: S,
      chats: options.chats,
      chatBytes: options.chatBytes,
      baseline: { usedMemory: r1.usedMemory, keys: r1.keys },
      idle,
      setup: phaseCost(redisDelta(r1, r2), S, idle),
      chat: phaseCost(redisDelta(r2, r3), S * options.chats, idle),
      teardown: phaseCost(redisDelta(r3b, r4), S, idle),
      live: {
        usedMemory: r3.usedMemory,
        keys: r3.keys,
        bytesPerSession: (r3.usedMemory - r1.usedMemory) / S,
        keysPerSession: (r3.keys - r1.keys) / S,
        byKind,
      },
      afterTeardown: {
        keys: r4.keys - r1.keys,
        bytesPerSession: (r4.usedMemory - r1.usedMemory) / S,
        byKind: left,
      },
      monitor: {
        sessions: M,
        setup: perUnit(monitor.counts.setup, M),
        chat: perUnit(monitor.counts.chat, M * options.chats),
        teardown: perUnit(monitor.counts.teardown, M),
      },
      memberRecordBytes,
    };
  } finally {
    monitor?.stop();
    await closeAll([...lives, ...sample]);
    await gateway.child.stop();
  }
}
