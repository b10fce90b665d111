/**
 * Input injection into a real X server (Xvfb): pointer moves land on the mapped place of the
 * monitor named (and are clamped and counted outside it), buttons click into an X window, keys
 * and text arrive there as the keysyms asked for, and unknown key codes are ignored, counted and
 * logged once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDisplay } from '../../src/clients/x11/display.js';
import { keysymForChar, X11Injector } from '../../src/clients/x11/inject.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { Modifier } from '../../src/protocol/screen-input.js';
import { pointerAt, Xev, xrun, xvfbFor } from './x11-support.js';

let seq = 0;
/** An InputEvent as the customer decodes it (a full instance with `kind` set). */
export function input(props: Omit<ferry.v1.InputEvent.$Properties, 'seq'>): ferry.v1.InputEvent {
  return ferry.v1.InputEvent.decode(ferry.v1.InputEvent.encode({ seq: ++seq, ...props }).finish());
}

const B = ferry.v1.PointerButton;
const A = ferry.v1.ButtonAction;

async function twoMonitors(display: string) {
  await xrun(display, 'xrandr', ['--setmonitor', 'left', '640/1x800/1+0+0', 'none']);
  await xrun(display, 'xrandr', ['--setmonitor', 'right', '640/1x800/1+640+0', 'none']);
  const check = await checkDisplay(display);
  assert.ok(check.ok);
  return check.monitors.filter((m) => m.name === 'left' || m.name === 'right');
}

test('text becomes keysyms: Latin-1 as is, the rest as Unicode keysyms, Enter for a newline', () => {
  assert.equal(keysymForChar('a'.codePointAt(0)!), 0x61);
  assert.equal(keysymForChar('é'.codePointAt(0)!), 0xe9);
  assert.equal(keysymForChar('Ω'.codePointAt(0)!), 0x010003a9);
  assert.equal(keysymForChar(0x0a), 0xff0d);
  assert.equal(keysymForChar(0x07), null);
});

test('pointer moves land on the mapped place of the monitor named, clamped to it', async (t) => {
  const x = await xvfbFor(t);
  const monitors = await twoMonitors(x.display);
  const right = monitors.find((m) => m.name === 'right')!;
  const inj = new X11Injector({ display: x.display, monitors });
  t.after(() => inj.close());

  assert.ok(inj.apply(input({ move: { x: 10, y: 20, monitor: right.id } })));
  assert.deepEqual(await inj.flush(), { x: 650, y: 20 });
  assert.deepEqual(await pointerAt(x.display), { x: 650, y: 20 });

  // outside its monitor: clamped to the monitor's edge, not onto the neighbour
  const left = monitors.find((m) => m.name === 'left')!;
  inj.apply(input({ move: { x: 5000, y: -3, monitor: left.id } }));
  assert.deepEqual(await inj.flush(), { x: 639, y: 0 });
  assert.equal(inj.clamped, 1);

  // a monitor that is not advertised: dropped and counted, the pointer stays
  assert.equal(inj.apply(input({ move: { x: 1, y: 1, monitor: 99 } })), false);
  assert.equal(inj.unknownMonitor, 1);
  assert.deepEqual(await inj.flush(), { x: 639, y: 0 });

  // monitor 0 (an older technician) goes to the monitor shared
  inj.selected = right.id;
  inj.apply(input({ move: { x: 0, y: 799 } }));
  assert.deepEqual(await inj.flush(), { x: 640, y: 799 });
});

