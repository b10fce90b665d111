/**
 * The console's tools and robustness in a real browser (headless Chromium) against a real gateway
 * on port 0, with the native Node customer client: a shell in an xterm terminal runs a command and
 * shows its output (and the page reports no Content-Security-Policy violation), a file upload
 * shows progress and its SHA-256 matches what the customer received (a fetched file is checked
 * too), the "poor network" notice
 * rises and clears as a delaying proxy on the customer's leg slows down and recovers, and bad
 * SCREEN tiles are dropped with a counted warning while good ones still paint.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { CustomerClient, CustomerOptions } from '../../src/clients/customer.js';
import type { PermissionName } from '../../src/clients/permissions.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway } from '../integration/harness.js';
import { ensureBundle, launch, newPage, pickUpNativeCustomer, SKIP, signIn } from './browser.js';

/** In-page callbacks run in the browser, where `document` and `window` exist. */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own window, typed in the browser
declare const window: any;

let browser: Browser;

before(async () => {
  if (SKIP) return;
  await ensureBundle();
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** Records every Content-Security-Policy violation of the page in `window.cspViolations`. */
async function watchCsp(page: Page): Promise<void> {
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener(
      'securitypolicyviolation',
      (e: {
        violatedDirective: string;
        blockedURI: string;
        sourceFile: string;
        lineNumber: number;
        sample: string;
      }) => {
        window.cspViolations.push(
          `${e.violatedDirective}: ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`,
        );
      },
    );
  });
}

/**
 * A technician console signed in, a native customer joined (through `url` when given) and the
 * session picked up, with `ask` granted.
 */
async function session(
  t: TestContext,
  gateway: Gateway,
  ask: PermissionName[],
  options: Partial<CustomerOptions> = {},
  url = `ws://127.0.0.1:${gateway.port}/v1/ws`,
): Promise<{ tech: Page; customer: CustomerClient }> {
  const tech = await newPage(browser, t);
  await watchCsp(tech);
  await signIn(tech, gateway);
  const { customer } = await pickUpNativeCustomer(t, tech, url, {
    name: 'Native',
    consent: ask,
    ...options,
  });
  for (const p of ['view', 'control', 'sysinfo', 'shell', 'file'] as const) {
    if (ask.includes(p)) await tech.check(`#ask-${p}`);
    else await tech.uncheck(`#ask-${p}`);
  }
  await tech.click('#ask-consent');
  await tech.waitForFunction(
    (want) => document.getElementById('granted')?.textContent === want,
    ask.join(', '),
  );
  return { tech, customer };
}

