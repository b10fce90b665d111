/**
 * Screen capture of a real X server (Xvfb): the monitor layout from xrandr, tiles that decode to
 * the colours painted at their places, only changed tiles sent again, nothing sent for an
 * unchanged screen, and coded errors when the display goes away, ffmpeg is missing or the
 * encoder fails.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  type CapturedFrame,
  type CaptureError,
  changedTiles,
  tileRuns,
  X11Capture,
} from '../../src/clients/x11/capture.js';
import { checkDisplay, parseListMonitors } from '../../src/clients/x11/display.js';
import { Codes } from '../../src/protocol/codes.js';
import { Canvas, near, type Rgb, XPainter, xrun, xvfbFor } from './x11-support.js';

const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const GREEN: Rgb = [0, 255, 0];

/** The tile cells (tx,ty of `size`) a set of rectangles covers. */
function cells(
  rects: readonly { x: number; y: number; width: number; height: number }[],
  size: number,
) {
  const out: string[] = [];
  for (const r of rects) {
    for (let y = r.y; y < r.y + r.height; y += size) {
      for (let x = r.x; x < r.x + r.width; x += size) out.push(`${x / size},${y / size}`);
    }
  }
  return out.sort();
}

function nextFrame(capture: X11Capture): Promise<CapturedFrame> {
  return once(capture, 'frame').then(([f]) => f as CapturedFrame);
}

test('xrandr --listmonitors lines become 1-based monitors, the starred one primary', () => {
  const text =
    'Monitors: 2\n 0: +DP-1 1920/530x1080/300+0+0  DP-1\n 1: +*HDMI-1 1280/340x1024/270+1920+56  HDMI-1\n';
  const monitors = parseListMonitors(text);
  assert.deepEqual(
    monitors.map((m) => [m.id, m.name, m.width, m.height, m.desktop.x, m.desktop.y, m.primary]),
    [
      [1, 'DP-1', 1920, 1080, 0, 0, false],
      [2, 'HDMI-1', 1280, 1024, 1920, 56, true],
    ],
  );
});

test('the tile diff finds exactly the tiles whose pixels differ', () => {
  const width = 130;
  const height = 70;
  const a = Buffer.alloc(width * height * 4);
  const b = Buffer.from(a);
  b[(65 * width + 129) * 4] = 1; // last column, last row of tiles
  b[(3 * width + 70) * 4 + 2] = 9; // second column, first row
  assert.deepEqual(changedTiles(b, a, width, height, 64), [1, 5]);
  assert.deepEqual(changedTiles(a, a, width, height, 64), []);
});

test('changed tiles side by side in a row go as one rectangle, cut at the widest run', () => {
  // a 10-column grid: 2,3,4 run together; 9 ends a row, 10 starts the next; runs of at most 3
  assert.deepEqual(tileRuns([2, 3, 4, 5, 7, 9, 10, 11], 10, 3), [
    [2, 3],
    [5, 1],
    [7, 1],
    [9, 1],
    [10, 2],
  ]);
});

test('a display with no $DISPLAY or no X server is reported, not thrown', async () => {
  const none = await checkDisplay('');
  assert.equal(none.ok, false);
  assert.match(!none.ok ? none.reason : '', /DISPLAY is not set/);
  const gone = await checkDisplay(':4999');
  assert.equal(gone.ok, false);
  assert.match(!gone.ok ? gone.reason : '', /not reachable/);
});

test('xrandr monitors of an Xvfb screen, split in two, come back with their places', async (t) => {
  const x = await xvfbFor(t);
  await xrun(x.display, 'xrandr', ['--setmonitor', 'left', '640/1x800/1+0+0', 'none']);
  await xrun(x.display, 'xrandr', ['--setmonitor', 'right', '640/1x800/1+640+0', 'none']);
  const check = await checkDisplay(x.display);
  assert.ok(check.ok);
  const named = check.monitors.map((m) => [m.name, m.desktop.x, m.width]);
  assert.deepEqual(
    named.filter(([n]) => n === 'left' || n === 'right'),
    [
      ['left', 0, 640],
      ['right', 640, 640],
    ],
  );
});

