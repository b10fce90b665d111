/**
 * The web console in a real browser (headless Chromium) against a real gateway on port 0: the
 * technician console and the customer page pair, chat both ways with history for a late joiner,
 * the customer shares its own tab and the technician's canvas shows its colours, a revocation
 * blanks the canvas, and with the native Node customer clicks and typing on the canvas arrive as
 * InputEvents in the customer's screen space (and none without the control grant).
 */
import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway } from '../integration/harness.js';
import {
  animate,
  controlAndShare,
  createSession,
  ensureBundle,
  join,
  launch,
  newPage,
  pickUp,
  pickUpNativeCustomer,
  SKIP,
  shareTab,
  shot,
  signIn,
} from './browser.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;

let browser: Browser;

before(async () => {
  if (SKIP) return;
  await ensureBundle();
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The pixel at (fx, fy) (fractions of the monitor) of the technician's shown canvas. */
function pixel(page: Page, fx: number, fy: number): Promise<number[]> {
  return page.evaluate(
    ([x, y]) => {
      const c = document.querySelector('canvas.monitor:not([hidden])');
      if (c === null) return [-1, -1, -1];
      const ctx = c.getContext('2d');
      const d = ctx!.getImageData(Math.floor(c.width * x!), Math.floor(c.height * y!), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!];
    },
    [fx, fy],
  );
}

async function waitForPixel(page: Page, fx: number, fy: number, want: number[]): Promise<void> {
  try {
    await page.waitForFunction(
      ([x, y, r, g, b]) => {
        const c = document.querySelector('canvas.monitor:not([hidden])');
        if (c === null) return false;
        const d = c
          .getContext('2d')!
          .getImageData(Math.floor(c.width * x!), Math.floor(c.height * y!), 1, 1).data;
        return (
          Math.abs(d[0]! - r!) <= 40 && Math.abs(d[1]! - g!) <= 40 && Math.abs(d[2]! - b!) <= 40
        );
      },
      [fx, fy, ...want],
      { timeout: 10_000 },
    );
  } catch (err) {
    assert.fail(
      `pixel at ${fx},${fy} is ${await pixel(page, fx, fy)}, expected about ${want}: ${err}`,
    );
  }
}

/**
 * Puts three coloured blocks over the top part of the customer's page, with a live square below
 * them (`animate`: the shared tab keeps repainting, so a lost repaint is followed by others).
 */
async function paintBlocks(page: Page): Promise<void> {
  await animate(page);
  await page.evaluate(() => {
    const colours = ['rgb(255,0,0)', 'rgb(0,200,0)', 'rgb(0,0,255)'];
    const host = document.createElement('div');
    host.id = 'blocks';
    Object.assign(host.style, {
      position: 'fixed',
      left: '0',
      top: '0',
      width: '100vw',
      height: '60vh',
      display: 'flex',
      zIndex: '1000',
      pointerEvents: 'none',
    });
    for (const c of colours) {
      const b = document.createElement('div');
      Object.assign(b.style, { flex: '1', background: c });
      host.append(b);
    }
    document.body.append(host);
  });
}

test('a technician console and a customer page pair; chat goes both ways and a late joiner sees the history', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await newPage(browser, t);
  const customer = await newPage(browser, t);
  await signIn(tech, gateway, 'tech-1');
  const pin = await createSession(tech);
  assert.match(pin, /^\d{6,18}$/);
  assert.equal(
    await tech.getAttribute('#customer-link', 'href'),
    `http://127.0.0.1:${gateway.port}/join/${pin}`,
  );
  await join(customer, gateway, pin);
  await pickUp(tech);
  await customer.waitForFunction(() =>
    (document.getElementById('technicians')?.textContent ?? '').includes('tech-1'),
  );
  // chat both ways
  await tech.fill('#chat-input', 'hello from the technician');
  await tech.click('#chat-send');
  await customer.waitForSelector('.chat-msg:has-text("hello from the technician")');
  await customer.fill('#chat-input', 'hello from the customer');
  await customer.click('#chat-send');
  await tech.waitForSelector('.chat-msg:has-text("hello from the customer")');
  // a private technician message never reaches the customer
  await tech.fill('#chat-input', 'for technicians only');
  await tech.check('#chat-private');
  await tech.click('#chat-send');
  await tech.waitForSelector('.chat-msg.private:has-text("for technicians only")');
  // a second technician, invited later, sees the history
  const tech2 = await newPage(browser, t);
  await signIn(tech2, gateway, 'tech-2');
  await tech.fill('#target-tech', 'tech-2');
  await tech.click('#invite');
  await tech2.click('#refresh-queue');
  await tech2.click('[data-action="accept"]');
  await tech2.waitForSelector('.chat-msg:has-text("hello from the technician")');
  await tech2.waitForSelector('.chat-msg:has-text("hello from the customer")');
  await tech2.waitForSelector('.chat-msg.private:has-text("for technicians only")');
  assert.equal(await customer.locator('.chat-msg:has-text("for technicians only")').count(), 0);
});

/** A technician console and a customer page in one session, the customer's view granted. */
async function viewGranted(t: TestContext): Promise<{ tech: Page; customer: Page }> {
  const { gateway } = await startGateway(t);
  const tech = await newPage(browser, t);
  const customer = await newPage(browser, t);
  await signIn(tech, gateway);
  const pin = await createSession(tech);
  await join(customer, gateway, pin);
  await pickUp(tech);
  await tech.click('#ask-consent');
  await customer.waitForSelector('.prompt button.allow');
  await customer.click('.prompt button.allow');
  await tech.waitForFunction(() => document.getElementById('granted')?.textContent === 'view');
  return { tech, customer };
}

test('the customer page shares its tab: the technician canvas shows its colours in place, and a revocation blanks it', {
  skip: SKIP,
}, async (t) => {
  const { tech, customer } = await viewGranted(t);
  await shareTab(customer);
  // drawn from the track's frames as they come (they keep coming in a page left in the
  // background, where timers slow down and a muted video pauses)
  assert.equal(
    await customer.evaluate(() => document.getElementById('share-quality')?.dataset.capture),
    'track-frames',
  );
  await shot(customer, 'console-customer.png');
  await paintBlocks(customer);
  // red, green, blue thirds across the top 60% of the shared tab
  await waitForPixel(tech, 1 / 6, 0.3, [255, 0, 0]);
  await waitForPixel(tech, 3 / 6, 0.3, [0, 200, 0]);
  await waitForPixel(tech, 5 / 6, 0.3, [0, 0, 255]);
  assert.match((await tech.textContent('#screen-stats')) ?? '', /fps/);
  await shot(tech, 'console-technician.png');
  // revocation: the canvas goes black at once and says why
  await customer.click('#revoke-all');
  await tech.waitForFunction(() => document.getElementById('granted')?.textContent === 'nothing');
  assert.deepEqual(await pixel(tech, 1 / 6, 0.3), [0, 0, 0]);
  assert.deepEqual(await pixel(tech, 5 / 6, 0.3), [0, 0, 0]);
  assert.match((await tech.textContent('#screen-overlay')) ?? '', /not granted screen view/);
  await customer.waitForFunction(() => document.body.dataset.sharing === 'no');
});

test('sharing begins when the video never gets its first frame, and the frames still reach the technician', {
  skip: SKIP,
}, async (t) => {
  const { tech, customer } = await viewGranted(t);
  // a tab that shares itself and lost its first frame: the video plays, but its play() never
  // settles (a stub that did not start playback would leave the video-element path, where the
  // browser has no track processor, with a paused video: a different case)
  await customer.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's media element class
    const proto = (globalThis as any).HTMLMediaElement.prototype;
    const play = proto.play;
    proto.play = function (this: unknown) {
      play.call(this).catch(() => undefined);
      return new Promise(() => undefined);
    };
  });
  await shareTab(customer, 10_000);
  await paintBlocks(customer);
  await waitForPixel(tech, 1 / 6, 0.3, [255, 0, 0]);
  await waitForPixel(tech, 5 / 6, 0.3, [0, 0, 255]);
});