test('a shell in xterm runs a command and shows its output, a file upload shows progress and its SHA-256 matches, and a fetched file is verified', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-console-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { tech, customer } = await session(t, gateway, ['view', 'shell', 'file'], {
    shells: {},
    files: { dir },
  });
  // shell 1 (sh: the machine's own bash start-up files do not slow the test): type a command
  // whose output differs from its echo
  await tech.selectOption('#shell-kind', 'sh');
  const hostOut: string[] = [];
  customer.shells.host.on('output', (_id, chunk) => hostOut.push(String(chunk)));
  await tech.click('#new-shell');
  await tech.waitForSelector('.shell-tab[data-shell="1"]');
  await tech.click('.shell-pane[data-shell="1"] .xterm-screen');
  await tech.keyboard.type('echo ferry-$((40+2))');
  await tech.keyboard.press('Enter');
  const screenText = () =>
    tech.evaluate(
      () => document.querySelector('.shell-pane[data-shell="1"] .xterm-rows')?.textContent ?? '',
    );
  try {
    await tech.waitForFunction(
      () =>
        (
          document.querySelector('.shell-pane[data-shell="1"] .xterm-rows')?.textContent ?? ''
        ).includes('ferry-42'),
      undefined,
      { timeout: 10_000 },
    );
  } catch (err) {
    assert.fail(
      `the terminal shows ${JSON.stringify(await screenText())} (the shell wrote ${JSON.stringify(hostOut.join(''))}): ${err}`,
    );
  }
  // several at once: a second tab gets shell 2
  await tech.click('#new-shell');
  await tech.waitForSelector('.shell-tab[data-shell="2"]');
  assert.equal(await tech.locator('.shell-tab').count(), 2);
  // xterm's styles went through the CSSOM: the policy saw nothing inline
  assert.deepEqual(await tech.evaluate(() => window.cspViolations), []);
  // xterm's own rules (theme, cell sizes) apply through adopted stylesheets
  assert.equal(
    await tech.evaluate(
      () =>
        window.getComputedStyle(
          document.querySelector('.shell-pane[data-shell="1"] .xterm-rows span'),
        ).display,
    ),
    'inline-block',
  );
  // the terminal is styled by the bundled xterm.css (its helper textarea is hidden off-screen)
  assert.equal(
    await tech.evaluate(
      () => window.getComputedStyle(document.querySelector('.xterm-helper-textarea')).position,
    ),
    'absolute',
  );

  // upload: progress, rate and the digest the customer checked
  const content = randomBytes(700 * 1024);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const local = path.join(os.tmpdir(), `ferry-upload-${process.pid}.bin`);
  fs.writeFileSync(local, content);
  t.after(() => fs.rmSync(local, { force: true }));
  const received = new Promise<{ path: string; sha256: string }>((resolve) =>
    customer.files!.on('received', (_id, file) => resolve(file)),
  );
  await tech.setInputFiles('#file-upload', local);
  await tech.waitForSelector('.transfer[data-direction="upload"][data-state="verified"]', {
    timeout: 10_000,
  });
  const file = await received;
  assert.equal(file.sha256, sha256);
  assert.equal(createHash('sha256').update(fs.readFileSync(file.path)).digest('hex'), sha256);
  assert.equal(
    await tech.getAttribute('.transfer[data-direction="upload"]', 'data-sha256'),
    sha256,
  );
  const bar = await tech.evaluate(() => {
    const p = document.querySelector('.transfer[data-direction="upload"] progress');
    return [p.value, p.max];
  });
  assert.deepEqual(bar, [content.length, content.length]);
  assert.match(
    (await tech.textContent('.transfer[data-direction="upload"] .transfer-text')) ?? '',
    /100% · 700 KiB of 700 KiB · [\d.]+ [kM]?bit\/s · verified SHA-256/,
  );

  // download: the console fetches a shared file and checks its digest against the offer
  const shared = randomBytes(200 * 1024);
  fs.writeFileSync(path.join(dir, 'report.bin'), shared);
  await tech.fill('#file-remote-path', 'report.bin');
  await tech.click('#file-fetch');
  await tech.waitForSelector('.transfer[data-direction="download"][data-state="verified"]', {
    timeout: 10_000,
  });
  assert.equal(
    await tech.getAttribute('.transfer[data-direction="download"]', 'data-sha256'),
    createHash('sha256').update(shared).digest('hex'),
  );
  assert.equal(
    await tech.locator('.transfer[data-direction="download"] a.transfer-save').count(),
    1,
  );
  assert.deepEqual(await tech.evaluate(() => window.cspViolations), []);
});

/** A TCP proxy to `port` that holds every chunk, each way, for `delayMs` (order kept). */
async function delayingProxy(t: TestContext, port: number) {
  const state = { delayMs: 0 };
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) => {
    let releaseAt = 0;
    from.on('data', (chunk) => {
      // never before a chunk that came earlier, even when the delay shrinks
      releaseAt = Math.max(Date.now() + state.delayMs, releaseAt);
      const wait = releaseAt - Date.now();
      if (wait <= 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), wait);
    });
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, state };
}

