/**
 * Test and bench support for the native customer's X11 parts: an Xvfb server on a free display
 * number (Xvfb picks it and says so through -displayfd, so nothing polls), and a minimal X11
 * protocol client over the server's Unix socket that paints: solid windows at known places, their
 * colour changed, and raw pixels put on the root window. Enough to know what a capture must see.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';
import sharp from 'sharp';

export interface Xvfb {
  /** ":N" */
  readonly display: string;
  readonly number: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `Xvfb -displayfd 3 -screen 0 WxHx24 -nolisten tcp -noreset` (no reset: the root's
 * colour survives xsetroot's exit) and resolves once it is ready to accept clients.
 */
export function startXvfb(width = 1280, height = 800): Promise<Xvfb> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'Xvfb',
      ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => {
      stderr = (stderr + t).slice(-2000);
    });
    const fd3 = child.stdio[3] as NodeJS.ReadableStream;
    let text = '';
    fd3.setEncoding('utf8');
    fd3.on('data', (t: string) => {
      text += t;
      if (!text.includes('\n')) return;
      const number = Number(text.trim());
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      resolve({
        display: `:${number}`,
        number,
        process: child,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${stderr}`)));
  });
}

/** Starts Xvfb for one test and stops it in `t.after`. */
export async function xvfbFor(t: TestContext, width = 1280, height = 800): Promise<Xvfb> {
  const x = await startXvfb(width, height);
  t.after(() => x.stop());
  return x;
}

/** Runs an X program against `display`; resolves with its stdout. */
export function xrun(display: string, program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      { env: { ...process.env, DISPLAY: display }, timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${program} ${args.join(' ')}: ${stderr || err.message}`));
        else resolve(String(stdout));
      },
    );
  });
}

/** The X pointer's place (`xdotool getmouselocation`). */
export async function pointerAt(display: string): Promise<{ x: number; y: number }> {
  const out = await xrun(display, 'xdotool', ['getmouselocation']);
  const m = /x:(\d+) y:(\d+)/.exec(out);
  if (m === null) throw new Error(`unexpected xdotool output ${out}`);
  return { x: Number(m[1]), y: Number(m[2]) };
}

export type Rgb = readonly [number, number, number];

/** 24-bit TrueColor pixel of an RGB colour. */
function pixel([r, g, b]: Rgb): number {
  return (r << 16) | (g << 8) | b;
}

/**
 * A minimal X11 client (core protocol only): creates override-redirect windows of one colour,
 * recolours them, puts raw pixels, and syncs (a round trip) so the caller knows the server has
 * done it all.
 */
