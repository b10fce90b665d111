/**
 * The native customer's real screen on Linux/X11: the monitors of the display (xrandr), one
 * capture per monitor shared, their tiles framed as SCREEN ScreenUpdates (Frame.stream = monitor
 * id, sizes as MonitorList advertises them), key frames on request, frame rate and quality from
 * the flags or the technician's preset, and input injected into the same display. When the
 * connection's send buffer backs up (a slow link), frames are skipped and quality drops to the
 * SPEED preset until it drains. A capture or encoder failure is emitted once as a coded error;
 * the caller tells the technicians and goes on with its other tools.
 */
import { EventEmitter } from 'node:events';
import { Channel, encodeFrame } from '../../protocol/frames.js';
import { ferry } from '../../protocol/gen/ferry.js';
import { MONITOR_ALL } from '../../protocol/screen-input.js';
import { type CapturedFrame, type CaptureError, type TileFormat, X11Capture } from './capture.js';
import { checkDisplay, displayName, type X11Monitor } from './display.js';
import { X11Injector } from './inject.js';
import { CAPTURE_PRESETS, type CaptureSetting, DEFAULT_FPS, DEFAULT_QUALITY } from './presets.js';

/** Send-buffer level past which frames are skipped and quality drops (bytes). */
export const BACKLOG_HIGH_BYTES = 2 * 1024 * 1024;
/** Level under which the asked quality comes back. */
export const BACKLOG_LOW_BYTES = 256 * 1024;

export interface X11ScreenOptions {
  /** The X display; default `$DISPLAY`. */
  readonly display?: string;
  readonly fps?: number;
  readonly quality?: number;
  readonly format?: TileFormat;
  readonly tileSize?: number;
  /** Programs (tests): default `ffmpeg` and `xdotool` on PATH. */
  readonly ffmpeg?: string;
  readonly xdotool?: string;
  /** Draw the pointer into the frames (default true). */
  readonly drawPointer?: boolean;
}

/** Where frames go: the customer's connection. */
export interface FrameSink {
  sendRaw(bytes: Uint8Array): boolean;
  readonly bufferedAmount: number;
}

export interface X11ScreenEvents {
  /** Capture stopped for good on this monitor: FERRY_ERR_* code and a message for people. */
  failed: [code: string, message: string];
  /** Input cannot be injected (xdotool missing): said once. */
  inputUnavailable: [code: string, message: string];
  warning: [message: string];
}

/** The screen is unavailable: why, for the customer and the technician. */
export interface NoScreen {
  readonly ok: false;
  readonly reason: string;
}

export class X11Screen extends EventEmitter<X11ScreenEvents> {
  readonly display: string;
  readonly monitors: X11Monitor[];
  readonly injector: X11Injector;
  /** The monitor shared, or null for all. */
  selected: number | null = null;
  /** The frame rate and quality of the flags (what "no preset" goes back to). */
  readonly initial: CaptureSetting;
  /** The frame rate and quality asked for (flags, or the technician's preset). */
  asked: CaptureSetting;
  preset: ferry.v1.QualityPreset = ferry.v1.QualityPreset.QUALITY_PRESET_UNSPECIFIED;
  /** Frames not sent because the connection's send buffer was backed up. */
  framesSkipped = 0;
  /** Times the backlog lowered the quality. */
  degraded = 0;
  #congested = false;
  /** Monitors whose skipped frames a key frame must make good. */
  readonly #stale = new Set<number>();
  #sink: FrameSink | null = null;
  readonly #captures = new Map<number, X11Capture>();
  readonly #options: X11ScreenOptions;

  private constructor(display: string, monitors: X11Monitor[], options: X11ScreenOptions) {
    super();
    this.display = display;
    this.monitors = monitors;
    this.#options = options;
    this.initial = {
      fps: options.fps ?? DEFAULT_FPS,
      quality: options.quality ?? DEFAULT_QUALITY,
    };
    this.asked = this.initial;
    this.injector = new X11Injector({
      display,
      monitors,
      ...(options.xdotool ? { xdotool: options.xdotool } : {}),
    });
    this.injector.on('warning', (m) => this.emit('warning', m));
    this.injector.on('unavailable', (code, m) => this.emit('inputUnavailable', code, m));
  }

  /** Opens the display: the screen, or why there is none (no $DISPLAY, no X server, no xrandr). */
  static async open(options: X11ScreenOptions = {}): Promise<X11Screen | NoScreen> {
    const check = await checkDisplay(options.display ?? displayName());
    if (!check.ok) return { ok: false, reason: check.reason };
    return new X11Screen(check.display, check.monitors, options);
  }

  /** The monitors for MonitorList: 1-based ids, real sizes, capture source x11. */
  monitorList(): ferry.v1.MonitorList.$Properties {
    return {
      monitors: this.monitors.map((m) => ({
        id: m.id,
        x: m.desktop.x,
        y: m.desktop.y,
        width: m.width,
        height: m.height,
        primary: m.primary === true,
        name: m.name,
        captureSource: 'x11',
      })),
      selected: this.selected ?? MONITOR_ALL,
      all: this.selected === null,
    };
  }

