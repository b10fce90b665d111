/**
 * The web console follows a Redirect (headless Chromium, a real redis-server, two gateways A and
 * B sharing it as a directory; A lets B's pages connect with `allowedOrigins`): the customer page
 * served by B joins with a PIN made on A, is sent to A by B and joins there without the user
 * seeing it (no error, no second try), and chat flows both ways. A technician console tab opened
 * on B with the place A holds (a reload of the tab, its sessionStorage) is sent to A and takes the
 * place back; after a network failure it resumes at A directly, not through B again.
 *
 * The pages run under the console's own Content-Security-Policy: a gateway of a deployment
 * allows `connect-src 'self' ws: wss:` (src/transport/static.ts), so the page may follow.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, type TestContext, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { waitFor } from '../../src/clients/client.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway, technician } from '../integration/harness.js';
import { startRedis } from '../support/redis.js';
import {
  base,
  ensureBundle,
  join,
  launch,
  newPage,
  pickUpNativeCustomer,
  SKIP,
  signIn,
} from './browser.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own sessionStorage
declare const sessionStorage: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own MutationObserver
declare const MutationObserver: any;

const SECRET = 'a-secret-both-gateways-of-the-test-share';
/** The technician console's reload state (src/console/web/technician.ts). */
const SAVED_KEY = 'ferry.console.technician';

let browser: Browser;
const redis = SKIP ? null : await startRedis({ after });

before(async () => {
  if (SKIP) return;
  await ensureBundle();
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A gateway of the directory; `overrides` e.g. the origins whose pages may connect. */
function member(t: TestContext, id: string, overrides: Record<string, unknown> = {}) {
  return startGateway(t, { directory: redis!.url, gatewayId: id, secret: SECRET, ...overrides });
}

/** The WebSocket URLs `page` opens, in order. */
function sockets(page: Page): string[] {
  const urls: string[] = [];
  page.on('websocket', (ws) => urls.push(ws.url()));
  return urls;
}

/** A plain TCP proxy to a port set later (`target`); `cut()` breaks every link at once. */
async function tcpProxy(t: TestContext) {
  const state = { target: 0 };
  const links = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(state.target, '127.0.0.1');
    links.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
        links.delete(s);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of links) s.destroy();
    server.close();
  });
  return {
    state,
    port: (server.address() as net.AddressInfo).port,
    /** Breaks every connection without a close handshake (a network failure: 1006). */
    cut: () => {
      for (const s of links) s.destroy();
    },
  };
}

async function sendChat(page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text);
  await page.click('#chat-send');
}

test('the customer page served by one gateway joins a PIN another holds: redirected unseen, and chat flows both ways', {
  skip: SKIP,
  timeout: 60_000,
}, async (t) => {
  const b = await member(t, 'console-b');
  const a = await member(t, 'console-a', { allowedOrigins: base(b.gateway) });
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const queued = tech.waitForCustomer(sessionId);

  const page = await newPage(browser, t);
  const dialled = sockets(page);
  await join(page, b.gateway, pin, 'Alice');
  await queued;
  // the page asked B, which sent it to the owner A, where it joined: one hop, no retry
  assert.deepEqual(dialled, [b.url, a.url]);
  assert.equal(b.gateway.fleet!.counters.redirects.pin, 1);
  assert.equal(b.gateway.registry.sessions.size, 0);
  const session = a.gateway.registry.get(sessionId);
  assert.ok(session, 'the session is on A');
  assert.equal(session.customer?.name, 'Alice');
  // nothing told the user about it: the join notice, no error
  assert.equal(await page.getAttribute('#notice', 'data-kind'), 'info');
  assert.match((await page.textContent('#notice')) ?? '', /^joined/);

  await tech.pickUp(sessionId);
  await page.waitForFunction(() => document.body.dataset.status === 'active');
  tech.chat('hello from the technician');
  await page.waitForSelector('.chat-msg:has-text("hello from the technician")');
  const heard = waitFor(tech, 'chat', (m) => m.text === 'hello from the page');
  await sendChat(page, 'hello from the page');
  await heard;
  assert.equal(await page.getAttribute('#notice', 'data-kind'), 'info');
  assert.deepEqual(dialled, [b.url, a.url]);
});

