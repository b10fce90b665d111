/**
 * The reference customer's synthetic screen: a test pattern cut into tiles, for one monitor. It
 * follows the screen contract (docs/protocol.md, "Screen and input"): monitor ids from 1, the
 * monitor advertised at exactly the size its tiles carry as screen_width/height, capture source
 * `test-pattern`, changed tiles only (a moving band, or nothing at all for a still pattern), and
 * key frames only when asked (join, pick-up, resize, monitor switch, request, loss). Deterministic,
 * so tests can check what arrives.
 */
import { Channel, encodeFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';

/** The capture source the synthetic screen advertises (Monitor.capture_source). */
export const SYNTHETIC_SOURCE = 'test-pattern';

export interface ScreenOptions {
  readonly width?: number;
  readonly height?: number;
  readonly columns?: number;
  readonly rows?: number;
  /** Payload bytes per tile (the pattern is not real pixels). */
  readonly tileBytes?: number;
  /** A still pattern: after a key frame nothing changes, so nothing is sent. */
  readonly still?: boolean;
  /**
   * A key frame every this many frames as well (0, the default: never). The contract's key frames
   * are event driven; benches use this to model a lossy receiver.
   */
  readonly keyFrameEvery?: number;
}

export class SyntheticScreen {
  /** Monitor id: 1-based, the Frame.stream of its tiles. */
  readonly monitor: number;
  width: number;
  height: number;
  readonly columns: number;
  readonly rows: number;
  /** Payload bytes per tile; the stream quality setting changes it. */
  tileBytes: number;
  readonly still: boolean;
  readonly keyFrameEvery: number;
  /** What the encoder uses now, said in every tile (ScreenUpdate.preset, fps). */
  preset: ferry.v1.QualityPreset = ferry.v1.QualityPreset.QUALITY_PRESET_UNSPECIFIED;
  fps = 0;
  frameSeq = 0;
  #keyFrameWanted = true;

  constructor(monitor = 1, options: ScreenOptions = {}) {
    if (!Number.isInteger(monitor) || monitor < 1) {
      throw new RangeError(`monitor ids start at 1 (got ${monitor})`);
    }
    this.monitor = monitor;
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.columns = options.columns ?? 4;
    this.rows = options.rows ?? 4;
    this.tileBytes = options.tileBytes ?? 2048;
    this.still = options.still === true;
    this.keyFrameEvery = options.keyFrameEvery ?? 0;
  }

  requestKeyFrame(): void {
    this.#keyFrameWanted = true;
  }

  /** The monitor resizes: MonitorList must be sent again, and the next frame is a key frame. */
  resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    this.#keyFrameWanted = true;
  }

  /** This monitor as MonitorList advertises it: the size its tiles carry, at `x` in the desktop. */
  advertise(x: number, primary: boolean): ferry.v1.Monitor.$Properties {
    return {
      id: this.monitor,
      x,
      y: 0,
      width: this.width,
      height: this.height,
      primary,
      name: `Test pattern ${this.monitor}`,
      captureSource: SYNTHETIC_SOURCE,
    };
  }

  /** Encoded SCREEN frames (one per changed tile) for the next frame of the pattern. */
  nextFrame(): Uint8Array[] {
    const every = this.keyFrameEvery;
    const key = this.#keyFrameWanted || (every > 0 && (this.frameSeq + 1) % every === 1);
    if (!key && this.still) return [];
    const seq = ++this.frameSeq;
    this.#keyFrameWanted = false;
    const total = this.columns * this.rows;
    // The pattern's moving band changes one column of tiles per frame.
    const band = seq % this.columns;
    const tiles: number[] = [];
    for (let i = 0; i < total; i++) if (key || i % this.columns === band) tiles.push(i);
    return tiles.map((i, n) => {
      // edges by floor(i * size / count): the tiles cover the monitor exactly, none past it
      const col = i % this.columns;
      const row = Math.floor(i / this.columns);
      const x = Math.floor((col * this.width) / this.columns);
      const y = Math.floor((row * this.height) / this.rows);
      return encodeFrame({
        channel: Channel.CHANNEL_SCREEN,
        stream: this.monitor,
        screen: {
          frameSeq: seq,
          x,
          y,
          width: Math.floor(((col + 1) * this.width) / this.columns) - x,
          height: Math.floor(((row + 1) * this.height) / this.rows) - y,
          encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_TEST_PATTERN,
          keyFrame: key,
          data: patternBytes(this.tileBytes, seq, i),
          screenWidth: this.width,
          screenHeight: this.height,
          lastTile: n === tiles.length - 1,
          captureTimeMs: performance.now(),
          preset: this.preset,
          fps: this.fps,
        },
      });
    });
  }
}

/** Deterministic bytes for tile `tile` of frame `seq`. */
export function patternBytes(length: number, seq: number, tile: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = (seq * 31 + tile * 17) & 0xff;
  for (let i = 0; i < length; i++) {
    out[i] = v;
    v = (v * 13 + 7) & 0xff;
  }
  return out;
}
