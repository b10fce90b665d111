/**
 * The technician client's touch-gesture mapping (docs/spec/session-tools.md C3): a gesture reported
 * by the platform's recognizer, plus the current view transform, becomes the remote input
 * events to send (C2 messages only) and/or a local action for the UI. Pure: no I/O, no clock,
 * no state; the caller stamps `seq`/`sentTimeMs` (TechnicianClient.sendInput does).
 *
 * Invariants:
 * - every coordinate put on the wire is an integer pixel of the remote monitor, in the size it
 *   advertises in MonitorList, clamped to it, and names that monitor (`ViewTransform.monitor`),
 *   as the screen and input contract says (docs/protocol.md, "Screen and input");
 * - every button DOWN is followed by its UP in the same result, so a gesture never leaves a
 *   remote button held;
 * - local-only gestures (pinch, three-finger tap, tap and hold, panning drags) send nothing.
 */
import { ferry } from '../protocol/gen/ferry.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

/**
 * Where the remote screen is drawn in the local view: remote pixel (rx, ry) appears at view
 * point (offsetX + rx * zoom, offsetY + ry * zoom). So a view point maps back to
 * ((x - offsetX) / zoom, (y - offsetY) / zoom), clamped to the remote screen.
 */
export interface ViewTransform {
  /** View pixels per remote pixel (1 = native resolution; < 1 when fitted to a small screen). */
  readonly zoom: number;
  /** View position of the remote screen's top-left corner, in view pixels (negative when panned). */
  readonly offsetX: number;
  readonly offsetY: number;
  /** Size of the displayed remote monitor, in its advertised pixels (Monitor.width/height). */
  readonly screenWidth: number;
  readonly screenHeight: number;
  /** The displayed monitor's id (1-based), put on every pointer event; 0 or absent: not named. */
  readonly monitor?: number;
}

/** A gesture as the recognizer reports it; every point is in local view coordinates. */
export type Gesture =
  | { readonly kind: 'tap'; readonly x: number; readonly y: number }
  | { readonly kind: 'double-tap'; readonly x: number; readonly y: number }
  | {
      readonly kind: 'drag';
      /** Where the fingers (their centroid, for several) touched down. */
      readonly from: Point;
      /** The successive positions after `from`, in order; the last one is where they lifted. */
      readonly points: readonly Point[];
      readonly fingers: number;
      /** The touch began on the remote cursor as drawn in the view. */
      readonly startedOnCursor: boolean;
      /** The touch was the second of a double tap, held and then moved. */
      readonly afterDoubleTap: boolean;
    }
  | { readonly kind: 'two-finger-tap'; readonly x: number; readonly y: number }
  | { readonly kind: 'three-finger-tap' }
  | {
      readonly kind: 'pinch';
      /** Centre of the fingers, in view coordinates. */
      readonly centre: Point;
      /** Finger spread now / at the start (> 1 spreads apart, < 1 pinches together). */
      readonly scale: number;
    }
  | { readonly kind: 'hold'; readonly x: number; readonly y: number };

/** What the UI does by itself for a gesture that sends nothing (or in addition to sending). */
export type LocalAction = 'zoom' | 'toggle-keyboard' | 'locate-cursor' | 'pan';

/** One remote input event, without the `seq`/`sentTimeMs` the sender stamps. */
export type RemoteInput = Omit<ferry.v1.InputEvent.$Properties, 'seq' | 'sentTimeMs'>;

export interface GestureResult {
  /** In send order; empty for local-only gestures. */
  readonly events: RemoteInput[];
  readonly local: LocalAction | null;
}

export interface GestureOptions {
  /** Overrides WHEEL_UNITS_PER_REMOTE_PX. */
  readonly wheelScale?: number;
}

/**
 * Three-finger drag scrolling: wheel units per remote pixel of finger travel. Wheel units are
 * DOM WheelEvent pixels (deltaMode 0): positive dy scrolls toward the bottom of the content,
 * positive dx toward the right. Finger travel is converted to remote pixels first (divided by
 * zoom), so with the default of 1 the remote content moves by the distance the fingers moved as
 * seen in the view. The sign follows touch scrolling: the content moves with the fingers, so
 * dragging up (view dy < 0) sends dy > 0 (scroll down) and dragging left sends dx > 0.
 */
export const WHEEL_UNITS_PER_REMOTE_PX = 1;

const LEFT = ferry.v1.PointerButton.POINTER_BUTTON_LEFT;
const RIGHT = ferry.v1.PointerButton.POINTER_BUTTON_RIGHT;
const DOWN = ferry.v1.ButtonAction.BUTTON_ACTION_DOWN;
const UP = ferry.v1.ButtonAction.BUTTON_ACTION_UP;

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** Maps a view point to the remote pixel under it, clamped to the remote screen. */
export function toRemote(view: ViewTransform, point: Point): Point {
  // floor, not round: remote pixel i covers view span [offset + i*zoom, offset + (i+1)*zoom)
  const x = Math.floor((point.x - view.offsetX) / view.zoom);
  const y = Math.floor((point.y - view.offsetY) / view.zoom);
  return {
    x: clamp(x, 0, Math.max(0, view.screenWidth - 1)),
    y: clamp(y, 0, Math.max(0, view.screenHeight - 1)),
  };
}

