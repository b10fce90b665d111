/**
 * `ferry demo`: a gateway, a technician and a customer on loopback in one process. The
 * technician picks the session up and asks for view, control and system information; the
 * customer's policy grants them (the gateway relays nothing of a channel before that). Then the
 * customer streams its synthetic screen, the technician moves the customer's pointer, reads
 * the system information once, and both chat; once a second the demo prints the session status
 * and what was relayed per channel. Then one summary, as JSON.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../clients/client.js';
import { CustomerClient } from '../clients/customer.js';
import { toNames } from '../clients/permissions.js';
import { collectSysinfo } from '../clients/sysinfo.js';
import { TechnicianClient } from '../clients/technician.js';
import { resolveConfig } from '../config/config.js';
import { Gateway } from '../gateway.js';
import { silentLogger } from '../log.js';
import { connectivityName } from '../netstats/grades.js';
import { formatStatsTable } from '../netstats/table.js';
import { channelName } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { issueToken } from '../session/tokens.js';
import { defineCommand, type ExitRequest } from './common.js';

export interface DemoOptions {
  readonly seconds: number;
  /** Frames per second of the customer's screen. */
  readonly fps: number;
  /** Called once a second with a one-line status (omit for silence). */
  readonly print?: (line: string) => void;
  /**
   * Screen and input on a direct path (docs/direct-path.md), every candidate on loopback: the
   * gateway passes only 127.0.0.0/8 and the clients offer and probe nothing else.
   */
  readonly direct?: boolean;
}

/** The demo's direct path: candidates on loopback only, at the gateway and at both clients. */
const LOOPBACK = ['127.0.0.0/8'];

