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
 *   node dist/bench/soak/run.js [--sessions 50] [--seconds 60] [--json] [--out file.json]
 *        [--fps 5] [--input-hz 20] [--chat-hz 2] [--tile-bytes 1024]
 *        [--sample-seconds 5] [--drain-seconds 15]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { FerryClient } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { Channel, Role } from '../../src/protocol/frames.js';
import type { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
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
  [--fps F] [--input-hz H] [--chat-hz H] [--tile-bytes B] [--sample-seconds S] [--drain-seconds S]`;

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
}

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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const positive = (name: keyof typeof values): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name} must be a positive number`);
    return n;
  };
  return {
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
  };
}

// --- the gateway child -------------------------------------------------------------------------

interface ChildMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** The gateway process and its JSON-line channel. */
class GatewayChild {
  readonly proc: ChildProcess;
  readonly #queue: ChildMessage[] = [];
  readonly #waiters: { type: string; resolve: (m: ChildMessage) => void }[] = [];
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined = undefined;

  constructor(sampleMs: number) {
    const file = fileURLToPath(new URL('./gateway-child.js', import.meta.url));
    this.proc = spawn(process.execPath, [file, '{}'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, FERRY_SOAK_SAMPLE_MS: String(sampleMs) },
    });
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
        for (const w of this.#waiters.splice(0)) {
          w.resolve({ type: 'error', message: `gateway exited (${code}) before ${w.type}` });
        }
      });
    });
    const lines = readline.createInterface({ input: this.proc.stdout! });
    lines.on('line', (line) => {
      let message: ChildMessage;
      try {
        message = JSON.parse(line) as ChildMessage;
      } catch (err) {
        process.stderr.write(`gateway: ${line} (${(err as Error).message})\n`);
        return;
      }
      const i = this.#waiters.findIndex((w) => w.type === message.type || message.type === 'error');
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(message);
      else this.#queue.push(message);
    });
  }

  /** The next message of `type` (an 'error' message or the child's exit answers any wait). */
  async next(type: string): Promise<ChildMessage> {
    const i = this.#queue.findIndex((m) => m.type === type || m.type === 'error');
    const message =
      i >= 0
        ? this.#queue.splice(i, 1)[0]!
        : this.#exitCode !== undefined
          ? { type: 'error', message: `gateway exited (${this.#exitCode})` }
          : await new Promise<ChildMessage>((resolve) => this.#waiters.push({ type, resolve }));
    if (message.type === 'error') throw new Error(`gateway: ${String(message.message)}`);
    return message;
  }

  tell(message: ChildMessage): void {
    this.proc.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Closes its stdin (it shuts the gateway down and exits) and waits for the exit. */
  async stop(): Promise<number | null> {
    this.proc.stdin!.end();
    return this.exited;
  }
}

// --- one session ---------------------------------------------------------------------------------

interface Disconnect {
  readonly session: number;
  readonly role: string;
  readonly code: number;
  readonly reason: string;
}

const TEXT = { toCustomer: 't2c', toTechnician: 'c2t' } as const;

/** A technician and a customer in one Active session, with per-direction sequence trackers. */
class Pair {
  readonly index: number;
  readonly tech: TechnicianClient;
  readonly customer: CustomerClient;
  readonly input = new SequenceTracker();
  readonly chatToCustomer = new SequenceTracker();
  readonly chatToTechnician = new SequenceTracker();
  /** Frames of another session seen by this pair: must stay 0. */
  crossTalk = 0;
  screenTilesSent = 0;
  screenFramesDone = 0;
  inputsDone = 0;
  techChatsDone = 0;
  customerChatsDone = 0;
  /** Start offset (ms) so the pairs do not all send on the same tick. */
  readonly phaseMs: number;

  constructor(index: number, tech: TechnicianClient, customer: CustomerClient, phaseMs: number) {
    this.index = index;
    this.tech = tech;
    this.customer = customer;
    this.phaseMs = phaseMs;
  }

  get screenTilesReceived(): number {
    return this.tech.screenFrames;
  }
}

const isOpen = (c: FerryClient) => c.ws !== null && c.ws.readyState === WebSocket.OPEN;

/** `c2t 12 345` -> [12, 345] */
function parseChat(text: string, prefix: string): [number, number] | null {
  const m = /^(\w+) (\d+) (\d+)$/.exec(text);
  if (m === null || m[1] !== prefix) return null;
  return [Number(m[2]), Number(m[3])];
}

// --- the run ------------------------------------------------------------------------------------

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
  readonly rss: { readonly gateway: RssSample[]; readonly runner: RssSample[] };
  readonly eventLoopDelay: { readonly gateway: DelaySummary; readonly runner: DelaySummary };
  readonly gateway: Record<string, unknown>;
}