/**
 * The local half of a pinch (C3: zoom centred where the fingers are, not at the pointer): the
 * view transform after scaling by `factor` about `centre` (view coordinates), with zoom kept
 * between `minZoom` (fit to screen) and `maxZoom` (native resolution, 1). The remote point under
 * `centre` stays under it.
 */
export function zoomView(
  view: ViewTransform,
  centre: Point,
  factor: number,
  minZoom: number,
  maxZoom = 1,
): ViewTransform {
  const zoom = clamp(view.zoom * factor, minZoom, Math.max(minZoom, maxZoom));
  const ratio = zoom / view.zoom;
  return {
    ...view,
    zoom,
    offsetX: centre.x - (centre.x - view.offsetX) * ratio,
    offsetY: centre.y - (centre.y - view.offsetY) * ratio,
  };
}

/** The monitor fields of a pointer event: present only when the view names one. */
function monitorOf(view: ViewTransform): { monitor?: number } {
  return view.monitor ? { monitor: view.monitor } : {};
}

function button(
  view: ViewTransform,
  at: Point,
  which: ferry.v1.PointerButton,
  action: ferry.v1.ButtonAction,
  clickCount: number,
): RemoteInput {
  return { button: { x: at.x, y: at.y, button: which, action, clickCount, ...monitorOf(view) } };
}

function click(
  view: ViewTransform,
  at: Point,
  which: ferry.v1.PointerButton,
  clickCount: number,
): RemoteInput[] {
  return [button(view, at, which, DOWN, clickCount), button(view, at, which, UP, clickCount)];
}

/** Pointer moves along the path; a point that lands on the same remote pixel as the last is skipped. */
function moves(
  view: ViewTransform,
  start: Point | null,
  path: readonly Point[],
  out: RemoteInput[],
): Point | null {
  let last = start;
  for (const p of path) {
    const r = toRemote(view, p);
    if (last !== null && r.x === last.x && r.y === last.y) continue;
    out.push({ move: { x: r.x, y: r.y, ...monitorOf(view) } });
    last = r;
  }
  return last;
}

/**
 * Wheel events for a three-finger drag, one per point that adds a whole unit. The running total
 * is rounded rather than each step, so the units sent add up to the whole drag's distance.
 */
function wheel(
  view: ViewTransform,
  from: Point,
  path: readonly Point[],
  scale: number,
): RemoteInput[] {
  const out: RemoteInput[] = [];
  const perViewPx = scale / view.zoom;
  let sentX = 0;
  let sentY = 0;
  for (const p of path) {
    // + 0 turns -0 into 0 so a still axis compares and encodes as plain zero
    const totalX = Math.round((from.x - p.x) * perViewPx) + 0;
    const totalY = Math.round((from.y - p.y) * perViewPx) + 0;
    const dx = totalX - sentX;
    const dy = totalY - sentY;
    if (dx === 0 && dy === 0) continue;
    out.push({ wheel: { dx, dy } });
    sentX = totalX;
    sentY = totalY;
  }
  return out;
}

function mapDrag(
  view: ViewTransform,
  g: Extract<Gesture, { kind: 'drag' }>,
  options: GestureOptions,
): GestureResult {
  if (g.fingers === 3) {
    const scale = options.wheelScale ?? WHEEL_UNITS_PER_REMOTE_PX;
    return { events: wheel(view, g.from, g.points, scale), local: null };
  }
  if (g.fingers !== 1) return { events: [], local: 'pan' };
  const start = toRemote(view, g.from);
  if (g.afterDoubleTap) {
    // spec C3: drag and drop = left down at the item, moves, left up where the finger lifts
    const events = [button(view, start, LEFT, DOWN, 1)];
    const end = moves(view, start, g.points, events) ?? start;
    events.push(button(view, end, LEFT, UP, 1));
    return { events, local: null };
  }
  if (g.startedOnCursor) {
    // spec C3: the pointer follows the finger with no button pressed
    // no dedupe against `from`: the finger only covers the cursor, it may not be on its hotspot
    const events: RemoteInput[] = [];
    moves(view, null, g.points, events);
    return { events, local: null };
  }
  // a one-finger drag off the cursor scrolls the local view over the remote screen
  return { events: [], local: 'pan' };
}

/** Maps one recognized gesture to the remote input events to send and the local action to take. */
export function mapGesture(
  gesture: Gesture,
  view: ViewTransform,
  options: GestureOptions = {},
): GestureResult {
  switch (gesture.kind) {
    case 'tap':
      // spec C3 [GAP]: clicks at the tapped point, not at the current cursor
      return { events: click(view, toRemote(view, gesture), LEFT, 1), local: null };
    case 'double-tap': {
      const at = toRemote(view, gesture);
      return { events: [...click(view, at, LEFT, 1), ...click(view, at, LEFT, 2)], local: null };
    }
    case 'two-finger-tap':
      return { events: click(view, toRemote(view, gesture), RIGHT, 1), local: null };
    case 'drag':
      return mapDrag(view, gesture, options);
    case 'pinch':
      return { events: [], local: 'zoom' };
    case 'three-finger-tap':
      return { events: [], local: 'toggle-keyboard' };
    case 'hold':
      return { events: [], local: 'locate-cursor' };
    default:
      // a kind this version does not know (a newer recognizer): send nothing
      return { events: [], local: null };
  }
}
