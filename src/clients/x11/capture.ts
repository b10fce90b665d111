/**
 * Screen capture of one X11 monitor: `ffmpeg -f x11grab` streams raw frames of the monitor's
 * region at N frames per second; each frame is cut into tiles, compared with the previous frame,
 * and only the tiles that changed are encoded (JPEG or WebP, with sharp) and handed on. A key
 * frame encodes every tile. Changed tiles side by side in a row go as one rectangle. When encoding lags, the newest captured frame waits and older ones are
 * skipped (counted). A failure (ffmpeg missing, the display gone, an encoder error) stops the
 * capture and is emitted once as a coded `CaptureError`; the caller reports it and goes on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import sharp from 'sharp';
import { type CodeEntry, Codes } from '../../protocol/codes.js';
import { missingProgramMessage } from './display.js';

// Every image is new pixels: libvips' operation cache would only hold memory.
sharp.cache(false);

export type TileFormat = 'jpeg' | 'webp';

/** A rectangle of the X screen, device pixels. */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface CaptureOptions {
  /** The X display (":0"). */
  readonly display: string;
  /** The monitor's rectangle in the X screen. */
  readonly region: Region;
  readonly fps: number;
  /** Encoder quality, 1..100. */
  readonly quality: number;
  readonly format?: TileFormat;
  /** Tile edge, pixels (the last column and row are narrower when the size does not divide). */
  readonly tileSize?: number;
  /** Changed tiles side by side are sent as one rectangle up to this wide (tileSize: never). */
  readonly maxRunWidth?: number;
  /** The capture program (default `ffmpeg` on PATH). */
  readonly ffmpeg?: string;
  /** Draw the X pointer into the frames (default true). */
  readonly drawPointer?: boolean;
  /** Replaces the encoder (tests of encoder failure). */
  readonly encode?: (rgb: Buffer, width: number, height: number) => Promise<Buffer>;
}

export interface EncodedTile {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

export interface CapturedFrame {
  /** From 1, per capture. */
  readonly seq: number;
  readonly keyFrame: boolean;
  readonly tiles: EncodedTile[];
  readonly format: TileFormat;
  readonly quality: number;
  readonly fps: number;
  /** performance.now() when the frame was complete. */
  readonly captureTimeMs: number;
}

/** A capture failure with its FERRY_ERR_* code. */
export class CaptureError extends Error {
  readonly code: string;
  constructor(entry: CodeEntry, message: string) {
    super(message);
    this.name = 'CaptureError';
    this.code = entry.code;
  }
}

export interface CaptureEvents {
  frame: [frame: CapturedFrame];
  /** A captured frame was handled: `tiles` sent (0: nothing changed, nothing sent). */
  processed: [tiles: number];
  error: [err: CaptureError];
}

export const DEFAULT_TILE_SIZE = 128;
/** Widest rectangle sent, pixels: a run of changed tiles is cut at this width. */
export const DEFAULT_MAX_RUN_WIDTH = 1024;
const BYTES_PER_PIXEL = 4;

/** ffmpeg's arguments for raw bgr0 frames of `region` of `display` at `fps`. */
export function ffmpegArgs(
  display: string,
  region: Region,
  fps: number,
  drawPointer = true,
): string[] {
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    // no probing: the input's format is known, and probing delays the first frame by seconds
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-fpsprobesize',
    '0',
    '-f',
    'x11grab',
    '-draw_mouse',
    drawPointer ? '1' : '0',
    '-framerate',
    String(fps),
    '-video_size',
    `${region.width}x${region.height}`,
    '-i',
    `${display}+${region.x},${region.y}`,
    '-vsync',
    'vfr',
    '-pix_fmt',
    'bgr0',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

/** Copies one tile of a bgr0 frame into a packed RGB buffer. */
export function tileRgb(
  frame: Buffer,
  stride: number,
  x: number,
  y: number,
  width: number,
  height: number,
): Buffer {
  const out = Buffer.allocUnsafe(width * height * 3);
  let o = 0;
  for (let row = 0; row < height; row++) {
    let i = (y + row) * stride + x * BYTES_PER_PIXEL;
    const end = i + width * BYTES_PER_PIXEL;
    for (; i < end; i += BYTES_PER_PIXEL) {
      out[o++] = frame[i + 2]!;
      out[o++] = frame[i + 1]!;
      out[o++] = frame[i]!;
    }
  }
  return out;
}

/**
 * The tiles of `cur` that differ from `prev` (both bgr0 frames of `width` x `height`), as
 * indexes row-major in the grid of `tileSize` tiles. Rows equal in full are skipped at once.
 */
export function changedTiles(
  cur: Buffer,
  prev: Buffer,
  width: number,
  height: number,
  tileSize: number,
): number[] {
  const stride = width * BYTES_PER_PIXEL;
  const cols = Math.ceil(width / tileSize);
  const rows = Math.ceil(height / tileSize);
  const changed = new Uint8Array(cols * rows);
  const tileStride = tileSize * BYTES_PER_PIXEL;
  for (let y = 0; y < height; y++) {
    const rs = y * stride;
    if (cur.compare(prev, rs, rs + stride, rs, rs + stride) === 0) continue;
    const base = Math.floor(y / tileSize) * cols;
    for (let tx = 0; tx < cols; tx++) {
      if (changed[base + tx] === 1) continue;
      const s = rs + tx * tileStride;
      const e = Math.min(s + tileStride, rs + stride);
      if (cur.compare(prev, s, e, s, e) !== 0) changed[base + tx] = 1;
    }
  }
  const out: number[] = [];
  for (let i = 0; i < changed.length; i++) if (changed[i] === 1) out.push(i);
  return out;
}

/**
 * Runs of changed tiles side by side in one tile row, as [first index, count], at most `maxRun`
 * tiles long: each run is sent as one rectangle (fewer, larger images cost less to encode).
 */
export function tileRuns(
  indexes: readonly number[],
  cols: number,
  maxRun: number,
): [number, number][] {
  const runs: [number, number][] = [];
  for (const i of indexes) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] + last[1] === i && i % cols !== 0 && last[1] < maxRun) {
      last[1]++;
    } else runs.push([i, 1]);
  }
  return runs;
}

