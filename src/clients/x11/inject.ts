/**
 * Input injection into an X11 display with `xdotool`: pointer moves, buttons, wheel, keys
 * (KeyboardEvent.code -> X keysym, modifiers reconciled by the contract's rule) and text. One
 * long-lived `xdotool -` reads commands from its stdin, so events keep their order and cost no
 * process each. Coordinates are mapped and clamped by the screen and input contract
 * (`mapPointer`); clamped events, unknown monitors and unknown key codes are counted, and an
 * unknown code is logged once. The caller decides whether input may flow (CONTROL granted); this
 * module only injects.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { Codes } from '../../protocol/codes.js';
import { ferry } from '../../protocol/gen/ferry.js';
import {
  type DisplayMonitor,
  MONITOR_ALL,
  mapPointer,
  planKey,
} from '../../protocol/screen-input.js';
import { findProgram, missingProgramMessage } from './display.js';

/** DOM wheel pixels per X wheel click (Chromium's notch is 100 px). */
export const WHEEL_PIXELS_PER_CLICK = 100;

/** PointerButton -> X button number. */
const X_BUTTONS: Readonly<Record<number, number>> = {
  [ferry.v1.PointerButton.POINTER_BUTTON_LEFT]: 1,
  [ferry.v1.PointerButton.POINTER_BUTTON_MIDDLE]: 2,
  [ferry.v1.PointerButton.POINTER_BUTTON_RIGHT]: 3,
};

/** The X keysym that types character `cp` (null: a control character, not typed). */
export function keysymForChar(cp: number): number | null {
  if (cp === 0x0a || cp === 0x0d) return 0xff0d; // Return
  if (cp === 0x09) return 0xff09; // Tab
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return null;
  if (cp <= 0xff) return cp; // Latin-1 keysyms are the code point
  return 0x01000000 + cp; // Unicode keysym
}

/** Keysyms every US keymap has (printable ASCII, Return, Tab): typed without a delay. */
function inKeymap(keysym: number): boolean {
  return (keysym >= 0x20 && keysym <= 0x7e) || keysym === 0xff0d || keysym === 0xff09;
}

/**
 * The pause between keys of text that needs scratch keycodes. xdotool maps a scratch keycode
 * back right after the key: an application that reads the event later sees NoSymbol. Its
 * default, 12 ms, lost 'é' in CI (test/clients/x11-inject.test.ts) while the machine ran two
 * test files and a browser; 40 ms gives a busy application more time (25 such characters a
 * second; ASCII is typed without a pause).
 */
const TEXT_DELAY_MS = 40;

function hex(keysym: number): string {
  return `0x${keysym.toString(16)}`;
}

export interface InjectorOptions {
  /** The X display (":0"). */
  readonly display: string;
  /** The monitors advertised, with their place in the X screen. */
  readonly monitors: readonly DisplayMonitor[];
  /** The injector program (default `xdotool` on PATH). */
  readonly xdotool?: string;
}

export interface InjectorEvents {
  /** Something worth one log line (an unknown key code, first time; xdotool restarting). */
  warning: [message: string];
  /** Injection is not possible (xdotool missing): `code` is FERRY_ERR_INPUT_UNAVAILABLE. */
  unavailable: [code: string, message: string];
}

export class X11Injector extends EventEmitter<InjectorEvents> {
  readonly display: string;
  monitors: readonly DisplayMonitor[];
  /** The monitor shared (its id), or 0 when all are: where an event naming no monitor goes. */
  selected = MONITOR_ALL;
  /** Events turned into xdotool commands. */
  injected = 0;
  /** Pointer events outside their monitor, clamped to its edge. */
  clamped = 0;
  /** Pointer events naming a monitor that is not advertised (dropped). */
  unknownMonitor = 0;
  /** Key events whose code the table does not know (dropped). */
  unknownKeys = 0;
  /** Events dropped because xdotool is missing or broken. */
  dropped = 0;
  /** Times xdotool ended on its own and was started again. */
  restarts = 0;
  #child: ChildProcess | null = null;
  #unavailable = false;
  #held = new Set<string>();
  readonly #buttons = new Set<number>();
  readonly #loggedCodes = new Set<string>();
  readonly #waiting: ((line: string) => void)[] = [];
  #wheelX = 0;
  #wheelY = 0;
  readonly #program: string;

