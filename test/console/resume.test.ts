/**
 * The technician console resumes (headless Chromium against real gateways on loopback): a
 * gateway stopped the way that keeps sessions (journals on, EVENT Closing{resume} then 1001) and
 * started again on the same port and data directory gets the console back by itself. The console
 * says "Reconnecting..." meanwhile, shows the session Active again, reads back the chat it missed
 * in flight (a proxy of the test's own drops the console's CHAT frames for one message before the
 * stop, so only the catch-up from the session log can bring it) and shows every line once, and a
 * chat typed after the resume reaches the customer. A reload of the tab takes the place back too,
 * and after a network failure (the proxy cuts the link) the console sends its recent input again,
 * marked `resent`, which the customer recognises and does not apply twice.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { waitFor } from '../../src/clients/client.js';
import { resolveConfig } from '../../src/config/config.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../integration/harness.js';
import { freePort } from '../support/gateway-process.js';
import {
  controlAndShare,
  ensureBundle,
  launch,
  newPage,
  pickUpNativeCustomer,
  SKIP,
  signIn,
} from './browser.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;

const FAST_RETRY = { initialDelayMs: 50, maxDelayMs: 250, giveUpAfterMs: 60_000 };

let browser: Browser;

before(async () => {
  if (SKIP) return;
  await ensureBundle();
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

function start(dataDir: string, port: number): Promise<Gateway> {
  const config = resolveConfig(
    {
      host: '127.0.0.1',
      port,
      adminPort: 0,
      dataDir,
      logLevel: 'silent',
      pinAttemptsPerMinute: 100_000,
      pinAttemptsPerSecond: 100_000,
    },
    {},
  );
  return Gateway.start(config, silentLogger());
}

/**
 * A TCP proxy in front of the gateway's port for the browser (page and WebSocket alike). On a
 * WebSocket connection it reads the gateway's frames (unmasked, uncompressed: the gateway
 * disables permessage-deflate) and, while `dropChat` is set, drops those carrying CHAT: the
 * console never receives them, as if they were in flight when the gateway went away.
 */
async function chatDroppingProxy(t: TestContext, port: number) {
  const state = { dropChat: false, dropped: 0 };
  let onDrop: (() => void) | null = null;
  const sockets = new Set<net.Socket>();
  const chatChannels = new Set<number>([
    ferry.v1.Channel.CHANNEL_CHAT,
    ferry.v1.Channel.CHANNEL_CHAT_PRIVATE,
  ]);
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    const link = (from: net.Socket, to: net.Socket) => {
      from.on('end', () => to.end());
      from.on('close', (hadError) => (hadError ? to.destroy() : to.end()));
      from.on('error', () => to.destroy());
    };
    link(client, upstream);
    link(upstream, client);
    let websocket: boolean | null = null;
    client.on('data', (chunk: Buffer) => {
      websocket ??= /\r\nupgrade:\s*websocket/i.test(chunk.toString('latin1'));
      upstream.write(chunk);
    });
    // gateway -> browser: the 101 answer as it is, then frame by frame
    let pending = Buffer.alloc(0);
    let inFrames = false;
    upstream.on('data', (chunk: Buffer) => {
      if (websocket !== true) {
        client.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      if (!inFrames) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        client.write(pending.subarray(0, end + 4));
        pending = pending.subarray(end + 4);
        inFrames = true;
      }
      for (;;) {
        if (pending.length < 2) return;
        const short = pending[1]! & 0x7f;
        let offset = 2;
        let length = short;
        if (short === 126) {
          if (pending.length < 4) return;
          length = pending.readUInt16BE(2);
          offset = 4;
        } else if (short === 127) {
          if (pending.length < 10) return;
          length = Number(pending.readBigUInt64BE(2));
          offset = 10;
        }
        if (pending.length < offset + length) return;
        const frame = pending.subarray(0, offset + length);
        const payload = frame.subarray(offset);
        pending = pending.subarray(offset + length);
        const binary = (frame[0]! & 0x0f) === 2;
        const chat = binary && payload[0] === 0x08 && chatChannels.has(payload[1]!);
        if (chat && state.dropChat) {
          state.dropped++;
          onDrop?.();
          continue;
        }
        client.write(frame);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    state,
    /** Breaks every connection at once, without a close handshake (a network failure). */
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    /** Resolves once a CHAT frame to the browser has been dropped. */
    nextDrop: () =>
      new Promise<void>((resolve) => {
        onDrop = () => {
          onDrop = null;
          resolve();
        };
      }),
  };
}

function chatTexts(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#chat-log .chat-msg .text')].map(
      (el: { textContent: string }) => el.textContent,
    ),
  );
}

