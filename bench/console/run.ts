/**
 * Console streaming bench: a Node customer client streams a 1920x1080 screen of changing JPEG
 * tiles (pre-encoded with sharp: 8x5 tiles of 240x216, a key frame of all 40, then a share of them
 * changed per frame) at N fps through a real gateway on loopback to the technician console in
 * headless Chromium. Reports, over the measured window:
 * - capture-to-paint latency p50/p99 (the console measures it per painted frame against the
 *   frame's capture_time_ms; read through `window.ferryScreen.stats()`),
 * - frames painted per second against frames sent,
 * - the tab's main-thread CPU (CDP `Performance.getMetrics` TaskDuration) as a share of one core,
 * - the backlog (frames sent and not painted, tiles waiting to paint) at the start and the end of
 *   the window: a backlog that grows means the console cannot keep up.
 * Targets on loopback: p50 <= 100 ms, p99 <= 250 ms, no growing backlog.
 *
 *   npm run bench:console
 *   node dist/bench/console/run.js --seconds 60 --fps 10 --change 0.2 --quality 75
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { CustomerClient } from '../../src/clients/customer.js';
import { resolveConfig } from '../../src/config/config.js';
import { buildConsole } from '../../src/console/build.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { ConsoleSite } from '../../src/transport/static.js';
import { describeMachine, machineInfo, writeResult } from '../common/machine.js';

/** In-page callbacks run in the browser (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own window
declare const window: any;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '3' },
    fps: { type: 'string', default: '10' },
    change: { type: 'string', default: '0.2' },
    quality: { type: 'string', default: '75' },
    chromium: { type: 'string', default: process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium' },
  },
});

const SECONDS = Number(flags.seconds);
const WARMUP = Number(flags.warmup);
const FPS = Number(flags.fps);
const CHANGE = Number(flags.change);
const QUALITY = Number(flags.quality);
const WIDTH = 1920;
const HEIGHT = 1080;
const TILE_W = 240;
const TILE_H = 216;
const COLS = WIDTH / TILE_W;
const ROWS = HEIGHT / TILE_H;
const VARIANTS = 24;

interface Stats {
  tilesPainted: number;
  framesPainted: number;
  pendingTiles: number;
  dropped: Record<string, number>;
  latencies: number[];
}

/** Desktop-like tiles: a light background, text-like bars and a coloured block, each different. */
async function encodeTiles(): Promise<Buffer[]> {
  const tiles: Buffer[] = [];
  for (let v = 0; v < VARIANTS; v++) {
    const px = Buffer.alloc(TILE_W * TILE_H * 3);
    for (let y = 0; y < TILE_H; y++) {
      for (let x = 0; x < TILE_W; x++) {
        const i = (y * TILE_W + x) * 3;
        const bar = y % 18 < 10 && (x * 7 + y * 3 + v * 31) % 97 < 60 && x > 12;
        const block = x > 150 && y > 120 && x < 220 && y < 200;
        const shade = 235 - ((x + y + v * 9) % 20);
        px[i] = block ? (v * 53) % 256 : bar ? 40 : shade;
        px[i + 1] = block ? (v * 97) % 256 : bar ? 40 : shade;
        px[i + 2] = block ? (v * 151) % 256 : bar ? 60 : shade + 5;
      }
    }
    tiles.push(
      await sharp(px, { raw: { width: TILE_W, height: TILE_H, channels: 3 } })
        .jpeg({ quality: QUALITY })
        .toBuffer(),
    );
  }
  return tiles;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  if (!ConsoleSite.load().built) await buildConsole();
  const tiles = await encodeTiles();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-console-'));
  const config = resolveConfig(
    { host: '127.0.0.1', port: 0, adminPort: 0, dataDir, logLevel: 'silent' },
    {},
  );
  const gateway = await Gateway.start(config, silentLogger(), {});
  const base = `http://127.0.0.1:${gateway.port}`;
  const browser = await chromium.launch({
    executablePath: flags.chromium,
    headless: true,
    args: ['--no-sandbox'],
  });
  let customer: CustomerClient | null = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    const page = await context.newPage();
    const token = issueToken(gateway.config.secret, 'bench-tech', 3600);
    page.on('pageerror', (err) => console.error(`console page error: ${err.message}`));
    await page.goto(`${base}/#token=${encodeURIComponent(token)}`);
    try {
      await page.waitForSelector('#new-session', { timeout: 10_000 });
    } catch (err) {
      throw new Error(`the console did not sign in: ${await page.textContent('#notice')}`, {
        cause: err,
      });
    }
    await page.click('#new-session');
    await page.waitForFunction(
      () => (document.getElementById('session-pin')?.textContent ?? '') !== '',
    );
    const pin = (await page.textContent('#session-pin')) ?? '';
    customer = new CustomerClient({
      url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
      pin,
      name: 'Bench',
      consent: ['view'],
      screen: { width: WIDTH, height: HEIGHT },
    });
    await customer.connect();
    await page.click('#refresh-queue');
    await page.click('[data-action="pick-up"]');
    await page.waitForFunction(() => document.body.dataset.status === 'active');
    await page.uncheck('#ask-control');
    await page.click('#ask-consent');
    await page.waitForFunction(() => document.getElementById('granted')?.textContent === 'view');
    // the customer's monitor, as the console lists it
    await page.waitForSelector('#monitor-select option:not([value="all"])', { state: 'attached' });
    const monitor = Number(
      await page.getAttribute('#monitor-select option:not([value="all"])', 'value'),
    );

    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const taskSeconds = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
    };

    // the stream: frame n at n / FPS seconds, its tiles sent back to back
    const ws = customer;
    let seq = 0;
    let framesSent = 0;
    let bytesSent = 0;
    const started = performance.now();
    const end = started + (WARMUP + SECONDS) * 1000;
    const sendFrame = () => {
      seq++;
      const key = seq === 1;
      const count = key ? COLS * ROWS : Math.max(1, Math.round(COLS * ROWS * CHANGE));
      const cells = new Set<number>();
      while (cells.size < count) cells.add(Math.floor(Math.random() * COLS * ROWS));
      const captureTimeMs = Date.now();
      let i = 0;
      for (const cell of cells) {
        const data = tiles[(seq * 7 + cell) % VARIANTS]!;
        const bytes = ferry.v1.Frame.encode({
          channel: ferry.v1.Channel.CHANNEL_SCREEN,
          stream: monitor,
          screen: {
            x: (cell % COLS) * TILE_W,
            y: Math.floor(cell / COLS) * TILE_H,
            width: TILE_W,
            height: TILE_H,
            screenWidth: WIDTH,
            screenHeight: HEIGHT,
            encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_JPEG,
            data,
            frameSeq: seq,
            keyFrame: key,
            lastTile: ++i === cells.size,
            captureTimeMs,
          },
        }).finish();
        ws.sendRaw(bytes);
        bytesSent += bytes.length;
      }
      framesSent++;
    };
    const streaming = new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (now >= end) {
          resolve();
          return;
        }
        sendFrame();
        const next = started + seq * (1000 / FPS);
        setTimeout(tick, Math.max(0, next - performance.now()));
      };
      tick();
    });

    // warm-up, then sample once a second
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    const stats = () => page.evaluate(() => window.ferryScreen.stats()) as Promise<Stats>;
    const first = await stats(); // drops the warm-up's latency samples
    const t0 = performance.now();
    const cpu0 = await taskSeconds();
    const sent0 = framesSent;
    const latencies: number[] = [];
    const backlog: { t: number; frames: number; tiles: number }[] = [];
    let last = first;
    while (performance.now() < end - 500) {
      await new Promise((r) => setTimeout(r, 1000));
      last = await stats();
      latencies.push(...last.latencies);
      backlog.push({
        t: (performance.now() - t0) / 1000,
        frames: framesSent - last.framesPainted,
        tiles: last.pendingTiles,
      });
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = (await taskSeconds()) - cpu0;
    const painted = last.framesPainted - first.framesPainted;
    const sent = framesSent - sent0;
    await streaming;
    latencies.sort((a, b) => a - b);
    const head = backlog.slice(0, 5);
    const tail = backlog.slice(-5);
    const mean = (xs: typeof backlog) => xs.reduce((a, b) => a + b.frames, 0) / (xs.length || 1);
    const backlogStart = mean(head);
    const backlogEnd = mean(tail);
    const grows = backlogEnd > backlogStart + FPS; // more than a second's worth behind
    const result = {
      machine: machineInfo(),
      settings: {
        seconds: SECONDS,
        fps: FPS,
        change: CHANGE,
        quality: QUALITY,
        tile: `${TILE_W}x${TILE_H}`,
      },
      latencyMs: {
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        max: latencies.at(-1) ?? Number.NaN,
        samples: latencies.length,
      },
      framesSentPerSecond: sent / wall,
      framesPaintedPerSecond: painted / wall,
      tabCpuShareOfOneCore: cpu / wall,
      sentMbitPerSecond: (bytesSent * 8) / 1e6 / ((performance.now() - started) / 1000),
      meanTileBytes: tiles.reduce((a, b) => a + b.length, 0) / tiles.length,
      backlogFrames: {
        start: backlogStart,
        end: backlogEnd,
        max: Math.max(...backlog.map((b) => b.frames)),
      },
      maxPendingTiles: Math.max(...backlog.map((b) => b.tiles)),
      backlogGrows: grows,
      dropped: last.dropped,
      targets: {
        p50: quantile(latencies, 0.5) <= 100,
        p99: quantile(latencies, 0.99) <= 250,
        noGrowingBacklog: !grows,
      },
    };
    const file = writeResult('console', result);
    const r = result;
    console.log(describeMachine(r.machine));
    console.log(
      `console stream ${WIDTH}x${HEIGHT} @ ${FPS} fps, ${Math.round(CHANGE * 100)}% of ${COLS * ROWS} JPEG tiles changed per frame (q${QUALITY}, ~${Math.round(r.meanTileBytes / 1024)} KiB each), ${SECONDS} s`,
    );
    console.log(
      `capture-to-paint latency: p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, max ${r.latencyMs.max.toFixed(1)} ms (${r.latencyMs.samples} frames)`,
    );
    console.log(
      `frames: ${r.framesSentPerSecond.toFixed(2)}/s sent, ${r.framesPaintedPerSecond.toFixed(2)}/s painted; stream ${r.sentMbitPerSecond.toFixed(1)} Mbit/s`,
    );
    console.log(`tab main-thread CPU: ${(r.tabCpuShareOfOneCore * 100).toFixed(1)}% of one core`);
    console.log(
      `backlog (frames sent, not painted): ${backlogStart.toFixed(1)} at the start, ${backlogEnd.toFixed(1)} at the end, max ${r.backlogFrames.max}; tiles waiting max ${r.maxPendingTiles}: ${grows ? 'GROWS' : 'does not grow'}`,
    );
    console.log(`dropped tiles: ${JSON.stringify(r.dropped)}`);
    console.log(
      `targets: p50 <= 100 ms ${r.targets.p50 ? 'met' : 'MISSED'}, p99 <= 250 ms ${r.targets.p99 ? 'met' : 'MISSED'}, no growing backlog ${r.targets.noGrowingBacklog ? 'met' : 'MISSED'}`,
    );
    console.log(`result: ${path.relative(process.cwd(), file)}`);
  } finally {
    customer?.close();
    await browser.close();
    await gateway.close('bench finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