test('a console tab reloaded on another gateway is sent to the one holding its place, takes it back, and resumes there after a network failure', {
  skip: SKIP,
  timeout: 60_000,
}, async (t) => {
  const b = await member(t, 'console-rb');
  // A is reached through a proxy (its public URL, so the redirect names it) that can cut links
  const proxy = await tcpProxy(t);
  const viaProxy = `ws://127.0.0.1:${proxy.port}/v1/ws`;
  const a = await member(t, 'console-ra', {
    allowedOrigins: base(b.gateway),
    publicUrl: viaProxy,
  });
  proxy.state.target = a.gateway.port;

  // a console on A holds a session with a customer; its tab's reload state is kept
  const first = await newPage(browser, t);
  await signIn(first, a.gateway, 'tech-1');
  const { customer, sessionId } = await pickUpNativeCustomer(t, first, a.url, {
    name: 'Alice',
    reconnect: { initialDelayMs: 50, maxDelayMs: 250, giveUpAfterMs: 60_000 },
  });
  const saved = await first.evaluate((key) => sessionStorage.getItem(key) as string, SAVED_KEY);
  assert.equal(JSON.parse(saved).sessionId, sessionId);
  await first.context().close();

  // the same tab state on B (a reload there): B sends the resume to A, which gives the place back
  const tech = await newPage(browser, t);
  await tech.addInitScript(
    ([key, value]) => {
      sessionStorage.setItem(key, value);
      // every state the console shows its connection in, from the start
      const seen: string[] = [];
      (globalThis as { connectionStates?: string[] }).connectionStates = seen;
      new MutationObserver(() => {
        const now = document.body?.dataset.connection;
        if (now && seen[seen.length - 1] !== now) seen.push(now);
      }).observe(document, { attributes: true, subtree: true });
    },
    [SAVED_KEY, saved] as const,
  );
  const dialled = sockets(tech);
  await tech.goto(`${base(b.gateway)}/`);
  await tech.waitForFunction(
    () =>
      document.body.dataset.resumed === 'yes' &&
      document.body.dataset.connection === 'online' &&
      document.body.dataset.status === 'active',
    undefined,
    { timeout: 20_000 },
  );
  assert.deepEqual(dialled, [b.url, viaProxy]);
  assert.equal(b.gateway.fleet!.counters.redirects.resume, 1);
  assert.equal(await tech.textContent('#session-id'), sessionId);
  const session = a.gateway.registry.get(sessionId);
  assert.ok(session);
  assert.equal(session.owner.participantId, await tech.getAttribute('body', 'data-participant'));
  assert.equal(session.technicianSeats().length, 1);
  assert.notEqual(await tech.getAttribute('#notice', 'data-kind'), 'error');
  const heard = waitFor(customer, 'chat', (c) => c.text === 'after the redirect');
  await sendChat(tech, 'after the redirect');
  await heard;

  // the link to A breaks: the console says so and resumes at A's URL, not through B
  proxy.cut();
  await tech.waitForSelector('[data-testid="reconnecting"]', { state: 'visible' });
  await tech.waitForFunction(() => document.body.dataset.connection === 'online', undefined, {
    timeout: 20_000,
  });
  assert.deepEqual(dialled.slice(0, 2), [b.url, viaProxy]);
  assert.ok(dialled.length >= 3);
  assert.ok(
    dialled.slice(2).every((u) => u === viaProxy),
    `resumed through ${dialled.join(', ')}`,
  );
  assert.equal(b.gateway.fleet!.counters.redirects.resume, 1);
  // the banner showed for the failure only, never for the redirect
  const states = await tech.evaluate(
    () => (globalThis as { connectionStates?: string[] }).connectionStates,
  );
  assert.deepEqual(states, ['online', 'reconnecting', 'online']);
  const later = waitFor(customer, 'chat', (c) => c.text === 'after the failure');
  await sendChat(tech, 'after the failure');
  await later;
  // the reload state names the same place (the console keeps no URL: B would send it to A)
  const now = await tech.evaluate((key) => sessionStorage.getItem(key) as string, SAVED_KEY);
  assert.equal(JSON.parse(now).sessionId, sessionId);
});

