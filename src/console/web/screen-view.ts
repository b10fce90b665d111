/**
 * The technician's screen: one canvas per customer monitor, painted from SCREEN tiles (JPEG, PNG
 * and WebP through createImageBitmap, RAW_RGBA through ImageData, TEST_PATTERN as a placeholder),
 * shown scaled to fit (aspect ratio kept) or 1:1, with frames per second and capture-to-paint
 * latency. Tiles are decoded in parallel but painted in arrival order, and a tile of an older
 * frame_seq than one already received for its monitor is dropped, so a late tile never covers a
 * newer one. Bad tiles (no decode, outside the screen, unknown encoding, a screen over the size
 * limit) are dropped and counted, shown as a warning.
 *
 * Input: with control (CONTROL granted and this technician holding the control seat) pointer,
 * buttons, wheel and keys on the canvas become InputEvents in the monitor's advertised pixels;
 * pointer moves are coalesced to one per animation frame; keys go as KeyboardEvent.code plus
 * modifiers, text composed by an input method as TextInput. Without control the canvas says
 * "view only" and sends nothing.
 */
import { ferry } from '../../protocol/gen/ferry.js';
import {
  captureSourceLabel,
  keyEventFromDom,
  MAX_TEXT_INPUT,
  textInputFromComposition,
} from '../../protocol/screen-input.js';
import { h } from './dom.js';

const E = ferry.v1.ScreenEncoding;

/** Largest monitor the console paints (each side, pixels); bigger screens are refused. */
export const MAX_SCREEN_SIDE = 8192;

export type InputKind = Omit<ferry.v1.InputEvent.$Properties, 'seq' | 'sentTimeMs'>;

const MIME: Readonly<Record<number, string>> = {
  [E.SCREEN_ENCODING_JPEG]: 'image/jpeg',
  [E.SCREEN_ENCODING_PNG]: 'image/png',
  [E.SCREEN_ENCODING_WEBP]: 'image/webp',
};

interface MonitorCanvas {
  readonly id: number;
  readonly canvas: HTMLCanvasElement;
  readonly ctx: CanvasRenderingContext2D;
  width: number;
  height: number;
  /** Highest frame_seq received (painting follows arrival order). */
  lastSeq: number;
  /** The paint chain: each tile paints after the one received before it. */
  chain: Promise<void>;
}

type Decoded = ImageBitmap | ImageData | 'pattern';

/** What the screen has done, read by tests and bench/console through `window.ferryScreen`. */
export interface ScreenStats {
  tilesPainted: number;
  framesPainted: number;
  /** Tiles received and not yet painted (decoding or queued): a backlog grows here. */
  pendingTiles: number;
  dropped: Record<string, number>;
  /** Capture-to-paint latencies (ms) of the frames painted since the last call. */
  latencies: number[];
}

declare global {
  interface Window {
    ferryScreen?: { stats(): ScreenStats };
  }
}

/** Latency samples kept between two reads (older ones are dropped first). */
const MAX_LATENCY_SAMPLES = 10_000;

export class ScreenView {
  readonly root: HTMLElement;
  readonly #stage: HTMLElement;
  readonly #overlay: HTMLElement;
  readonly #stats: HTMLElement;
  readonly #warnings: HTMLElement;
  readonly #keys: HTMLTextAreaElement;
  readonly #canvases = new Map<number, MonitorCanvas>();
  #monitors: ferry.v1.IMonitor[] = [];
  /** The monitor shown. */
  current = -1;
  mode: 'fit' | '1:1' = 'fit';
  #control = false;
  #viewing = false;
  /** Bumped by blank(): paints queued before it are dropped. */
  #generation = 0;
  readonly dropped: Record<string, number> = {};
  tilesPainted = 0;
  framesPainted = 0;
  fps = 0;
  latencyMs: number | null = null;
  #fpsWindowStart = performance.now();
  #fpsCount = 0;
  #pendingTiles = 0;
  #latencies: number[] = [];
  #pendingMove: { x: number; y: number } | null = null;
  #moveScheduled = false;
  readonly #send: (event: InputKind) => void;

