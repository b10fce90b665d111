/**
 * The direct path between the browser pages (docs/direct-path.md): the technician console and
 * the customer page, both opened with `?direct=1`, in headless Chromium against a real gateway.
 * - the gateway reports the path up and flowing (the P2P flag), the console's badge says
 *   "Direct (peer-to-peer)" and its Network Statistics show P2P "yes";
 * - the console keeps painting the shared tab while the gateway's SCREEN counters stand still;
 * - clicks and keys on the console's canvas reach the customer page on the data channel, with no
 *   INPUT frame through the relay.
 *
 * Chromium never offers 127.0.0.1 candidates and hides host addresses behind mDNS names
 * (../shared/RECIPES.md), so the test runs, gateway and browser included, in a private network
 * namespace of its own with a veth pair (198.18.0.1/24, both ends inside): the file re-runs
 * itself under `unshare -n` (root only; skipped with the reason otherwise), Chromium runs with
 * `--disable-features=WebRtcHideLocalIpsWithMdns`, and the gateway passes on candidates in
 * 198.18.0.0/24 only. No packet can leave the namespace. The pages are served from
 * http://198.18.0.1, which Chromium is told to treat as a secure origin (getDisplayMedia needs
 * one).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  animate,
  ensureBundle,
  launch,
  newPage,
  paintBlock,
  SKIP,
  shareTab,
  shot,
} from '../console/browser.js';
import { startGateway } from '../integration/harness.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own window, typed in the browser
declare const window: any;

const SCREEN = ferry.v1.Channel.CHANNEL_SCREEN;
const INPUT = ferry.v1.Channel.CHANNEL_INPUT;
const ADDRESS = '198.18.0.1';
const NETWORK = '198.18.0.0/24';
const INSIDE = process.env.FERRY_NETNS === '1';
const THIS_FILE = fileURLToPath(import.meta.url);

/** The namespace: a veth pair with both ends inside, and a default route for Chromium's ICE. */
const NETNS_SETUP = [
  'set -e',
  'ip link set lo up',
  'ip link add v0 type veth peer name v1',
  `ip addr add ${ADDRESS}/24 dev v0`,
  'ip link set v0 up',
  'ip link set v1 up',
  'ip route add default via 198.18.0.2 dev v0',
].join('; ');

