/**
 * Browser harness of the console tests: Debian's Chromium driven by playwright-core, headless,
 * with the flags that let a page share its own tab (--auto-accept-this-tab-capture), and helpers
 * that sign a technician in, open a session, join it from the customer page and pick it up.
 * Without Chromium the tests are skipped with a message, except in CI, where they must run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { CustomerClient, type CustomerOptions } from '../../src/clients/customer.js';
import { buildConsole } from '../../src/console/build.js';
import type { Gateway } from '../../src/gateway.js';
import { issueToken } from '../../src/session/tokens.js';
import { ConsoleSite } from '../../src/transport/static.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own window, typed in the browser
declare const window: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own navigator, typed in the browser
declare const navigator: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's media element class, typed in the browser
declare const HTMLMediaElement: any;

export const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';

/** A skip reason when Chromium is missing outside CI; in CI a missing browser fails the tests. */
export const SKIP: string | false =
  !fs.existsSync(CHROMIUM) && !process.env.CI
    ? `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set FERRY_CHROMIUM): browser tests skipped`
    : false;

/** Where screenshots go: FERRY_SCREENSHOTS_DIR (docs/img for the README), else a temp folder. */
export const SHOTS =
  process.env.FERRY_SCREENSHOTS_DIR ?? path.join(os.tmpdir(), 'ferry-console-shots');

export async function ensureBundle(): Promise<void> {
  if (!ConsoleSite.load().built) await buildConsole();
}

/** Headless Chromium with the tab-capture flags, and `extraArgs` after them (test/web). */
export async function launch(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--auto-accept-this-tab-capture', ...extraArgs],
  });
}

/** Each page's console messages and uncaught errors, for failure messages. */
const logs = new WeakMap<Page, string[]>();

/** A page that fails the test on an uncaught error and keeps the console log for messages. */
export async function newPage(browser: Browser, t: TestContext): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: 1280, height: 760 },
  });
  t.after(() => context.close());
  const page = await context.newPage();
  const log: string[] = [];
  logs.set(page, log);
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => log.push(`pageerror: ${err.message}`));
  t.after(() => {
    if (log.some((l) => l.startsWith('pageerror'))) {
      throw new Error(`the page threw:\n${log.join('\n')}`);
    }
  });
  return page;
}

/**
 * The customer page shares its own tab: clicks Share and waits until it is sharing. When it does
 * not (the browser refused the capture, the gateway refused the start, the video never played),
 * the failure carries the page's notice and console log instead of a bare timeout.
 */
export async function shareTab(customer: Page, timeout = 30_000): Promise<void> {
  // where the page's start of sharing got to, for a failure: the browser's capture, the video
  await customer.evaluate(() => {
    const trace: string[] = [];
    window.shareTrace = trace;
    const at = () => `${Math.round(performance.now())} ms`;
    const media = navigator.mediaDevices;
    const ask = media.getDisplayMedia.bind(media);
    media.getDisplayMedia = (options: unknown) => {
      trace.push(`getDisplayMedia asked ${at()}`);
      return ask(options).then(
        // biome-ignore lint/suspicious/noExplicitAny: a MediaStream, typed in the browser
        (stream: any) => {
          const track = stream.getVideoTracks()[0];
          trace.push(`getDisplayMedia gave ${track?.readyState} ${track?.label} ${at()}`);
          track?.addEventListener('ended', () => trace.push(`track ended ${at()}`));
          return stream;
        },
        (err: Error) => {
          trace.push(`getDisplayMedia refused ${err.name}: ${err.message} ${at()}`);
          throw err;
        },
      );
    };
    const play = HTMLMediaElement.prototype.play;
    // biome-ignore lint/suspicious/noExplicitAny: the media element, typed in the browser
    HTMLMediaElement.prototype.play = function (this: any) {
      trace.push(`play asked ${at()}`);
      this.addEventListener('loadedmetadata', () => trace.push(`video metadata ${at()}`));
      return play.call(this).then(
        () => void trace.push(`play started ${this.videoWidth}x${this.videoHeight} ${at()}`),
        (err: Error) => {
          trace.push(`play refused ${err.name}: ${err.message} ${at()}`);
          throw err;
        },
      );
    };
  });
  // an error notice counts only if it is new: not one left from before the click
  const before = await customer.evaluate(() => document.getElementById('notice')?.textContent);
  await customer.click('#share');
  try {
    await customer.waitForFunction(
      (earlier: string | undefined) => {
        const notice = document.getElementById('notice');
        return (
          document.body.dataset.sharing === 'yes' ||
          (notice?.dataset.kind === 'error' && notice.textContent !== earlier)
        );
      },
      before,
      { timeout },
    );
  } catch (err) {
    throw new Error(`the customer page did not start sharing: ${await pageState(customer)}`, {
      cause: err,
    });
  }
  const sharing = await customer.evaluate(() => document.body.dataset.sharing === 'yes');
  if (!sharing) {
    throw new Error(`the customer page refused to share: ${await pageState(customer)}`);
  }
}