  constructor(send: (event: InputKind) => void) {
    this.#send = send;
    this.#stage = h('div', { class: 'stage', id: 'screen-stage' });
    this.#overlay = h('div', { class: 'overlay', id: 'screen-overlay' }, 'no screen yet');
    this.#stats = h('div', { class: 'screen-stats', id: 'screen-stats' });
    this.#warnings = h('div', { class: 'screen-warnings', id: 'screen-warnings' });
    this.#keys = h('textarea', {
      class: 'keys',
      id: 'screen-keys',
      'aria-label': 'keyboard input to the customer',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.root = h(
      'div',
      { class: 'screen' },
      this.#stage,
      this.#overlay,
      this.#keys,
      h('div', { class: 'screen-foot' }, this.#stats, this.#warnings),
    );
    this.#wireInput();
    new ResizeObserver(() => this.#layout()).observe(this.#stage);
    window.setInterval(() => this.#tickStats(), 500);
    this.#updateOverlay();
    window.ferryScreen = { stats: () => this.stats() };
  }

  /** Counters so far; the latency samples are handed over once. */
  stats(): ScreenStats {
    const latencies = this.#latencies;
    this.#latencies = [];
    return {
      tilesPainted: this.tilesPainted,
      framesPainted: this.framesPainted,
      pendingTiles: this.#pendingTiles,
      dropped: { ...this.dropped },
      latencies,
    };
  }

  /** The customer's monitors (MonitorList). */
  setMonitors(list: ferry.v1.IMonitor[], selected: number): void {
    this.#monitors = list;
    if (selected !== 0 && list.some((m) => m.id === selected)) this.show(selected);
    else if (this.current === -1 && list.length > 0) {
      this.show((list.find((m) => m.primary) ?? list[0])!.id ?? 0);
    }
  }

  get monitors(): readonly ferry.v1.IMonitor[] {
    return this.#monitors;
  }

  /** Shows monitor `id` (its canvas; created when its first tile arrives). */
  show(id: number): void {
    this.current = id;
    for (const mc of this.#canvases.values()) mc.canvas.hidden = mc.id !== id;
    this.#layout();
    this.#updateOverlay();
  }

  setMode(mode: 'fit' | '1:1'): void {
    this.mode = mode;
    this.root.dataset.mode = mode;
    this.#layout();
  }

  /** With control, input on the canvas goes to the customer; without, the canvas is view only. */
  setControl(control: boolean): void {
    this.#control = control;
    this.root.dataset.control = control ? 'on' : 'off';
    this.#updateOverlay();
    this.#tickStats();
  }

  get control(): boolean {
    return this.#control;
  }

  /** Whether the VIEW grant is in force: without it the screen is blank. */
  setViewing(viewing: boolean): void {
    if (!viewing) this.blank();
    this.#viewing = viewing;
    this.#updateOverlay();
  }

  /** Clears every monitor at once and drops paints still queued (view revoked, sharing stopped). */
  blank(): void {
    this.#generation++;
    for (const mc of this.#canvases.values()) {
      mc.ctx.fillStyle = '#000';
      mc.ctx.fillRect(0, 0, mc.width, mc.height);
      mc.lastSeq = 0;
      mc.chain = Promise.resolve();
    }
    this.root.dataset.blank = 'yes';
    this.#updateOverlay();
  }

  #updateOverlay(): void {
    const mc = this.#canvases.get(this.current);
    let text = '';
    if (!this.#viewing) text = 'the customer has not granted screen view';
    else if (mc === undefined || this.root.dataset.blank === 'yes') text = 'waiting for the screen';
    this.#overlay.textContent = text;
    this.#overlay.hidden = text === '';
    this.root.dataset.viewOnly = this.#control ? 'no' : 'yes';
  }

  #drop(reason: string, detail = ''): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    const list = Object.entries(this.dropped)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    this.#warnings.textContent = `dropped tiles: ${list}`;
    console.warn(`ferry: dropped a screen tile (${reason}) ${detail}`);
  }

  #canvasFor(id: number, width: number, height: number): MonitorCanvas {
    let mc = this.#canvases.get(id);
    if (mc === undefined) {
      const canvas = h('canvas', { class: 'monitor', 'data-monitor': String(id) });
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      if (ctx === null) throw new Error('no 2d canvas');
      mc = { id, canvas, ctx, width, height, lastSeq: 0, chain: Promise.resolve() };
      this.#canvases.set(id, mc);
      this.#stage.append(canvas);
      if (this.current === -1) this.current = id;
      canvas.hidden = id !== this.current;
      this.#layout();
    } else if (mc.width !== width || mc.height !== height) {
      // the monitor was resized: a key frame follows
      mc.canvas.width = mc.width = width;
      mc.canvas.height = mc.height = height;
      this.#layout();
    }
    return mc;
  }

  /** One SCREEN tile of monitor `stream`. */
  tile(stream: number, u: ferry.v1.ScreenUpdate): void {
    if (!this.#viewing) {
      this.#drop('not viewing');
      return;
    }
    const sw = u.screenWidth;
    const sh = u.screenHeight;
    if (sw === 0 || sh === 0 || sw > MAX_SCREEN_SIDE || sh > MAX_SCREEN_SIDE) {
      this.#drop('screen size', `${sw}x${sh}`);
      return;
    }
    const known = this.#monitors.find((m) => (m.id ?? 0) === stream);
    if (this.#monitors.length > 0 && known === undefined) {
      this.#drop('unknown monitor', String(stream));
      return;
    }
    if (known && (known.width !== sw || known.height !== sh)) {
      this.#drop('screen size mismatch', `${sw}x${sh}`);
      return;
    }
    if (u.width === 0 || u.height === 0 || u.x + u.width > sw || u.y + u.height > sh) {
      this.#drop('outside the screen', `${u.x},${u.y} ${u.width}x${u.height}`);
      return;
    }
    const mc = this.#canvasFor(stream, sw, sh);
    if (u.frameSeq < mc.lastSeq && !u.keyFrame) {
      this.#drop('late');
      return;
    }
    mc.lastSeq = u.frameSeq;
    const generation = this.#generation;
    // settled at once into a value: a tile that fails to decode before its turn in the chain
    // is not an unhandled rejection
    const decoded = this.#decode(u).then(
      (img) => ({ img }),
      (err: unknown) => ({ err }),
    );
    this.#pendingTiles++;
    mc.chain = mc.chain
      .then(() => decoded)
      .then((result) => {
        this.#pendingTiles--;
        if ('err' in result) {
          this.#drop(result.err instanceof TileError ? result.err.reason : 'decode failed');
          return;
        }
        if (generation !== this.#generation) {
          // blanked meanwhile
          if (result.img instanceof ImageBitmap) result.img.close();
          return;
        }
        this.#paint(mc, u, result.img);
      });
  }

  async #decode(u: ferry.v1.ScreenUpdate): Promise<Decoded> {
    switch (u.encoding) {
      case E.SCREEN_ENCODING_JPEG:
      case E.SCREEN_ENCODING_PNG:
      case E.SCREEN_ENCODING_WEBP: {
        const bytes = new Uint8Array(u.data); // a copy: the frame's buffer is not ours to keep
        const bitmap = await createImageBitmap(new Blob([bytes], { type: MIME[u.encoding] }));
        if (bitmap.width !== u.width || bitmap.height !== u.height) {
          bitmap.close();
          throw new TileError('decoded size mismatch');
        }
        return bitmap;
      }
      case E.SCREEN_ENCODING_RAW_RGBA: {
        const length = u.width * u.height * 4;
        if (u.data.length !== length) throw new TileError('raw size mismatch');
        return new ImageData(new Uint8ClampedArray(u.data), u.width, u.height);
      }
      case E.SCREEN_ENCODING_TEST_PATTERN:
        return 'pattern';
      default:
        throw new TileError('unknown encoding');
    }
  }