/** Every gateway log entry the view shows, by seq: none may be shown twice. */
function shownSeqs(page: Page): Promise<number[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#chat-log [data-seq]')].map((el: { dataset: { seq: string } }) =>
      Number(el.dataset.seq),
    ),
  );
}

async function sendChat(page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text);
  await page.click('#chat-send');
}

test('the console resumes after a gateway restart on the same port and data directory: Reconnecting, Active again, the chat it missed read back once, and new chat flows', {
  skip: SKIP,
  timeout: 90_000,
}, async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-console-resume-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const gateways: Gateway[] = [await start(dataDir, port)];
  t.after(async () => {
    for (const g of gateways) await g.close('test finished');
  });
  const first = gateways[0]!;
  const proxy = await chatDroppingProxy(t, port);

  // the console reaches the gateway through the proxy; the native customer directly
  const tech = await newPage(browser, t);
  const token = issueToken(first.config.secret, 'tech-1', 3600);
  await tech.goto(`http://127.0.0.1:${proxy.port}/#token=${encodeURIComponent(token)}`);
  await tech.waitForSelector('#new-session');
  assert.equal(await tech.isVisible('[data-testid="reconnecting"]'), false);
  const { customer, sessionId } = await pickUpNativeCustomer(
    t,
    tech,
    `ws://127.0.0.1:${port}/v1/ws`,
    {
      name: 'Alice',
      reconnect: FAST_RETRY,
    },
  );

  // chat both ways
  const heard = waitFor(customer, 'chat', (c) => c.text === 'hello from the console');
  await sendChat(tech, 'hello from the console');
  await heard;
  customer.chat('hi from Alice');
  await tech.waitForSelector('.chat-msg:has-text("hi from Alice")');

  // one message is logged and echoed, but lost in flight to the console
  proxy.state.dropChat = true;
  const dropped = proxy.nextDrop();
  const echoed = waitFor(customer, 'chat', (c) => c.text === 'lost in flight');
  customer.chat('lost in flight');
  await Promise.all([dropped, echoed]);
  proxy.state.dropChat = false;
  assert.equal(await tech.locator('.chat-msg:has-text("lost in flight")').count(), 0);

  // the gateway stops keeping its sessions (Closing{resume} then 1001): the console waits
  const customerBack = waitFor(customer, 'resumed', () => true, 30_000);
  await first.close('upgrade');
  await tech.waitForSelector('[data-testid="reconnecting"]', { state: 'visible' });
  assert.equal(await tech.getAttribute('body', 'data-connection'), 'reconnecting');
  assert.equal(await tech.textContent('#session-status'), 'reconnecting');

  // the same port and data directory: the session is rebuilt and both take their places back
  const second = await start(dataDir, port);
  gateways.push(second);
  assert.equal(second.journals?.counters.restored, 1);
  await customerBack;
  await tech.waitForSelector('[data-testid="reconnecting"]', { state: 'hidden', timeout: 30_000 });
  await tech.waitForFunction(
    () =>
      document.body.dataset.connection === 'online' &&
      document.body.dataset.status === 'active' &&
      document.getElementById('session-status')?.textContent === 'active',
    undefined,
    { timeout: 30_000 },
  );
  assert.equal(await tech.getAttribute('body', 'data-resumed'), 'yes');
  assert.equal(await tech.textContent('#session-id'), sessionId);
  const session = second.registry.get(sessionId);
  assert.ok(session, 'the session is live on the second gateway');
  assert.equal(session.status, 'ACTIVE');
  // the console's connection holds the owner's place (not a second technician)
  assert.equal(session.owner.participantId, await tech.getAttribute('body', 'data-participant'));
  assert.ok(session.owner.conn !== null);

  // the catch-up read the missed message back from the log; every line is shown once
  await tech.waitForSelector('.chat-msg:has-text("lost in flight")');
  assert.deepEqual(await chatTexts(tech), [
    'hello from the console',
    'hi from Alice',
    'lost in flight',
  ]);
  const seqs = await shownSeqs(tech);
  assert.equal(new Set(seqs).size, seqs.length, `a log entry shown twice: ${seqs}`);

  // and the session goes on: chat typed in the console reaches the customer
  const later = waitFor(customer, 'chat', (c) => c.text === 'after the restart');
  await sendChat(tech, 'after the restart');
  await later;
  await tech.waitForSelector('.chat-msg:has-text("after the restart")');
  assert.deepEqual(await chatTexts(tech), [
    'hello from the console',
    'hi from Alice',
    'lost in flight',
    'after the restart',
  ]);
});

