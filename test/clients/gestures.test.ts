/**
 * The touch-gesture mapping of docs/spec/session-tools.md C3: one test per table row, the view
 * transform (zoom, pan offset, clamping), and the ordering rules of multi-event gestures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Gesture,
  mapGesture,
  type RemoteInput,
  toRemote,
  type ViewTransform,
  WHEEL_UNITS_PER_REMOTE_PX,
  zoomView,
} from '../../src/clients/gestures.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

const LEFT = ferry.v1.PointerButton.POINTER_BUTTON_LEFT;
const RIGHT = ferry.v1.PointerButton.POINTER_BUTTON_RIGHT;
const DOWN = ferry.v1.ButtonAction.BUTTON_ACTION_DOWN;
const UP = ferry.v1.ButtonAction.BUTTON_ACTION_UP;

/** Native resolution, no pan: view coordinates are remote coordinates. */
const NATIVE: ViewTransform = {
  zoom: 1,
  offsetX: 0,
  offsetY: 0,
  screenWidth: 1920,
  screenHeight: 1080,
};

/** Half size, remote screen drawn 100 px right and 50 px down in the view. */
const HALF: ViewTransform = {
  zoom: 0.5,
  offsetX: 100,
  offsetY: 50,
  screenWidth: 1920,
  screenHeight: 1080,
};

function down(x: number, y: number, button: number, clickCount = 1): RemoteInput {
  return { button: { x, y, button, action: DOWN, clickCount } };
}

function up(x: number, y: number, button: number, clickCount = 1): RemoteInput {
  return { button: { x, y, button, action: UP, clickCount } };
}

function drag(
  from: [number, number],
  points: [number, number][],
  fingers: number,
  flags: { startedOnCursor?: boolean; afterDoubleTap?: boolean } = {},
): Gesture {
  return {
    kind: 'drag',
    from: { x: from[0], y: from[1] },
    points: points.map(([x, y]) => ({ x, y })),
    fingers,
    startedOnCursor: flags.startedOnCursor ?? false,
    afterDoubleTap: flags.afterDoubleTap ?? false,
  };
}

test('maps a view point to the remote pixel under it through zoom and pan offset', () => {
  assert.deepEqual(toRemote(NATIVE, { x: 10, y: 20 }), { x: 10, y: 20 });
  // (300 - 100) / 0.5 = 400, (250 - 50) / 0.5 = 400
  assert.deepEqual(toRemote(HALF, { x: 300, y: 250 }), { x: 400, y: 400 });
  // a fraction of a remote pixel belongs to the pixel it falls in
  assert.deepEqual(toRemote({ ...NATIVE, zoom: 2 }, { x: 5, y: 5 }), { x: 2, y: 2 });
});

test('clamps points outside the drawn remote screen to its edge pixels', () => {
  assert.deepEqual(toRemote(HALF, { x: 0, y: 0 }), { x: 0, y: 0 });
  assert.deepEqual(toRemote(HALF, { x: 5000, y: 5000 }), { x: 1919, y: 1079 });
  assert.deepEqual(toRemote(HALF, { x: -30, y: 600 }), { x: 0, y: 1079 });
});

test('a single tap is a left click, down then up with click count 1, at the tapped point', () => {
  const r = mapGesture({ kind: 'tap', x: 300, y: 250 }, HALF);
  assert.deepEqual(r.events, [down(400, 400, LEFT), up(400, 400, LEFT)]);
  assert.equal(r.local, null);
});

test('a double tap is two left down/up pairs with click count 2 on the second pair', () => {
  const r = mapGesture({ kind: 'double-tap', x: 40, y: 60 }, NATIVE);
  assert.deepEqual(r.events, [
    down(40, 60, LEFT, 1),
    up(40, 60, LEFT, 1),
    down(40, 60, LEFT, 2),
    up(40, 60, LEFT, 2),
  ]);
  assert.equal(r.local, null);
});

test('a drag that starts on the cursor moves the pointer after the finger with no button', () => {
  const r = mapGesture(
    drag(
      [100, 100],
      [
        [110, 100],
        [120, 105],
        [130, 110],
      ],
      1,
      { startedOnCursor: true },
    ),
    NATIVE,
  );
  assert.ok(r.events.every((e) => e.button === undefined && e.wheel === undefined));
  assert.deepEqual(r.events, [
    { move: { x: 110, y: 100 } },
    { move: { x: 120, y: 105 } },
    { move: { x: 130, y: 110 } },
  ]);
  assert.equal(r.local, null);
});

test('cursor drag moves are in remote coordinates and skip points on the same remote pixel', () => {
  const r = mapGesture(
    drag(
      [100, 50],
      [
        [110, 60],
        [110.4, 60.4],
        [9000, 60],
      ],
      1,
      { startedOnCursor: true },
    ),
    HALF,
  );
  assert.deepEqual(r.events, [{ move: { x: 20, y: 20 } }, { move: { x: 1919, y: 20 } }]);
});

test('a double tap then drag is drag and drop: left down at the item, the moves, left up at release', () => {
  const r = mapGesture(
    drag(
      [200, 200],
      [
        [210, 200],
        [220, 200],
        [230, 210],
      ],
      1,
      { afterDoubleTap: true },
    ),
    NATIVE,
  );
  assert.deepEqual(r.events, [
    down(200, 200, LEFT),
    { move: { x: 210, y: 200 } },
    { move: { x: 220, y: 200 } },
    { move: { x: 230, y: 210 } },
    up(230, 210, LEFT),
  ]);
  assert.equal(r.local, null);
});