/** The page's notice, sharing state and console log, for a failure message. */
async function pageState(page: Page): Promise<string> {
  const state = await page
    .evaluate(() => ({
      notice: document.getElementById('notice')?.textContent ?? '',
      sharing: document.body.dataset.sharing ?? '',
      quality: document.getElementById('share-quality')?.textContent ?? '',
      visibility: document.visibilityState,
      focus: document.hasFocus(),
      trace: window.shareTrace ?? [],
    }))
    .catch((err: unknown) => ({ error: String(err) }));
  return `${JSON.stringify(state)}\n${(logs.get(page) ?? []).join('\n')}`;
}

/**
 * A fixed box over the customer's tab with `style`, above the page and letting clicks through;
 * with `flip`, its colour alternates between the two every 100 ms.
 */
async function addBox(
  page: Page,
  style: Record<string, string>,
  flip?: readonly [string, string],
): Promise<void> {
  await page.evaluate(
    ([st, colours]) => {
      const el = document.createElement('div');
      Object.assign(el.style, { position: 'fixed', pointerEvents: 'none', ...st });
      document.body.append(el);
      if (colours === undefined) return;
      let n = 0;
      window.setInterval(() => {
        n++;
        el.style.background = colours[n % 2]!;
      }, 100);
    },
    [style, flip] as const,
  );
}

/**
 * A square in the bottom-right corner of the customer's tab that changes colour 10 times a
 * second. A tab that captures itself gets a frame only when it repaints, and under load
 * Chromium's capturer may lose the one repaint a still change makes (seen in CI: the technician's
 * canvas kept the white page for 10 s); a live surface, like a real screen, keeps frames coming.
 */
export function animate(page: Page): Promise<void> {
  return addBox(
    page,
    { right: '0', bottom: '0', width: '120px', height: '120px', zIndex: '1001' },
    ['rgb(255,255,0)', 'rgb(0,255,255)'],
  );
}

/** A block over the top left of the customer's tab (half its width, 60% of its height) in `colour`. */
export function paintBlock(page: Page, colour: string): Promise<void> {
  return addBox(page, {
    left: '0',
    top: '0',
    width: '50vw',
    height: '60vh',
    background: colour,
    zIndex: '1000',
  });
}

export function base(gateway: Gateway): string {
  return `http://127.0.0.1:${gateway.port}`;
}

/** Opens the console signed in as `name` (token in the URL fragment). */
export async function signIn(page: Page, gateway: Gateway, name = 'tech-1'): Promise<void> {
  const token = issueToken(gateway.config.secret, name, 3600);
  await page.goto(`${base(gateway)}/#token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#new-session');
  // the token leaves the address bar at once
  if (page.url().includes('token=')) throw new Error('the token stayed in the URL');
}

/** Creates a session in the console; returns its PIN. */
export async function createSession(page: Page): Promise<string> {
  await page.click('#new-session');
  await page.waitForFunction(
    () => (document.getElementById('session-pin')?.textContent ?? '') !== '',
  );
  return (await page.textContent('#session-pin')) ?? '';
}

/** The customer page joins with `pin` (sharing offers this very tab). */
export async function join(
  page: Page,
  gateway: Gateway,
  pin: string,
  name = 'Alice',
): Promise<void> {
  await page.goto(`${base(gateway)}/join/${pin}#share=this-tab`);
  await page.fill('#customer-name', name);
  await page.click('#join-button');
  await page.waitForSelector('#share');
}

/** The technician picks the waiting session up from its queue. */
export async function pickUp(page: Page): Promise<void> {
  await page.click('[data-action="pick-up"]');
  await page.waitForFunction(() => document.body.dataset.status === 'active');
}

/**
 * The signed-in console `tech` creates a session, a Node customer (`options`) joins it at
 * `url`, and the console picks it up from its queue.
 */
export async function pickUpNativeCustomer(
  t: TestContext,
  tech: Page,
  url: string,
  options: Omit<CustomerOptions, 'url' | 'pin'>,
): Promise<{ customer: CustomerClient; pin: string; sessionId: string }> {
  const pin = await createSession(tech);
  const sessionId = (await tech.textContent('#session-id')) ?? '';
  const customer = new CustomerClient({ url, pin, ...options });
  t.after(() => customer.close());
  await customer.connect();
  await tech.click('#refresh-queue');
  await pickUp(tech);
  return { customer, pin, sessionId };
}

/** The console asks for VIEW and CONTROL, starts the screen and waits for its first frame. */
export async function controlAndShare(tech: Page): Promise<void> {
  await tech.click('#ask-consent');
  await tech.waitForFunction(
    () => document.getElementById('granted')?.textContent === 'view, control',
  );
  await tech.click('#start-share');
  await tech.waitForFunction(
    () => document.querySelector('.screen')?.getAttribute('data-control') === 'on',
  );
  await tech.waitForFunction(
    () => Number(document.querySelector('.screen')?.getAttribute('data-frames') ?? 0) > 0,
  );
}

export async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}