test("the customer page follows a redirect to another origin under the console's own Content-Security-Policy", {
  skip: SKIP,
  timeout: 30_000,
}, async (t) => {
  const b = await member(t, 'console-csp-b');
  const a = await member(t, 'console-csp-a', { allowedOrigins: base(b.gateway) });
  const tech = await technician(t, a.gateway);
  const { sessionId, pin } = await tech.createSession();
  const page = await newPage(browser, t);
  await page.goto(`${base(b.gateway)}/join/${pin}`);
  await page.fill('#customer-name', 'Alice');
  await page.click('#join-button');
  // joined, or refused (the notice says why): whichever comes first
  await page.waitForFunction(
    () =>
      document.getElementById('share') !== null ||
      document.getElementById('notice')?.dataset.kind === 'error',
  );
  const notice = (await page.textContent('#notice')) ?? '';
  assert.equal(await page.getAttribute('#notice', 'data-kind'), 'info', notice);
  assert.ok(a.gateway.registry.get(sessionId)?.customer);
});

/**
 * The page's socket goes to a stand-in gateway (Playwright's routeWebSocket) that answers every
 * Hello with a Redirect from `target(hop)` and closes with 4010, as a gateway does. Returns the
 * URLs dialled and the notice the page ends with.
 */
async function redirectedJoin(
  t: TestContext,
  target: (hop: number) => string,
): Promise<{ dialled: string[]; notice: string }> {
  const { gateway } = await startGateway(t);
  const page = await newPage(browser, t);
  const dialled: string[] = [];
  await page.routeWebSocket(/\/v1\/ws/, (ws) => {
    const hop = dialled.push(ws.url()) - 1;
    ws.onMessage((data) => {
      if (typeof data === 'string') return;
      const hello = ferry.v1.Frame.decode(data).control;
      if (!hello?.hello) return;
      const redirect = { url: target(hop), gatewayId: `g${hop}`, reason: 'pin' };
      ws.send(
        Buffer.from(
          encodeFrame({
            channel: ferry.v1.Channel.CHANNEL_CONTROL,
            control: { requestId: hello.requestId, redirect },
          }),
        ),
      );
      void ws.close({ code: CloseCodes.REDIRECT, reason: 'redirect' });
    });
  });
  await page.goto(`${base(gateway)}/join/123456`);
  await page.fill('#customer-name', 'Alice');
  await page.click('#join-button');
  await page.waitForFunction(() => document.getElementById('notice')?.dataset.kind === 'error');
  return { dialled, notice: (await page.textContent('#notice')) ?? '' };
}

test('the console follows at most 3 redirects in a row, then gives up with a protocol error', {
  skip: SKIP,
  timeout: 30_000,
}, async (t) => {
  const { dialled, notice } = await redirectedJoin(
    t,
    (hop) => `ws://127.0.0.1:9/v1/ws?hop=${hop + 1}`,
  );
  assert.equal(dialled.length, 4, dialled.join(', '));
  assert.deepEqual(
    dialled.slice(1),
    [1, 2, 3].map((n) => `ws://127.0.0.1:9/v1/ws?hop=${n}`),
  );
  assert.match(notice, /FERRY_ERR_PROTOCOL: more than 3 redirects in a row/);
});

test('the console follows a redirect only to a ws:// or wss:// URL', {
  skip: SKIP,
  timeout: 30_000,
}, async (t) => {
  for (const url of ['http://127.0.0.1:9/v1/ws', 'javascript:alert(1)', 'not a url']) {
    const { dialled, notice } = await redirectedJoin(t, () => url);
    assert.equal(dialled.length, 1, `${url}: ${dialled.join(', ')}`);
    assert.match(notice, /FERRY_ERR_PROTOCOL: redirect to a/, url);
  }
});
