/**
 * One measured run of the direct bench: a gateway process of its own, a technician and a
 * customer (the reference clients, src/clients) in this process, an Active session with VIEW and
 * CONTROL granted, then
 *
 *   bare    the gateway alone, no client yet: its CPU floor (timers, metrics)
 *   idle    the session with no traffic for a while: the gateway's CPU (heartbeats, statistics
 *           pushes, and on the direct path the ends' keepalive reports)
 *   input   ping-pong: the technician sends a ~1 KiB INPUT frame (InputEvent.text), the customer
 *           answers at once with a small SCREEN frame carrying the input's seq
 *           (ScreenUpdate.frame_seq), the technician times send to receipt, then the next
 *   screen  the customer sends 16 KiB SCREEN frames at 256 frames/s (4 MiB/s) for `seconds`
 *           after a warm-up, at most `window` frames in flight (sent, not yet received: the
 *           relay bench's bounded window, which keeps werift's SCTP queue short); the gateway's
 *           CPU over that window and what the technician received
 *
 * `relay`: both clients without `direct`, every frame through the gateway. `direct`: both with
 * `direct: { networks: ['127.0.0.0/8'] }` and the gateway with p2pNetworks=127.0.0.0/8; the run
 * starts measuring only once both ends say the path is up and the gateway's DirectStatus says
 * DIRECT_STATE_DIRECT. The gateway's router counters (its `sample` answer) prove where the
 * frames went: on the direct path it forwards no SCREEN and no INPUT frame.
 *
 * `control` (measureControl): the gateway process started the same way and left with no client
 * at all, while this process runs the direct run's load between two DirectLinks of its own (the
 * clients' code, werift with networks 127.0.0.0/8, the gateway's keepalive and report defaults)
 * signalled in-process: the same SCREEN frames, rate, window, warm-up and window length. Its
 * gateway CPU is the direct run's baseline: the idle gateway plus what the werift peers next
 * door cost it (a shared cache and memory bus), none of it work for a session. No input part.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatewayEnv, gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { DirectLink } from '../../src/clients/direct-link.js';
import { weriftPeers } from '../../src/clients/direct-werift.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { Channel, encodeFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { type Child, spawnChild } from '../common/children.js';
import {
  busyCoreMs,
  irqCoreMs,
  type MachineCpu,
  machineCpu,
  processCpuMs,
  stealCoreMs,
} from '../common/proc.js';

export type Mode = 'relay' | 'direct' | 'control';

export const LOOPBACK_NETWORKS = '127.0.0.0/8';
const DIRECT_OPTIONS = { networks: [LOOPBACK_NETWORKS] };
const DIRECT = ferry.v1.DirectState.DIRECT_STATE_DIRECT;
const SCREEN = Channel.CHANNEL_SCREEN;
const INPUT = Channel.CHANNEL_INPUT;
/** The customer's synthetic monitor 1 (SyntheticScreen defaults): tiles must fit it. */
const MONITOR = { id: 1, width: 1280, height: 720 };
/** Bytes of the echo tile's data: the answer is small, the question 1 KiB. */
const ECHO_DATA_BYTES = 32;
/** A round trip not answered within this is a lost frame: the run fails. */
const ROUND_TRIP_TIMEOUT_MS = 5000;
/** The gateway's DirectOpen defaults (src/handlers/direct.ts), for the control's own pair. */
const CONTROL_OPEN = { keepaliveMs: 250, stallMs: 1500, reportIntervalMs: 2000, iceServers: [] };

export interface RunOptions {
  readonly mode: Mode;
  readonly round: number;
  /** Round trips timed, after `warmupRoundTrips` not timed. */
  readonly roundTrips: number;
  readonly warmupRoundTrips: number;
  /** Encoded size of one INPUT frame (the InputEvent's text is sized to make it). */
  readonly inputBytes: number;
  /** Encoded size of one SCREEN frame of the load. */
  readonly screenBytes: number;
  readonly screenFps: number;
  /** SCREEN frames in flight at most (sent, not yet received); 0: open loop. */
  readonly window: number;
  /** The measured screen window, after `screenWarmupS`. */
  readonly seconds: number;
  readonly screenWarmupS: number;
  readonly idleS: number;
  /** taskset list for the gateway ('' = not pinned). */
  readonly gatewayCpus: string;
  /** Node flags for the gateway (e.g. --cpu-prof). */
  readonly gatewayNodeArgs?: readonly string[];
}

