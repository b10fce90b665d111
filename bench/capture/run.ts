/**
 * Capture bench: what screen capture and tile encoding cost the native customer. Starts Xvfb
 * (default 1920x1080), a painter child that repaints a share of the tiles every frame (default
 * 10%) with desktop-like content, and one X11Capture at N fps (default 10) of the whole screen.
 * Reports, over the measured window: CPU of the capture (this process: diff, encode; plus the
 * ffmpeg child) as a share of one core and per frame, bytes sent per frame, tiles per frame.
 * Targets: <= 30% of one core, <= 200 KB per frame at the default quality.
 *
 *   npm run bench:capture
 *   node dist/bench/capture/run.js --duration 10 --fps 10 --quality 60 --format jpeg --change 0.1
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TILE_SIZE, type TileFormat, X11Capture } from '../../src/clients/x11/capture.js';
import { DEFAULT_QUALITY } from '../../src/clients/x11/presets.js';
import { startXvfb } from '../../test/clients/x11-support.js';
import { describeMachine, machineInfo, writeResult } from '../common/machine.js';
import { processCpuMs } from '../common/proc.js';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    fps: { type: 'string', default: '10' },
    quality: { type: 'string', default: String(DEFAULT_QUALITY) },
    format: { type: 'string', default: 'jpeg' },
    change: { type: 'string', default: '0.1' },
    width: { type: 'string', default: '1920' },
    height: { type: 'string', default: '1080' },
    tile: { type: 'string', default: String(DEFAULT_TILE_SIZE) },
    'no-json': { type: 'boolean', default: false },
  },
});

const TARGET_CPU_PCT = 30;
const TARGET_BYTES_PER_FRAME = 200 * 1024;

const width = Number(flags.width);
const height = Number(flags.height);
const fps = Number(flags.fps);
const quality = Number(flags.quality);
const format = flags.format as TileFormat;
const tile = Number(flags.tile);

function until(capture: X11Capture, frames: number): Promise<void> {
  const target = capture.framesCaptured + frames;
  return new Promise((resolve, reject) => {
    const onProcessed = () => {
      if (capture.framesCaptured + capture.framesSkipped < target) return;
      capture.off('processed', onProcessed);
      resolve();
    };
    capture.on('processed', onProcessed);
    capture.once('error', reject);
  });
}

const xvfb = await startXvfb(width, height);
let painter: ChildProcess | null = null;
let capture: X11Capture | null = null;
try {
  painter = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('./painter.js', import.meta.url)),
      xvfb.display,
      String(fps),
      flags.change,
      String(tile),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  painter.stdout!.setEncoding('utf8');
  await once(painter.stdout!, 'data');

  capture = new X11Capture({
    display: xvfb.display,
    region: { x: 0, y: 0, width, height },
    fps,
    quality,
    format,
    tileSize: tile,
  });
  capture.start();
  await until(capture, Math.max(1, Math.round(Number(flags.warmup) * fps)));

  const c = capture;
  const start = {
    wall: performance.now(),
    self: process.cpuUsage(),
    ffmpeg: processCpuMs(c.pid ?? 0) ?? 0,
    captured: c.framesCaptured,
    skipped: c.framesSkipped,
    sent: c.framesSent,
    tiles: c.tilesSent,
    bytes: c.bytesSent,
    processMs: c.processMs,
  };
  await until(c, Math.round(Number(flags.duration) * fps));
  const wallMs = performance.now() - start.wall;
  const self = process.cpuUsage(start.self);
  const selfMs = (self.user + self.system) / 1000;
  const ffmpegMs = (processCpuMs(c.pid ?? 0) ?? 0) - start.ffmpeg;
  const captured = c.framesCaptured - start.captured;
  const skipped = c.framesSkipped - start.skipped;
  const handled = captured - skipped;
  const bytes = c.bytesSent - start.bytes;
  const tiles = c.tilesSent - start.tiles;
  const grid = Math.ceil(width / tile) * Math.ceil(height / tile);
  const cpuPct = ((selfMs + ffmpegMs) / wallMs) * 100;
  const bytesPerFrame = bytes / Math.max(1, captured);
  const result = {
    machine: machineInfo(),
    settings: { width, height, fps, quality, format, tile, change: Number(flags.change) },
    wallMs: Math.round(wallMs),
    framesCaptured: captured,
    framesSkipped: skipped,
    capturedFps: (captured / wallMs) * 1000,
    tilesPerFrame: tiles / Math.max(1, handled),
    changedShare: tiles / Math.max(1, handled) / grid,
    bytesPerFrame,
    bytesPerTile: bytes / Math.max(1, tiles),
    cpu: {
      totalPctOfCore: cpuPct,
      nodePctOfCore: (selfMs / wallMs) * 100,
      ffmpegPctOfCore: (ffmpegMs / wallMs) * 100,
      msPerFrame: (selfMs + ffmpegMs) / Math.max(1, captured),
      diffEncodeMsPerFrame: (c.processMs - start.processMs) / Math.max(1, handled),
    },
    targets: {
      cpuPctOfCore: TARGET_CPU_PCT,
      bytesPerFrame: TARGET_BYTES_PER_FRAME,
      cpuMet: cpuPct <= TARGET_CPU_PCT,
      bytesMet: bytesPerFrame <= TARGET_BYTES_PER_FRAME,
    },
  };
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`capture bench on ${describeMachine(result.machine)}`);
  console.log(
    `${width}x${height} at ${fps} fps, ${format} q${quality}, ${tile}px tiles, ${(Number(flags.change) * 100).toFixed(0)}% of tiles repainted per frame, ${(wallMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `frames captured ${captured} (${result.capturedFps.toFixed(1)}/s), skipped ${skipped}; ` +
      `tiles sent per frame ${result.tilesPerFrame.toFixed(1)} of ${grid} (${(result.changedShare * 100).toFixed(1)}%)`,
  );
  console.log(
    `bytes per frame ${kb(bytesPerFrame)} (target <= ${kb(TARGET_BYTES_PER_FRAME)}: ${result.targets.bytesMet ? 'met' : 'NOT met'}), per tile ${result.bytesPerTile.toFixed(0)} B`,
  );
  console.log(
    `CPU ${cpuPct.toFixed(1)}% of one core (node ${result.cpu.nodePctOfCore.toFixed(1)}%, ffmpeg ${result.cpu.ffmpegPctOfCore.toFixed(1)}%; target <= ${TARGET_CPU_PCT}%: ${result.targets.cpuMet ? 'met' : 'NOT met'}), ` +
      `${result.cpu.msPerFrame.toFixed(1)} ms CPU per frame, diff+encode ${result.cpu.diffEncodeMsPerFrame.toFixed(1)} ms wall per frame`,
  );
  if (!flags['no-json']) console.log(`result: ${writeResult('capture', result)}`);
} finally {
  capture?.stop();
  painter?.stdin?.end();
  if (painter !== null) await once(painter, 'exit');
  await xvfb.stop();
}
