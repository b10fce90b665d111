/**
 * The customer page's screen sender: a getDisplayMedia stream drawn to a canvas at most `fps`
 * times a second, cut into tiles; only tiles that changed since the previous frame are encoded
 * (JPEG) and sent as SCREEN frames, every tile on a key frame (start, resize, a technician's
 * KeyFrameRequest). The frame rate and quality follow the technician's SetStreamQuality, or by
 * default the link: a send buffer that fills up (the link cannot carry the stream) lowers them,
 * and `onQuality` tells the page so it can show the customer.
 */
import { ferry } from '../../protocol/gen/ferry.js';
import type { Conn } from './conn.js';

const Q = ferry.v1.QualityPreset;

/** The monitor id the page shares under (it has one "monitor": the shared surface). */
export const SHARED_MONITOR = 1;
/** Largest side sent; a bigger surface is scaled down (the tiles stay in its advertised size). */
const MAX_SIDE = 1920;
const TILE = 256;
/**
 * How long `start` waits for the video to play, which takes the track's first frame. A tab that
 * shares itself sends a frame only when it repaints: when that first frame is lost, a page that
 * waited for it before saying "you are sharing" (a repaint) waited for ever.
 */
const FIRST_FRAME_WAIT_MS = 2000;

interface Level {
  readonly name: string;
  readonly fps: number;
  readonly quality: number;
}

const PRESET_LEVELS: Readonly<Record<number, Level>> = {
  [Q.QUALITY_PRESET_SPEED]: { name: 'speed', fps: 10, quality: 0.5 },
  [Q.QUALITY_PRESET_BALANCED]: { name: 'balanced', fps: 8, quality: 0.7 },
  [Q.QUALITY_PRESET_FIDELITY]: { name: 'fidelity', fps: 5, quality: 0.9 },
};

/** Levels by how full the send buffer is (the page's own view of the link). */
const LINK_LEVELS: readonly { readonly below: number; readonly level: Level }[] = [
  { below: 256 * 1024, level: { name: 'good link', fps: 10, quality: 0.75 } },
  { below: 1024 * 1024, level: { name: 'slow link', fps: 5, quality: 0.6 } },
  { below: Number.POSITIVE_INFINITY, level: { name: 'poor link', fps: 2, quality: 0.4 } },
];

/** Chromium's reader of a track's frames as they come (not in TypeScript's DOM lib yet). */
type TrackProcessor = new (init: {
  track: MediaStreamTrack;
}) => { readonly readable: ReadableStream<VideoFrame> };
const TrackProcessor = (globalThis as { MediaStreamTrackProcessor?: TrackProcessor })
  .MediaStreamTrackProcessor;

export interface CaptureStatus {
  readonly fps: number;
  readonly quality: number;
  readonly reason: string;
  readonly reduced: boolean;
}

export class ScreenSender {
  readonly stream: MediaStream;
  readonly #conn: Conn;
  readonly #video: HTMLVideoElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #ctx: CanvasRenderingContext2D;
  #previous: Uint32Array | null = null;
  #width = 0;
  #height = 0;
  #seq = 0;
  #keyFrame = true;
  #busy = false;
  #timer = 0;
  #stopped = false;
  #preset: Level | null = null;
  #level: Level = LINK_LEVELS[0]!.level;
  readonly #maxFps: number;
  framesSent = 0;
  tilesSent = 0;
  readonly #onQuality: (status: CaptureStatus) => void;
  readonly #onEnded: () => void;
  readonly source: string;
  /**
   * Where frames are drawn from: the track's own frames as they come (`track-frames`, where the
   * browser has MediaStreamTrackProcessor) or the playing video element (`video-element`). A page
   * the customer leaves in the background (sharing the whole screen and working in another
   * window) has its timers slowed to one a second or less and its muted video paused; the
   * track's frames keep coming, and each one that is due is captured.
   */
  readonly capturePath: 'track-frames' | 'video-element';
  #reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
  /** The newest frame of the track (kept for a key frame while the surface does not change). */
  #latest: VideoFrame | null = null;
  #lastCaptureMs = Number.NEGATIVE_INFINITY;

