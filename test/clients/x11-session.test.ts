/**
 * The native customer through a real gateway, on a real X server (Xvfb): a technician receives
 * tiles that decode to the colours painted at their places and, after a change, only the changed
 * tiles; its pointer moves, clicks and keys reach the X display at the mapped places while
 * CONTROL is granted, and nothing reaches it without (the gateway refuses, and the client checks
 * too); a capture failure reaches the technician as a coded ScreenShareStop while the session
 * goes on.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { TechnicianClient } from '../../src/clients/technician.js';
import { X11Screen, type X11ScreenOptions } from '../../src/clients/x11/screen.js';
import type { Gateway } from '../../src/gateway.js';
import { Codes } from '../../src/protocol/codes.js';
import { Channel } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway, technician } from '../integration/harness.js';
import { Canvas, near, pointerAt, type Rgb, Xev, XPainter, xrun, xvfbFor } from './x11-support.js';

const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const GREEN: Rgb = [0, 255, 0];

/** A technician and a native customer sharing display `display`, view and control granted. */
async function x11Session(
  t: TestContext,
  gateway: Gateway,
  display: string,
  options: X11ScreenOptions = {},
): Promise<{ tech: TechnicianClient; customer: CustomerClient; screen: X11Screen }> {
  const tech = await technician(t, gateway);
  const { sessionId, pin } = await tech.createSession();
  const screen = await X11Screen.open({ display, drawPointer: false, quality: 85, ...options });
  assert.ok(screen instanceof X11Screen, 'the display opens');
  const customer = new CustomerClient({
    url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
    pin,
    name: 'Alice',
    consent: ['view', 'control'],
    x11: screen,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  const granted = waitFor(customer, 'consentChanged', () => customer.granted.includes('control'));
  await tech.requestConsent(['view', 'control']);
  await granted;
  return { tech, customer, screen };
}

/** The SCREEN tiles a technician receives, by frame. */
class Tiles {
  /** The monitors (Frame.stream) tiles came from. */
  readonly streams = new Set<number>();
  readonly #frames = new Map<number, ferry.v1.ScreenUpdate[]>();
  readonly #waiters: {
    match: (tiles: ferry.v1.ScreenUpdate[]) => boolean;
    resolve: (tiles: ferry.v1.ScreenUpdate[]) => void;
  }[] = [];

  constructor(tech: TechnicianClient) {
    tech.on('frame', (frame) => {
      if (frame.channel !== Channel.CHANNEL_SCREEN || !frame.screen) return;
      const tile = frame.screen as ferry.v1.ScreenUpdate;
      this.streams.add(frame.stream);
      const list = this.#frames.get(tile.frameSeq) ?? [];
      list.push(tile);
      this.#frames.set(tile.frameSeq, list);
      if (!tile.lastTile) return;
      const i = this.#waiters.findIndex((w) => w.match(list));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(list);
    });
  }

  /** The next complete frame whose tiles match. */
  next(
    match: (tiles: ferry.v1.ScreenUpdate[]) => boolean = () => true,
  ): Promise<ferry.v1.ScreenUpdate[]> {
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

function cells(tiles: readonly ferry.v1.ScreenUpdate[], size = 128): string[] {
  const out: string[] = [];
  for (const r of tiles) {
    for (let y = r.y; y < r.y + r.height; y += size) {
      for (let x = r.x; x < r.x + r.width; x += size) out.push(`${x / size},${y / size}`);
    }
  }
  return out.sort();
}

test('a technician receives tiles of the real display, then only the tiles that changed', async (t) => {
  const x = await xvfbFor(t);
  await xrun(x.display, 'xsetroot', ['-solid', '#ff0000']);
  const painter = await XPainter.connect(x.display);
  t.after(() => painter.close());
  const win = painter.window(256, 128, 256, 128, BLUE);
  await painter.sync();
  const { gateway } = await startGateway(t);
  const { tech, customer } = await x11Session(t, gateway, x.display);

  const monitors =
    tech.monitors.length > 0
      ? tech.monitors
      : await waitFor(tech, 'control', (c) => !!c.monitorList).then(() => tech.monitors);
  assert.deepEqual(
    monitors.map((m) => [m.id, m.width, m.height, m.captureSource]),
    [[1, 1280, 800, 'x11']],
  );
  assert.equal(tech.captureSource(), 'X11 display');

  const tiles = new Tiles(tech);
  const keyFrame = tiles.next((list) => list.every((tile) => tile.keyFrame));
  await customer.shareScreen();
  const key = await keyFrame;
  const canvas = new Canvas(1280, 800);
  for (const tile of key) {
    assert.equal(tile.encoding, ferry.v1.ScreenEncoding.SCREEN_ENCODING_JPEG);
    assert.deepEqual([tile.screenWidth, tile.screenHeight], [1280, 800]);
    await canvas.draw(tile);
  }
  assert.equal(cells(key).length, 10 * 7, 'the key frame covers the whole monitor');
  for (const [px, py, want] of [
    [4, 4, RED],
    [1270, 790, RED],
    [260, 132, BLUE],
    [500, 250, BLUE],
    [520, 140, RED],
    [250, 140, RED],
  ] as const) {
    assert.ok(
      near(canvas.at(px, py), want),
      `pixel ${px},${py} is ${canvas.at(px, py)}, want ${want}`,
    );
  }
  assert.equal(tech.tilesDropped.size, 0, 'every tile keeps the contract');

  const changed = tiles.next((list) => list[0]!.frameSeq > key[0]!.frameSeq);
  painter.recolour(win, GREEN);
  await painter.sync();
  const delta = await changed;
  assert.equal(delta[0]!.keyFrame, false);
  assert.deepEqual(cells(delta), ['2,1', '3,1'], 'only the window tiles come again');
  for (const tile of delta) await canvas.draw(tile);
  assert.ok(near(canvas.at(300, 200), GREEN));
  assert.ok(near(canvas.at(4, 4), RED));
});

test('with two monitors, the one the technician selects is captured alone, at its own size', async (t) => {
  const x = await xvfbFor(t);
  await xrun(x.display, 'xrandr', ['--setmonitor', 'left', '640/1x800/1+0+0', 'none']);
  await xrun(x.display, 'xrandr', ['--setmonitor', 'right', '640/1x800/1+640+0', 'none']);
  await xrun(x.display, 'xsetroot', ['-solid', '#ff0000']);
  const painter = await XPainter.connect(x.display);
  t.after(() => painter.close());
  painter.window(640, 0, 128, 128, BLUE);
  await painter.sync();
  const { gateway } = await startGateway(t);
  const { tech, customer, screen } = await x11Session(t, gateway, x.display);
  if (tech.monitors.length === 0) await waitFor(tech, 'control', (c) => !!c.monitorList);
  const right = tech.monitors.find((m) => m.name === 'right');
  assert.ok(right, 'the right monitor is advertised');
  assert.deepEqual([right.x, right.width, right.height], [640, 640, 800]);

  const switched = waitFor(customer, 'control', (c) => !!c.selectMonitor);
  await tech.selectMonitor(right.id);
  await switched;
  const tiles = new Tiles(tech);
  const keyFrame = tiles.next((list) => list.every((tile) => tile.keyFrame));
  await customer.shareScreen();
  const key = await keyFrame;
  assert.deepEqual([...tiles.streams], [right.id], 'only the selected monitor is sent');
  const canvas = new Canvas(640, 800);
  for (const tile of key) {
    assert.deepEqual([tile.screenWidth, tile.screenHeight], [640, 800]);
    await canvas.draw(tile);
  }
  assert.ok(near(canvas.at(10, 10), BLUE), "the window at the right monitor's corner");
  assert.ok(near(canvas.at(300, 300), RED));

  // a pointer event naming no monitor goes to the one shared
  const applied = waitFor(customer, 'input', (i) => i.kind === 'move');
  tech.sendInput({ move: { x: 5, y: 6, monitor: 0 } });
  await applied;
  assert.deepEqual(await screen.injector.flush(), { x: 645, y: 6 });
});

test('technician input reaches the X display at the mapped place only while control is granted', async (t) => {
  const x = await xvfbFor(t);
  const xev = new Xev(x.display, '400x300+0+0');
  t.after(() => xev.stop());
  await xev.waitFor((e) => e.type === 'MapNotify');
  const { gateway } = await startGateway(t);
  const { tech, customer, screen } = await x11Session(t, gateway, x.display);
  if (tech.monitors.length === 0) await waitFor(tech, 'control', (c) => !!c.monitorList);

  // pointer, click and keys, as the technician sends them
  let applied = waitFor(customer, 'input', (i) => i.kind === 'move');
  tech.movePointer(1000, 700);
  await applied;
  assert.deepEqual(await screen.injector.flush(), { x: 1000, y: 700 });
  assert.deepEqual(await pointerAt(x.display), { x: 1000, y: 700 });

  tech.click(120, 80);
  const press = await xev.waitFor((e) => e.type === 'ButtonPress');
  assert.deepEqual([press.button, press.rootX, press.rootY], [1, 120, 80]);
  tech.key('KeyO', true);
  tech.key('KeyO', false);
  tech.key('KeyK', true, 1);
  tech.key('KeyK', false, 1);
  tech.typeText('!');
  await xev.waitFor((e) => e.type === 'KeyPress' && e.keysym === 'exclam');
  assert.deepEqual(xev.pressed().slice(0, 3), ['o', 'Shift_L', 'K']);

  // outside the monitor: clamped to its edge and counted
  applied = waitFor(customer, 'input', (i) => i.kind === 'move');
  tech.movePointer(5000, 5000);
  await applied;
  assert.deepEqual(await screen.injector.flush(), { x: 1279, y: 799 });
  assert.equal(screen.injector.clamped, 1);

  // control revoked: the gateway relays nothing; the technician's moves never arrive
  const injectedBefore = screen.injector.injected;
  const inputsBefore = customer.inputEvents;
  await customer.revoke(['control']);
  tech.movePointer(10, 10);
  tech.typeText('nope');
  // the client checks too: an event handed to it without the grant is dropped and counted
  customer.applyInput(
    ferry.v1.InputEvent.decode(
      ferry.v1.InputEvent.encode({ seq: 99, move: { x: 20, y: 20, monitor: 1 } }).finish(),
    ),
  );
  assert.equal(customer.inputRefused, 1);
  assert.deepEqual(await screen.injector.flush(), { x: 1279, y: 799 });
  assert.equal(screen.injector.injected, injectedBefore);

  // granted again: the next move is the first to arrive since the revoke
  const granted = waitFor(customer, 'consentChanged', () => customer.granted.includes('control'));
  await tech.requestConsent(['control']);
  await granted;
  applied = waitFor(customer, 'input', (i) => i.kind === 'move');
  tech.movePointer(640, 400);
  await applied;
  assert.equal(customer.inputEvents, inputsBefore + 1, 'nothing sent while revoked arrived');
  assert.deepEqual(await screen.injector.flush(), { x: 640, y: 400 });
  assert.ok(
    !xev.pressed().includes('n'),
    'the text typed without control never reached the window',
  );
});

test('a capture failure reaches the technician as a coded stop, and the session goes on', async (t) => {
  const x = await xvfbFor(t, 320, 200);
  const { gateway } = await startGateway(t);
  const { tech, customer } = await x11Session(t, gateway, x.display, {
    ffmpeg: 'ferry-no-such-ffmpeg',
  });
  const stopped = waitFor(tech, 'control', (c) => !!c.screenShareStop);
  await customer.shareScreen();
  const [control] = await stopped;
  assert.match(
    control.screenShareStop?.reason ?? '',
    new RegExp(`^${Codes.SCREEN_UNAVAILABLE.code}: ffmpeg is not installed`),
  );
  assert.equal(customer.sharing, false);
  // the other tools go on: chat still flows both ways
  const heard = waitFor(tech, 'chat', (c) => c.text === 'still here');
  customer.chat('still here');
  await heard;
});
