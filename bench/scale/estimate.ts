/**
 * Part 4, the paper estimate: a deployment of G gateways holding N live sessions, with λ new
 * sessions per second (and as many ending, in a steady state) and c chat messages per session per
 * minute, from the footprint part's measured costs. Pure arithmetic, every step printed.
 *
 * - Lifetime (Little's law): T = N / λ. A live session's journal copy holds the chat of its age so
 *   far: on average c/60 × T/2 lines (equal lifetimes; exponential ones would make it c/60 × T).
 * - Keys: N × (measured keys per live session) + one attempt counter per customer Hello for its
 *   TTL (2 min, one address each: the worst case) + 2 per gateway (member, gw-sessions) + 1.
 * - Memory: N × (bytes per session set up + lines × bytes per chat line) + the attempt counters.
 * - Commands/s: λ × (setup + teardown) + N × c/60 × chat + heartbeats: each gateway every second
 *   MULTI SET SADD EXEC (1 round trip, 4 commands) and every 2 s the member listing, a script
 *   that runs SMEMBERS and one GET per member: 2 + G commands, G records back.
 * - Redis CPU (one main thread): the measured µs per setup, chat and teardown; the heartbeats at
 *   the setup's µs per command.
 */
import type { FootprintResult } from './footprint.js';

export interface EstimateParams {
  readonly gateways: number;
  readonly sessions: number;
  readonly setupPerSec: number;
  readonly chatPerSessionPerMin: number;
}

/** How long a customer's attempt counter lives (src/directory/redis.ts ATTEMPT_TTL_MS). */
const ATTEMPT_TTL_S = 120;
const HEARTBEAT_PER_S = 1;
const MEMBERS_PER_S = 0.5;