function found(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Why the namespace cannot be made here, or false. */
function namespaceSkip(): string | false {
  if (SKIP) return SKIP;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'not root: the browser direct-path test needs a private network namespace (unshare -n)';
  }
  for (const command of ['unshare', 'ip', 'bash']) {
    if (!found(command)) return `${command} not found: the browser direct-path test is skipped`;
  }
  const probe = spawnSync('unshare', ['-n', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0 && !process.env.CI) {
    return `unshare -n fails here (${(probe.stderr || probe.error?.message || '').trim()}): skipped`;
  }
  return false;
}

if (!INSIDE) {
  test('the browser direct-path test, run inside a private network namespace', {
    skip: namespaceSkip(),
    timeout: 240_000,
  }, async (t) => {
    // a fresh test runner in there (NODE_TEST_CONTEXT would make it refuse to run the file);
    // its report goes to stderr: this file's stdout is its own runner's channel
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_NETNS: '1' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(
      'unshare',
      [
        '-n',
        'bash',
        '-c',
        `${NETNS_SETUP}; exec "$0" --test --test-reporter=tap "$1"`,
        process.execPath,
        THIS_FILE,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // a run cut short: playwright closes its Chromium on SIGTERM
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    let report = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      report += chunk;
      process.stderr.write(chunk);
    });
    child.stderr.pipe(process.stderr, { end: false });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c));
    });
    assert.equal(code, 0, 'the test inside the namespace failed (its output is above)');
    // it ran, rather than skipped itself
    assert.match(report, /^# pass [1-9]/m, 'the test inside the namespace passed');
    assert.match(report, /^# fail 0$/m);
  });
} else {
  test('the console and the customer page go direct: the relay stops carrying SCREEN and INPUT, the badge and the P2P flag say so', {
    skip: SKIP,
    timeout: 180_000,
  }, async (t) => {
    await ensureBundle();
    const { gateway } = await startGateway(t, {
      host: ADDRESS,
      p2pNetworks: NETWORK,
      statsIntervalMs: 1000,
    });
    const origin = `http://${ADDRESS}:${gateway.port}`;
    const browser: Browser = await launch([
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      // getDisplayMedia needs a secure context; http on 198.18.0.1 is not one by default
      `--unsafely-treat-insecure-origin-as-secure=${origin}`,
    ]);
    t.after(() => browser.close());
    const tech = await newPage(browser, t);
    const customer = await newPage(browser, t);
    // the console's Content-Security-Policy does not stand in the way of the data channel
    const violations: string[] = [];
    for (const page of [tech, customer]) {
      page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
      });
    }

    // the console, signed in, with the direct path asked for
    const token = issueToken(gateway.config.secret, 'tech-1', 3600);
    await tech.goto(`${origin}/?direct=1#token=${encodeURIComponent(token)}`);
    await tech.waitForSelector('#new-session');
    assert.equal(new URL(tech.url()).search, '?direct=1', 'the query stays, the token goes');
    await tech.click('#new-session');
    await tech.waitForFunction(
      () => (document.getElementById('session-pin')?.textContent ?? '') !== '',
    );
    const pin = (await tech.textContent('#session-pin')) ?? '';
    const sessionId = (await tech.textContent('#session-id')) ?? '';

    // the customer page joins, with the direct path asked for
    await customer.goto(`${origin}/join/${pin}?direct=1#share=this-tab`);
    await customer.fill('#customer-name', 'Alice');
    await customer.click('#join-button');
    await customer.waitForSelector('#share');
    await tech.click('[data-action="pick-up"]');
    await tech.waitForFunction(() => document.body.dataset.status === 'active');

    // VIEW and CONTROL granted (control is not ticked by default on the page)
    await tech.click('#ask-consent');
    await customer.waitForSelector('.prompt button.allow');
    await customer.check('.prompt [data-ask="control"]');
    await customer.click('.prompt button.allow');
    await tech.waitForFunction(
      () => document.getElementById('granted')?.textContent === 'view, control',
    );
    await tech.waitForFunction(
      () => document.querySelector('.screen')?.getAttribute('data-control') === 'on',
    );

    // the customer shares its own tab, with something that changes all the time
    await shareTab(customer);
    await animate(customer);
    await tech.waitForFunction(
      () => Number(document.querySelector('.screen')?.getAttribute('data-frames') ?? 0) > 0,
    );

    // (a) the path comes up: the gateway's flag, the console's badge, the P2P column
    await until('the gateway reports one flowing direct path', 30_000, () => {
      return gateway.relay.direct.flowingCount() === 1;
    });
    assert.equal(gateway.relay.direct.upCount, 1);
    await tech.waitForFunction(() => document.body.dataset.direct === 'direct', undefined, {
      timeout: 15_000,
    });
    assert.equal(await tech.textContent('#direct-status'), 'Direct (peer-to-peer)');
    assert.equal(await tech.getAttribute('#direct-status', 'data-state'), 'direct');
    await customer.waitForFunction(() => window.ferryDirect?.stats().gatewayState === 2);
    await tech.waitForFunction(
      () =>
        [...document.querySelectorAll('#netstats tbody tr')].some(
          (tr) => tr.lastElementChild?.textContent === 'yes',
        ),
      undefined,
      { timeout: 15_000 },
    );

    // (b) frames keep coming, none through the relay
    const session = gateway.registry.get(sessionId);
    assert.ok(session, `session ${sessionId} on the gateway`);
    const relayOut = gateway.router.stats.outFrames[SCREEN]!;
    const relayIn = gateway.router.stats.inFrames[SCREEN]!;
    const relayedScreen = session.relayedFrames[SCREEN]!;
    const [paintedBefore, tilesBefore] = await tech.evaluate(() => [
      Number(document.querySelector('.screen')?.getAttribute('data-frames') ?? 0),
      window.ferryDirect.stats().framesReceived,
    ]);
    // ten more frames painted, and ten more SCREEN frames (tiles) come on the channel
    await tech.waitForFunction(
      ([painted, received]) =>
        Number(document.querySelector('.screen')?.getAttribute('data-frames') ?? 0) >=
          painted + 10 && window.ferryDirect.stats().framesReceived >= received + 10,
      [paintedBefore, tilesBefore],
      { timeout: 20_000 },
    );
    const directAfter = await directStats(tech);
    assert.equal(directAfter.refused, 0, 'the console took every frame of the channel');
    assert.equal(
      gateway.router.stats.outFrames[SCREEN],
      relayOut,
      'the relay forwarded no SCREEN frame',
    );
    assert.equal(session.relayedFrames[SCREEN], relayedScreen, 'the session relayed no SCREEN');
    assert.equal(
      gateway.router.stats.inFrames[SCREEN],
      relayIn,
      'the customer sent no SCREEN frame on the relay (no other technician watches)',
    );
    // and they are the shared tab: a colour put on it now shows on the console
    await paintBlock(customer, 'rgb(0,0,255)');
    await waitForPixel(tech, 0.1, 0.1, [0, 0, 255]);
    assert.equal(gateway.router.stats.outFrames[SCREEN], relayOut);
    await shot(tech, 'console-direct.png');

    // (c) input from the console reaches the customer page on the channel, not the relay
    const inputRelayed = session.relayedFrames[INPUT]!;
    const inputIn = gateway.router.stats.inFrames[INPUT]!;
    const customerBefore = await directStats(customer);
    const receivedBefore = await inputReceived(customer);
    const canvas = tech.locator('canvas.monitor:not([hidden])');
    const box = await canvas.boundingBox();
    assert.ok(box, 'the console shows a canvas');
    await tech.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await tech.keyboard.type('ab');
    // a click (down, up) and two keys (down, up each), at least
    await customer.waitForFunction(
      (n) => Number(document.body.dataset.inputReceived ?? 0) >= n,
      receivedBefore + 6,
      { timeout: 10_000 },
    );
    const customerAfter = await directStats(customer);
    assert.ok(
      customerAfter.framesReceived - customerBefore.framesReceived >= 6,
      `INPUT frames came on the channel: ${JSON.stringify(customerAfter)}`,
    );
    assert.equal(customerAfter.refused, 0, 'none refused: CONTROL is granted');
    assert.equal(session.relayedFrames[INPUT], inputRelayed, 'no INPUT frame through the relay');
    assert.equal(gateway.router.stats.inFrames[INPUT], inputIn, 'the console sent none there');
    assert.equal(gateway.relay.direct.flowingCount(), 1, 'the path held all along');
    assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  });
}

interface PageDirectStats {
  state: string;
  gatewayState: number;
  framesSent: number;
  framesReceived: number;
  refused: number;
}

function directStats(page: Page): Promise<PageDirectStats> {
  return page.evaluate(() => window.ferryDirect.stats());
}

async function inputReceived(page: Page): Promise<number> {
  return Number(await page.evaluate(() => document.body.dataset.inputReceived ?? 0));
}

/** Polls `check` every 50 ms until it holds; fails with `what` after `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForPixel(page: Page, fx: number, fy: number, want: number[]): Promise<void> {
  await page.waitForFunction(
    ([x, y, r, g, b]) => {
      const c = document.querySelector('canvas.monitor:not([hidden])');
      if (c === null) return false;
      const d = c
        .getContext('2d')
        .getImageData(Math.floor(c.width * x), Math.floor(c.height * y), 1, 1).data;
      return Math.abs(d[0] - r) <= 40 && Math.abs(d[1] - g) <= 40 && Math.abs(d[2] - b) <= 40;
    },
    [fx, fy, ...want],
    { timeout: 10_000 },
  );
}