test('a reload of the console tab takes the place back: the same session, Active, its chat once, and chat flows', {
  skip: SKIP,
  timeout: 60_000,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const tech = await newPage(browser, t);
  await signIn(tech, gateway, 'tech-1');
  const { customer, sessionId } = await pickUpNativeCustomer(
    t,
    tech,
    `ws://127.0.0.1:${gateway.port}/v1/ws`,
    { name: 'Alice', reconnect: FAST_RETRY },
  );
  const heard = waitFor(customer, 'chat', (c) => c.text === 'before the reload');
  await sendChat(tech, 'before the reload');
  await heard;
  customer.chat('hi from Alice');
  await tech.waitForSelector('.chat-msg:has-text("hi from Alice")');
  assert.equal(await tech.getAttribute('body', 'data-resumed'), 'no');

  await tech.reload();
  await tech.waitForFunction(
    () =>
      document.body.dataset.resumed === 'yes' &&
      document.body.dataset.connection === 'online' &&
      document.body.dataset.status === 'active',
    undefined,
    { timeout: 20_000 },
  );
  // no sign-in form: the tab's token and resume token took the place back
  assert.equal(await tech.locator('#signin').count(), 0);
  assert.equal(await tech.textContent('#session-id'), sessionId);
  const now = await tech.getAttribute('body', 'data-participant');
  const session = gateway.registry.get(sessionId);
  assert.ok(session);
  // the same place (the owner's), held by the new connection: no second technician place
  assert.equal(session.owner.participantId, now);
  assert.equal(session.owner.name, 'tech-1');
  assert.equal(session.technicianSeats().length, 1);
  await tech.waitForSelector('.chat-msg:has-text("hi from Alice")');
  assert.deepEqual(await chatTexts(tech), ['before the reload', 'hi from Alice']);
  const later = waitFor(customer, 'chat', (c) => c.text === 'after the reload');
  await sendChat(tech, 'after the reload');
  await later;
});

test('after a network failure the console resumes and sends its recent input again, resent, which the customer does not apply twice', {
  skip: SKIP,
  timeout: 60_000,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const proxy = await chatDroppingProxy(t, gateway.port);
  const tech = await newPage(browser, t);
  const token = issueToken(gateway.config.secret, 'tech-1', 3600);
  await tech.goto(`http://127.0.0.1:${proxy.port}/#token=${encodeURIComponent(token)}`);
  await tech.waitForSelector('#new-session');
  const { customer } = await pickUpNativeCustomer(t, tech, `ws://127.0.0.1:${gateway.port}/v1/ws`, {
    name: 'Native',
    consent: ['view', 'control'],
    screen: { width: 1280, height: 720, tileBytes: 64 },
  });
  await controlAndShare(tech);
  const canvas = tech.locator('canvas.monitor:not([hidden])');
  const box = await canvas.boundingBox();
  assert.ok(box);
  const released = waitFor(
    customer,
    'input',
    (i) => i.button?.action === ferry.v1.ButtonAction.BUTTON_ACTION_UP,
  );
  await tech.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await released;
  // a button clears a pending pointer move: nothing the click sent is still on its way
  const appliedBefore = customer.inputEvents;
  assert.ok(appliedBefore >= 2, `inputs ${appliedBefore}`);
  assert.equal(customer.inputResentDropped, 0);

  // the link breaks (no close handshake: 1006): the console says so and resumes by itself
  proxy.cut();
  await tech.waitForSelector('[data-testid="reconnecting"]', { state: 'visible' });
  await tech.waitForFunction(
    () =>
      document.body.dataset.connection === 'online' &&
      document.body.dataset.status === 'active' &&
      Number(document.body.dataset.inputResent ?? 0) > 0,
    undefined,
    { timeout: 20_000 },
  );
  assert.equal(await tech.isVisible('[data-testid="reconnecting"]'), false);
  const resent = Number(await tech.getAttribute('body', 'data-input-resent'));
  // a chat sent after them on the same link arrives after them
  const marker = waitFor(customer, 'chat', (c) => c.text === 'after the blip');
  await sendChat(tech, 'after the blip');
  await marker;
  // every resent event reached the customer, which had them all already: none applied twice
  assert.equal(resent, appliedBefore);
  assert.equal(customer.inputResentDropped, resent);
  assert.equal(customer.inputEvents, appliedBefore);
});