  #paint(mc: MonitorCanvas, u: ferry.v1.ScreenUpdate, img: Decoded): void {
    if (img instanceof ImageData) mc.ctx.putImageData(img, u.x, u.y);
    else if (img === 'pattern') {
      const shade = u.data.length > 0 ? u.data[0]! : 128;
      mc.ctx.fillStyle = `hsl(${(shade * 360) / 256} 40% 30%)`;
      mc.ctx.fillRect(u.x, u.y, u.width, u.height);
      mc.ctx.strokeStyle = '#888';
      mc.ctx.strokeRect(u.x + 0.5, u.y + 0.5, u.width - 1, u.height - 1);
    } else {
      mc.ctx.drawImage(img, u.x, u.y);
      img.close();
    }
    this.tilesPainted++;
    if (this.root.dataset.blank === 'yes') {
      delete this.root.dataset.blank;
      this.#updateOverlay();
      this.#tickStats();
    }
    if (u.lastTile) {
      this.framesPainted++;
      this.#fpsCount++;
      // capture_time_ms is the sender's clock: meaningful when both ends share one (epoch ms)
      const age = Date.now() - u.captureTimeMs;
      if (u.captureTimeMs > 1e12 && age > -1000 && age < 600_000) {
        this.latencyMs = this.latencyMs === null ? age : this.latencyMs * 0.8 + age * 0.2;
        if (this.#latencies.length >= MAX_LATENCY_SAMPLES) this.#latencies.shift();
        this.#latencies.push(age);
      }
      this.root.dataset.frames = String(this.framesPainted);
    }
  }