/** Encodes packed RGB pixels as one JPEG or WebP image. */
export function encodeTile(
  rgb: Buffer,
  width: number,
  height: number,
  format: TileFormat,
  quality: number,
): Promise<Buffer> {
  const img = sharp(rgb, { raw: { width, height, channels: 3 } });
  return format === 'webp'
    ? img.webp({ quality, effort: 0 }).toBuffer()
    : img.jpeg({ quality, chromaSubsampling: '4:2:0', optimiseCoding: false }).toBuffer();
}

/** Captures one monitor region until stopped or failed. */
export class X11Capture extends EventEmitter<CaptureEvents> {
  readonly display: string;
  readonly region: Region;
  readonly tileSize: number;
  readonly format: TileFormat;
  fps: number;
  quality: number;
  /** Frames read from ffmpeg. */
  framesCaptured = 0;
  /** Frames dropped because encoding lagged (a newer one replaced them). */
  framesSkipped = 0;
  /** Frames with no changed tile (nothing sent). */
  framesUnchanged = 0;
  framesSent = 0;
  tilesSent = 0;
  bytesSent = 0;
  /** Milliseconds spent diffing and encoding, all frames. */
  processMs = 0;
  #seq = 0;
  #child: ChildProcess | null = null;
  /** Children stopped on purpose: their exit is not a failure. */
  readonly #stopped = new WeakSet<ChildProcess>();
  #stopping = false;
  #failed = false;
  #keyFrameWanted = true;
  #prev: Buffer | null = null;
  #assembling: Buffer | null = null;
  #filled = 0;
  #pending: Buffer | null = null;
  #busy = false;
  #free: Buffer[] = [];
  #stderr = '';
  readonly #frameBytes: number;
  readonly #maxRun: number;
  readonly #options: CaptureOptions;

  constructor(options: CaptureOptions) {
    super();
    this.#options = options;
    this.display = options.display;
    this.region = options.region;
    this.fps = options.fps;
    this.quality = options.quality;
    this.format = options.format ?? 'jpeg';
    this.tileSize = options.tileSize ?? DEFAULT_TILE_SIZE;
    this.#frameBytes = this.region.width * this.region.height * BYTES_PER_PIXEL;
    this.#maxRun = Math.max(
      1,
      Math.floor((options.maxRunWidth ?? DEFAULT_MAX_RUN_WIDTH) / this.tileSize),
    );
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** The capture process's id (benches read its CPU time), or null when not running. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** The next frame sends every tile. */
  requestKeyFrame(): void {
    this.#keyFrameWanted = true;
  }

