/**
 * The reference customer's synthetic screen: a moving test pattern cut into tiles. Each frame
 * sends the tiles the pattern changed; a key frame sends every tile. Deterministic, so tests can
 * check what arrives.
 */
import { Channel, encodeFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';

export interface ScreenOptions {
  readonly width?: number;
  readonly height?: number;
  readonly columns?: number;
  readonly rows?: number;
  /** Payload bytes per tile (the pattern is not real pixels). */
  readonly tileBytes?: number;
  /** A key frame every this many frames. */
  readonly keyFrameEvery?: number;
}

export class SyntheticScreen {
  readonly width: number;
  readonly height: number;
  readonly columns: number;
  readonly rows: number;
  /** Payload bytes per tile; the stream quality setting changes it. */
  tileBytes: number;
  readonly keyFrameEvery: number;
  readonly monitor: number;
  frameSeq = 0;
  #keyFrameWanted = true;

  constructor(monitor = 0, options: ScreenOptions = {}) {
    this.monitor = monitor;
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.columns = options.columns ?? 4;
    this.rows = options.rows ?? 4;
    this.tileBytes = options.tileBytes ?? 2048;
    this.keyFrameEvery = options.keyFrameEvery ?? 50;
  }

  requestKeyFrame(): void {
    this.#keyFrameWanted = true;
  }

  /** Encoded SCREEN frames (one per tile) for the next frame of the pattern. */
  nextFrame(): Uint8Array[] {
    const seq = ++this.frameSeq;
    const key = this.#keyFrameWanted || seq % this.keyFrameEvery === 1;
    this.#keyFrameWanted = false;
    const total = this.columns * this.rows;
    // The pattern's moving band touches one column of tiles per frame.
    const band = seq % this.columns;
    const tiles: number[] = [];
    for (let i = 0; i < total; i++) if (key || i % this.columns === band) tiles.push(i);
    const tileW = Math.floor(this.width / this.columns);
    const tileH = Math.floor(this.height / this.rows);
    return tiles.map((i, n) =>
      encodeFrame({
        channel: Channel.CHANNEL_SCREEN,
        stream: this.monitor,
        screen: {
          frameSeq: seq,
          x: (i % this.columns) * tileW,
          y: Math.floor(i / this.columns) * tileH,
          width: tileW,
          height: tileH,
          encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_TEST_PATTERN,
          keyFrame: key,
          data: patternBytes(this.tileBytes, seq, i),
          screenWidth: this.width,
          screenHeight: this.height,
          lastTile: n === tiles.length - 1,
          captureTimeMs: performance.now(),
        },
      }),
    );
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