export class XPainter {
  readonly #socket: net.Socket;
  #buf = Buffer.alloc(0);
  #idBase = 0;
  #nextId = 1;
  root = 0;
  width = 0;
  height = 0;
  #gc = 0;
  readonly #replies: ((reply: Buffer) => void)[] = [];
  #ready: ((err?: Error) => void) | null = null;
  #setup = false;
  errors = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (d) => this.#onData(d));
  }

  static connect(display: string): Promise<XPainter> {
    const n = Number(display.replace(/^:/, '').split('.')[0]);
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(`/tmp/.X11-unix/X${n}`);
      const painter = new XPainter(socket);
      painter.#ready = (err) => (err ? reject(err) : resolve(painter));
      socket.once('error', reject);
      socket.once('connect', () => {
        const hello = Buffer.alloc(12);
        hello.write('l', 0, 'latin1'); // little-endian
        hello.writeUInt16LE(11, 2);
        hello.writeUInt16LE(0, 4);
        socket.write(hello);
      });
    });
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (!this.#setup) {
      if (this.#buf.length < 8) return;
      const total = 8 + this.#buf.readUInt16LE(6) * 4;
      if (this.#buf.length < total) return;
      const s = this.#buf.subarray(0, total);
      this.#buf = this.#buf.subarray(total);
      this.#setup = true;
      if (s[0] !== 1) {
        this.#ready?.(new Error(`X server refused: ${s.subarray(8).toString('latin1')}`));
        return;
      }
      this.#idBase = s.readUInt32LE(12);
      const vendorLen = s.readUInt16LE(24);
      const formats = s[29]!;
      const screen = 40 + Math.ceil(vendorLen / 4) * 4 + formats * 8;
      this.root = s.readUInt32LE(screen);
      this.width = s.readUInt16LE(screen + 20);
      this.height = s.readUInt16LE(screen + 22);
      this.#gc = this.#id();
      this.#request(55, 0, [this.#gc, this.root, 0]); // CreateGC
      this.#ready?.();
    }
    while (this.#buf.length >= 32) {
      const kind = this.#buf[0]!;
      const len = kind === 1 ? 32 + this.#buf.readUInt32LE(4) * 4 : 32;
      if (this.#buf.length < len) return;
      const msg = this.#buf.subarray(0, len);
      this.#buf = this.#buf.subarray(len);
      if (kind === 0) this.errors++;
      else if (kind === 1) this.#replies.shift()?.(msg);
    }
  }

  #id(): number {
    return this.#idBase | this.#nextId++;
  }

  /** A request of 32-bit words after the 4-byte header. */
  #request(opcode: number, data: number, words: number[], tail?: Buffer): void {
    const tailLen = tail === undefined ? 0 : Math.ceil(tail.length / 4) * 4;
    const out = Buffer.alloc(4 + words.length * 4 + tailLen);
    out[0] = opcode;
    out[1] = data;
    out.writeUInt16LE(out.length / 4, 2);
    for (const [i, w] of words.entries()) out.writeUInt32LE(w >>> 0, 4 + i * 4);
    tail?.copy(out, 4 + words.length * 4);
    this.#socket.write(out);
  }

  /** A window of one colour at (x, y), on top, mapped. Returns its id. */
  window(x: number, y: number, width: number, height: number, colour: Rgb): number {
    const id = this.#id();
    const CW_BACK_PIXEL = 0x2;
    const CW_OVERRIDE_REDIRECT = 0x200;
    const xy = ((y & 0xffff) << 16) | (x & 0xffff);
    const wh = ((height & 0xffff) << 16) | (width & 0xffff);
    // CreateWindow: wid, parent, x y, w h, border-width class(InputOutput), visual, mask, values
    this.#request(1, 0, [
      id,
      this.root,
      xy,
      wh,
      (1 << 16) | 0,
      0,
      CW_BACK_PIXEL | CW_OVERRIDE_REDIRECT,
      pixel(colour),
      1,
    ]);
    this.#request(8, 0, [id]); // MapWindow
    return id;
  }

  /** Gives a window another colour and repaints it. */
  recolour(window: number, colour: Rgb): void {
    this.#request(2, 0, [window, 0x2, pixel(colour)]); // ChangeWindowAttributes: back pixel
    this.#request(61, 0, [window, 0, 0]); // ClearArea: whole window, no exposures
  }

  destroy(window: number): void {
    this.#request(4, 0, [window]); // DestroyWindow
  }

  /** Puts `rgb` (packed, width x height) on the root window at (x, y). */
  putImage(x: number, y: number, width: number, height: number, rgb: Uint8Array): void {
    const data = Buffer.alloc(width * height * 4);
    for (let i = 0, o = 0; i < width * height * 3; i += 3, o += 4) {
      data[o] = rgb[i + 2]!;
      data[o + 1] = rgb[i + 1]!;
      data[o + 2] = rgb[i]!;
    }
    const xy = ((y & 0xffff) << 16) | (x & 0xffff);
    const wh = ((height & 0xffff) << 16) | (width & 0xffff);
    // PutImage (ZPixmap): drawable, gc, w h, dst-x dst-y, left-pad 0 depth 24
    this.#request(72, 2, [this.root, this.#gc, wh, xy, 24 << 8], data);
  }

  /** Resolves once the server has handled every request sent before (GetInputFocus round trip). */
  sync(): Promise<void> {
    return new Promise((resolve) => {
      this.#replies.push(() => resolve());
      this.#request(43, 0, []);
    });
  }

  close(): void {
    this.#socket.end();
  }
}