test('tiles decode to the colours painted at their places, and only changed tiles come again', async (t) => {
  const x = await xvfbFor(t);
  await xrun(x.display, 'xsetroot', ['-solid', '#ff0000']);
  const painter = await XPainter.connect(x.display);
  t.after(() => painter.close());
  const win = painter.window(128, 64, 128, 128, BLUE);
  await painter.sync();

  const size = 64;
  const capture = new X11Capture({
    display: x.display,
    region: { x: 0, y: 0, width: 1280, height: 800 },
    fps: 10,
    quality: 80,
    tileSize: size,
    drawPointer: false,
  });
  t.after(() => capture.stop());
  const canvas = new Canvas(1280, 800);
  const first = nextFrame(capture);
  capture.start();
  const key = await first;
  assert.equal(key.keyFrame, true);
  assert.equal(cells(key.tiles, size).length, 20 * 13, 'a key frame covers every tile of 1280x800');
  for (const tile of key.tiles) await canvas.draw(tile);
  for (const [px, py, want] of [
    [5, 5, RED],
    [1275, 795, RED],
    [130, 66, BLUE],
    [250, 186, BLUE],
    [192, 128, BLUE],
    [260, 100, RED],
    [120, 100, RED],
  ] as const) {
    assert.ok(
      near(canvas.at(px, py), want),
      `pixel ${px},${py} is ${canvas.at(px, py)}, want ${want}`,
    );
  }
  assert.ok(
    key.tiles.every((tile) => tile.y + tile.height <= 800),
    'the last row is cut to the screen',
  );

  // A change on the display: only the window's four tiles are sent again.
  const changed = nextFrame(capture);
  painter.recolour(win, GREEN);
  await painter.sync();
  const delta = await changed;
  assert.equal(delta.keyFrame, false);
  assert.equal(delta.seq, key.seq + 1);
  assert.deepEqual(cells(delta.tiles, size), ['2,1', '2,2', '3,1', '3,2']);
  for (const tile of delta.tiles) await canvas.draw(tile);
  assert.ok(near(canvas.at(130, 66), GREEN));
  assert.ok(near(canvas.at(250, 186), GREEN));
  assert.ok(near(canvas.at(260, 100), RED));

  // An unchanged screen sends nothing: three more frames are captured, none is sent.
  const sentBefore = capture.framesSent;
  let quiet = 0;
  await new Promise<void>((resolve) => {
    const onProcessed = (tiles: number) => {
      assert.equal(tiles, 0);
      if (++quiet === 3) {
        capture.off('processed', onProcessed);
        resolve();
      }
    };
    capture.on('processed', onProcessed);
  });
  assert.equal(capture.framesSent, sentBefore);

  // The root's colour changes: every tile but the window's is sent again.
  const recoloured = nextFrame(capture);
  await xrun(x.display, 'xsetroot', ['-solid', '#0000ff']);
  const full = await recoloured;
  assert.equal(cells(full.tiles, size).length, 20 * 13 - 4);
  for (const tile of full.tiles) await canvas.draw(tile);
  assert.ok(near(canvas.at(5, 5), BLUE));
  assert.ok(near(canvas.at(130, 66), GREEN));
});

test('a display that goes away stops the capture with FERRY_ERR_SCREEN_CAPTURE_FAILED', async (t) => {
  const x = await xvfbFor(t, 320, 200);
  const capture = new X11Capture({
    display: x.display,
    region: { x: 0, y: 0, width: 320, height: 200 },
    fps: 10,
    quality: 60,
  });
  t.after(() => capture.stop());
  const first = nextFrame(capture);
  capture.start();
  await first;
  const failed = once(capture, 'error');
  await x.stop();
  const [err] = (await failed) as [CaptureError];
  assert.equal(err.code, Codes.SCREEN_CAPTURE_FAILED.code);
  assert.match(err.message, new RegExp(`display ${x.display}`));
  assert.equal(capture.running, false);
});

test('ffmpeg missing is FERRY_ERR_SCREEN_UNAVAILABLE naming the package to install', async () => {
  const capture = new X11Capture({
    display: ':0',
    region: { x: 0, y: 0, width: 64, height: 64 },
    fps: 5,
    quality: 60,
    ffmpeg: 'ferry-no-such-ffmpeg',
  });
  const failed = once(capture, 'error');
  capture.start();
  const [err] = (await failed) as [CaptureError];
  assert.equal(err.code, Codes.SCREEN_UNAVAILABLE.code);
  assert.match(err.message, /apt-get install ffmpeg/);
});

test('an encoder failure is FERRY_ERR_SCREEN_ENCODE_FAILED and stops the capture', async (t) => {
  const x = await xvfbFor(t, 320, 200);
  const capture = new X11Capture({
    display: x.display,
    region: { x: 0, y: 0, width: 320, height: 200 },
    fps: 10,
    quality: 60,
    encode: () => Promise.reject(new Error('out of encoder')),
  });
  t.after(() => capture.stop());
  const failed = once(capture, 'error');
  capture.start();
  const [err] = (await failed) as [CaptureError];
  assert.equal(err.code, Codes.SCREEN_ENCODE_FAILED.code);
  assert.match(err.message, /out of encoder/);
  assert.equal(capture.running, false);
});
