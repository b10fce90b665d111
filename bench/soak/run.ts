/**
 * Soak (issue 7, item 7): N technician/customer pairs in Active sessions on one gateway, with
 * mixed traffic for a set time: screen tiles (customer -> technician), input (technician ->
 * customer) and chat both ways, every reliable frame numbered per session and direction. At the
 * end it waits for the last numbers to arrive, then reports lost, reordered and duplicated
 * reliable frames (all must be 0), the gateway's RSS over time (sampled every --sample-seconds)
 * and its event-loop delay (p50, p99, max), with the load generator's own numbers beside them.
 *
 * The gateway runs in a child process (gateway-child.ts), so its memory and event loop are its
 * own. Exit code 1 when any reliable frame was lost, reordered or duplicated, a frame crossed
 * into another session, or a session could not be opened.
 *
 * Faults (--faults = --cuts --flood --handler-fault; --restart-at S on its own): does anything
 * get lost when things go wrong? Every client then goes through its own fault proxy
 * (fault-proxy.ts), which cuts its connection once at a seeded random moment (a reset, or one in
 * --half-close-every a half-close) and refuses the pair's reconnects for --cut-min-ms to
 * --cut-max-ms; --restart-at kills the gateway with SIGKILL and starts it again on the same port
 * and data directory; --flood opens a customer that floods chat past the gateway's frame rate
 * limit until it is refused; --handler-fault has one session send a frame on a channel whose
 * handler throws. Lost then means acknowledged and never delivered (see faults.ts and
 * docs/benchmarks.md); the exit code is 1 when a fault target fails (see `targets`).
 *
 *   node dist/bench/soak/run.js [--sessions 50] [--seconds 60] [--json] [--out file.json]
 *        [--fps 5] [--input-hz 20] [--chat-hz 2] [--tile-bytes 1024]
 *        [--sample-seconds 5] [--drain-seconds 15]
 *        [--faults] [--cuts] [--flood] [--handler-fault] [--restart-at S] [--seed N]
 *        [--cut-min-ms 500] [--cut-max-ms 3000] [--half-close-every 5] [--outage refuse|hold]
 *        [--flood-limit N] [--flood-every S] [--warmup-seconds 40] [--restart-warmup-seconds 20]
 *        [--max-rss-growth-mb 10]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { FerryClient } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { schema } from '../../src/config/schema.js';
import { Channel, Role } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { freeLoopbackPort } from '../common/ports.js';
import { CutKind, FaultProxy, OutageMode } from './fault-proxy.js';
import {
  addGaps,
  Cause,
  ChatSender,
  ClientGaps,
  emptyGaps,
  type GapCounts,
  InputLedger,
  type LifeGrowth,
  type LifeSample,
  prng,
  rssGrowth,
} from './faults.js';
import { type ChildMessage, GatewayChild } from './gateway-process.js';
import {
  DELAY_RESOLUTION_MS,
  type DelaySummary,
  type RssSample,
  round,
  sampleRss,
  summarize,
} from './measure.js';
import { SequenceTracker, type StreamTotals, sum } from './sequence.js';

const USAGE = `usage: node dist/bench/soak/run.js [--sessions N] [--seconds S] [--json] [--out FILE]
  [--fps F] [--input-hz H] [--chat-hz H] [--tile-bytes B] [--sample-seconds S] [--drain-seconds S]
  [--faults] [--cuts] [--flood] [--handler-fault] [--restart-at S] [--seed N]
  [--cut-min-ms MS] [--cut-max-ms MS] [--half-close-every N] [--outage refuse|hold]
  [--retained-bytes N] (the gateway's budget for session log text)
  [--flood-limit N] [--flood-every S] [--warmup-seconds S] [--restart-warmup-seconds S]
  [--max-rss-growth-mb MB]`;

/** The channel of the handler made to throw (a number no built-in channel uses). */
const THROWING_CHANNEL = 31;
/** Seconds a run may take beyond its traffic and drain (set-up, restarts, teardown). */
const OVERSTAY_SLACK_SECONDS = 120;
/** And per session (set-up, a restart's restore and resumes grow with them). */
const SLACK_PER_SESSION_SECONDS = 0.1;

interface Options {
  readonly sessions: number;
  readonly seconds: number;
  readonly json: boolean;
  readonly out: string;
  readonly fps: number;
  readonly inputHz: number;
  readonly chatHz: number;
  readonly tileBytes: number;
  readonly sampleSeconds: number;
  readonly drainSeconds: number;
  readonly cuts: boolean;
  readonly flood: boolean;
  readonly handlerFault: boolean;
  /** Seconds into the traffic; 0 = no restart. */
  readonly restartAt: number;
  readonly seed: number;
  readonly cutMinMs: number;
  readonly cutMaxMs: number;
  readonly halfCloseEvery: number;
  /** The gateway's --retained-bytes (0: its default). */
  readonly retainedBytes: number;
  readonly outage: OutageMode;
  readonly floodLimit: number;
  readonly floodEvery: number;
  /** The first gateway life's warm-up before its RSS growth is measured. */
  readonly warmupSeconds: number;
  /** The warm-up of a life after a restart (its sessions come back with their state). */
  readonly restartWarmupSeconds: number;
  readonly maxRssGrowthMb: number;
}

const faultsOn = (o: Options) => o.cuts || o.flood || o.handlerFault || o.restartAt > 0;