  constructor(
    conn: Conn,
    stream: MediaStream,
    options: { maxFps?: number; onQuality: (s: CaptureStatus) => void; onEnded: () => void },
  ) {
    this.#conn = conn;
    this.stream = stream;
    this.#maxFps = options.maxFps ?? 10;
    this.#onQuality = options.onQuality;
    this.#onEnded = options.onEnded;
    this.#video = document.createElement('video');
    this.#video.muted = true;
    this.#video.playsInline = true;
    this.#video.srcObject = stream;
    this.#canvas = document.createElement('canvas');
    const ctx = this.#canvas.getContext('2d', { willReadFrequently: true });
    if (ctx === null) throw new Error('no 2d canvas');
    this.#ctx = ctx;
    const track = stream.getVideoTracks()[0];
    const surface = (track?.getSettings() as { displaySurface?: string } | undefined)
      ?.displaySurface;
    this.source = surface === 'browser' ? 'browser-tab' : 'browser-screen';
    track?.addEventListener('ended', () => this.#onEnded());
    if (TrackProcessor !== undefined && track !== undefined) {
      try {
        this.#reader = new TrackProcessor({ track }).readable.getReader();
      } catch {
        // a track that ended already (the customer stopped sharing meanwhile): the video path
        this.#reader = null;
      }
    }
    this.capturePath = this.#reader === null ? 'video-element' : 'track-frames';
  }

  /**
   * Starts capturing. Resolves once the video plays, or after FIRST_FRAME_WAIT_MS without a
   * frame: captures begin with the first frame either way (`#resize` waits for its size), and
   * the page can say it is sharing, whose repaint gives a tab that shares itself that frame.
   * Rejects when the browser refuses to play the video in that time.
   */
  async start(): Promise<void> {
    const playing = this.#video.play();
    let waited: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      waited = setTimeout(resolve, FIRST_FRAME_WAIT_MS);
    });
    try {
      await Promise.race([playing, timeout]);
    } finally {
      clearTimeout(waited);
    }
    // a refusal after the wait leaves the video path without frames; the track's go on
    playing.catch(() => undefined);
    this.#report();
    this.#schedule();
    if (this.#reader !== null) void this.#readFrames(this.#reader);
  }