  #tickStats(): void {
    const now = performance.now();
    const elapsed = (now - this.#fpsWindowStart) / 1000;
    if (elapsed >= 1) {
      this.fps = this.#fpsCount / elapsed;
      this.#fpsCount = 0;
      this.#fpsWindowStart = now;
    }
    const m = this.#monitors.find((x) => (x.id ?? 0) === this.current);
    const mc = this.#canvases.get(this.current);
    const parts = [
      mc ? `${mc.width}x${mc.height}` : 'no screen',
      m?.captureSource ? captureSourceLabel(m.captureSource) : '',
      `${this.fps.toFixed(1)} fps`,
      this.latencyMs === null ? 'latency n/a' : `capture to paint ${Math.round(this.latencyMs)} ms`,
      this.#control ? 'control' : 'view only',
    ];
    this.#stats.textContent = parts.filter((p) => p !== '').join(' · ');
  }

  #layout(): void {
    const mc = this.#canvases.get(this.current);
    if (mc === undefined) return;
    const style = mc.canvas.style;
    if (this.mode === '1:1') {
      style.width = `${mc.width}px`;
      style.height = `${mc.height}px`;
      return;
    }
    const box = this.#stage.getBoundingClientRect();
    const scale = Math.min(box.width / mc.width, box.height / mc.height);
    if (!(scale > 0)) return;
    style.width = `${Math.floor(mc.width * scale)}px`;
    style.height = `${Math.floor(mc.height * scale)}px`;
  }

  /** Monitor pixels of a pointer event on the shown canvas, clamped to the monitor. */
  #map(e: MouseEvent): { x: number; y: number } | null {
    const mc = this.#canvases.get(this.current);
    if (mc === undefined) return null;
    const r = mc.canvas.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return null;
    const x = Math.floor(((e.clientX - r.left) * mc.width) / r.width);
    const y = Math.floor(((e.clientY - r.top) * mc.height) / r.height);
    return {
      x: Math.min(Math.max(x, 0), mc.width - 1),
      y: Math.min(Math.max(y, 0), mc.height - 1),
    };
  }

  #monitorId(): number {
    return Math.max(0, this.current);
  }

  #flushMove(): void {
    this.#moveScheduled = false;
    const move = this.#pendingMove;
    this.#pendingMove = null;
    if (move === null || !this.#control) return;
    this.#send({ move: { x: move.x, y: move.y, monitor: this.#monitorId() } });
  }

  #wireInput(): void {
    const stage = this.#stage;
    const keys = this.#keys;
    stage.addEventListener('pointermove', (e) => {
      if (!this.#control) return;
      const p = this.#map(e);
      if (p === null) return;
      this.#pendingMove = p;
      if (!this.#moveScheduled) {
        this.#moveScheduled = true;
        requestAnimationFrame(() => this.#flushMove());
      }
    });
    const buttonOf = (b: number) =>
      b === 0
        ? ferry.v1.PointerButton.POINTER_BUTTON_LEFT
        : b === 1
          ? ferry.v1.PointerButton.POINTER_BUTTON_MIDDLE
          : b === 2
            ? ferry.v1.PointerButton.POINTER_BUTTON_RIGHT
            : null;
    const onButton = (e: PointerEvent, down: boolean) => {
      if (!this.#control) return;
      const p = this.#map(e);
      const button = buttonOf(e.button);
      if (p === null || button === null) return;
      e.preventDefault();
      if (down) {
        keys.focus({ preventScroll: true });
        stage.setPointerCapture(e.pointerId);
      }
      this.#pendingMove = null;
      this.#send({
        button: {
          x: p.x,
          y: p.y,
          button,
          action: down
            ? ferry.v1.ButtonAction.BUTTON_ACTION_DOWN
            : ferry.v1.ButtonAction.BUTTON_ACTION_UP,
          clickCount: Math.max(1, e.detail),
          monitor: this.#monitorId(),
        },
      });
    };
    stage.addEventListener('pointerdown', (e) => onButton(e, true));
    stage.addEventListener('pointerup', (e) => onButton(e, false));
    stage.addEventListener('contextmenu', (e) => {
      if (this.#control) e.preventDefault();
    });
    stage.addEventListener(
      'wheel',
      (e) => {
        if (!this.#control) return;
        e.preventDefault();
        const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
        const dx = Math.round(e.deltaX * unit);
        const dy = Math.round(e.deltaY * unit);
        if (dx !== 0 || dy !== 0) this.#send({ wheel: { dx, dy } });
      },
      { passive: false },
    );
    const onKey = (e: KeyboardEvent) => {
      if (!this.#control) return;
      const key = keyEventFromDom({
        type: e.type === 'keydown' ? 'keydown' : 'keyup',
        code: e.code,
        key: e.key,
        repeat: e.repeat,
        isComposing: e.isComposing,
        shiftKey: e.shiftKey,
        ctrlKey: e.ctrlKey,
        altKey: e.altKey,
        metaKey: e.metaKey,
      });
      if (key === null) return; // an input method composes: its text comes as TextInput
      e.preventDefault();
      this.#send({ key });
    };
    keys.addEventListener('keydown', onKey);
    keys.addEventListener('keyup', onKey);
    keys.addEventListener('compositionend', (e) => {
      const text = textInputFromComposition(e.data ?? '');
      keys.value = '';
      if (text !== null && this.#control) this.#send({ text });
    });
    keys.addEventListener('input', (e) => {
      const ie = e as InputEvent;
      if (ie.isComposing) return;
      const data = ie.data ?? '';
      keys.value = '';
      if (data !== '' && this.#control)
        this.#send({ text: { text: data.slice(0, MAX_TEXT_INPUT) } });
    });
  }
}

class TileError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}