test('drag and drop without movement still releases the button where it was pressed', () => {
  const r = mapGesture(drag([50, 60], [], 1, { afterDoubleTap: true }), NATIVE);
  assert.deepEqual(r.events, [down(50, 60, LEFT), up(50, 60, LEFT)]);
});

test('drag and drop wins over cursor following when the double-tapped item is under the cursor', () => {
  const r = mapGesture(
    drag([50, 60], [[70, 60]], 1, { afterDoubleTap: true, startedOnCursor: true }),
    NATIVE,
  );
  assert.deepEqual(r.events, [down(50, 60, LEFT), { move: { x: 70, y: 60 } }, up(70, 60, LEFT)]);
});

test('a two-finger tap is a right click, down then up, at the tapped point', () => {
  const r = mapGesture({ kind: 'two-finger-tap', x: 300, y: 250 }, HALF);
  assert.deepEqual(r.events, [down(400, 400, RIGHT), up(400, 400, RIGHT)]);
  assert.equal(r.local, null);
});

test('a three-finger drag up scrolls down (positive dy): the content moves with the fingers', () => {
  const r = mapGesture(drag([500, 500], [[500, 400]], 3), NATIVE);
  assert.equal(WHEEL_UNITS_PER_REMOTE_PX, 1);
  assert.deepEqual(r.events, [{ wheel: { dx: 0, dy: 100 } }]);
  assert.equal(r.local, null);
});

test('a three-finger drag down scrolls up and a drag left scrolls right', () => {
  assert.deepEqual(mapGesture(drag([500, 500], [[500, 530]], 3), NATIVE).events, [
    { wheel: { dx: 0, dy: -30 } },
  ]);
  assert.deepEqual(mapGesture(drag([500, 500], [[460, 500]], 3), NATIVE).events, [
    { wheel: { dx: 40, dy: 0 } },
  ]);
});

test('wheel delta scales with drag distance in remote pixels, so zoom and the scale option apply', () => {
  // 50 view px at zoom 0.5 is 100 remote px
  assert.deepEqual(mapGesture(drag([500, 500], [[500, 450]], 3), HALF).events, [
    { wheel: { dx: 0, dy: 100 } },
  ]);
  assert.deepEqual(
    mapGesture(drag([500, 500], [[500, 450]], 3), NATIVE, { wheelScale: 3 }).events,
    [{ wheel: { dx: 0, dy: 150 } }],
  );
});

test('a three-finger drag streams wheel steps that add up to the whole drag without rounding drift', () => {
  const points: [number, number][] = [];
  for (let i = 1; i <= 30; i++) points.push([500, 500 - i * 0.7]);
  const r = mapGesture(drag([500, 500], points, 3), NATIVE);
  assert.ok(r.events.length > 1, 'streamed, not one event at release');
  const total = r.events.reduce((sum, e) => sum + (e.wheel?.dy ?? 0), 0);
  assert.equal(total, Math.round(30 * 0.7));
  assert.ok(r.events.every((e) => e.wheel && (e.wheel.dx !== 0 || e.wheel.dy !== 0)));
});

test('pinch, three-finger tap and tap and hold send nothing and name their local action', () => {
  const cases: [Gesture, string][] = [
    [{ kind: 'pinch', centre: { x: 10, y: 10 }, scale: 1.5 }, 'zoom'],
    [{ kind: 'three-finger-tap' }, 'toggle-keyboard'],
    [{ kind: 'hold', x: 10, y: 10 }, 'locate-cursor'],
  ];
  for (const [gesture, local] of cases) {
    const r = mapGesture(gesture, NATIVE);
    assert.deepEqual(r.events, [], gesture.kind);
    assert.equal(r.local, local, gesture.kind);
  }
});

test('a one-finger drag off the cursor and a two-finger drag pan the local view and send nothing', () => {
  for (const g of [drag([10, 10], [[50, 50]], 1), drag([10, 10], [[50, 50]], 2)]) {
    const r = mapGesture(g, NATIVE);
    assert.deepEqual(r.events, []);
    assert.equal(r.local, 'pan');
  }
});

test('pinch zoom keeps the remote point under the fingers fixed and stays between fit and native', () => {
  const centre = { x: 300, y: 250 };
  const before = toRemote(HALF, centre);
  const zoomed = zoomView(HALF, centre, 1.5, 0.25);
  assert.equal(zoomed.zoom, 0.75);
  assert.deepEqual(toRemote(zoomed, centre), before);
  assert.equal(zoomView(HALF, centre, 10, 0.25).zoom, 1);
  assert.equal(zoomView(HALF, centre, 0.01, 0.25).zoom, 0.25);
});

test('every event produced encodes as a ferry.v1.InputEvent', () => {
  const gestures: Gesture[] = [
    { kind: 'tap', x: 1, y: 2 },
    { kind: 'double-tap', x: 1, y: 2 },
    { kind: 'two-finger-tap', x: 1, y: 2 },
    drag([0, 0], [[5, 5]], 1, { afterDoubleTap: true }),
    drag([0, 0], [[5, 5]], 3),
  ];
  for (const g of gestures) {
    for (const e of mapGesture(g, NATIVE).events) {
      const bytes = ferry.v1.InputEvent.encode({ ...e, seq: 1 }).finish();
      const back = ferry.v1.InputEvent.decode(bytes);
      assert.ok(back.kind === 'button' || back.kind === 'move' || back.kind === 'wheel');
    }
  }
});