test('the poor network notice appears while the customer leg is slow and clears when it recovers', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t, {
    heartbeatIntervalMs: 100,
    heartbeatStallMs: 2000,
    statsIntervalMs: 200,
  });
  const proxy = await delayingProxy(t, gateway.port);
  const { tech } = await session(t, gateway, ['view'], {}, `ws://127.0.0.1:${proxy.port}/v1/ws`);
  assert.equal(await tech.isVisible('#poor-notice'), false);
  // 250 ms each way: an RTT of about 500 ms, POOR above 300
  proxy.state.delayMs = 250;
  await tech.waitForSelector('#poor-notice', { state: 'visible', timeout: 15_000 });
  assert.match((await tech.textContent('#poor-notice')) ?? '', /Poor network: Native/);
  proxy.state.delayMs = 0;
  await tech.waitForSelector('#poor-notice', { state: 'hidden', timeout: 15_000 });
});

/** A SCREEN frame of monitor 1 (1280x720) with `update`'s fields over a valid 16x16 tile. */
function tileFrame(update: Partial<ferry.v1.ScreenUpdate.$Properties>): Uint8Array {
  return ferry.v1.Frame.encode({
    channel: ferry.v1.Channel.CHANNEL_SCREEN,
    stream: 1,
    screen: {
      x: 0,
      y: 0,
      width: 16,
      height: 16,
      screenWidth: 1280,
      screenHeight: 720,
      encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_RAW_RGBA,
      data: new Uint8Array(16 * 16 * 4),
      frameSeq: 1,
      keyFrame: true,
      lastTile: true,
      captureTimeMs: Date.now(),
      ...update,
    },
  }).finish();
}

test('malformed tiles, tiles outside the screen, an unknown encoding and an oversized screen are dropped with a counted warning, and good tiles still paint', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await session(t, gateway, ['view'], {
    screen: { width: 1280, height: 720 },
  });
  const bad: Partial<ferry.v1.ScreenUpdate.$Properties>[] = [
    // malformed: JPEG bytes that do not decode, a RAW tile of the wrong length
    { encoding: ferry.v1.ScreenEncoding.SCREEN_ENCODING_JPEG, data: randomBytes(300), frameSeq: 2 },
    { data: new Uint8Array(10), frameSeq: 3 },
    // outside the screen
    { x: 1270, y: 0, frameSeq: 4 },
    { x: 0, y: 710, frameSeq: 5 },
    // an unknown encoding
    { encoding: 77 as ferry.v1.ScreenEncoding, frameSeq: 6 },
    // a screen over the size limit
    { screenWidth: 100_000, screenHeight: 100_000, frameSeq: 7 },
  ];
  for (const u of bad) customer.sendRaw(tileFrame(u));
  // a good white tile after them still paints
  customer.sendRaw(
    tileFrame({ x: 32, y: 32, data: new Uint8Array(16 * 16 * 4).fill(255), frameSeq: 8 }),
  );
  await tech.waitForFunction(
    () => Number(document.querySelector('.screen')?.getAttribute('data-frames') ?? 0) >= 1,
  );
  await tech.waitForFunction(() => {
    const d = window.ferryScreen.stats().dropped;
    return Object.values(d).reduce((a: number, b) => a + (b as number), 0) >= 6;
  });
  const dropped = await tech.evaluate(() => window.ferryScreen.stats().dropped);
  assert.deepEqual(dropped, {
    'decode failed': 1,
    'raw size mismatch': 1,
    'outside the screen': 2,
    'unknown encoding': 1,
    'screen size': 1,
  });
  const warning = (await tech.textContent('#screen-warnings')) ?? '';
  assert.match(warning, /dropped tiles: /);
  assert.match(warning, /outside the screen 2/);
  assert.equal(await tech.isVisible('#screen-warnings'), true);
  const px = await tech.evaluate(() => {
    const c = document.querySelector('canvas.monitor[data-monitor="1"]');
    return [...c.getContext('2d').getImageData(40, 40, 1, 1).data];
  });
  assert.deepEqual(px, [255, 255, 255, 255]);
});