/** The gateway's answer to `sample` (gateway.ts). */
interface GatewaySample {
  readonly atMs: number;
  readonly cpuUs: number;
  readonly systemUs: number;
  /** /proc/<pid>/stat utime + stime (10 ms ticks): the relay bench's reading, kept as a check. */
  readonly procCpuMs: number | null;
  readonly screenInFrames: number;
  readonly screenOutFrames: number;
  readonly screenOutBytes: number;
  readonly inputInFrames: number;
  readonly inputOutFrames: number;
  readonly dropped: number;
  readonly directUp: number;
  readonly directFlowing: number;
}

interface Window {
  readonly gateway: GatewaySample;
  readonly machine: MachineCpu | null;
  readonly runner: NodeJS.CpuUsage;
}

export interface CpuWindow {
  readonly ms: number;
  /** Gateway CPU (user + system, every thread) over the window, ms and % of one core. */
  readonly gatewayCpuMs: number;
  readonly gatewayCpuPct: number;
  /** Of it, in the kernel (system time). */
  readonly gatewaySystemPct: number;
  /** SCREEN frames the gateway received from a client in the window, per second. */
  readonly gatewayScreenInPerSec: number;
  /** The same from /proc ticks (coarse): a cross-check. */
  readonly gatewayProcCpuPct: number | null;
  /** This process (both clients, werift on the direct path), % of one core. */
  readonly runnerCpuPct: number;
  readonly irqCpuPct: number | null;
  readonly stealCpuPct: number | null;
  /** Busy time of the machine not taken by the gateway, this process or interrupts. */
  readonly otherCpuPct: number | null;
  readonly machineBusyPct: number | null;
}

export interface LatencyResult {
  readonly count: number;
  readonly warmup: number;
  readonly inputFrameBytes: number;
  readonly echoFrameBytes: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Timed round trips per second of wall time (one in flight). */
  readonly perSec: number;
  /** INPUT frames the gateway forwarded meanwhile, and those the customer took off the channel. */
  readonly gatewayInputFrames: number;
  readonly directInputFrames: number;
  readonly cpu: CpuWindow;
}

export interface ScreenResult {
  readonly frameBytes: number;
  readonly fps: number;
  readonly offeredMBps: number;
  /** Frames the customer handed to its client in the window (all routes; control: its link). */
  readonly framesSent: number;
  /** SCREEN frames and bytes the technician received in the window (relay and channel alike). */
  readonly framesReceived: number;
  readonly bytesReceived: number;
  readonly receivedMBps: number;
  /** Of them, on the data channel. */
  readonly directFramesReceived: number;
  /** SCREEN frames the gateway wrote to a client in the window. */
  readonly gatewayScreenFrames: number;
  /** Timer ticks at which the window held a due frame back (the path was behind). */
  readonly heldTicks: number;
  /** Frames sent over the whole load never received after the drain. */
  readonly lost: number;
  readonly cpu: CpuWindow;
  /** Gateway CPU per MB (10^6 bytes) the technician received. */
  readonly gatewayMsPerMB: number;
}

export interface RunResult {
  readonly mode: Mode;
  readonly round: number;
  readonly setupMs: number;
  /** Direct: from the customer's Hello to both ends up and the status DIRECT. Control: from
   *  the pair's DirectOpen to both links up. */
  readonly directUpMs: number | null;
  /** The gateway alone, before any client connected (control: before the pair is made). */
  readonly bare: CpuWindow;
  /** The session with no traffic (control: the gateway still alone, the pair up and idle). */
  readonly idle: CpuWindow;
  /** Null in the control (no input part). */
  readonly latency: LatencyResult | null;
  readonly screen: ScreenResult;
  readonly gatewayDropped: number;
  readonly directFallbacks: number;
}

// --- the gateway process ---------------------------------------------------------------------

const GATEWAY = new URL('./gateway.js', import.meta.url).pathname;