test('clicks, keys with modifiers and text reach an X window', async (t) => {
  const x = await xvfbFor(t);
  const check = await checkDisplay(x.display);
  assert.ok(check.ok);
  const xev = new Xev(x.display, '400x300+0+0');
  t.after(() => xev.stop());
  await xev.waitFor((e) => e.type === 'MapNotify');
  const inj = new X11Injector({ display: x.display, monitors: check.monitors });
  t.after(() => inj.close());
  const warnings: string[] = [];
  inj.on('warning', (w) => warnings.push(w));

  inj.apply(
    input({
      button: { x: 100, y: 50, button: B.POINTER_BUTTON_LEFT, action: A.BUTTON_ACTION_DOWN },
    }),
  );
  inj.apply(
    input({ button: { x: 100, y: 50, button: B.POINTER_BUTTON_LEFT, action: A.BUTTON_ACTION_UP } }),
  );
  const press = await xev.waitFor((e) => e.type === 'ButtonPress');
  assert.deepEqual([press.button, press.rootX, press.rootY], [1, 100, 50]);
  await xev.waitFor((e) => e.type === 'ButtonRelease' && e.button === 1);
  inj.apply(
    input({
      button: { x: 101, y: 51, button: B.POINTER_BUTTON_RIGHT, action: A.BUTTON_ACTION_DOWN },
    }),
  );
  inj.apply(
    input({
      button: { x: 101, y: 51, button: B.POINTER_BUTTON_RIGHT, action: A.BUTTON_ACTION_UP },
    }),
  );
  assert.equal((await xev.waitFor((e) => e.type === 'ButtonPress' && e.button !== 1)).button, 3);
  inj.apply(input({ wheel: { dx: 0, dy: 250 } }));
  assert.equal((await xev.waitFor((e) => e.type === 'ButtonPress' && e.button === 5)).button, 5);

  // "h", then Shift held by the modifier state for "i", released before "!"-less "Digit1"
  inj.apply(input({ key: { code: 'KeyH', down: true } }));
  inj.apply(input({ key: { code: 'KeyH', down: false } }));
  inj.apply(input({ key: { code: 'KeyI', down: true, modifiers: Modifier.SHIFT } }));
  inj.apply(input({ key: { code: 'KeyI', down: false, modifiers: Modifier.SHIFT } }));
  inj.apply(input({ key: { code: 'Digit1', down: true, modifiers: 0 } }));
  inj.apply(input({ key: { code: 'Digit1', down: false } }));
  // an unknown code, twice: ignored, counted twice, logged once
  assert.equal(inj.apply(input({ key: { code: 'NoSuchKey', down: true } })), false);
  assert.equal(inj.apply(input({ key: { code: 'NoSuchKey', down: false } })), false);
  inj.apply(input({ text: { text: 'Hi! ' } }));
  inj.apply(input({ text: { text: 'é Ω\n' } }));
  await xev.waitFor((e) => e.type === 'KeyPress' && e.keysym === 'Return');
  assert.deepEqual(xev.pressed(), [
    'h',
    'Shift_L',
    'I',
    '1',
    ...['Shift_L', 'H', 'i', 'Shift_L', 'exclam', 'space'],
    ...['eacute', 'space', 'U03A9', 'Return'],
  ]);
  assert.equal(inj.unknownKeys, 2);
  assert.deepEqual(warnings, ['unknown key code "NoSuchKey" ignored']);
  assert.deepEqual([...inj.heldKeys], []);
});

test('keys still held when control ends are released', async (t) => {
  const x = await xvfbFor(t);
  const check = await checkDisplay(x.display);
  assert.ok(check.ok);
  const xev = new Xev(x.display, '400x300+0+0');
  t.after(() => xev.stop());
  await xev.waitFor((e) => e.type === 'MapNotify');
  const inj = new X11Injector({ display: x.display, monitors: check.monitors });
  t.after(() => inj.close());
  inj.apply(input({ move: { x: 10, y: 10 } }));
  inj.apply(input({ key: { code: 'ControlLeft', down: true, modifiers: Modifier.CONTROL } }));
  inj.apply(
    input({
      button: { x: 10, y: 10, button: B.POINTER_BUTTON_LEFT, action: A.BUTTON_ACTION_DOWN },
    }),
  );
  assert.deepEqual([...inj.heldKeys], ['ControlLeft']);
  inj.releaseAll();
  await xev.waitFor((e) => e.type === 'KeyRelease' && e.keysym === 'Control_L');
  await xev.waitFor((e) => e.type === 'ButtonRelease' && e.button === 1);
  assert.deepEqual([...inj.heldKeys], []);
});

test('xdotool missing is FERRY_ERR_INPUT_UNAVAILABLE naming the package; events are dropped', () => {
  const inj = new X11Injector({ display: ':0', monitors: [], xdotool: 'ferry-no-such-xdotool' });
  const said: string[] = [];
  inj.on('unavailable', (code, message) => said.push(`${code} ${message}`));
  assert.equal(inj.apply(input({ text: { text: 'x' } })), false);
  assert.equal(inj.apply(input({ text: { text: 'y' } })), false);
  assert.equal(inj.dropped, 2);
  assert.equal(said.length, 1);
  assert.match(said[0]!, /^FERRY_ERR_INPUT_UNAVAILABLE .*apt-get install xdotool/);
});