export interface DemoSummary {
  seconds: number;
  status: string;
  relayed: Record<string, { frames: number; bytes: number; framesPerSecond: number }>;
  screen: { sent: number; received: number; bytesReceived: number };
  input: { sent: number; applied: number; pointer: { x: number; y: number } };
  chat: { sent: number; received: number };
  /** What the customer granted, and the system information categories the technician read. */
  consent: { granted: string[]; sysinfoCategories: string[] };
  droppedFrames: number;
  errors: Record<string, number>;
  /** The technician's latest NetworkStats: one row per participant. */
  network: { role: string; name: string; avgRttMs: number; grade: string; peerToPeer: boolean }[];
  /** With `direct`: whether the path came up, and the frames that went on it. */
  direct?: {
    up: boolean;
    why: string;
    screenFrames: number;
    /**
     * SCREEN frames the customer dropped because the channel's queue was full (as the relay
     * drops them for a slow technician; a whole picture follows once it drains).
     */
    screenDropped: number;
    inputEvents: number;
    channelRttMs: number;
  };
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-demo-'));
  const config = resolveConfig(
    {
      port: 0,
      adminPort: 0,
      host: '127.0.0.1',
      dataDir,
      logLevel: 'silent',
      // Faster probes than the 2 s default, so a short demo shows graded RTTs.
      heartbeatIntervalMs: 500,
      statsIntervalMs: 1000,
      ...(options.direct ? { p2pNetworks: LOOPBACK.join(',') } : {}),
    },
    {},
  );
  const gateway = await Gateway.start(config, silentLogger());
  const url = `ws://127.0.0.1:${gateway.port}/v1/ws`;
  const technician = new TechnicianClient({
    url,
    name: 'tech-1',
    token: issueToken(gateway.config.secret, 'tech-1', 3600),
    ...(options.direct ? { direct: { networks: LOOPBACK } } : {}),
  });
  let customer: CustomerClient | null = null;
  let ticker: NodeJS.Timeout | null = null;
  try {
    await technician.connect();
    const { sessionId, pin } = await technician.createSession('demo customer');
    customer = new CustomerClient({
      url,
      pin,
      name: 'demo customer',
      screen: { tileBytes: 4096 },
      // the demo's customer says yes to everything the technician asks
      consent: ['view', 'control', 'sysinfo'],
      // two quick categories: the demo does not wait for a CPU sample of every process
      sysinfo: (categories) => collectSysinfo(categories.length > 0 ? categories : ['os']),
      ...(options.direct ? { direct: { networks: LOOPBACK } } : {}),
    });
    const queued = technician.waitForCustomer(sessionId);
    await customer.connect();
    await queued;
    await technician.pickUp(sessionId);
    const consent = await technician.requestConsent(
      ['view', 'control', 'sysinfo'],
      'demo: see and operate your screen, read system information',
    );
    const granted = toNames(consent.granted);
    const info = await technician.requestSysinfo(['os', 'hardware']);
    const sysinfoCategories = Object.keys(info.snapshot?.categories ?? {});
    options.print?.(
      `customer granted ${granted.join(', ')}; system information: ${sysinfoCategories.join(', ')}`,
    );
    if (options.direct) {
      const link = technician.direct!;
      const up = () => link.up && link.status?.state === ferry.v1.DirectState.DIRECT_STATE_DIRECT;
      if (!up()) await waitFor(technician, 'direct', up, 10_000).catch(() => undefined);
      options.print?.(
        up()
          ? 'direct path up: screen and input go peer-to-peer'
          : `still relayed: ${link.status?.reason || link.lastCloseReason || 'no direct route'}`,
      );
    }
    // sharing starts (the technicians are told); the demo paces the frames itself, below
    await customer.request({ screenShareStart: {} });
    let chatReceived = 0;
    technician.on('chat', () => chatReceived++);
    customer.on('chat', () => chatReceived++);
    let chatSent = 0;
    let inputSent = 0;
    let screenSent = 0;
    const started = performance.now();
    const stats = gateway.router.stats;
    let lastFrames = new Float64Array(stats.outFrames);
    let second = 0;
    const frameTimer = setInterval(
      () => {
        screenSent += customer!.sendScreenFrame().length;
        const t = (performance.now() - started) / 1000;
        const x = Math.round(640 + 500 * Math.cos(t));
        const y = Math.round(360 + 300 * Math.sin(t));
        if (technician.movePointer(x, y)) inputSent++;
      },
      Math.round(1000 / options.fps),
    );
    ticker = setInterval(() => {
      second++;
      if (second % 2 === 1) {
        technician.chat(`tech-1: second ${second}, how does it look?`);
        chatSent++;
      } else {
        customer!.chat(`customer: all good at second ${second}`);
        chatSent++;
      }
      if (options.print) {
        const session = gateway.registry.get(sessionId);
        const parts: string[] = [];
        for (let ch = 1; ch < stats.outFrames.length; ch++) {
          const frames = stats.outFrames[ch]! - lastFrames[ch]!;
          if (stats.outFrames[ch]! > 0)
            parts.push(`${channelName(ch)} ${frames} fr/s ${formatBytes(stats.outBytes[ch]!)}`);
        }
        lastFrames = new Float64Array(stats.outFrames);
        options.print(
          `[${second}s] session ${session?.status ?? 'ended'} | relayed ${parts.join(' | ')}`,
        );
        if (second % 3 === 0 && technician.latestStats !== null) {
          options.print(formatStatsTable(technician.latestStats));
        }
      }
    }, 1000);
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
    clearInterval(frameTimer);
    clearInterval(ticker);
    ticker = null;
    // Let in-flight frames land before counting.
    const lastChat = customer.chat.bind(customer);
    const flushed = waitFor(technician, 'chat', (c) => c.text === 'customer: done');
    lastChat('customer: done');
    chatSent++;
    await flushed;
    if (options.direct) await directLanded(technician, customer, screenSent);
    const elapsed = (performance.now() - started) / 1000;
    const session = gateway.registry.get(sessionId);
    const relayed: DemoSummary['relayed'] = {};
    for (let ch = 1; ch < stats.outFrames.length; ch++) {
      if (stats.outFrames[ch] === 0) continue;
      relayed[channelName(ch)] = {
        frames: stats.outFrames[ch]!,
        bytes: stats.outBytes[ch]!,
        framesPerSecond: Math.round(stats.outFrames[ch]! / elapsed),
      };
    }
    let dropped = 0;
    for (const d of stats.dropped) dropped += d;
    return {
      seconds: Math.round(elapsed * 10) / 10,
      status: session?.status ?? 'ENDED',
      relayed,
      screen: {
        sent: screenSent,
        received: technician.screenFrames,
        bytesReceived: technician.screenBytes,
      },
      input: {
        sent: inputSent,
        applied: customer.inputEvents,
        pointer: { x: customer.pointer.x, y: customer.pointer.y },
      },
      chat: { sent: chatSent, received: chatReceived },
      consent: { granted, sysinfoCategories },
      droppedFrames: dropped,
      network: (technician.latestStats?.participants ?? []).map((p) => ({
        role: p.role === ferry.v1.Role.ROLE_TECHNICIAN ? 'technician' : 'customer',
        name: p.displayName ?? '',
        avgRttMs: Math.round((p.avgRttMs ?? 0) * 10) / 10,
        grade: connectivityName(p.status ?? 0),
        peerToPeer: p.peerToPeer === true,
      })),
      errors: Object.fromEntries(stats.errors),
      ...(options.direct
        ? {
            direct: {
              up: technician.direct!.up,
              why: technician.direct!.status?.reason ?? '',
              screenFrames: technician.direct!.framesReceived,
              screenDropped: customer.direct!.screenDropped,
              inputEvents: customer.direct!.framesReceived,
              channelRttMs: technician.direct!.rttMs,
            },
          }
        : {}),
    };
  } finally {
    if (ticker !== null) clearInterval(ticker);
    customer?.stopScreen();
    await Promise.all([customer?.close(), technician.close()]);
    await gateway.close('demo finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Frames still on the direct channel have landed (it is ordered): the counts can be read. */
/** How long the demo waits for the frames still on the direct path before it counts. */
const DIRECT_LANDING_MS = 5000;

async function directLanded(
  technician: TechnicianClient,
  customer: CustomerClient,
  screenSent: number,
): Promise<void> {
  const t = technician.direct!;
  const c = customer.direct!;
  // the customer's own count too: frames still queued at its end are not in c.framesSent yet
  const landed = () =>
    technician.screenFrames >= screenSent - c.screenDropped &&
    t.framesReceived >= c.framesSent &&
    c.framesReceived >= t.framesSent;
  if (landed() || !t.up) return;
  let done: () => void = () => undefined;
  const check = () => {
    if (landed()) done();
  };
  technician.on('frame', check);
  customer.on('frame', check);
  // a channel that died meanwhile: its frames will not come. The bound is generous: the
  // direct path's SCTP runs in JavaScript (werift), and on a busy machine (a CI run with two
  // test files at once) its last frames took over 2 s to land.
  await new Promise<void>((resolve) => {
    done = () => resolve();
    setTimeout(resolve, DIRECT_LANDING_MS).unref();
  });
  technician.off('frame', check);
  customer.off('frame', check);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export const demoCommand = defineCommand({
  command: 'demo',
  describe:
    'gateway + technician + customer on loopback; prints status and relay counters each second',
  builder: (y) =>
    y
      .option('seconds', { type: 'number', default: 10, describe: 'how long to run' })
      .option('fps', {
        type: 'number',
        default: 20,
        describe: 'customer screen frames per second',
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print one JSON summary at the end only',
      })
      .option('direct', {
        type: 'boolean',
        default: false,
        describe:
          'send the screen and input on a direct path (WebRTC on loopback) instead of the relay',
      }),
  run: async (argv): Promise<ExitRequest> => {
    const summary = await runDemo({
      seconds: argv.seconds,
      fps: argv.fps,
      direct: argv.direct,
      ...(argv.json ? {} : { print: (line: string) => console.log(line) }),
    });
    console.log(argv.json ? JSON.stringify(summary) : JSON.stringify(summary, null, 2));
    return undefined;
  },
});