export interface GatewayProcess {
  readonly child: Child;
  readonly pid: number;
  readonly url: string;
  readonly secret: string;
}

export async function startGateway(
  cpus: string,
  nodeArgs: readonly string[] = [],
): Promise<GatewayProcess> {
  const child = spawnChild(
    'gateway',
    GATEWAY,
    ['--set', `p2pNetworks=${LOOPBACK_NETWORKS}`],
    cpus,
    gatewayNodeFlags(nodeArgs),
    gatewayEnv(),
  );
  try {
    const line = await child.next('target', 20_000);
    return {
      child,
      pid: Number(line.pid),
      url: `ws://127.0.0.1:${Number(line.port)}/v1/ws`,
      secret: String(line.secret),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

async function sampleGateway(g: GatewayProcess): Promise<GatewaySample> {
  g.child.proc.stdin!.write('sample\n');
  const m = await g.child.next('sample', 5000);
  const n = (k: string) => Number(m[k] ?? 0);
  return {
    atMs: performance.now(),
    cpuUs: n('userUs') + n('systemUs'),
    systemUs: n('systemUs'),
    procCpuMs: processCpuMs(g.pid),
    screenInFrames: n('screenInFrames'),
    screenOutFrames: n('screenOutFrames'),
    screenOutBytes: n('screenOutBytes'),
    inputInFrames: n('inputInFrames'),
    inputOutFrames: n('inputOutFrames'),
    dropped: n('dropped'),
    directUp: n('directUp'),
    directFlowing: n('directFlowing'),
  };
}

async function open(g: GatewayProcess): Promise<Window> {
  // the machine and this process first: the gateway's answer is the window's start
  const machine = machineCpu();
  const runner = process.cpuUsage();
  return { gateway: await sampleGateway(g), machine, runner };
}

async function close(g: GatewayProcess, from: Window): Promise<[CpuWindow, GatewaySample]> {
  const gateway = await sampleGateway(g);
  const runner = process.cpuUsage(from.runner);
  const machine = machineCpu();
  const ms = gateway.atMs - from.gateway.atMs;
  const pct = (cpuMs: number) => (100 * cpuMs) / ms;
  const gatewayCpuMs = (gateway.cpuUs - from.gateway.cpuUs) / 1000;
  const runnerCpuMs = (runner.user + runner.system) / 1000;
  const procMs =
    gateway.procCpuMs !== null && from.gateway.procCpuMs !== null
      ? gateway.procCpuMs - from.gateway.procCpuMs
      : null;
  let irq: number | null = null;
  let steal: number | null = null;
  let other: number | null = null;
  let busy: number | null = null;
  if (machine !== null && from.machine !== null) {
    const busyMs = busyCoreMs(from.machine, machine);
    irq = irqCoreMs(from.machine, machine);
    steal = stealCoreMs(from.machine, machine);
    busy = pct(busyMs);
    other = pct(Math.max(0, busyMs - irq - gatewayCpuMs - runnerCpuMs));
  }
  return [
    {
      ms,
      gatewayCpuMs,
      gatewayCpuPct: pct(gatewayCpuMs),
      gatewaySystemPct: pct((gateway.systemUs - from.gateway.systemUs) / 1000),
      gatewayScreenInPerSec: (1000 * (gateway.screenInFrames - from.gateway.screenInFrames)) / ms,
      gatewayProcCpuPct: procMs === null ? null : pct(procMs),
      runnerCpuPct: pct(runnerCpuMs),
      irqCpuPct: irq === null ? null : pct(irq),
      stealCpuPct: steal === null ? null : pct(steal),
      otherCpuPct: other,
      machineBusyPct: busy,
    },
    gateway,
  ];
}

// --- frames ----------------------------------------------------------------------------------

/** The InputEvent text that makes an INPUT frame of `bytes` (at a two-byte seq). */
export function inputText(bytes: number): string {
  const frame = (text: string) =>
    encodeFrame({
      channel: INPUT,
      input: { seq: 1000, sentTimeMs: performance.now(), text: { text } },
    }).length;
  let length = Math.max(0, bytes - 32);
  while (length > 0 && frame('x'.repeat(length)) > bytes) length--;
  while (frame('x'.repeat(length + 1)) <= bytes) length++;
  return 'x'.repeat(length);
}

function tile(frameSeq: number, data: Uint8Array): Uint8Array {
  return encodeFrame({
    channel: SCREEN,
    stream: MONITOR.id,
    screen: {
      frameSeq,
      x: 0,
      y: 0,
      width: 64,
      height: 64,
      encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_TEST_PATTERN,
      data,
      screenWidth: MONITOR.width,
      screenHeight: MONITOR.height,
      lastTile: true,
    },
  });
}

/** One SCREEN frame of exactly `bytes`, encoded once and sent over and over (the relay bench's way). */
export function screenFrame(bytes: number): Uint8Array {
  let data = Math.max(0, bytes - 64);
  const size = (n: number) => tile(1, new Uint8Array(n)).length;
  while (data > 0 && size(data) > bytes) data--;
  while (size(data + 1) <= bytes) data++;
  const payload = new Uint8Array(data);
  for (let i = 0; i < data; i++) payload[i] = (i * 131 + 7) & 0xff;
  return tile(1, payload);
}

// --- the run ---------------------------------------------------------------------------------

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Resolves once both ends say the path is up and the gateway's status says DIRECT. */
function directUp(client: TechnicianClient | CustomerClient, timeoutMs: number): Promise<unknown> {
  const link = client.direct;
  if (link === null) return Promise.reject(new Error('the client has no direct link'));
  if (link.up && link.status?.state === DIRECT) return Promise.resolve();
  return waitFor(
    client,
    'direct',
    (l: DirectLink) => l.up && l.status?.state === DIRECT,
    timeoutMs,
  ).catch(() => {
    throw new Error(
      `no direct path within ${timeoutMs} ms (state ${link.state}, status ${JSON.stringify(link.status)}, last close: ${link.lastCloseReason || '-'})`,
    );
  });
}

async function pingPong(
  tech: TechnicianClient,
  customer: CustomerClient,
  text: string,
  count: number,
): Promise<{ rtts: Float64Array; inputBytes: number; echoBytes: number; wallMs: number }> {
  const rtts = new Float64Array(count);
  const echoData = new Uint8Array(ECHO_DATA_BYTES);
  let echoBytes = 0;
  // the customer answers every input at once with a small tile carrying its seq
  const echo = (frame: ferry.v1.Frame) => {
    if (frame.channel !== INPUT || frame.input == null) return;
    const bytes = tile(frame.input.seq ?? 0, echoData);
    echoBytes = bytes.length;
    customer.sendRaw(bytes);
  };
  customer.on('frame', echo);
  let inputBytes = 0;
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let i = 0;
      let expect = -1;
      let sentAt = 0;
      let timer: NodeJS.Timeout | null = null;
      const finish = (err?: Error) => {
        tech.off('frame', onFrame);
        if (timer !== null) clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const next = () => {
        if (i === count) {
          finish();
          return;
        }
        sentAt = performance.now();
        if (!tech.sendInput({ text: { text } })) {
          finish(new Error('the technician could not send'));
          return;
        }
        expect = tech.lastInputSeq;
        if (inputBytes === 0) {
          inputBytes = encodeFrame({
            channel: INPUT,
            input: { seq: expect, sentTimeMs: sentAt, text: { text } },
          }).length;
        }
        timer = setTimeout(
          () => finish(new Error(`round trip ${i} (seq ${expect}): no answer`)),
          ROUND_TRIP_TIMEOUT_MS,
        );
      };
      const onFrame = (frame: ferry.v1.Frame) => {
        const s = frame.screen;
        if (frame.channel !== SCREEN || s == null || s.frameSeq !== expect) return;
        if ((s.data?.length ?? 0) !== ECHO_DATA_BYTES) return;
        rtts[i++] = performance.now() - sentAt;
        expect = -1;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        // the next question once this receive handler has returned (no re-entry into werift)
        setImmediate(next);
      };
      tech.on('frame', onFrame);
      next();
    });
  } finally {
    customer.off('frame', echo);
  }
  return { rtts, inputBytes, echoBytes, wallMs: performance.now() - started };
}

/** The two ends of the screen load: the customer's send, the technician's counters. */
interface ScreenEnds {
  send(bytes: Uint8Array): boolean;
  /** SCREEN frames and bytes the technician end received so far (every route). */
  frames(): number;
  bytes(): number;
  /** Of the frames, those that came on the data channel. */
  directFrames(): number;
}

function clientEnds(customer: CustomerClient, tech: TechnicianClient): ScreenEnds {
  return {
    send: (bytes) => customer.sendRaw(bytes),
    frames: () => tech.screenFrames,
    bytes: () => tech.screenBytes,
    directFrames: () => tech.direct?.framesReceived ?? 0,
  };
}

/**
 * Sends `frame` at `fps` until stopped, catching up on timer lateness, with at most `window`
 * frames sent and not yet received by the technician (0: no bound). Without a bound a burst
 * beyond what werift's SCTP has in flight piles up in its send queue, and werift then spends
 * its time on that queue (a waiter per pending send, see bench/README.md): the rate collapses.
 */
function pace(
  ends: ScreenEnds,
  frame: Uint8Array,
  fps: number,
  window: number,
): { stop(): void; sent(): number; failed(): boolean; held(): number } {
  const started = performance.now();
  const receivedBefore = ends.frames();
  let sent = 0;
  let failed = false;
  let held = 0;
  const tick = () => {
    const due = Math.floor(((performance.now() - started) * fps) / 1000);
    while (sent < due) {
      if (window > 0 && sent - (ends.frames() - receivedBefore) >= window) {
        held++;
        return;
      }
      if (!ends.send(frame)) {
        failed = true;
        clearInterval(timer);
        return;
      }
      sent++;
    }
  };
  const timer = setInterval(tick, 4);
  return {
    stop: () => clearInterval(timer),
    sent: () => sent,
    failed: () => failed,
    held: () => held,
  };
}

/**
 * The screen part: `frame` at `screenFps` through `ends`, `screenWarmupS` of warm-up, then the
 * gateway's CPU (and this process's) over `seconds`, then a drain.
 */
async function screenLoad(
  gateway: GatewayProcess,
  ends: ScreenEnds,
  options: RunOptions,
): Promise<ScreenResult> {
  const frame = screenFrame(options.screenBytes);
  const framesBefore = ends.frames();
  const load = pace(ends, frame, options.screenFps, options.window);
  try {
    await sleep(options.screenWarmupS * 1000);
    const techFrames = ends.frames();
    const techBytes = ends.bytes();
    const techDirect = ends.directFrames();
    const sentFrom = load.sent();
    const heldFrom = load.held();
    const from = await open(gateway);
    await sleep(options.seconds * 1000);
    const [cpu, to] = await close(gateway, from);
    const framesReceived = ends.frames() - techFrames;
    const bytesReceived = ends.bytes() - techBytes;
    const framesSent = load.sent() - sentFrom;
    const heldTicks = load.held() - heldFrom;
    load.stop();
    if (load.failed()) throw new Error('the customer could not send (connection closed)');
    // drain: everything sent should arrive
    const total = load.sent();
    const drainUntil = performance.now() + 3000;
    while (ends.frames() - framesBefore < total && performance.now() < drainUntil) {
      await sleep(20);
    }
    const receivedMBps = bytesReceived / 1e6 / (cpu.ms / 1000);
    return {
      frameBytes: frame.length,
      fps: options.screenFps,
      offeredMBps: (frame.length * options.screenFps) / 1e6,
      framesSent,
      framesReceived,
      bytesReceived,
      heldTicks,
      receivedMBps,
      directFramesReceived: ends.directFrames() - techDirect,
      gatewayScreenFrames: to.screenOutFrames - from.gateway.screenOutFrames,
      lost: Math.max(0, total - (ends.frames() - framesBefore)),
      cpu,
      gatewayMsPerMB: bytesReceived > 0 ? cpu.gatewayCpuMs / (bytesReceived / 1e6) : Number.NaN,
    };
  } finally {
    load.stop();
  }
}

export async function measureRun(options: RunOptions): Promise<RunResult> {
  if (options.mode === 'control') return measureControl(options);
  const isDirect = options.mode === 'direct';
  const gateway = await startGateway(options.gatewayCpus, options.gatewayNodeArgs);
  const clients: (TechnicianClient | CustomerClient)[] = [];
  try {
    await sleep(500);
    const bareFrom = await open(gateway);
    await sleep(options.idleS * 1000);
    const [bare] = await close(gateway, bareFrom);

    const setupStarted = performance.now();
    const direct = isDirect ? { direct: DIRECT_OPTIONS } : {};
    const tech = new TechnicianClient({
      url: gateway.url,
      token: issueToken(gateway.secret, 'bench-tech', 3600),
      name: 'bench-tech',
      reconnect: false,
      ...direct,
    });
    clients.push(tech);
    await tech.connect();
    const { sessionId, pin } = await tech.createSession();
    const customer = new CustomerClient({
      url: gateway.url,
      pin,
      name: 'bench-customer',
      consent: ['view', 'control'],
      reconnect: false,
      ...direct,
    });
    clients.push(customer);
    const queued = tech.waitForCustomer(sessionId);
    const helloAt = performance.now();
    await customer.connect();
    await queued;
    await tech.pickUp(sessionId);
    await tech.requestConsent(['view', 'control']);
    let directUpMs: number | null = null;
    if (isDirect) {
      await Promise.all([directUp(tech, 30_000), directUp(customer, 30_000)]);
      directUpMs = performance.now() - helloAt;
      if (customer.direct!.relayScreen)
        throw new Error('the gateway asks for SCREEN on the relay too');
    }
    const setupMs = performance.now() - setupStarted;
    // let the set-up's own work (consent, first reports, statistics) settle
    await sleep(500);

    // idle
    const idleFrom = await open(gateway);
    await sleep(options.idleS * 1000);
    const [idle] = await close(gateway, idleFrom);

    // input round trips
    const text = inputText(options.inputBytes);
    await pingPong(tech, customer, text, options.warmupRoundTrips);
    const directInputBefore = customer.direct?.framesReceived ?? 0;
    const latFrom = await open(gateway);
    const pp = await pingPong(tech, customer, text, options.roundTrips);
    const [latCpu, latTo] = await close(gateway, latFrom);
    const sorted = pp.rtts.slice().sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    const latency: LatencyResult = {
      count: sorted.length,
      warmup: options.warmupRoundTrips,
      inputFrameBytes: pp.inputBytes,
      echoFrameBytes: pp.echoBytes,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p99Ms: percentile(sorted, 99),
      minMs: sorted[0] ?? Number.NaN,
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      meanMs: sum / Math.max(1, sorted.length),
      perSec: (1000 * sorted.length) / pp.wallMs,
      gatewayInputFrames: latTo.inputOutFrames - latFrom.gateway.inputOutFrames,
      directInputFrames: (customer.direct?.framesReceived ?? 0) - directInputBefore,
      cpu: latCpu,
    };

    // screen at fps x frameBytes
    const screen = await screenLoad(gateway, clientEnds(customer, tech), options);
    const last = await sampleGateway(gateway);
    if (isDirect && (!tech.direct!.up || tech.direct!.status?.state !== DIRECT)) {
      throw new Error(
        `the direct path went down during the run (${tech.direct!.lastCloseReason || 'no reason'})`,
      );
    }
    return {
      mode: options.mode,
      round: options.round,
      setupMs,
      directUpMs,
      bare,
      idle,
      latency,
      screen,
      gatewayDropped: last.dropped,
      directFallbacks: (tech.direct?.fallbacks ?? 0) + (customer.direct?.fallbacks ?? 0),
    };
  } finally {
    for (const c of clients.reverse()) {
      c.direct?.close('bench finished');
      await Promise.race([c.close(), sleep(2000)]);
    }
    await gateway.child.stop();
  }
}

// --- the control -----------------------------------------------------------------------------

/** Two DirectLinks in this process, signalled to each other without a gateway. */
interface LoopbackPair {
  readonly tech: DirectLink;
  readonly customer: DirectLink;
  readonly ends: ScreenEnds;
  close(): void;
}

/**
 * The direct run's two ends without the gateway: each DirectLink is the one a client makes (its
 * host as in src/clients/client.ts: weriftPeers with networks 127.0.0.0/8, so only loopback
 * candidates and pairs), and its host's `sendControl` hands the other link the DirectSignal on the
 * next turn of the loop where a client would send it to the gateway (DirectUp and DirectReport go
 * nowhere). The technician end decodes each frame and counts SCREEN, as the technician client
 * does with a frame from the channel. Resolves once both links are up.
 */
async function loopbackPair(timeoutMs: number): Promise<LoopbackPair> {
  const peers = await weriftPeers(DIRECT_OPTIONS);
  let frames = 0;
  let bytes = 0;
  let check: (() => void) | null = null;
  const links: { tech?: DirectLink; customer?: DirectLink } = {};
  const make = (role: 'technician' | 'customer', other: () => DirectLink | undefined) =>
    new DirectLink({
      role,
      sendControl: (control) => {
        const signal = control.directSignal;
        if (signal != null) setImmediate(() => other()?.onControl({ directSignal: signal }));
      },
      createPeer: (open) => peers.create(open),
      keepsCandidate: (line) => peers.keepsCandidate(line),
      deliver: (frame, raw) => {
        if (role === 'technician' && frame.channel === SCREEN) {
          frames++;
          bytes += raw.length;
        }
        return true;
      },
      changed: () => check?.(),
      now: () => performance.now(),
    });
  const tech = make('technician', () => links.customer);
  const customer = make('customer', () => links.tech);
  links.tech = tech;
  links.customer = customer;
  const pair: LoopbackPair = {
    tech,
    customer,
    ends: {
      send: (raw) => customer.send(raw),
      frames: () => frames,
      bytes: () => bytes,
      directFrames: () => tech.framesReceived,
    },
    close: () => {
      tech.close('bench finished');
      customer.close('bench finished');
    },
  };
  const open = { ...CONTROL_OPEN, pathId: 1, token: randomBytes(18).toString('base64url') };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `the control's pair was not up within ${timeoutMs} ms (technician ${tech.state}, customer ${customer.state}, last close: ${tech.lastCloseReason || customer.lastCloseReason || '-'})`,
            ),
          ),
        timeoutMs,
      );
      check = () => {
        if (tech.up && customer.up) {
          clearTimeout(timer);
          check = null;
          resolve();
        }
      };
      customer.onControl({ directOpen: { ...open, offerer: false } });
      tech.onControl({ directOpen: { ...open, offerer: true } });
    });
  } catch (err) {
    pair.close();
    throw err;
  }
  return pair;
}