function options(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '60' },
      json: { type: 'boolean', default: false },
      out: { type: 'string', default: '' },
      fps: { type: 'string', default: '5' },
      'input-hz': { type: 'string', default: '20' },
      'chat-hz': { type: 'string', default: '2' },
      'tile-bytes': { type: 'string', default: '1024' },
      'sample-seconds': { type: 'string', default: '5' },
      'drain-seconds': { type: 'string', default: '15' },
      faults: { type: 'boolean', default: false },
      cuts: { type: 'boolean', default: false },
      flood: { type: 'boolean', default: false },
      'handler-fault': { type: 'boolean', default: false },
      'restart-at': { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      'cut-min-ms': { type: 'string', default: '500' },
      'cut-max-ms': { type: 'string', default: '3000' },
      'half-close-every': { type: 'string', default: '5' },
      outage: { type: 'string', default: OutageMode.REFUSE },
      'flood-limit': { type: 'string', default: String(schema.maxMessagesPerSecond.default) },
      'flood-every': { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string', default: '40' },
      'restart-warmup-seconds': { type: 'string', default: '20' },
      'max-rss-growth-mb': { type: 'string', default: '10' },
      'retained-bytes': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const number = (name: keyof typeof values, min: number): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min)
      throw new RangeError(`--${name} must be a number >= ${min}`);
    return n;
  };
  const positive = (name: keyof typeof values): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name} must be a positive number`);
    return n;
  };
  const outage = values.outage as OutageMode;
  if (outage !== OutageMode.REFUSE && outage !== OutageMode.HOLD) {
    throw new RangeError('--outage must be refuse or hold');
  }
  const o: Options = {
    sessions: Math.round(positive('sessions')),
    seconds: positive('seconds'),
    json: values.json,
    out: values.out,
    fps: positive('fps'),
    inputHz: positive('input-hz'),
    chatHz: positive('chat-hz'),
    tileBytes: Math.round(positive('tile-bytes')),
    sampleSeconds: positive('sample-seconds'),
    drainSeconds: positive('drain-seconds'),
    cuts: values.faults || values.cuts,
    flood: values.faults || values.flood,
    handlerFault: values.faults || values['handler-fault'],
    restartAt: number('restart-at', 0),
    seed: Math.round(number('seed', Number.NEGATIVE_INFINITY)),
    cutMinMs: positive('cut-min-ms'),
    cutMaxMs: positive('cut-max-ms'),
    halfCloseEvery: Math.round(positive('half-close-every')),
    retainedBytes: Math.round(number('retained-bytes', 0)),
    outage,
    floodLimit: Math.round(positive('flood-limit')),
    floodEvery: positive('flood-every'),
    warmupSeconds: number('warmup-seconds', 0),
    restartWarmupSeconds: number('restart-warmup-seconds', 0),
    maxRssGrowthMb: positive('max-rss-growth-mb'),
  };
  if (o.cutMaxMs < o.cutMinMs) throw new RangeError('--cut-max-ms is below --cut-min-ms');
  if (o.restartAt >= o.seconds) throw new RangeError('--restart-at must fall within --seconds');
  if (o.handlerFault && o.sessions < 2) {
    throw new RangeError('--handler-fault needs at least 2 sessions');
  }
  return o;
}

// --- one session ---------------------------------------------------------------------------------

interface Disconnect {
  readonly session: number;
  readonly role: string;
  readonly code: number;
  readonly reason: string;
}

const TEXT = { toCustomer: 't2c', toTechnician: 'c2t' } as const;

/** One side of a pair: its client, its chat sender, its gaps and (faults) its proxy. */
interface Side {
  readonly role: 'technician' | 'customer';
  readonly client: FerryClient;
  readonly chat: ChatSender;
  readonly prefix: string;
  readonly gaps: ClientGaps;
  readonly proxy: FaultProxy | null;
}

/** A technician and a customer in one Active session, with per-direction sequence trackers. */
class Pair {
  readonly index: number;
  readonly tech: TechnicianClient;
  readonly customer: CustomerClient;
  readonly input: SequenceTracker;
  readonly chatToCustomer: SequenceTracker;
  readonly chatToTechnician: SequenceTracker;
  readonly inputLedger = new InputLedger();
  readonly techSide: Side;
  readonly customerSide: Side;
  /** Frames of another session seen by this pair: must stay 0. */
  crossTalk = 0;
  screenTilesSent = 0;
  screenFramesDone = 0;
  inputsDone = 0;
  techChatsDone = 0;
  customerChatsDone = 0;
  /** Start offset (ms) so the pairs do not all send on the same tick. */
  readonly phaseMs: number;
  /** The session chosen to meet the throwing handler. */
  casualty = false;
  /** A side will not come back: the pair sends no more. */
  stopped = false;
  /** Error codes each side received. */
  readonly errors: string[] = [];

  constructor(
    index: number,
    tech: TechnicianClient,
    customer: CustomerClient,
    phaseMs: number,
    acknowledgedOnly: boolean,
    proxies: [FaultProxy | null, FaultProxy | null],
  ) {
    this.index = index;
    this.tech = tech;
    this.customer = customer;
    this.phaseMs = phaseMs;
    this.input = new SequenceTracker(acknowledgedOnly);
    this.chatToCustomer = new SequenceTracker(acknowledgedOnly);
    this.chatToTechnician = new SequenceTracker(acknowledgedOnly);
    this.techSide = {
      role: 'technician',
      client: tech,
      chat: new ChatSender(this.chatToCustomer),
      prefix: TEXT.toCustomer,
      gaps: new ClientGaps(),
      proxy: proxies[0],
    };
    this.customerSide = {
      role: 'customer',
      client: customer,
      chat: new ChatSender(this.chatToTechnician),
      prefix: TEXT.toTechnician,
      gaps: new ClientGaps(),
      proxy: proxies[1],
    };
    this.techSide.chat.epoch = this.inputLedger.startEpoch(1);
  }

  get screenTilesReceived(): number {
    return this.tech.screenFrames;
  }

  get sides(): [Side, Side] {
    return [this.techSide, this.customerSide];
  }
}

const isOpen = (c: FerryClient) => c.ws !== null && c.ws.readyState === WebSocket.OPEN;

/** Connected, welcomed, and not waiting for a resume. */
const live = (side: Side) => !side.gaps.dead && !side.client.reconnecting && isOpen(side.client);

/** `c2t 12 345` -> [12, 345, false]; `c2t 12 345 r` (sent again) -> [12, 345, true] */
function parseChat(text: string, prefix: string): [number, number, boolean] | null {
  const m = /^(\w+) (\d+) (\d+)( r)?$/.exec(text);
  if (m === null || m[1] !== prefix) return null;
  return [Number(m[2]), Number(m[3]), m[4] !== undefined];
}

/** `c2t-sync 12 3` -> [12, 3] */
function parseSync(text: string, prefix: string): [number, number] | null {
  const m = /^(\w+)-sync (\d+) (\d+)$/.exec(text);
  if (m === null || m[1] !== prefix) return null;
  return [Number(m[2]), Number(m[3])];
}

/** Sends chat number `seq` (again when `resent`) on `side`. */
function sendChat(pair: Pair, side: Side, seq: number, resent: boolean): void {
  side.client.chat(`${side.prefix} ${pair.index} ${seq}${resent ? ' r' : ''}`);
  side.chat.sent(seq, side === pair.techSide ? pair.input.sent : 0);
  if (resent) side.chat.tracker.resent++;
}

/** Sends a sync message: its echo tells what the gateway has of this side's chat. */
function sendSync(pair: Pair, side: Side): void {
  const id = side.chat.sync(side === pair.techSide ? pair.input.sent : 0);
  side.client.chat(`${side.prefix}-sync ${pair.index} ${id}`);
}

/** The sender's own chat came back from the gateway: acknowledge, or resend after a sync. */
function onOwnChat(pair: Pair, side: Side, text: string): void {
  const sync = parseSync(text, side.prefix);
  if (sync !== null && sync[0] === pair.index) {
    const { sent, resend } = side.chat.synced(sync[1]);
    if (sent !== undefined && side === pair.techSide) {
      pair.inputLedger.acknowledge(sent.epoch, sent.inputMark, pair.input);
    }
    for (const seq of resend) sendChat(pair, side, seq, true);
    return;
  }
  const parsed = parseChat(text, side.prefix);
  if (parsed === null || parsed[0] !== pair.index) {
    pair.crossTalk++;
    return;
  }
  const sent = side.chat.acknowledge(parsed[1]);
  if (sent !== undefined && side === pair.techSide) {
    pair.inputLedger.acknowledge(sent.epoch, sent.inputMark, pair.input);
  }
}

/** The peer's chat arrived. */
function onPeerChat(pair: Pair, from: Side, text: string): void {
  const sync = parseSync(text, from.prefix);
  if (sync !== null && sync[0] === pair.index) return;
  const parsed = parseChat(text, from.prefix);
  if (parsed === null || parsed[0] !== pair.index) pair.crossTalk++;
  else from.chat.tracker.receive(parsed[1], parsed[2]);
}

// --- the run ------------------------------------------------------------------------------------

export interface FaultTarget {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface FaultReport {
  readonly seed: number;
  readonly enabled: {
    readonly cuts: boolean;
    readonly flood: boolean;
    readonly handlerFault: boolean;
    readonly restartAt: number;
  };
  /** How `lost` is counted under faults. */
  readonly lossDefinition: string;
  readonly sessions: {
    readonly total: number;
    /** Sessions in the figures (the handler casualty excluded). */
    readonly counted: number;
    /** Counted sessions with a client that did not resume a gap (or did not come back). */
    readonly notResumed: number;
    readonly notResumedSessions: number[];
  };
  readonly cuts: {
    readonly planned: number;
    readonly done: number;
    readonly skipped: number;
    readonly byKind: Record<string, number>;
    readonly refusedReconnects: number;
    readonly heldReconnects: number;
    readonly droppedBytes: number;
  };
  /** Client connection gaps by what caused them. */
  readonly gaps: Record<string, GapCounts>;
  readonly restart: {
    readonly atSeconds: number;
    readonly downMs: number;
    readonly disconnected: number;
    readonly resumed: number;
    readonly notResumed: number;
  } | null;
  readonly flood: {
    readonly limitPerSecond: number;
    readonly rounds: number;
    readonly failedRounds: number;
    readonly framesSent: number;
    readonly refusals: number;
    readonly closes: Record<string, number>;
  } | null;
  readonly handler: {
    readonly session: number;
    readonly framesSent: number;
    readonly casualtyErrors: string[];
    readonly casualtyCloses: string[];
    /** ferry_handler_errors of the gateway's last life (a restart starts it at 0). */
    readonly gatewayHandlerErrorsLastLife: number;
    /** Other sessions that saw FERRY_ERR_INTERNAL: must stay 0. */
    readonly otherSessionsHit: number;
  } | null;
  /** Of `lost`: in sessions where every client resumed every gap, and in the others. */
  readonly lostInResumedSessions: number;
  readonly lostInSessionsNotResumed: number;
  readonly echoDuplicates: number;
  readonly unacknowledgedAtEnd: number;
  readonly gatewayExits: {
    readonly planned: number;
    readonly unplanned: number;
    readonly unplannedDetail: string[];
  };
  readonly rssGrowth: LifeGrowth[];
  readonly targets: FaultTarget[];
}

export interface SoakReport {
  readonly ok: boolean;
  readonly options: Omit<Options, 'json' | 'out'>;
  readonly machine: {
    readonly node: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly platform: string;
  };
  readonly uws: string;
  readonly sessionsOpened: number;
  readonly trafficSeconds: number;
  readonly drainedInMs: number;
  readonly lost: number;
  readonly reordered: number;
  readonly duplicates: number;
  readonly crossTalk: number;
  readonly reliable: Record<'input' | 'chatToCustomer' | 'chatToTechnician', StreamTotals>;
  readonly screen: { readonly tilesSent: number; readonly tilesReceived: number };
  readonly disconnects: Disconnect[];
  readonly gatewayErrors: Record<string, number>;
  readonly clientErrors: string[];
  readonly rss: {
    readonly gateway: (RssSample & { life?: number })[];
    readonly runner: RssSample[];
  };
  readonly eventLoopDelay: { readonly gateway: DelaySummary; readonly runner: DelaySummary };
  readonly gateway: Record<string, unknown>;
  readonly faults: FaultReport | null;
}

interface Failures {
  disconnects: Disconnect[];
  gatewayErrors: Map<string, number>;
  clientErrors: string[];
  clientErrorCount: number;
}

async function openPair(
  index: number,
  urls: { tech: string; customer: string },
  secret: string,
  o: Options,
  failures: Failures,
  stopping: () => boolean,
  phaseMs: number,
  proxies: [FaultProxy | null, FaultProxy | null],
): Promise<Pair> {
  const name = `soak-tech-${index}`;
  const tech = new TechnicianClient({
    url: urls.tech,
    name,
    token: issueToken(secret, name, 86_400),
  });
  await tech.connect();
  const { sessionId, pin } = await tech.createSession(`soak-${index}`);
  const customer = new CustomerClient({
    url: urls.customer,
    pin,
    name: `soak-customer-${index}`,
    screen: { tileBytes: o.tileBytes, columns: 4, rows: 4, keyFrameEvery: 50 },
    consent: ['view', 'control'],
  });
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  await tech.requestConsent(['view', 'control']);
  const pair = new Pair(index, tech, customer, phaseMs, faultsOn(o), proxies);

  customer.on('frame', (frame) => {
    if (frame.channel === Channel.CHANNEL_INPUT && frame.input) {
      pair.input.receive(frame.input.seq ?? 0, frame.input.resent ?? false);
    }
  });
  const { techSide, customerSide } = pair;
  customer.on('chat', (chat) => {
    if (chat.senderRole === Role.ROLE_TECHNICIAN) onPeerChat(pair, techSide, chat.text);
    else if (chat.senderRole === Role.ROLE_CUSTOMER) onOwnChat(pair, customerSide, chat.text);
  });
  tech.on('chat', (chat) => {
    if (chat.senderRole === Role.ROLE_CUSTOMER) onPeerChat(pair, customerSide, chat.text);
    else if (chat.senderRole === Role.ROLE_TECHNICIAN) onOwnChat(pair, techSide, chat.text);
  });
  for (const side of pair.sides) {
    const { client, role, gaps } = side;
    client.on('disconnected', () => gaps.disconnected());
    client.on('resumed', (welcome) => {
      gaps.ended(welcome.resumed);
      if (!welcome.resumed) {
        pair.stopped = true;
        return;
      }
      if (side === techSide) side.chat.epoch = pair.inputLedger.startEpoch(pair.input.sent + 1);
      else side.chat.epoch++;
      sendSync(pair, side);
    });
    client.on('close', (code, reason) => {
      // a refused resume emits 'close' twice (the lost connection's code, then the refusal's)
      if (stopping() || gaps.finalClose !== null) return;
      gaps.finalClose = { code, reason };
      if (gaps.open !== null) gaps.ended(false);
      gaps.dead = true;
      pair.stopped = true;
      failures.disconnects.push({ session: index, role, code, reason });
    });
    client.on('gatewayError', (err) => {
      pair.errors.push(`${role} ${err.code}`);
      if (pair.casualty) return;
      failures.gatewayErrors.set(err.code, (failures.gatewayErrors.get(err.code) ?? 0) + 1);
    });
    client.on('error', (err) => {
      failures.clientErrorCount++;
      if (failures.clientErrors.length < 20) {
        failures.clientErrors.push(`${role} ${index}: ${err.message}`);
      }
    });
  }
  return pair;
}

const KEYS = ['KeyA', 'KeyS', 'Enter', 'Space'] as const;

/** Sends whatever `pair` is due to send `elapsedMs` into the run. */
function drive(pair: Pair, elapsedMs: number, o: Options): void {
  const t = elapsedMs - pair.phaseMs;
  if (t < 0 || pair.stopped) return;
  const { tech, customer, techSide, customerSide } = pair;
  const screenDue = Math.floor((t * o.fps) / 1000);
  // screen frames are droppable: the ones due while away are skipped, not sent late
  if (!live(customerSide)) pair.screenFramesDone = screenDue;
  while (pair.screenFramesDone < screenDue) {
    pair.screenFramesDone++;
    pair.screenTilesSent += customer.sendScreenFrame().length;
  }
  const inputDue = Math.floor((t * o.inputHz) / 1000);
  while (pair.inputsDone < inputDue && live(techSide)) {
    pair.inputsDone++;
    const seq = pair.input.next();
    pair.inputLedger.sent(seq);
    const kind = seq % 4;
    // the client numbers its input as the tracker does, and keeps it to send again after a resume
    tech.sendInput(
      kind === 0
        ? { move: { x: seq % 1280, y: seq % 720 } }
        : kind === 1
          ? { key: { code: KEYS[seq % KEYS.length], down: seq % 2 === 0 } }
          : kind === 2
            ? { wheel: { dx: 0, dy: (seq % 5) - 2 } }
            : { text: { text: `t${seq}` } },
    );
    if (tech.lastInputSeq !== seq) throw new Error(`input seq ${tech.lastInputSeq}, bench ${seq}`);
  }
  const chatDue = Math.floor((t * o.chatHz) / 1000);
  while (pair.techChatsDone < chatDue && live(techSide) && techSide.chat.awaitedSync === 0) {
    pair.techChatsDone++;
    sendChat(pair, techSide, pair.chatToCustomer.next(), false);
  }
  // the customer answers half a period later
  const answerDue = Math.floor(((t - 500 / o.chatHz) * o.chatHz) / 1000);
  while (
    pair.customerChatsDone < answerDue &&
    live(customerSide) &&
    customerSide.chat.awaitedSync === 0
  ) {
    pair.customerChatsDone++;
    sendChat(pair, customerSide, pair.chatToTechnician.next(), false);
  }
}

const complete = (pairs: Pair[]) =>
  pairs.every((p) => p.input.complete && p.chatToCustomer.complete && p.chatToTechnician.complete);

/**
 * Faults: a pair has nothing more to deliver when both sides are connected, every chat it sent
 * is acknowledged (the last sync too), and the peers have seen the highest acknowledged number
 * of each stream (streams arrive in order, so nothing acknowledged is still on its way).
 */
const settled = (p: Pair) =>
  p.stopped ||
  p.casualty ||
  (p.sides.every((s) => s.chat.settled && live(s)) &&
    p.input.highest >= p.input.highestConfirmed &&
    p.chatToCustomer.highest >= p.chatToCustomer.highestConfirmed &&
    p.chatToTechnician.highest >= p.chatToTechnician.highestConfirmed);

/** The gateway's lives: the first child, and one per restart. */
class Gateways {
  child: GatewayChild;
  readonly o: Options;
  readonly dataDir: string;
  readonly samples: LifeSample[] = [];
  readonly lifeStarts: number[] = [];
  port = 0;
  planned = 0;
  readonly unplanned: string[] = [];
  #startMs = 0;
  #lives = 0;
  #killing = false;
  #stopping = false;
  #onCrash: () => void = () => undefined;

  /**
   * `port` 0 lets the gateway pick one. A gateway that will be restarted gets a fixed port from
   * the start: uWS sets SO_REUSEADDR only on a fixed port, so the successor can bind it while
   * the killed one's connections sit in TIME_WAIT.
   */
  constructor(o: Options, dataDir: string, port = 0) {
    this.o = o;
    this.dataDir = dataDir;
    this.port = port;
    this.child = this.#spawn();
  }

  #spawn(): GatewayChild {
    const o = this.o;
    const life = this.#lives++;
    const child = new GatewayChild({
      sampleMs: o.sampleSeconds * 1000,
      overrides: {
        ...(o.flood ? { maxMessagesPerSecond: o.floodLimit } : {}),
        ...(o.retainedBytes > 0 ? { retainedBytes: o.retainedBytes } : {}),
      },
      dataDir: this.dataDir,
      port: this.port,
      throwingChannel: o.handlerFault ? THROWING_CHANNEL : 0,
      onRss: (m: ChildMessage) =>
        this.samples.push({
          life,
          atSeconds: round(this.#startMs === 0 ? 0 : (performance.now() - this.#startMs) / 1000, 1),
          rssMiB: m.rssMiB as number,
          heapUsedMiB: m.heapUsedMiB as number,
          heapTotalMiB: m.heapTotalMiB as number,
          externalMiB: m.externalMiB as number,
          newSpaceMiB: m.newSpaceMiB as number,
        }),
    });
    child.exited.then(({ code, signal }) => {
      if (this.child !== child || this.#killing || this.#stopping) return;
      this.unplanned.push(`exit code ${code} signal ${signal}`);
      this.#onCrash();
    });
    return child;
  }

  /** Waits for the first life; returns its ready message. */
  async ready(): Promise<ChildMessage> {
    const ready = await this.child.next('ready');
    this.port = ready.port as number;
    return ready;
  }

  /** Traffic starts now: sampling starts (and restarts in each later life). */
  start(onCrash: () => void): void {
    this.#onCrash = onCrash;
    this.#startMs = performance.now();
    this.lifeStarts.push(0);
    this.child.tell({ type: 'start' });
  }

  /** Kill -9 (unless it is dead already) and start again on the same port and data directory. */
  async restart(planned: boolean, killed: () => void = () => undefined): Promise<number> {
    const t0 = performance.now();
    if (planned) {
      this.planned++;
      this.#killing = true;
      await this.child.kill();
      this.#killing = false;
    }
    killed();
    this.lifeStarts.push(round((performance.now() - this.#startMs) / 1000, 1));
    this.child = this.#spawn();
    await this.child.next('ready');
    this.child.tell({ type: 'start' });
    return performance.now() - t0;
  }

  async stop(): Promise<number | null> {
    this.#stopping = true;
    return this.child.stop();
  }
}

/** One flood round: a fresh session whose customer sends chat past the frame rate limit. */
async function floodRound(
  url: string,
  secret: string,
  o: Options,
  round: number,
): Promise<{ sent: number; refusals: number; close: string }> {
  const name = `soak-flood-tech-${round}`;
  const tech = new TechnicianClient({
    url,
    name,
    token: issueToken(secret, name, 3600),
    reconnect: false,
  });
  try {
    await tech.connect();
    const { sessionId, pin } = await tech.createSession(`soak-flood-${round}`);
    const flooder = new CustomerClient({
      url,
      pin,
      name: `soak-flooder-${round}`,
      reconnect: false,
    });
    const queued = tech.waitForCustomer(sessionId);
    await flooder.connect();
    await queued;
    await tech.pickUp(sessionId);
    let refusals = 0;
    flooder.on('gatewayError', (err) => {
      if (err.code === 'FERRY_ERR_RATE_LIMITED' || err.code === 'FERRY_ERR_CHAT_RATE_LIMITED')
        refusals++;
    });
    const closed = new Promise<string>((resolve) => {
      flooder.once('close', (code, reason) => resolve(`${code} ${reason}`));
    });
    // at 1.25 times the limit, in 10 ms slices, for at most 3 s
    const perTick = Math.ceil((o.floodLimit * 1.25) / 100);
    let sent = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && isOpen(flooder); i++) {
        flooder.chat(`flood ${round} ${++sent}`);
      }
    }, 10);
    const close = await Promise.race([
      closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('not closed'), 3000)),
    ]);
    clearInterval(timer);
    await flooder.close();
    return { sent, refusals, close };
  } finally {
    await tech.close();
  }
}

export async function soak(o: Options, progress: (line: string) => void): Promise<SoakReport> {
  const faulty = faultsOn(o);
  const rand = prng(o.seed);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-soak-'));
  const gateways = new Gateways(o, dataDir, o.restartAt > 0 ? await freeLoopbackPort() : 0);
  const pairs: Pair[] = [];
  const proxies: FaultProxy[] = [];
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  let phase = 'start';
  // A run that overstays its plan fails loudly with what it was waiting for, instead of
  // holding a CI job until its outer timeout: the plan is the traffic, the drain and a bound
  // for setting up and tearing down.
  const overstay =
    (o.seconds + o.drainSeconds + OVERSTAY_SLACK_SECONDS + o.sessions * SLACK_PER_SESSION_SECONDS) *
    1000;
  const watchdog = setTimeout(() => {
    const away = pairs.flatMap((p) => p.sides).filter((s) => s.client.reconnecting).length;
    process.stderr.write(
      `soak overstayed ${overstay / 1000} s in phase ${phase}: gateway pid ${gateways.child.proc.pid} ` +
        `(exit ${gateways.child.proc.exitCode ?? 'none'}, signal ${gateways.child.proc.signalCode ?? 'none'}), ` +
        `lives ${gateways.lifeStarts.length}, unplanned exits ${gateways.unplanned.length}, ` +
        `pairs ${pairs.length}, clients reconnecting ${away}, proxies ${proxies.length}\n`,
    );
    gateways.child.proc.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(3);
  }, overstay);
  watchdog.unref();
  try {
    const ready = await gateways.ready();
    phase = 'setup';
    const url = `ws://127.0.0.1:${ready.port as number}/v1/ws`;
    const secret = ready.secret as string;
    const failures: Failures = {
      disconnects: [],
      gatewayErrors: new Map(),
      clientErrors: [],
      clientErrorCount: 0,
    };
    const proxyUrl = (p: FaultProxy | null) =>
      p === null ? url : `ws://127.0.0.1:${p.port}/v1/ws`;
    // Cuts need a proxy per client; so does the restart: the proxy answers the gateway's FIN
    // with a reset, leaving the gateway's port free for the next life (see fault-proxy.ts).
    const proxied = o.cuts || o.restartAt > 0;
    const floodProxy = o.flood ? await FaultProxy.start(gateways.port) : null;
    if (floodProxy !== null) proxies.push(floodProxy);
    const BATCH = 10;
    for (let i = 0; i < o.sessions; i += BATCH) {
      const batch: Promise<Pair>[] = [];
      for (let j = i; j < Math.min(o.sessions, i + BATCH); j++) {
        const pp: [FaultProxy | null, FaultProxy | null] = proxied
          ? [await FaultProxy.start(gateways.port), await FaultProxy.start(gateways.port)]
          : [null, null];
        for (const p of pp) if (p !== null) proxies.push(p);
        batch.push(
          openPair(
            j,
            { tech: proxyUrl(pp[0]), customer: proxyUrl(pp[1]) },
            secret,
            o,
            failures,
            () => stopping,
            rand() * 1000,
            pp,
          ),
        );
      }
      pairs.push(...(await Promise.all(batch)));
    }
    progress(
      `${pairs.length} sessions active on ${url} (uWS ${String(ready.uws)})` +
        (proxied ? `, each client through its own fault proxy` : ''),
    );

    // --- the faults' schedule ---
    const cutStats = {
      planned: 0,
      done: 0,
      skipped: 0,
      byKind: { reset: 0, 'half-close-to-target': 0, 'half-close-to-client': 0 } as Record<
        string,
        number
      >,
    };
    const restartInfo = { atSeconds: 0, downMs: 0 };
    const flood = {
      rounds: 0,
      failedRounds: 0,
      framesSent: 0,
      refusals: 0,
      closes: {} as Record<string, number>,
    };
    const casualty = o.handlerFault ? pairs[pairs.length - 1]! : null;
    let handlerFramesSent = 0;
    const every = (s: number) => s * 1000;
    const at = (ms: number, fn: () => void) => {
      timers.push(setTimeout(fn, ms));
    };
    const scheduleFaults = () => {
      if (o.cuts) {
        const lastCutMs = every(o.seconds) * 0.85;
        for (const pair of pairs) {
          if (pair === casualty) continue;
          for (const side of pair.sides) {
            cutStats.planned++;
            const kind =
              rand() < 1 / o.halfCloseEvery
                ? rand() < 0.5
                  ? CutKind.HALF_CLOSE_TO_TARGET
                  : CutKind.HALF_CLOSE_TO_CLIENT
                : CutKind.RESET;
            const outageMs = o.cutMinMs + rand() * (o.cutMaxMs - o.cutMinMs);
            const cut = () => {
              if (stopping) return;
              if (pair.stopped) {
                cutStats.skipped++;
                return;
              }
              const proxy = side.proxy!;
              if (proxy.links === 0 || side.client.reconnecting || proxy.inOutage) {
                // away already (the restart, the pair's other cut): try again shortly
                if (performance.now() - startMs + 250 < lastCutMs) at(250, cut);
                else cutStats.skipped++;
                return;
              }
              side.gaps.expected = Cause.CUT;
              proxy.cut(kind);
              for (const p of [pair.techSide.proxy!, pair.customerSide.proxy!]) {
                p.outage(outageMs, o.outage);
              }
              cutStats.done++;
              cutStats.byKind[kind]!++;
            };
            at(every(o.seconds) * (0.1 + rand() * 0.6), cut);
          }
        }
      }
      if (o.restartAt > 0) {
        at(every(o.restartAt), () => {
          if (stopping) return;
          restartInfo.atSeconds = round((performance.now() - startMs) / 1000, 1);
          // once the old gateway is dead: a client that resumed a cut's gap with it in time
          // counts for the cut; every gap open then, or opened later, is the restart's
          const killed = () => {
            for (const p of pairs) for (const s of p.sides) s.gaps.retarget(Cause.RESTART);
          };
          progress(
            `t=${restartInfo.atSeconds}s  gateway killed (-9), restarting on port ${gateways.port}`,
          );
          gateways.restart(true, killed).then(
            (ms) => {
              restartInfo.downMs = round(ms, 0);
              progress(`gateway back after ${restartInfo.downMs} ms`);
            },
            (err: unknown) => progress(`gateway restart failed: ${(err as Error).message}`),
          );
        });
      }
      if (casualty !== null) {
        at(every(o.seconds) * 0.3, () => {
          if (stopping) return;
          casualty.casualty = true;
          casualty.stopped = true;
          handlerFramesSent++;
          casualty.tech.sendRaw(
            ferry.v1.Frame.encode({
              channel: THROWING_CHANNEL as ferry.v1.Channel,
              opaque: { data: Uint8Array.of(1) },
            }).finish(),
          );
        });
      }
      if (o.flood) {
        let running = false;
        for (let s = 2; s < o.seconds - 2; s += o.floodEvery) {
          at(every(s), () => {
            if (stopping || running) return;
            running = true;
            const n = ++flood.rounds;
            floodRound(proxyUrl(floodProxy), secret, o, n).then(
              (r) => {
                running = false;
                flood.framesSent += r.sent;
                flood.refusals += r.refusals;
                flood.closes[r.close] = (flood.closes[r.close] ?? 0) + 1;
              },
              (err: unknown) => {
                running = false;
                flood.failedRounds++;
                progress(`flood round ${n} failed: ${(err as Error).message}`);
              },
            );
          });
        }
      }
    };

    const runnerDelay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    runnerDelay.enable();
    const runnerRss: RssSample[] = [];
    gateways.start(() => {
      // an exit nobody planned: counted (the run fails), and the gateway is started again
      for (const p of pairs) for (const s of p.sides) s.gaps.retarget(Cause.CRASH);
      progress(`gateway exited unplanned (${gateways.unplanned.at(-1)}); starting it again`);
      if (!stopping) {
        gateways.restart(false).catch((err: unknown) => {
          progress(`gateway restart failed: ${(err as Error).message}`);
        });
      }
    });
    const startMs = performance.now();
    phase = 'traffic';
    if (faulty) scheduleFaults();
    runnerRss.push(sampleRss(startMs));
    const sampler = setInterval(() => {
      const s = sampleRss(startMs);
      runnerRss.push(s);
      const sent = pairs.reduce((n, p) => n + p.input.sent, 0);
      const away = pairs.reduce(
        (n, p) => n + p.sides.filter((x) => x.client.reconnecting).length,
        0,
      );
      progress(
        `t=${s.atSeconds}s  runner rss ${s.rssMiB} MiB  inputs sent ${sent}` +
          (faulty ? `  cuts ${cutStats.done}  clients away ${away}` : ''),
      );
    }, o.sampleSeconds * 1000);
    // one clock drives every pair, so rates hold even when a tick runs late
    const driver = setInterval(() => {
      const elapsed = performance.now() - startMs;
      for (const p of pairs) drive(p, elapsed, o);
    }, 10);
    await new Promise<void>((resolve) => setTimeout(resolve, o.seconds * 1000));
    clearInterval(driver);
    clearInterval(sampler);
    for (const t of timers.splice(0)) clearTimeout(t);
    const trafficSeconds = (performance.now() - startMs) / 1000;

    // Drain: every reliable frame sent (faults: acknowledged) must arrive; wait, within a bound.
    phase = 'drain';
    const drainStart = performance.now();
    if (faulty) {
      // a last sync from every connected side acknowledges what it sent last
      for (const p of pairs) {
        if (p.stopped || p.casualty) continue;
        for (const s of p.sides) if (live(s) && s.chat.awaitedSync === 0) sendSync(p, s);
      }
      await new Promise<void>((resolve) => {
        const deadline = performance.now() + o.drainSeconds * 1000;
        const check = setInterval(() => {
          if (pairs.every(settled) || performance.now() > deadline) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
    } else {
      await new Promise<void>((resolve) => {
        if (complete(pairs)) {
          resolve();
          return;
        }
        const deadline = setTimeout(finish, o.drainSeconds * 1000);
        const check = () => {
          if (complete(pairs)) finish();
        };
        function finish() {
          clearTimeout(deadline);
          for (const p of pairs) {
            p.customer.off('frame', check);
            p.customer.off('chat', check);
            p.tech.off('chat', check);
          }
          resolve();
        }
        for (const p of pairs) {
          p.customer.on('frame', check);
          p.customer.on('chat', check);
          p.tech.on('chat', check);
        }
      });
    }
    const drainedInMs = performance.now() - drainStart;
    runnerRss.push(sampleRss(startMs));
    runnerDelay.disable();
    phase = 'report';
    gateways.child.tell({ type: 'report' });
    const report = await gateways.child.next('report');
    // the clients' gaps still open now never closed
    for (const p of pairs) for (const s of p.sides) s.gaps.ended(false);

    const counted = pairs.filter((p) => p !== casualty);
    // input goes again from the technician's client itself after a resume (recent-input.ts)
    for (const p of pairs) p.input.resent = p.tech.inputResent;
    const reliable = {
      input: sum(counted.map((p) => p.input)),
      chatToCustomer: sum(counted.map((p) => p.chatToCustomer)),
      chatToTechnician: sum(counted.map((p) => p.chatToTechnician)),
    };
    const streams = Object.values(reliable);
    const lost = streams.reduce((n, s) => n + s.lost, 0);
    const reordered = streams.reduce((n, s) => n + s.reordered, 0);
    const duplicates = streams.reduce((n, s) => n + s.duplicates, 0);
    const crossTalk = pairs.reduce((n, p) => n + p.crossTalk, 0);
    const { rss: _rss, eventLoop, type: _type, ...gateway } = report;
    const sessionsOk = pairs.length === o.sessions;
    const faults = faulty
      ? faultReport({
          o,
          pairs,
          counted,
          casualty,
          handlerFramesSent,
          cutStats,
          proxies,
          restartInfo,
          flood,
          gateways,
          gatewayReport: report,
          lost,
          reordered,
          duplicates,
          crossTalk,
          sessionsOk,
        })
      : null;
    return {
      ok:
        faults !== null
          ? faults.targets.every((t) => t.ok)
          : lost === 0 && reordered === 0 && duplicates === 0 && crossTalk === 0 && sessionsOk,
      options: {
        sessions: o.sessions,
        seconds: o.seconds,
        fps: o.fps,
        inputHz: o.inputHz,
        chatHz: o.chatHz,
        tileBytes: o.tileBytes,
        sampleSeconds: o.sampleSeconds,
        drainSeconds: o.drainSeconds,
        cuts: o.cuts,
        flood: o.flood,
        handlerFault: o.handlerFault,
        restartAt: o.restartAt,
        seed: o.seed,
        cutMinMs: o.cutMinMs,
        cutMaxMs: o.cutMaxMs,
        halfCloseEvery: o.halfCloseEvery,
        retainedBytes: o.retainedBytes,
        outage: o.outage,
        floodLimit: o.floodLimit,
        floodEvery: o.floodEvery,
        warmupSeconds: o.warmupSeconds,
        restartWarmupSeconds: o.restartWarmupSeconds,
        maxRssGrowthMb: o.maxRssGrowthMb,
      },
      machine: {
        node: process.version,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        platform: `${process.platform} ${os.release()}`,
      },
      uws: String(ready.uws),
      sessionsOpened: pairs.length,
      trafficSeconds: round(trafficSeconds, 1),
      drainedInMs: round(drainedInMs, 1),
      lost,
      reordered,
      duplicates,
      crossTalk,
      reliable,
      screen: {
        tilesSent: pairs.reduce((n, p) => n + p.screenTilesSent, 0),
        tilesReceived: pairs.reduce((n, p) => n + p.screenTilesReceived, 0),
      },
      disconnects: failures.disconnects,
      gatewayErrors: Object.fromEntries(failures.gatewayErrors),
      clientErrors: failures.clientErrors,
      rss: { gateway: gateways.samples, runner: runnerRss },
      eventLoopDelay: { gateway: eventLoop as DelaySummary, runner: summarize(runnerDelay) },
      gateway,
      faults,
    };
  } finally {
    phase = 'teardown';
    stopping = true;
    for (const t of timers) clearTimeout(t);
    try {
      await Promise.all(pairs.flatMap((p) => [p.tech.close(), p.customer.close()]));
      await Promise.all(proxies.map((p) => p.close()));
      const code = await gateways.stop();
      if (code !== 0) progress(`gateway child exited with ${code}`);
    } finally {
      // a teardown that failed reports its own error, not an overstay
      clearTimeout(watchdog);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

interface FaultInputs {
  readonly o: Options;
  readonly pairs: Pair[];
  readonly counted: Pair[];
  readonly casualty: Pair | null;
  readonly handlerFramesSent: number;
  readonly cutStats: {
    planned: number;
    done: number;
    skipped: number;
    byKind: Record<string, number>;
  };
  readonly proxies: FaultProxy[];
  readonly restartInfo: { atSeconds: number; downMs: number };
  readonly flood: {
    rounds: number;
    failedRounds: number;
    framesSent: number;
    refusals: number;
    closes: Record<string, number>;
  };
  readonly gateways: Gateways;
  readonly gatewayReport: ChildMessage;
  readonly lost: number;
  readonly reordered: number;
  readonly duplicates: number;
  readonly crossTalk: number;
  readonly sessionsOk: boolean;
}

export const LOSS_DEFINITION =
  'A reliable frame counts as lost when the gateway acknowledged it and it never reached the ' +
  'peer. Chat is acknowledged when the sender sees its own message come back with the ' +
  "gateway's sequence number; an input when a chat sent after it on the same connection was " +
  'acknowledged. A frame written into a connection that was then cut, and never acknowledged, ' +
  'is not a loss: the bench sends such chat again after the resume (once a sync message proved ' +
  'the gateway never had it); the technician client sends its last 10 s of input again after a ' +
  'resume, and inputs never acknowledged that never arrived are unacknowledgedMissing. A resent chat ' +
  'or input that had arrived already is a resentDuplicate (its acknowledgement was lost with the ' +
  'connection), not a duplicate. The session given the throwing handler is left out of every ' +
  'figure; every other session counts, resumed or not.';

function faultReport(f: FaultInputs): FaultReport {
  const { o, counted } = f;
  const gaps = emptyGaps();
  const notResumedSessions: number[] = [];
  for (const p of counted) {
    for (const s of p.sides) addGaps(gaps, s.gaps.gaps);
    if (
      p.sides.some(
        (s) =>
          s.gaps.dead ||
          s.gaps.gaps.cut.notResumed +
            s.gaps.gaps.restart.notResumed +
            s.gaps.gaps.other.notResumed +
            s.gaps.gaps.crash.notResumed >
            0,
      )
    ) {
      notResumedSessions.push(p.index);
    }
  }
  const pairLost = (p: Pair) => p.input.lost + p.chatToCustomer.lost + p.chatToTechnician.lost;
  const lostNotResumed = counted
    .filter((p) => notResumedSessions.includes(p.index))
    .reduce((n, p) => n + pairLost(p), 0);
  const growth = rssGrowth(
    f.gateways.samples,
    f.gateways.lifeStarts,
    o.warmupSeconds,
    o.restartWarmupSeconds,
  );
  const maxGrowth = growth.reduce((m, g) => Math.max(m, g.growthMB), 0);
  const casualty = f.casualty;
  const otherSessionsHit = counted.filter((p) =>
    p.errors.some((e) => e.endsWith('FERRY_ERR_INTERNAL')),
  ).length;
  const handlerErrors = (f.gatewayReport.handlerErrors ?? {}) as Record<string, number>;
  const handler =
    casualty === null
      ? null
      : {
          session: casualty.index,
          framesSent: f.handlerFramesSent,
          casualtyErrors: casualty.errors.slice(0, 10),
          casualtyCloses: casualty.sides
            .filter((s) => s.gaps.finalClose !== null)
            .map((s) => `${s.role} ${s.gaps.finalClose!.code} ${s.gaps.finalClose!.reason}`),
          gatewayHandlerErrorsLastLife: handlerErrors.soak_throwing ?? 0,
          otherSessionsHit,
        };
  const unacknowledgedAtEnd = counted.reduce(
    (n, p) => n + p.techSide.chat.unacknowledged + p.customerSide.chat.unacknowledged,
    0,
  );
  const targets: FaultTarget[] = [
    { name: 'sessions opened', ok: f.sessionsOk, detail: `${f.pairs.length}/${o.sessions}` },
    { name: '0 reliable frames lost', ok: f.lost === 0, detail: `${f.lost} lost` },
    { name: '0 reordered', ok: f.reordered === 0, detail: `${f.reordered} reordered` },
    { name: '0 duplicated', ok: f.duplicates === 0, detail: `${f.duplicates} duplicated` },
    { name: '0 frames into other sessions', ok: f.crossTalk === 0, detail: `${f.crossTalk}` },
    {
      name: 'every session still there at the end',
      ok: notResumedSessions.length === 0,
      detail: `${notResumedSessions.length} of ${counted.length} sessions with a client that did not come back`,
    },
    {
      name: 'no unplanned gateway exit',
      ok: f.gateways.unplanned.length === 0,
      detail: f.gateways.unplanned.join('; ') || '0',
    },
  ];
  if (o.cuts) {
    const c = gaps.cut;
    targets.push({
      name: 'every client resumed after each cut',
      ok: c.notResumed === 0 && c.resumed === c.disconnected && f.cutStats.done > 0,
      detail: `${f.cutStats.done} cuts, ${c.disconnected} clients disconnected by them, ${c.resumed} resumed, ${c.notResumed} not`,
    });
  }
  if (o.restartAt > 0) {
    const r = gaps.restart;
    targets.push({
      name: 'every client resumed after the restart',
      ok: r.notResumed === 0 && r.resumed === r.disconnected && r.disconnected > 0,
      detail: `${r.disconnected} clients disconnected, ${r.resumed} resumed, ${r.notResumed} not`,
    });
  }
  targets.push({
    name: 'no unexplained disconnect left unresumed',
    ok: gaps.other.notResumed === 0,
    detail: `${gaps.other.disconnected} disconnects not caused by the bench, ${gaps.other.notResumed} not resumed`,
  });
  if (handler !== null) {
    targets.push({
      name: 'the throwing handler cost its own session only',
      ok:
        handler.casualtyErrors.some((e) => e.endsWith('FERRY_ERR_INTERNAL')) &&
        otherSessionsHit === 0,
      detail: `casualty errors ${handler.casualtyErrors.join(', ') || 'none'}; other sessions hit ${otherSessionsHit}`,
    });
  }
  if (o.flood) {
    targets.push({
      name: 'the chat flood was refused',
      ok: f.flood.refusals > 0,
      detail: `${f.flood.refusals} FERRY_ERR_CHAT_RATE_LIMITED or RATE_LIMITED in ${f.flood.rounds} rounds`,
    });
  }
  if (o.seconds >= 60) {
    targets.push({
      name: `gateway RSS growth after warm-up <= ${o.maxRssGrowthMb} MB`,
      ok: growth.length > 0 && maxGrowth <= o.maxRssGrowthMb,
      detail:
        growth
          .map((g) => `life ${g.life}: ${g.fromMiB} -> ${g.toMiB} MiB (${g.growthMB} MB)`)
          .join('; ') || 'no life long enough to measure',
    });
  }
  const proxyTotals = f.proxies.reduce(
    (t, p) => {
      t.refused += p.counters.refused;
      t.held += p.counters.held;
      t.dropped += p.counters.droppedBytes;
      return t;
    },
    { refused: 0, held: 0, dropped: 0 },
  );
  return {
    seed: o.seed,
    enabled: { cuts: o.cuts, flood: o.flood, handlerFault: o.handlerFault, restartAt: o.restartAt },
    lossDefinition: LOSS_DEFINITION,
    sessions: {
      total: f.pairs.length,
      counted: counted.length,
      notResumed: notResumedSessions.length,
      notResumedSessions: notResumedSessions.slice(0, 50),
    },
    cuts: {
      planned: f.cutStats.planned,
      done: f.cutStats.done,
      skipped: f.cutStats.skipped,
      byKind: f.cutStats.byKind,
      refusedReconnects: proxyTotals.refused,
      heldReconnects: proxyTotals.held,
      droppedBytes: proxyTotals.dropped,
    },
    gaps,
    restart:
      o.restartAt > 0
        ? {
            atSeconds: f.restartInfo.atSeconds,
            downMs: f.restartInfo.downMs,
            disconnected: gaps.restart.disconnected,
            resumed: gaps.restart.resumed,
            notResumed: gaps.restart.notResumed,
          }
        : null,
    flood: o.flood ? { limitPerSecond: o.floodLimit, ...f.flood } : null,
    handler,
    lostInResumedSessions: f.lost - lostNotResumed,
    lostInSessionsNotResumed: lostNotResumed,
    echoDuplicates: counted.reduce(
      (n, p) => n + p.techSide.chat.echoDuplicates + p.customerSide.chat.echoDuplicates,
      0,
    ),
    unacknowledgedAtEnd,
    gatewayExits: {
      planned: f.gateways.planned,
      unplanned: f.gateways.unplanned.length,
      unplannedDetail: f.gateways.unplanned,
    },
    rssGrowth: growth,
    targets,
  };
}

function printReport(r: SoakReport): void {
  const lines: string[] = [];
  lines.push(
    `Ferry soak: ${r.sessionsOpened}/${r.options.sessions} sessions, ${r.trafficSeconds} s of traffic, ` +
      `${r.machine.cpus} x ${r.machine.cpuModel}, Node ${r.machine.node}`,
  );
  lines.push('');
  const f = r.faults;
  lines.push(
    'reliable stream        sent   received   lost  reordered  duplicates' +
      (f ? '   acked  unacked-missing  resent  resent-dup' : ''),
  );
  for (const [name, s] of Object.entries(r.reliable)) {
    lines.push(
      `${name.padEnd(18)} ${String(s.sent).padStart(8)} ${String(s.received).padStart(10)} ` +
        `${String(s.lost).padStart(6)} ${String(s.reordered).padStart(10)} ${String(s.duplicates).padStart(11)}` +
        (f
          ? ` ${String(s.acknowledged).padStart(7)} ${String(s.unacknowledgedMissing).padStart(16)} ${String(s.resent).padStart(7)} ${String(s.resentDuplicates).padStart(11)}`
          : ''),
    );
  }
  lines.push(
    `screen tiles: ${r.screen.tilesSent} sent, ${r.screen.tilesReceived} received (droppable)`,
  );
  lines.push(`drained in ${r.drainedInMs} ms; frames into other sessions: ${r.crossTalk}`);
  if (f !== null) {
    lines.push('');
    lines.push(`faults (seed ${f.seed}):`);
    lines.push(
      `  sessions ${f.sessions.total} (${f.sessions.counted} counted), not resumed ${f.sessions.notResumed}` +
        (f.handler ? ` (session ${f.handler.session}, the handler casualty, left out)` : ''),
    );
    lines.push(
      `  cuts ${f.cuts.done}/${f.cuts.planned} (skipped ${f.cuts.skipped}) ${JSON.stringify(f.cuts.byKind)}; ` +
        `reconnects refused ${f.cuts.refusedReconnects}, held ${f.cuts.heldReconnects}`,
    );
    lines.push('  client gaps         disconnected  resumed  not resumed');
    for (const [cause, g] of Object.entries(f.gaps)) {
      lines.push(
        `  ${cause.padEnd(18)} ${String(g.disconnected).padStart(12)} ${String(g.resumed).padStart(8)} ${String(g.notResumed).padStart(12)}`,
      );
    }
    if (f.restart) {
      lines.push(
        `  restart at ${f.restart.atSeconds} s, gateway down ${f.restart.downMs} ms: ` +
          `${f.restart.resumed}/${f.restart.disconnected} clients resumed, ${f.restart.notResumed} not`,
      );
    }
    if (f.flood) {
      lines.push(
        `  chat flood (limit ${f.flood.limitPerSecond}/s): ${f.flood.rounds} rounds, ${f.flood.framesSent} frames, ` +
          `${f.flood.refusals} refusals (CHAT_RATE_LIMITED, RATE_LIMITED), closes ${JSON.stringify(f.flood.closes)}`,
      );
    }
    if (f.handler) {
      lines.push(
        `  handler fault: session ${f.handler.session} sent ${f.handler.framesSent}; errors ${f.handler.casualtyErrors.join(', ')}; ` +
          `closes ${f.handler.casualtyCloses.join(', ') || 'none'}; gateway handler errors (last life) ${f.handler.gatewayHandlerErrorsLastLife}; other sessions hit ${f.handler.otherSessionsHit}`,
      );
    }
    lines.push(
      `  lost: ${f.lostInResumedSessions} in sessions that resumed every gap, ` +
        `${f.lostInSessionsNotResumed} in sessions that did not`,
    );
    lines.push(
      `  gateway exits: planned ${f.gatewayExits.planned}, unplanned ${f.gatewayExits.unplanned}`,
    );
    for (const g of f.rssGrowth) {
      lines.push(
        `  RSS life ${g.life}: ${g.fromMiB} MiB at ${g.fromSeconds} s -> ${g.toMiB} MiB at ${g.toSeconds} s (${g.growthMB} MB)`,
      );
    }
  }
  lines.push('');
  lines.push('RSS (MiB)   at s   gateway   runner   gateway heap used/total (young), external');
  const n = Math.max(r.rss.gateway.length, r.rss.runner.length);
  for (let i = 0; i < n; i++) {
    const g = r.rss.gateway[i];
    const c = r.rss.runner[i];
    const heap =
      g === undefined
        ? ''
        : `${g.heapUsedMiB}/${g.heapTotalMiB} (${g.newSpaceMiB}), ${g.externalMiB}`;
    lines.push(
      `          ${String(g?.atSeconds ?? c?.atSeconds ?? '').padStart(6)}  ${String(g?.rssMiB ?? '-').padStart(8)}  ${String(c?.rssMiB ?? '-').padStart(7)}   ${heap}`,
    );
  }
  lines.push('');
  lines.push('event-loop delay (ms)    p50     p99     max');
  for (const [who, d] of Object.entries(r.eventLoopDelay)) {
    lines.push(
      `${who.padEnd(22)} ${String(d.p50Ms).padStart(6)}  ${String(d.p99Ms).padStart(6)}  ${String(d.maxMs).padStart(6)}`,
    );
  }
  if (r.disconnects.length > 0) {
    lines.push('', `disconnects: ${JSON.stringify(r.disconnects.slice(0, 20))}`);
  }
  if (Object.keys(r.gatewayErrors).length > 0) {
    lines.push(`gateway errors: ${JSON.stringify(r.gatewayErrors)}`);
  }
  if (f !== null) {
    lines.push('', 'targets:');
    for (const t of f.targets) lines.push(`  ${t.ok ? 'ok    ' : 'FAILED'} ${t.name}: ${t.detail}`);
  }
  lines.push('', r.ok ? 'OK: no reliable frame lost or reordered' : 'FAILED');
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  if (o === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // --json keeps stdout to the one JSON line; progress goes to stderr otherwise
  const progress = (line: string) => {
    if (!o.json) process.stderr.write(`${line}\n`);
  };
  const report = await soak(o, progress);
  if (o.out !== '') fs.writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else printReport(report);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`soak failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
