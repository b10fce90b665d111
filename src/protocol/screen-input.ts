/**
 * The screen and input contract as pure functions (docs/protocol.md, "Screen and input"): monitor
 * ids, the coordinate space and its mapping to a real display, tile checks, the key-code ->
 * X11 keysym table, modifier state reconciliation, what a browser key event becomes, and which
 * events call for a key frame. No I/O, no clock: the reference clients, an X11 injector and the
 * web console share it, and docs/spec/screen-input-vectors.json pins it down.
 */
import { ferry } from './gen/ferry.js';

/** Monitor ids are 1-based; 0 is never a monitor: "all" in KeyFrameRequest, "not named" elsewhere. */
export const MONITOR_ALL = 0;

/** Where the customer's screen comes from (Monitor.capture_source). */
export const CAPTURE_SOURCES = ['x11', 'browser-tab', 'browser-screen', 'test-pattern'] as const;
export type CaptureSource = (typeof CAPTURE_SOURCES)[number];

const CAPTURE_LABELS: Readonly<Record<CaptureSource, string>> = {
  x11: 'X11 display',
  'browser-tab': 'browser tab',
  'browser-screen': 'browser screen share',
  'test-pattern': 'test pattern',
};

/** How a console shows a capture source: "test pattern" plainly; empty or unknown: "unknown source". */
export function captureSourceLabel(source: string): string {
  return CAPTURE_LABELS[source as CaptureSource] ?? 'unknown source';
}

/** A monitor as MonitorList advertises it (the fields the contract uses). */
export interface AdvertisedMonitor {
  readonly id: number;
  readonly width: number;
  readonly height: number;
  readonly primary?: boolean;
}

/**
 * The monitor an input event names: its id when it is one of the list; 0 (an older technician)
 * means the monitor shared, or the primary (else the first) when all are shared. Null when the
 * id is unknown (the event is dropped and counted).
 */
export function resolveMonitor<M extends AdvertisedMonitor>(
  monitors: readonly M[],
  id: number,
  selected: number = MONITOR_ALL,
): M | null {
  const want = id !== MONITOR_ALL ? id : selected;
  if (want !== MONITOR_ALL) return monitors.find((m) => m.id === want) ?? null;
  return monitors.find((m) => m.primary === true) ?? monitors[0] ?? null;
}

/** A monitor of the customer's real display: its advertised size and where it really is. */
export interface DisplayMonitor extends AdvertisedMonitor {
  /** The monitor's rectangle in the real desktop, in device pixels (HiDPI, offsets). */
  readonly desktop: {
    readonly x: number;
    readonly y: number;
    readonly width: number;
    readonly height: number;
  };
}

export type MappedPointer =
  | {
      readonly ok: true;
      readonly monitor: number;
      /** Device pixel of the real desktop to put the pointer on. */
      readonly x: number;
      readonly y: number;
      /** The event fell outside the monitor and was clamped to its edge (count it). */
      readonly clamped: boolean;
    }
  | { readonly ok: false; readonly reason: 'unknown-monitor' | 'empty-monitor' };

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/**
 * Maps a pointer position in the contract's space (pixels of monitor `monitor` in its advertised
 * size, origin top-left) to a device pixel of the real desktop: clamp to the advertised monitor,
 * scale by desktop size / advertised size (floor), then add the monitor's desktop offset.
 */
export function mapPointer(
  monitors: readonly DisplayMonitor[],
  monitor: number,
  x: number,
  y: number,
  selected: number = MONITOR_ALL,
): MappedPointer {
  const m = resolveMonitor(monitors, monitor, selected);
  if (m === null) return { ok: false, reason: 'unknown-monitor' };
  if (m.width <= 0 || m.height <= 0) return { ok: false, reason: 'empty-monitor' };
  const cx = clamp(Math.trunc(x), 0, m.width - 1);
  const cy = clamp(Math.trunc(y), 0, m.height - 1);
  const d = m.desktop;
  return {
    ok: true,
    monitor: m.id,
    x: d.x + Math.floor((cx * d.width) / m.width),
    y: d.y + Math.floor((cy * d.height) / m.height),
    clamped: cx !== x || cy !== y,
  };
}