/** One event xev printed. */
export interface XevEvent {
  readonly type: string;
  /** KeyPress/KeyRelease: the keysym name ("a", "Shift_L", "U03A9"). */
  readonly keysym?: string;
  /** ButtonPress/ButtonRelease: the X button number. */
  readonly button?: number;
  /** Root coordinates of the event. */
  readonly rootX?: number;
  readonly rootY?: number;
}

/**
 * xev in a window at (x, y), printing its keyboard and button events: an X window to type into
 * and click on. With no window manager the keyboard focus follows the pointer, so keys reach it
 * while the pointer is over it.
 */
export class Xev {
  readonly events: XevEvent[] = [];
  readonly #waiters: { match: (e: XevEvent) => boolean; resolve: (e: XevEvent) => void }[] = [];
  readonly process: ChildProcess;

  constructor(display: string, geometry = '400x300+0+0') {
    this.process = spawn(
      'xev',
      ['-geometry', geometry, '-event', 'keyboard', '-event', 'button', '-event', 'structure'],
      { env: { ...process.env, DISPLAY: display }, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let block = '';
    this.process.stdout!.setEncoding('utf8');
    this.process.stdout!.on('data', (text: string) => {
      // xev prints a blank line before each event and flushes once per event: a block that
      // ends with a newline is complete
      block += text;
      const parts = block.split('\n\n');
      block = parts.pop() ?? '';
      if (block.endsWith('\n')) {
        parts.push(block);
        block = '';
      }
      for (const part of parts) this.#parse(part);
    });
  }

  #parse(text: string): void {
    const type = /^(\w+) event/.exec(text.trim())?.[1];
    if (type === undefined) return;
    const root = /root:\((-?\d+),(-?\d+)\)/.exec(text);
    const keysym = /keysym 0x[0-9a-f]+, ([^)]+)\)/.exec(text)?.[1];
    const button = /button (\d+)/.exec(text)?.[1];
    const event: XevEvent = {
      type,
      ...(keysym !== undefined ? { keysym } : {}),
      ...(button !== undefined ? { button: Number(button) } : {}),
      ...(root !== null ? { rootX: Number(root[1]), rootY: Number(root[2]) } : {}),
    };
    this.events.push(event);
    const i = this.#waiters.findIndex((w) => w.match(event));
    if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(event);
  }

  /** The first event (already seen or to come) that matches. */
  waitFor(match: (e: XevEvent) => boolean): Promise<XevEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** The keysym names of the KeyPress events so far. */
  pressed(): string[] {
    return this.events.filter((e) => e.type === 'KeyPress').map((e) => e.keysym ?? '?');
  }

  stop(): void {
    this.process.kill('SIGTERM');
  }
}

/** The picture the received tiles make, as a receiver would draw it. */
export class Canvas {
  readonly rgb: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rgb = new Uint8Array(width * height * 3);
  }

  /** Draws one encoded tile; throws when its decoded size is not the tile's. */
  async draw(tile: { x: number; y: number; width: number; height: number; data: Uint8Array }) {
    const { data, info } = await sharp(tile.data).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [tile.width, tile.height], 'decoded size');
    for (let row = 0; row < info.height; row++) {
      for (let col = 0; col < info.width; col++) {
        const s = (row * info.width + col) * info.channels;
        const d = ((tile.y + row) * this.width + tile.x + col) * 3;
        this.rgb[d] = data[s]!;
        this.rgb[d + 1] = data[s + 1]!;
        this.rgb[d + 2] = data[s + 2]!;
      }
    }
  }

  at(x: number, y: number): number[] {
    const i = (y * this.width + x) * 3;
    return [this.rgb[i]!, this.rgb[i + 1]!, this.rgb[i + 2]!];
  }
}

export function near(actual: number[], want: Rgb, tolerance = 40): boolean {
  return actual.every((v, i) => Math.abs(v - want[i]!) <= tolerance);
}