  /** Keeps the newest frame of the track, and captures when one is due. */
  async #readFrames(reader: ReadableStreamDefaultReader<VideoFrame>): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (this.#stopped) {
          value.close();
          return;
        }
        this.#latest?.close();
        this.#latest = value;
        if (this.#due()) void this.#frame();
      }
    } catch {
      // the track ended or the reader was cancelled: the timer goes on with the video element
      this.#latest?.close();
      this.#latest = null;
    }
  }

  /** Milliseconds between captures at the level in force. */
  #intervalMs(): number {
    return 1000 / Math.max(1, Math.min(this.#maxFps, this.level.fps));
  }

  /** A capture is due (whichever of the timer and the track's frames comes first takes it). */
  #due(): boolean {
    // a little early is fine: the timer's jitter must not make it skip a whole period
    return performance.now() - this.#lastCaptureMs >= 0.9 * this.#intervalMs();
  }

  get level(): Level {
    return this.#preset ?? this.#level;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = window.setTimeout(() => {
      void (this.#due() ? this.#frame() : Promise.resolve()).finally(() => this.#schedule());
    }, this.#intervalMs());
  }

  requestKeyFrame(): void {
    this.#keyFrame = true;
    // at once: in a background page the timer may be a second or more away, and a still
    // surface brings no new track frame
    this.#frameNow();
  }

  #frameNow(): void {
    if (!this.#busy && !this.#stopped) void this.#frame().catch(() => undefined);
  }

  /** The technician's SetStreamQuality: a preset and overrides; UNSPECIFIED follows the link. */
  setQuality(q: ferry.v1.SetStreamQuality): void {
    const base = PRESET_LEVELS[q.preset];
    if (base === undefined && !q.maxFps) this.#preset = null;
    else {
      const from = base ?? this.#level;
      this.#preset = {
        name: base?.name ?? 'asked',
        fps: q.maxFps || from.fps,
        quality: from.quality,
      };
    }
    this.#keyFrame = true;
    this.#report();
    this.#frameNow();
  }

  #report(): void {
    const l = this.level;
    const reduced = this.#preset === null && l !== LINK_LEVELS[0]!.level;
    this.#onQuality({
      fps: Math.min(this.#maxFps, l.fps),
      quality: l.quality,
      reason: this.#preset === null ? l.name : `technician asked: ${l.name}`,
      reduced,
    });
  }

  #followLink(): void {
    const buffered = this.#conn.buffered;
    const next = LINK_LEVELS.find((x) => buffered < x.below)!.level;
    if (next !== this.#level) {
      this.#level = next;
      this.#report();
    }
  }

  monitor(): ferry.v1.Monitor.$Properties {
    return {
      id: SHARED_MONITOR,
      x: 0,
      y: 0,
      width: this.#width,
      height: this.#height,
      primary: true,
      name: this.source === 'browser-tab' ? 'shared tab' : 'shared screen',
      captureSource: this.source,
    };
  }

  #resize(): boolean {
    const frame = this.#latest;
    const vw = frame?.displayWidth ?? this.#video.videoWidth;
    const vh = frame?.displayHeight ?? this.#video.videoHeight;
    if (vw === 0 || vh === 0) return false;
    const scale = Math.min(1, MAX_SIDE / Math.max(vw, vh));
    const w = Math.max(1, Math.round(vw * scale));
    const hgt = Math.max(1, Math.round(vh * scale));
    if (w !== this.#width || hgt !== this.#height) {
      this.#width = this.#canvas.width = w;
      this.#height = this.#canvas.height = hgt;
      this.#previous = null;
      this.#keyFrame = true;
      this.#conn.notify({
        monitorList: { monitors: [this.monitor()], selected: SHARED_MONITOR, all: false },
      });
    }
    return true;
  }

  async #frame(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#followLink();
    // the link cannot carry more now: skip this frame rather than queue it
    if (this.#conn.buffered > 4 * 1024 * 1024) return;
    if (!this.#resize()) return;
    this.#lastCaptureMs = performance.now();
    this.#busy = true;
    try {
      await this.#sendFrame();
    } finally {
      this.#busy = false;
    }
  }

  async #sendFrame(): Promise<void> {
    const w = this.#width;
    const hgt = this.#height;
    const captured = Date.now();
    this.#ctx.drawImage(this.#latest ?? this.#video, 0, 0, w, hgt);
    const image = this.#ctx.getImageData(0, 0, w, hgt);
    const now = new Uint32Array(image.data.buffer);
    const before = this.#previous;
    const key = this.#keyFrame || before === null;
    this.#keyFrame = false;
    const tiles: { x: number; y: number; w: number; h: number }[] = [];
    for (let y = 0; y < hgt; y += TILE) {
      for (let x = 0; x < w; x += TILE) {
        const tw = Math.min(TILE, w - x);
        const th = Math.min(TILE, hgt - y);
        if (key || changed(before!, now, w, x, y, tw, th)) tiles.push({ x, y, w: tw, h: th });
      }
    }
    this.#previous = now;
    if (tiles.length === 0) return;
    const quality = this.level.quality;
    const encoded = await Promise.all(
      tiles.map(async (t) => {
        const c = new OffscreenCanvas(t.w, t.h);
        const cx = c.getContext('2d');
        if (cx === null) throw new Error('no 2d canvas');
        cx.putImageData(image, -t.x, -t.y, t.x, t.y, t.w, t.h);
        const blob = await c.convertToBlob({ type: 'image/jpeg', quality });
        return new Uint8Array(await blob.arrayBuffer());
      }),
    );
    if (this.#stopped) return;
    const seq = ++this.#seq;
    const preset = this.#preset === null ? Q.QUALITY_PRESET_UNSPECIFIED : Q.QUALITY_PRESET_BALANCED;
    tiles.forEach((t, i) => {
      this.#conn.send({
        channel: ferry.v1.Channel.CHANNEL_SCREEN,
        stream: SHARED_MONITOR,
        screen: {
          frameSeq: seq,
          x: t.x,
          y: t.y,
          width: t.w,
          height: t.h,
          encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_JPEG,
          keyFrame: key,
          data: encoded[i]!,
          screenWidth: w,
          screenHeight: hgt,
          lastTile: i === tiles.length - 1,
          captureTimeMs: captured,
          preset,
          fps: Math.round(Math.min(this.#maxFps, this.level.fps)),
        },
      });
    });
    this.framesSent++;
    this.tilesSent += tiles.length;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#reader?.cancel().catch(() => undefined);
    this.#latest?.close();
    this.#latest = null;
    for (const t of this.stream.getTracks()) t.stop();
    this.#video.srcObject = null;
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

function changed(
  a: Uint32Array,
  b: Uint32Array,
  stride: number,
  x: number,
  y: number,
  w: number,
  h: number,
): boolean {
  for (let row = y; row < y + h; row++) {
    const start = row * stride + x;
    for (let i = start; i < start + w; i++) if (a[i] !== b[i]) return true;
  }
  return false;
}