/** What a receiver does with a SCREEN tile. */
export const TileVerdict = {
  OK: 'ok',
  /** Frame.stream names no advertised monitor. */
  UNKNOWN_MONITOR: 'unknown-monitor',
  /** screen_width/height differ from the monitor's size in MonitorList. */
  SCREEN_SIZE_MISMATCH: 'screen-size-mismatch',
  /** The tile reaches past the monitor's edge. */
  OUTSIDE: 'outside',
  /** The decoded image is not exactly width x height. */
  DECODED_SIZE_MISMATCH: 'decoded-size-mismatch',
} as const;
export type TileVerdictValue = (typeof TileVerdict)[keyof typeof TileVerdict];

export interface TileHeader {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/**
 * Checks a tile against the contract: anything but OK is dropped and counted, never stretched.
 * `decoded` is the decoded image size (null when the encoding carries no pixels: test pattern).
 */
export function checkTile(
  monitors: readonly AdvertisedMonitor[],
  stream: number,
  tile: TileHeader,
  decoded: { readonly width: number; readonly height: number } | null,
): TileVerdictValue {
  const m = stream === MONITOR_ALL ? null : (monitors.find((x) => x.id === stream) ?? null);
  if (m === null) return TileVerdict.UNKNOWN_MONITOR;
  if (tile.screenWidth !== m.width || tile.screenHeight !== m.height) {
    return TileVerdict.SCREEN_SIZE_MISMATCH;
  }
  if (tile.x + tile.width > m.width || tile.y + tile.height > m.height) return TileVerdict.OUTSIDE;
  if (decoded !== null && (decoded.width !== tile.width || decoded.height !== tile.height)) {
    return TileVerdict.DECODED_SIZE_MISMATCH;
  }
  return TileVerdict.OK;
}

// ---------------------------------------------------------------------------------------------
// Keys

/** KeyEvent.modifiers bits. */
export const Modifier = { SHIFT: 1, CONTROL: 2, ALT: 4, META: 8 } as const;
export const MODIFIER_MASK = 0xf;

/** The two codes of each modifier, left first (the one pressed when the customer must add it). */
export const MODIFIER_CODES: ReadonlyArray<readonly [number, string, string]> = [
  [Modifier.SHIFT, 'ShiftLeft', 'ShiftRight'],
  [Modifier.CONTROL, 'ControlLeft', 'ControlRight'],
  [Modifier.ALT, 'AltLeft', 'AltRight'],
  [Modifier.META, 'MetaLeft', 'MetaRight'],
];

/** The modifier bit a code is, or 0 for any other key. */
export function modifierBitOf(code: string): number {
  for (const [bit, left, right] of MODIFIER_CODES) if (code === left || code === right) return bit;
  return 0;
}

function table(): Record<string, number> {
  const t: Record<string, number> = {};
  for (let i = 0; i < 26; i++) t[`Key${String.fromCharCode(65 + i)}`] = 0x61 + i; // a..z
  for (let i = 0; i < 10; i++) t[`Digit${i}`] = 0x30 + i; // 0..9
  for (let i = 1; i <= 24; i++) t[`F${i}`] = 0xffbe + i - 1; // F1..F24
  for (let i = 0; i < 10; i++) t[`Numpad${i}`] = 0xffb0 + i; // KP_0..KP_9
  Object.assign(t, {
    ArrowLeft: 0xff51,
    ArrowUp: 0xff52,
    ArrowRight: 0xff53,
    ArrowDown: 0xff54,
    Home: 0xff50,
    End: 0xff57,
    PageUp: 0xff55,
    PageDown: 0xff56,
    Insert: 0xff63,
    Delete: 0xffff,
    Backspace: 0xff08,
    Tab: 0xff09,
    Enter: 0xff0d,
    Escape: 0xff1b,
    Space: 0x20,
    NumpadDecimal: 0xffae,
    NumpadAdd: 0xffab,
    NumpadSubtract: 0xffad,
    NumpadMultiply: 0xffaa,
    NumpadDivide: 0xffaf,
    NumpadEnter: 0xff8d,
    NumpadEqual: 0xffbd,
    NumLock: 0xff7f,
    ShiftLeft: 0xffe1,
    ShiftRight: 0xffe2,
    ControlLeft: 0xffe3,
    ControlRight: 0xffe4,
    AltLeft: 0xffe9,
    AltRight: 0xffea,
    MetaLeft: 0xffeb,
    MetaRight: 0xffec,
    CapsLock: 0xffe5,
    Minus: 0x2d,
    Equal: 0x3d,
    BracketLeft: 0x5b,
    BracketRight: 0x5d,
    Backslash: 0x5c,
    Semicolon: 0x3b,
    Quote: 0x27,
    Backquote: 0x60,
    Comma: 0x2c,
    Period: 0x2e,
    Slash: 0x2f,
    IntlBackslash: 0x3c,
    ContextMenu: 0xff67,
    PrintScreen: 0xff61,
    ScrollLock: 0xff14,
    Pause: 0xff13,
  });
  return t;
}

/**
 * W3C KeyboardEvent.code -> X11 keysym of that key on a US layout (letters lower case: Shift
 * comes from the modifier state). A code not in the table is ignored and counted.
 */
export const KEYSYMS: Readonly<Record<string, number>> = Object.freeze(table());

/** The keysym of a code, or null when the table does not know it. */
export function keysymOf(code: string): number | null {
  return Object.hasOwn(KEYSYMS, code) ? KEYSYMS[code]! : null;
}

/** One key the customer injects. */
export interface KeyAction {
  readonly code: string;
  readonly keysym: number;
  readonly down: boolean;
}

/**
 * The modifier rule: before a key goes down, the customer makes its modifiers match the event's
 * state. A modifier the state has and the customer does not hold is pressed (its left key); one
 * the customer holds and the state lacks is released (every side held). `except` is the bit of
 * the modifier key being pressed itself, which its own event applies.
 */
export function reconcileModifiers(
  held: ReadonlySet<string>,
  wanted: number,
  except = 0,
): KeyAction[] {
  const out: KeyAction[] = [];
  for (const [bit, left, right] of MODIFIER_CODES) {
    if (bit === except) continue;
    const heldCodes = [left, right].filter((c) => held.has(c));
    const want = (wanted & bit) !== 0;
    if (want && heldCodes.length === 0)
      out.push({ code: left, keysym: KEYSYMS[left]!, down: true });
    if (!want) for (const c of heldCodes) out.push({ code: c, keysym: KEYSYMS[c]!, down: false });
  }
  return out;
}

export interface KeyPlan {
  /** Keys to inject, in order. */
  readonly actions: KeyAction[];
  /** The keys held after them. */
  readonly held: Set<string>;
  /** The code is not in the table: nothing injected; count it. */
  readonly unknown: boolean;
}

/**
 * What the customer injects for one KeyEvent, given the keys it holds: a down reconciles the
 * modifiers, then presses (a repeat presses again, with no release); an up releases the key if
 * held and changes nothing else.
 */
export function planKey(
  held: ReadonlySet<string>,
  key: { readonly code: string; readonly down: boolean; readonly modifiers?: number },
): KeyPlan {
  const next = new Set(held);
  const keysym = keysymOf(key.code);
  if (keysym === null) return { actions: [], held: next, unknown: true };
  const actions: KeyAction[] = [];
  if (key.down) {
    const own = modifierBitOf(key.code);
    actions.push(...reconcileModifiers(held, (key.modifiers ?? 0) & MODIFIER_MASK, own));
    actions.push({ code: key.code, keysym, down: true });
  } else if (held.has(key.code)) {
    actions.push({ code: key.code, keysym, down: false });
  }
  for (const a of actions) {
    if (a.down) next.add(a.code);
    else next.delete(a.code);
  }
  return { actions, held: next, unknown: false };
}

/** The fields of a browser KeyboardEvent the technician reads. */
export interface DomKey {
  readonly type: 'keydown' | 'keyup';
  readonly code: string;
  readonly key: string;
  readonly repeat?: boolean;
  readonly isComposing?: boolean;
  readonly shiftKey?: boolean;
  readonly ctrlKey?: boolean;
  readonly altKey?: boolean;
  readonly metaKey?: boolean;
}

/** KeyEvent.modifiers from a browser event's modifier flags (the state after the event). */
export function modifierState(e: Omit<DomKey, 'type' | 'code' | 'key'>): number {
  return (
    (e.shiftKey === true ? Modifier.SHIFT : 0) |
    (e.ctrlKey === true ? Modifier.CONTROL : 0) |
    (e.altKey === true ? Modifier.ALT : 0) |
    (e.metaKey === true ? Modifier.META : 0)
  );
}

/**
 * The KeyEvent a browser key event becomes, or null: keys pressed while an input method composes
 * (isComposing, key "Process", or no code) are not sent; the composed text goes as one TextInput.
 */
export function keyEventFromDom(e: DomKey): ferry.v1.KeyEvent.$Properties | null {
  if (e.isComposing === true || e.key === 'Process' || e.key === 'Dead' || e.code === '') {
    return null;
  }
  const event: ferry.v1.KeyEvent.$Properties = {
    code: e.code,
    down: e.type === 'keydown',
    modifiers: modifierState(e),
  };
  if (e.type === 'keydown' && e.repeat === true) event.repeat = true;
  return event;
}

/** The TextInput for text an input method composed (compositionend), or null for none. */
export function textInputFromComposition(data: string): ferry.v1.TextInput.$Properties | null {
  return data === '' ? null : { text: data.slice(0, MAX_TEXT_INPUT) };
}

/** TextInput.text limit, in UTF-16 code units of the sender. */
export const MAX_TEXT_INPUT = 256;

// ---------------------------------------------------------------------------------------------
// Screen streaming

/** The events that call for a key frame (and nothing else does: no periodic key frames). */
export const KEY_FRAME_TRIGGERS = [
  'join',
  'pick-up',
  'resize',
  'monitor-switch',
  'request',
  'loss',
] as const;
export type KeyFrameTrigger = (typeof KEY_FRAME_TRIGGERS)[number];

/**
 * The monitors that need a key frame after `trigger`, of the monitors `shared` now. `monitor` is
 * the monitor the event names (a KeyFrameRequest's stream, the resized or newly selected one);
 * 0 means every shared monitor. A trigger this version does not know, or a monitor not shared,
 * asks for nothing.
 */
export function keyFramesFor(
  trigger: string,
  shared: readonly number[],
  monitor: number = MONITOR_ALL,
): number[] {
  if (!(KEY_FRAME_TRIGGERS as readonly string[]).includes(trigger)) return [];
  if (trigger === 'join' || trigger === 'pick-up') return [...shared];
  if (monitor === MONITOR_ALL) return [...shared];
  return shared.includes(monitor) ? [monitor] : [];
}

/**
 * The quality preset the customer's encoder follows when no technician has asked for one: the
 * link grade (the session's overall connectivity) picks it.
 */
export function presetForGrade(connectivity: number): ferry.v1.QualityPreset {
  const C = ferry.v1.Connectivity;
  const Q = ferry.v1.QualityPreset;
  switch (connectivity) {
    case C.CONNECTIVITY_EXCELLENT:
      return Q.QUALITY_PRESET_FIDELITY;
    case C.CONNECTIVITY_POOR:
      return Q.QUALITY_PRESET_SPEED;
    default:
      return Q.QUALITY_PRESET_BALANCED;
  }
}