/**
 * The control run (see the top): the gateway as in the other runs, no client; the bare and idle
 * windows, then the screen part over a loopback pair in this process, measured as in the others.
 */
async function measureControl(options: RunOptions): Promise<RunResult> {
  const gateway = await startGateway(options.gatewayCpus, options.gatewayNodeArgs);
  let pair: LoopbackPair | null = null;
  try {
    await sleep(500);
    const bareFrom = await open(gateway);
    await sleep(options.idleS * 1000);
    const [bare] = await close(gateway, bareFrom);

    const setupStarted = performance.now();
    pair = await loopbackPair(30_000);
    const setupMs = performance.now() - setupStarted;
    await sleep(500);

    const idleFrom = await open(gateway);
    await sleep(options.idleS * 1000);
    const [idle] = await close(gateway, idleFrom);

    const screen = await screenLoad(gateway, pair.ends, options);
    const last = await sampleGateway(gateway);
    if (!pair.tech.up || !pair.customer.up) {
      throw new Error(
        `the control's pair went down during the run (${pair.tech.lastCloseReason || pair.customer.lastCloseReason || 'no reason'})`,
      );
    }
    if (last.screenInFrames !== 0 || last.inputInFrames !== 0) {
      throw new Error("the control run's gateway received frames: it should have no client");
    }
    return {
      mode: options.mode,
      round: options.round,
      setupMs,
      directUpMs: setupMs,
      bare,
      idle,
      latency: null,
      screen,
      gatewayDropped: last.dropped,
      directFallbacks: pair.tech.fallbacks + pair.customer.fallbacks,
    };
  } finally {
    pair?.close();
    await gateway.child.stop();
  }
}