async function openPair(
  index: number,
  url: string,
  secret: string,
  o: Options,
  failures: {
    disconnects: Disconnect[];
    gatewayErrors: Map<string, number>;
    clientErrors: string[];
  },
  stopping: () => boolean,
): Promise<Pair> {
  const name = `soak-tech-${index}`;
  const tech = new TechnicianClient({ url, name, token: issueToken(secret, name, 86_400) });
  await tech.connect();
  const { sessionId, pin } = await tech.createSession(`soak-${index}`);
  const customer = new CustomerClient({
    url,
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
  const pair = new Pair(index, tech, customer, Math.random() * 1000);

  customer.on('frame', (frame) => {
    if (frame.channel === Channel.CHANNEL_INPUT && frame.input) {
      pair.input.receive(frame.input.seq ?? 0);
    }
  });
  customer.on('chat', (chat) => {
    if (chat.senderRole !== Role.ROLE_TECHNICIAN) return;
    const parsed = parseChat(chat.text, TEXT.toCustomer);
    if (parsed === null || parsed[0] !== index) pair.crossTalk++;
    else pair.chatToCustomer.receive(parsed[1]);
  });
  tech.on('chat', (chat) => {
    if (chat.senderRole !== Role.ROLE_CUSTOMER) return;
    const parsed = parseChat(chat.text, TEXT.toTechnician);
    if (parsed === null || parsed[0] !== index) pair.crossTalk++;
    else pair.chatToTechnician.receive(parsed[1]);
  });
  for (const [role, client] of [
    ['technician', tech],
    ['customer', customer],
  ] as const) {
    client.on('close', (code, reason) => {
      if (!stopping()) failures.disconnects.push({ session: index, role, code, reason });
    });
    client.on('gatewayError', (err) => {
      failures.gatewayErrors.set(err.code, (failures.gatewayErrors.get(err.code) ?? 0) + 1);
    });
    client.on('error', (err) => failures.clientErrors.push(`${role} ${index}: ${err.message}`));
  }
  return pair;
}

const KEYS = ['KeyA', 'KeyS', 'Enter', 'Space'] as const;

/** Sends whatever `pair` is due to send `elapsedMs` into the run. */
function drive(pair: Pair, elapsedMs: number, o: Options): void {
  const t = elapsedMs - pair.phaseMs;
  if (t < 0) return;
  const { tech, customer } = pair;
  const screenDue = Math.floor((t * o.fps) / 1000);
  while (pair.screenFramesDone < screenDue && isOpen(customer)) {
    pair.screenFramesDone++;
    pair.screenTilesSent += customer.sendScreenFrame().length;
  }
  const inputDue = Math.floor((t * o.inputHz) / 1000);
  while (pair.inputsDone < inputDue && isOpen(tech)) {
    pair.inputsDone++;
    const seq = pair.input.next();
    const kind = seq % 4;
    const input: ferry.v1.InputEvent.$Properties = {
      seq,
      sentTimeMs: performance.now(),
      ...(kind === 0
        ? { move: { x: seq % 1280, y: seq % 720 } }
        : kind === 1
          ? { key: { code: KEYS[seq % KEYS.length], down: seq % 2 === 0 } }
          : kind === 2
            ? { wheel: { dx: 0, dy: (seq % 5) - 2 } }
            : { text: { text: `t${seq}` } }),
    };
    tech.send({ channel: Channel.CHANNEL_INPUT, input });
  }
  const chatDue = Math.floor((t * o.chatHz) / 1000);
  while (pair.techChatsDone < chatDue && isOpen(tech)) {
    pair.techChatsDone++;
    tech.chat(`${TEXT.toCustomer} ${pair.index} ${pair.chatToCustomer.next()}`);
  }
  // the customer answers half a period later
  const answerDue = Math.floor(((t - 500 / o.chatHz) * o.chatHz) / 1000);
  while (pair.customerChatsDone < answerDue && isOpen(customer)) {
    pair.customerChatsDone++;
    customer.chat(`${TEXT.toTechnician} ${pair.index} ${pair.chatToTechnician.next()}`);
  }
}

const complete = (pairs: Pair[]) =>
  pairs.every((p) => p.input.complete && p.chatToCustomer.complete && p.chatToTechnician.complete);

export async function soak(o: Options, progress: (line: string) => void): Promise<SoakReport> {
  const child = new GatewayChild(o.sampleSeconds * 1000);
  const pairs: Pair[] = [];
  let stopping = false;
  try {
    const ready = await child.next('ready');
    const url = `ws://127.0.0.1:${ready.port as number}/v1/ws`;
    const failures = {
      disconnects: [] as Disconnect[],
      gatewayErrors: new Map<string, number>(),
      clientErrors: [] as string[],
    };
    const BATCH = 10;
    for (let i = 0; i < o.sessions; i += BATCH) {
      const batch: Promise<Pair>[] = [];
      for (let j = i; j < Math.min(o.sessions, i + BATCH); j++) {
        batch.push(openPair(j, url, ready.secret as string, o, failures, () => stopping));
      }
      pairs.push(...(await Promise.all(batch)));
    }
    progress(`${pairs.length} sessions active on ${url} (uWS ${String(ready.uws)})`);

    const runnerDelay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    runnerDelay.enable();
    const runnerRss: RssSample[] = [];
    child.tell({ type: 'start' });
    const startMs = performance.now();
    runnerRss.push(sampleRss(startMs));
    const sampler = setInterval(() => {
      const s = sampleRss(startMs);
      runnerRss.push(s);
      const sent = pairs.reduce((n, p) => n + p.input.sent, 0);
      progress(`t=${s.atSeconds}s  runner rss ${s.rssMiB} MiB  inputs sent ${sent}`);
    }, o.sampleSeconds * 1000);
    // one clock drives every pair, so rates hold even when a tick runs late
    const driver = setInterval(() => {
      const elapsed = performance.now() - startMs;
      for (const p of pairs) drive(p, elapsed, o);
    }, 10);
    await new Promise<void>((resolve) => setTimeout(resolve, o.seconds * 1000));
    clearInterval(driver);
    clearInterval(sampler);
    const trafficSeconds = (performance.now() - startMs) / 1000;

    // Drain: every reliable frame sent must arrive; wait for the last ones, within a bound.
    const drainStart = performance.now();
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
    const drainedInMs = performance.now() - drainStart;
    runnerRss.push(sampleRss(startMs));
    runnerDelay.disable();
    child.tell({ type: 'report' });
    const report = await child.next('report');

    const reliable = {
      input: sum(pairs.map((p) => p.input)),
      chatToCustomer: sum(pairs.map((p) => p.chatToCustomer)),
      chatToTechnician: sum(pairs.map((p) => p.chatToTechnician)),
    };
    const streams = Object.values(reliable);
    const lost = streams.reduce((n, s) => n + s.lost, 0);
    const reordered = streams.reduce((n, s) => n + s.reordered, 0);
    const duplicates = streams.reduce((n, s) => n + s.duplicates, 0);
    const crossTalk = pairs.reduce((n, p) => n + p.crossTalk, 0);
    const { rss, eventLoop, type: _type, ...gateway } = report;
    return {
      ok:
        lost === 0 &&
        reordered === 0 &&
        duplicates === 0 &&
        crossTalk === 0 &&
        pairs.length === o.sessions,
      options: {
        sessions: o.sessions,
        seconds: o.seconds,
        fps: o.fps,
        inputHz: o.inputHz,
        chatHz: o.chatHz,
        tileBytes: o.tileBytes,
        sampleSeconds: o.sampleSeconds,
        drainSeconds: o.drainSeconds,
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
      clientErrors: failures.clientErrors.slice(0, 20),
      rss: { gateway: rss as RssSample[], runner: runnerRss },
      eventLoopDelay: { gateway: eventLoop as DelaySummary, runner: summarize(runnerDelay) },
      gateway,
    };
  } finally {
    stopping = true;
    await Promise.all(pairs.flatMap((p) => [p.tech.close(), p.customer.close()]));
    const code = await child.stop();
    if (code !== 0) progress(`gateway child exited with ${code}`);
  }
}

function printReport(r: SoakReport): void {
  const lines: string[] = [];
  lines.push(
    `Ferry soak: ${r.sessionsOpened}/${r.options.sessions} sessions, ${r.trafficSeconds} s of traffic, ` +
      `${r.machine.cpus} x ${r.machine.cpuModel}, Node ${r.machine.node}`,
  );
  lines.push('');
  lines.push('reliable stream        sent   received   lost  reordered  duplicates');
  for (const [name, s] of Object.entries(r.reliable)) {
    lines.push(
      `${name.padEnd(18)} ${String(s.sent).padStart(8)} ${String(s.received).padStart(10)} ` +
        `${String(s.lost).padStart(6)} ${String(s.reordered).padStart(10)} ${String(s.duplicates).padStart(11)}`,
    );
  }
  lines.push(
    `screen tiles: ${r.screen.tilesSent} sent, ${r.screen.tilesReceived} received (droppable)`,
  );
  lines.push(`drained in ${r.drainedInMs} ms; frames into other sessions: ${r.crossTalk}`);
  lines.push('');
  lines.push('RSS (MiB)   at s   gateway   runner');
  const n = Math.max(r.rss.gateway.length, r.rss.runner.length);
  for (let i = 0; i < n; i++) {
    const g = r.rss.gateway[i];
    const c = r.rss.runner[i];
    lines.push(
      `          ${String(g?.atSeconds ?? c?.atSeconds ?? '').padStart(6)}  ${String(g?.rssMiB ?? '-').padStart(8)}  ${String(c?.rssMiB ?? '-').padStart(7)}`,
    );
  }
  lines.push('');
  lines.push('event-loop delay (ms)    p50     p99     max');
  for (const [who, d] of Object.entries(r.eventLoopDelay)) {
    lines.push(
      `${who.padEnd(22)} ${String(d.p50Ms).padStart(6)}  ${String(d.p99Ms).padStart(6)}  ${String(d.maxMs).padStart(6)}`,
    );
  }
  if (r.disconnects.length > 0) lines.push('', `disconnects: ${JSON.stringify(r.disconnects)}`);
  if (Object.keys(r.gatewayErrors).length > 0) {
    lines.push(`gateway errors: ${JSON.stringify(r.gatewayErrors)}`);
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