test('with the native customer, clicks and typing on the canvas arrive as mapped InputEvents, and none without control', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await newPage(browser, t);
  await signIn(tech, gateway);
  const { customer } = await pickUpNativeCustomer(t, tech, `ws://127.0.0.1:${gateway.port}/v1/ws`, {
    name: 'Native',
    consent: ['view', 'control'],
    screen: { width: 1280, height: 720, tileBytes: 64 },
  });
  await controlAndShare(tech);
  await tech.waitForFunction(
    () => document.querySelector('.screen')?.getAttribute('data-control') === 'on',
  );
  const inputs: ferry.v1.InputEvent[] = [];
  customer.on('input', (i) => inputs.push(i));
  const canvas = tech.locator('canvas.monitor:not([hidden])');
  const box = await canvas.boundingBox();
  assert.ok(box);
  // a click a quarter across and half down: monitor pixel (320, 360) of 1280x720
  const typed = waitFor(customer, 'input', (i) => i.key?.code === 'KeyB' && !i.key.down);
  await tech.mouse.click(box.x + box.width / 4, box.y + box.height / 2);
  await tech.keyboard.type('ab');
  await typed;
  const buttons = inputs.filter((i) => i.button);
  assert.equal(buttons.length, 2);
  const down = buttons[0]!.button!;
  assert.equal(down.action, ferry.v1.ButtonAction.BUTTON_ACTION_DOWN);
  assert.equal(down.button, ferry.v1.PointerButton.POINTER_BUTTON_LEFT);
  assert.ok(Math.abs(down.x! - 320) <= 2, `x ${down.x}`);
  assert.ok(Math.abs(down.y! - 360) <= 2, `y ${down.y}`);
  const keys = inputs.filter((i) => i.key).map((i) => `${i.key!.code}${i.key!.down ? '+' : '-'}`);
  assert.deepEqual(keys, ['KeyA+', 'KeyA-', 'KeyB+', 'KeyB-']);
  // seq grows by one per event
  for (let i = 1; i < inputs.length; i++) assert.ok(inputs[i]!.seq > inputs[i - 1]!.seq);
  // without control: the canvas says view only and sends nothing
  await customer.revoke(['control']);
  await tech.waitForFunction(
    () => document.querySelector('.screen')?.getAttribute('data-control') === 'off',
  );
  const before = inputs.length;
  await tech.mouse.click(box.x + 10, box.y + 10);
  await tech.keyboard.type('zz');
  // a chat message sent after them arrives after anything they would have sent
  const marker = waitFor(customer, 'chat', (c) => c.text === 'marker');
  await tech.fill('#chat-input', 'marker');
  await tech.click('#chat-send');
  await marker;
  assert.equal(inputs.length, before);
  assert.match((await tech.textContent('#screen-stats')) ?? '', /view only/);
});