export interface Estimate {
  readonly params: EstimateParams;
  readonly lifetimeS: number;
  readonly chatLinesPerSession: number;
  readonly keys: { sessions: number; attempts: number; gateways: number; total: number };
  readonly memoryBytes: { sessions: number; chat: number; attempts: number; total: number };
  readonly commandsPerSec: {
    setup: number;
    teardown: number;
    chat: number;
    heartbeat: number;
    members: number;
    total: number;
  };
  readonly roundTripsPerSec: number;
  readonly heartbeatWritesPerSec: number;
  readonly memberRecordsReadPerSec: number;
  readonly redisCpuPct: number;
  /** Left behind by ended sessions (never removed), per hour at λ. */
  readonly leftPerHour: { keys: number; bytes: number };
  readonly oneInstance: boolean;
  readonly lines: string[];
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export function estimate(f: FootprintResult, p: EstimateParams): Estimate {
  const G = p.gateways;
  const N = p.sessions;
  const lambda = p.setupPerSec;
  const lifetimeS = N / lambda;
  const chatPerSec = (N * p.chatPerSessionPerMin) / 60;
  const chatLinesPerSession = (p.chatPerSessionPerMin / 60) * (lifetimeS / 2);

  // keys: the live state per session without the one shared attempt counter of the bench
  const attemptsKind = f.live.byKind['ferry:attempts'];
  const attemptKeyBytes = attemptsKind?.avgBytes ?? 100;
  const sessionKeys = Object.entries(f.live.byKind)
    .filter(([kind]) => kind !== 'ferry:attempts')
    .reduce((sum, [, k]) => sum + k.perSession, 0);
  const keysSessions = N * sessionKeys;
  const keysAttempts = lambda * ATTEMPT_TTL_S;
  const keysGateways = 2 * G + 1;

  // memory: set-up state per session (its few chat lines taken off) + the lines of its age
  const perLine = f.chat.bytesPerUnit;
  const perSessionSetUp = f.setup.bytesPerUnit;
  const memSessions = N * perSessionSetUp;
  const memChat = N * chatLinesPerSession * perLine;
  const memAttempts = keysAttempts * attemptKeyBytes;

  const setupCmds = lambda * f.setup.callsPerUnit;
  const teardownCmds = lambda * f.teardown.callsPerUnit;
  const chatCmds = chatPerSec * f.chat.callsPerUnit;
  const heartbeatCmds = G * HEARTBEAT_PER_S * 4;
  const membersCmds = G * MEMBERS_PER_S * (2 + G);
  const totalCmds = setupCmds + teardownCmds + chatCmds + heartbeatCmds + membersCmds;
  const m = f.monitor;
  const roundTrips =
    lambda * (m.setup.roundTrips + m.teardown.roundTrips) +
    chatPerSec * m.chat.roundTrips +
    G * (HEARTBEAT_PER_S + MEMBERS_PER_S);
  const usPerCmd = f.setup.callsPerUnit > 0 ? f.setup.cpuUsPerUnit / f.setup.callsPerUnit : 0;
  const cpuUsPerSec =
    lambda * (f.setup.cpuUsPerUnit + f.teardown.cpuUsPerUnit) +
    chatPerSec * f.chat.cpuUsPerUnit +
    (heartbeatCmds + membersCmds) * usPerCmd;
  const redisCpuPct = cpuUsPerSec / 1e4;
  const totalMem = memSessions + memChat + memAttempts;
  // one instance: its one command thread at most half busy, and the data in a modest host
  const oneInstance = redisCpuPct <= 50 && totalMem <= 16 * 2 ** 30;

  const endedPerHour = lambda * 3600;
  const leftKeys = (f.afterTeardown.keys - (attemptsKind === undefined ? 0 : 1)) / f.sessions;
  const leftBytes = Math.max(0, f.afterTeardown.bytesPerSession);
  const leftPerHour = { keys: endedPerHour * leftKeys, bytes: endedPerHour * leftBytes };
  const lines = [
    `G = ${G} gateways, N = ${n0(N)} live sessions, λ = ${n0(lambda)} new sessions/s (as many end), ${p.chatPerSessionPerMin} chat message/session/min`,
    `lifetime T = N/λ = ${n0(lifetimeS)} s; chat lines per live session ≈ ${p.chatPerSessionPerMin}/60 × T/2 = ${chatLinesPerSession.toFixed(1)}; chat = N × ${p.chatPerSessionPerMin}/60 = ${n0(chatPerSec)} msg/s`,
    `keys: N × ${sessionKeys.toFixed(2)} = ${n0(keysSessions)}; attempt counters λ × ${ATTEMPT_TTL_S} s = ${n0(keysAttempts)}; gateways 2G+1 = ${keysGateways}; total ≈ ${n0(keysSessions + keysAttempts + keysGateways)}`,
    `memory: N × ${n0(perSessionSetUp)} B (set up) = ${gib(memSessions)}; + N × ${chatLinesPerSession.toFixed(1)} lines × ${n0(perLine)} B = ${gib(memChat)}; + counters ${n0(keysAttempts)} × ${n0(attemptKeyBytes)} B = ${mib(memAttempts)}; total ≈ ${gib(totalMem)} (used_memory, before fragmentation and replication buffers)`,
    `commands/s (incl. inside Lua): setup λ × ${f.setup.callsPerUnit.toFixed(1)} = ${n0(setupCmds)}; teardown λ × ${f.teardown.callsPerUnit.toFixed(1)} = ${n0(teardownCmds)}; chat ${n0(chatPerSec)} × ${f.chat.callsPerUnit.toFixed(2)} = ${n0(chatCmds)}; heartbeats G × 4 = ${n0(heartbeatCmds)}; member listing G × 0.5 × (2+G) = ${n0(membersCmds)}; total ≈ ${n0(totalCmds)}`,
    `round trips/s: λ × (${m.setup.roundTrips.toFixed(1)} + ${m.teardown.roundTrips.toFixed(1)}) + ${n0(chatPerSec)} × ${m.chat.roundTrips.toFixed(2)} + G × 1.5 ≈ ${n0(roundTrips)}`,
    `heartbeat writes/s: G × 1 = ${n0(G * HEARTBEAT_PER_S)} (SET gw:<id> + SADD gws in one MULTI); member listing: ${n0(G * MEMBERS_PER_S)} calls/s reading ${n0(G * MEMBERS_PER_S * G)} records/s of ~${f.memberRecordBytes} B (${mib(G * MEMBERS_PER_S * G * f.memberRecordBytes)}/s out)`,
    `Redis main-thread CPU: λ × (${f.setup.cpuUsPerUnit.toFixed(0)} + ${f.teardown.cpuUsPerUnit.toFixed(0)}) µs + ${n0(chatPerSec)} × ${f.chat.cpuUsPerUnit.toFixed(0)} µs + heartbeats ${n0(heartbeatCmds + membersCmds)} × ${usPerCmd.toFixed(1)} µs ≈ ${redisCpuPct.toFixed(0)}% of one core (loopback, measured here)`,
    `one Redis instance holds it: ${oneInstance ? 'yes' : 'no'} (criteria: main thread ≤ 50% busy, used_memory ≤ 16 GiB)`,
  ];
  if (leftKeys > 0.01) {
    lines.push(
      `left behind: each ended session leaves ${leftKeys.toFixed(2)} keys, ${n0(leftBytes)} B (no TTL); λ × 3600 = ${n0(endedPerHour)} ended sessions/h → +${n0(leftPerHour.keys)} keys, +${gib(leftPerHour.bytes)} per hour, without bound`,
    );
  }
  return {
    params: p,
    lifetimeS,
    chatLinesPerSession,
    keys: {
      sessions: keysSessions,
      attempts: keysAttempts,
      gateways: keysGateways,
      total: keysSessions + keysAttempts + keysGateways,
    },
    memoryBytes: { sessions: memSessions, chat: memChat, attempts: memAttempts, total: totalMem },
    commandsPerSec: {
      setup: setupCmds,
      teardown: teardownCmds,
      chat: chatCmds,
      heartbeat: heartbeatCmds,
      members: membersCmds,
      total: totalCmds,
    },
    roundTripsPerSec: roundTrips,
    heartbeatWritesPerSec: G * HEARTBEAT_PER_S,
    memberRecordsReadPerSec: G * MEMBERS_PER_S * G,
    redisCpuPct,
    leftPerHour,
    oneInstance,
    lines,
  };
}