  /** The setting the encoder uses now: the one asked for, or SPEED while the link is backed up. */
  get setting(): CaptureSetting {
    if (!this.#congested) return this.asked;
    const speed = CAPTURE_PRESETS[ferry.v1.QualityPreset.QUALITY_PRESET_SPEED]!;
    return {
      fps: Math.min(this.asked.fps, speed.fps),
      quality: Math.min(this.asked.quality, speed.quality),
    };
  }

  get sharing(): boolean {
    return this.#sink !== null;
  }

  /** The ids of the monitors shared (all, or the one selected). */
  shownIds(): number[] {
    return this.#shown().map((m) => m.id);
  }

  #shown(): X11Monitor[] {
    return this.selected === null
      ? this.monitors
      : this.monitors.filter((m) => m.id === this.selected);
  }

  /** Starts capturing the monitors shown, sending their tiles to `sink`. */
  start(sink: FrameSink): void {
    this.stop();
    this.#sink = sink;
    for (const m of this.#shown()) this.#startCapture(m);
  }

  stop(): void {
    this.#sink = null;
    for (const c of this.#captures.values()) c.stop();
    this.#captures.clear();
  }

  #startCapture(m: X11Monitor): void {
    const { fps, quality } = this.setting;
    const capture = new X11Capture({
      display: this.display,
      region: m.desktop,
      fps,
      quality,
      ...(this.#options.format ? { format: this.#options.format } : {}),
      ...(this.#options.tileSize ? { tileSize: this.#options.tileSize } : {}),
      ...(this.#options.ffmpeg ? { ffmpeg: this.#options.ffmpeg } : {}),
      ...(this.#options.drawPointer === false ? { drawPointer: false } : {}),
    });
    this.#captures.set(m.id, capture);
    capture.on('frame', (f) => this.#send(m, f));
    capture.on('error', (err: CaptureError) => {
      this.#captures.delete(m.id);
      this.emit('failed', err.code, err.message);
    });
    capture.start();
  }

  #send(m: X11Monitor, frame: CapturedFrame): void {
    const sink = this.#sink;
    if (sink === null) return;
    this.#adapt(sink.bufferedAmount);
    if (this.#congested) {
      // these tiles are lost: once the link drains, a key frame repaints the monitor
      this.framesSkipped++;
      this.#stale.add(m.id);
      return;
    }
    if (this.#stale.has(m.id)) {
      if (!frame.keyFrame) {
        this.framesSkipped++;
        this.#captures.get(m.id)?.requestKeyFrame();
        return;
      }
      this.#stale.delete(m.id);
    }
    const encoding =
      frame.format === 'webp'
        ? ferry.v1.ScreenEncoding.SCREEN_ENCODING_WEBP
        : ferry.v1.ScreenEncoding.SCREEN_ENCODING_JPEG;
    const last = frame.tiles.length - 1;
    frame.tiles.forEach((tile, i) => {
      sink.sendRaw(
        encodeFrame({
          channel: Channel.CHANNEL_SCREEN,
          stream: m.id,
          screen: {
            frameSeq: frame.seq,
            x: tile.x,
            y: tile.y,
            width: tile.width,
            height: tile.height,
            encoding,
            keyFrame: frame.keyFrame,
            data: tile.data,
            screenWidth: m.width,
            screenHeight: m.height,
            lastTile: i === last,
            captureTimeMs: frame.captureTimeMs,
            preset: this.preset,
            fps: frame.fps,
          },
        }),
      );
    });
  }

  /** Drops to SPEED while the send buffer is past the high mark; back once under the low one. */
  #adapt(buffered: number): void {
    const was = this.#congested;
    if (!was && buffered > BACKLOG_HIGH_BYTES) {
      this.#congested = true;
      this.degraded++;
    } else if (was && buffered < BACKLOG_LOW_BYTES) this.#congested = false;
    if (was !== this.#congested) this.#reconfigure();
  }

  #reconfigure(): void {
    const { fps, quality } = this.setting;
    for (const c of this.#captures.values()) c.configure(fps, quality);
  }

  /** A key frame of `monitor` (0: every monitor shared). */
  requestKeyFrame(monitor = MONITOR_ALL): void {
    for (const [id, c] of this.#captures)
      if (monitor === MONITOR_ALL || id === monitor) c.requestKeyFrame();
  }

  /** Shares one monitor (its id) or all (null); capture follows at once while sharing. */
  select(monitor: number | null): void {
    if (monitor !== null && !this.monitors.some((m) => m.id === monitor)) return;
    this.selected = monitor;
    this.injector.selected = monitor ?? MONITOR_ALL;
    const sink = this.#sink;
    if (sink !== null) this.start(sink);
  }

  /** Frame rate and quality asked for (a preset, or the flags' values with overrides). */
  configure(setting: Partial<CaptureSetting>, preset = this.preset): void {
    this.asked = {
      fps: setting.fps ?? this.asked.fps,
      quality: setting.quality ?? this.asked.quality,
    };
    this.preset = preset;
    this.#reconfigure();
  }

  /** Injects one input event into the display (the caller checked CONTROL). */
  applyInput(input: ferry.v1.InputEvent): boolean {
    return this.injector.apply(input);
  }

  /** Stops capture and input for good. */
  close(): void {
    this.stop();
    this.injector.close();
  }
}