  /** Starts ffmpeg (again, at the current fps). */
  start(): void {
    if (this.#child !== null || this.#failed) return;
    this.#stopping = false;
    this.#stderr = '';
    this.#filled = 0;
    const program = this.#options.ffmpeg ?? 'ffmpeg';
    const child = spawn(
      program,
      ffmpegArgs(this.display, this.region, this.fps, this.#options.drawPointer ?? true),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        this.#fail(Codes.SCREEN_UNAVAILABLE, missingProgramMessage('ffmpeg'));
      } else this.#fail(Codes.SCREEN_CAPTURE_FAILED, `ffmpeg could not start: ${err.message}`);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-2000);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.#child === child) this.#onData(chunk);
    });
    child.on('close', (code, signal) => {
      if (this.#child === child) this.#child = null;
      if (this.#stopped.has(child) || this.#failed) return;
      const why = this.#stderr.trim().split('\n').slice(-2).join(' ') || `exit ${code ?? signal}`;
      this.#fail(Codes.SCREEN_CAPTURE_FAILED, `capture of display ${this.display} stopped: ${why}`);
    });
  }

  /** Stops ffmpeg; frames being encoded are dropped. */
  stop(): void {
    this.#stopping = true;
    this.#pending = null;
    const child = this.#child;
    this.#child = null;
    if (this.#assembling !== null) this.#free.push(this.#assembling);
    this.#assembling = null;
    if (child !== null) {
      this.#stopped.add(child);
      child.kill('SIGTERM');
    }
  }

  /** Changes the frame rate (ffmpeg restarts) and quality; the next frame is a key frame. */
  configure(fps: number, quality: number): void {
    const restart = fps !== this.fps && this.#child !== null;
    this.fps = fps;
    this.quality = quality;
    this.#keyFrameWanted = true;
    if (restart) {
      this.stop();
      this.start();
    }
  }

  #buffer(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(this.#frameBytes);
  }

  #onData(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#assembling === null) {
        this.#assembling = this.#buffer();
        this.#filled = 0;
      }
      const n = Math.min(chunk.length - offset, this.#frameBytes - this.#filled);
      chunk.copy(this.#assembling, this.#filled, offset, offset + n);
      this.#filled += n;
      offset += n;
      if (this.#filled === this.#frameBytes) {
        const frame = this.#assembling;
        this.#assembling = null;
        this.#onFrame(frame);
      }
    }
  }

  #onFrame(frame: Buffer): void {
    this.framesCaptured++;
    if (this.#busy) {
      if (this.#pending !== null) {
        this.framesSkipped++;
        this.#free.push(this.#pending);
      }
      this.#pending = frame;
      return;
    }
    void this.#process(frame);
  }

  async #process(frame: Buffer): Promise<void> {
    this.#busy = true;
    const started = performance.now();
    const { width, height } = this.region;
    const size = this.tileSize;
    const cols = Math.ceil(width / size);
    const key = this.#keyFrameWanted || this.#prev === null;
    this.#keyFrameWanted = false;
    const indexes = key
      ? Array.from({ length: cols * Math.ceil(height / size) }, (_, i) => i)
      : changedTiles(frame, this.#prev!, width, height, size);
    const quality = this.quality;
    const stride = width * BYTES_PER_PIXEL;
    const encode =
      this.#options.encode ??
      ((rgb: Buffer, w: number, h: number) => encodeTile(rgb, w, h, this.format, quality));
    let tiles: EncodedTile[] = [];
    try {
      tiles = await Promise.all(
        tileRuns(indexes, cols, this.#maxRun).map(async ([first, count]) => {
          const x = (first % cols) * size;
          const y = Math.floor(first / cols) * size;
          const w = Math.min(size * count, width - x);
          const h = Math.min(size, height - y);
          const data = await encode(tileRgb(frame, stride, x, y, w, h), w, h);
          return { x, y, width: w, height: h, data };
        }),
      );
    } catch (err) {
      this.#busy = false;
      this.#fail(Codes.SCREEN_ENCODE_FAILED, `tile encoder failed: ${(err as Error).message}`);
      return;
    }
    if (this.#prev !== null) this.#free.push(this.#prev);
    this.#prev = frame;
    this.processMs += performance.now() - started;
    if (!this.#stopping && !this.#failed) {
      if (tiles.length === 0) this.framesUnchanged++;
      else {
        this.framesSent++;
        this.tilesSent += tiles.length;
        for (const t of tiles) this.bytesSent += t.data.length;
        this.emit('frame', {
          seq: ++this.#seq,
          keyFrame: key,
          tiles,
          format: this.format,
          quality,
          fps: this.fps,
          captureTimeMs: started,
        });
      }
      this.emit('processed', tiles.length);
    }
    this.#busy = false;
    const next = this.#pending;
    this.#pending = null;
    if (next !== null && !this.#stopping) void this.#process(next);
  }

  #fail(entry: CodeEntry, message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.stop();
    this.emit('error', new CaptureError(entry, message));
  }
}