  constructor(options: InjectorOptions) {
    super();
    this.display = options.display;
    this.monitors = options.monitors;
    this.#program = options.xdotool ?? 'xdotool';
  }

  /** The keys held down now (KeyboardEvent.code). */
  get heldKeys(): ReadonlySet<string> {
    return this.#held;
  }

  /** Injects one event; false when it was dropped (counted). */
  apply(input: ferry.v1.InputEvent): boolean {
    const lines = this.#commands(input);
    if (lines === null) return false;
    if (lines.length === 0) return true;
    if (!this.#write(lines)) return false;
    this.injected++;
    return true;
  }

  #commands(input: ferry.v1.InputEvent): string[] | null {
    switch (input.kind) {
      case 'move': {
        const m = input.move as ferry.v1.PointerMove;
        const at = this.#map(m.monitor, m.x, m.y);
        return at === null ? null : [`mousemove ${at.x} ${at.y}`];
      }
      case 'button': {
        const b = input.button as ferry.v1.PointerButtonEvent;
        const button = X_BUTTONS[b.button];
        const A = ferry.v1.ButtonAction;
        if (
          button === undefined ||
          (b.action !== A.BUTTON_ACTION_DOWN && b.action !== A.BUTTON_ACTION_UP)
        ) {
          return [];
        }
        const at = this.#map(b.monitor, b.x, b.y);
        if (at === null) return null;
        const down = b.action === A.BUTTON_ACTION_DOWN;
        if (down) this.#buttons.add(button);
        else this.#buttons.delete(button);
        return [`mousemove ${at.x} ${at.y}`, `${down ? 'mousedown' : 'mouseup'} ${button}`];
      }
      case 'wheel': {
        const w = input.wheel as ferry.v1.WheelEvent;
        this.#wheelX += w.dx;
        this.#wheelY += w.dy;
        const out: string[] = [];
        const stepsY = Math.trunc(this.#wheelY / WHEEL_PIXELS_PER_CLICK);
        const stepsX = Math.trunc(this.#wheelX / WHEEL_PIXELS_PER_CLICK);
        this.#wheelY -= stepsY * WHEEL_PIXELS_PER_CLICK;
        this.#wheelX -= stepsX * WHEEL_PIXELS_PER_CLICK;
        // X buttons 4/5: up/down, 6/7: left/right
        if (stepsY !== 0) out.push(`click --repeat ${Math.abs(stepsY)} ${stepsY > 0 ? 5 : 4}`);
        if (stepsX !== 0) out.push(`click --repeat ${Math.abs(stepsX)} ${stepsX > 0 ? 7 : 6}`);
        return out;
      }
      case 'key': {
        const k = input.key as ferry.v1.KeyEvent;
        const plan = planKey(this.#held, { code: k.code, down: k.down, modifiers: k.modifiers });
        if (plan.unknown) {
          this.unknownKeys++;
          if (!this.#loggedCodes.has(k.code) && this.#loggedCodes.size < 256) {
            this.#loggedCodes.add(k.code);
            this.emit('warning', `unknown key code ${JSON.stringify(k.code.slice(0, 64))} ignored`);
          }
          return null;
        }
        this.#held = plan.held;
        return plan.actions.map((a) => `${a.down ? 'keydown' : 'keyup'} ${hex(a.keysym)}`);
      }
      case 'text': {
        const keysyms: number[] = [];
        for (const ch of (input.text as ferry.v1.TextInput).text) {
          const keysym = keysymForChar(ch.codePointAt(0)!);
          if (keysym !== null) keysyms.push(keysym);
        }
        const out: string[] = [];
        for (let i = 0; i < keysyms.length; i += 32) {
          const chunk = keysyms.slice(i, i + 32);
          // A keysym missing from the keymap gets a scratch keycode that xdotool maps back after
          // the press: without a delay the window reads the keycode after that and sees NoSymbol.
          const delay = chunk.every(inKeymap) ? 0 : TEXT_DELAY_MS;
          out.push(`key --delay ${delay} ${chunk.map(hex).join(' ')}`);
        }
        return out;
      }
      default:
        return [];
    }
  }

  #map(monitor: number, x: number, y: number): { x: number; y: number } | null {
    const at = mapPointer(this.monitors, monitor, x, y, this.selected);
    if (!at.ok) {
      this.unknownMonitor++;
      return null;
    }
    if (at.clamped) this.clamped++;
    return at;
  }

  /** Releases every key and button held (control taken away, session over). */
  releaseAll(): void {
    const lines: string[] = [];
    for (const b of this.#buttons) lines.push(`mouseup ${b}`);
    for (const code of this.#held) {
      const plan = planKey(this.#held, { code, down: false });
      for (const a of plan.actions) lines.push(`keyup ${hex(a.keysym)}`);
    }
    this.#buttons.clear();
    this.#held = new Set();
    this.#wheelX = 0;
    this.#wheelY = 0;
    if (lines.length > 0 && this.#child !== null) this.#write(lines);
  }

  /**
   * Resolves once xdotool has carried out every command sent before, with the pointer's place
   * then (xdotool answers `getmouselocation` in order). Null when xdotool is not running.
   */
  flush(): Promise<{ x: number; y: number } | null> {
    if (this.#child === null && !this.#start()) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiting.push((line) => {
        const m = /x:(-?\d+) y:(-?\d+)/.exec(line);
        resolve(m === null ? null : { x: Number(m[1]), y: Number(m[2]) });
      });
      if (!this.#write(['getmouselocation'])) {
        this.#waiting.pop();
        resolve(null);
      }
    });
  }

  #start(): boolean {
    if (this.#unavailable) return false;
    if (!this.#program.includes('/') && findProgram(this.#program) === null) {
      this.#unavailable = true;
      this.emit('unavailable', Codes.INPUT_UNAVAILABLE.code, missingProgramMessage('xdotool'));
      return false;
    }
    const child = spawn(this.#program, ['-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, DISPLAY: this.display },
    });
    this.#child = child;
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        this.#unavailable = true;
        this.emit('unavailable', Codes.INPUT_UNAVAILABLE.code, missingProgramMessage('xdotool'));
      } else this.emit('warning', `xdotool: ${err.message}`);
    });
    child.stdin!.on('error', (err: NodeJS.ErrnoException) => {
      // the process ended under us: its 'close' restarts it for the next event
      if (err.code !== 'EPIPE') this.emit('warning', `xdotool input: ${err.message}`);
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr = (stderr + text).slice(-1000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.#waiting.shift()?.(line));
    child.on('close', (code) => {
      if (this.#child !== child) return;
      this.#child = null;
      for (const w of this.#waiting.splice(0)) w('');
      if (this.#unavailable) return;
      this.restarts++;
      this.emit('warning', `xdotool ended (${code}): ${stderr.trim() || 'no message'}`);
    });
    return true;
  }

  #write(lines: string[]): boolean {
    if (this.#child === null && !this.#start()) {
      this.dropped++;
      return false;
    }
    const stdin = this.#child!.stdin!;
    if (!stdin.writable) {
      this.dropped++;
      return false;
    }
    stdin.write(`${lines.join('\n')}\n`);
    return true;
  }

  /** Releases what is held and ends xdotool. */
  close(): void {
    this.releaseAll();
    const child = this.#child;
    this.#child = null;
    child?.stdin?.end();
  }
}
