/**
 * The web console over https:// in headless Chromium, on a name that is not localhost
 * (`ferry.test`, mapped to 127.0.0.1 inside the browser): the gateway serves its certificate from
 * a private test CA, Chromium trusts exactly that certificate (its public key's SHA-256), the
 * pages are secure contexts with HSTS, and the customer page shares its own tab to the technician
 * over wss://. The same name over plain http:// is no secure context and offers no sharing.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Gateway } from '../../src/gateway.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  animate,
  CHROMIUM,
  createSession,
  ensureBundle,
  newPage,
  paintBlock,
  pickUp,
  SKIP,
  shareTab,
} from '../console/browser.js';
import { startGateway } from '../integration/harness.js';
import { issue, makeCa } from './certs.js';

/** In-page callbacks run in the browser, where `document` exists (Node has no DOM types). */
// biome-ignore lint/suspicious/noExplicitAny: the page's own document, typed in the browser
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own window, typed in the browser
declare const window: any;
// biome-ignore lint/suspicious/noExplicitAny: the page's own navigator, typed in the browser
declare const navigator: any;

const NAME = 'ferry.test';

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: what Chromium's SPKI list takes. */
function spkiHash(certFile: string): string {
  const spki = new X509Certificate(fs.readFileSync(certFile)).publicKey.export({
    type: 'spki',
    format: 'der',
  });
  return createHash('sha256').update(spki).digest('base64');
}

/** Headless Chromium that resolves NAME to loopback and trusts the certificate with `spki`. */
function launchFor(spki: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--auto-accept-this-tab-capture',
      `--host-resolver-rules=MAP ${NAME} 127.0.0.1`,
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
}

interface Served {
  readonly gateway: Gateway;
  readonly origin: string;
  /** The SPKI hash of the gateway's certificate. */
  readonly spki: string;
}

/** A TLS gateway whose certificate (from a fresh private CA) names NAME. */
async function serveTls(t: TestContext): Promise<Served> {
  const ca = makeCa(t);
  const server = issue(ca, 'console', { names: [NAME] });
  const { gateway } = await startGateway(t, { tlsCert: server.cert, tlsKey: server.key });
  return { gateway, origin: `https://${NAME}:${gateway.port}`, spki: spkiHash(server.cert) };
}

async function browserFor(t: TestContext, spki: string): Promise<Browser> {
  const browser = await launchFor(spki);
  t.after(() => browser.close());
  return browser;
}

/** A key hash that matches no certificate here. */
const NO_KEY = createHash('sha256').update('no key').digest('base64');

interface PageContext {
  readonly secure: boolean;
  readonly protocol: string;
  readonly canShare: boolean;
}

function pageContext(page: Page): Promise<PageContext> {
  return page.evaluate(() => ({
    secure: window.isSecureContext === true,
    protocol: String(window.location.protocol),
    canShare: typeof navigator.mediaDevices?.getDisplayMedia === 'function',
  }));
}

before(async () => {
  if (SKIP) return;
  await ensureBundle();
});

test('the console loads over https on a non-localhost name as a secure context, and the customer page shares its tab over wss', {
  skip: SKIP,
}, async (t) => {
  const { gateway, origin, spki } = await serveTls(t);
  const browser = await browserFor(t, spki);
  const tech = await newPage(browser, t);
  const token = issueToken(gateway.config.secret, 'tech-1', 3600);
  const response = await tech.goto(`${origin}/#token=${encodeURIComponent(token)}`);
  assert.ok(response, 'no response for the console page');
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['strict-transport-security'], 'max-age=31536000');
  // Chromium trusted the certificate through its key alone: no interstitial, a valid chain
  const security = await response.securityDetails();
  assert.equal(security?.subjectName, NAME);
  await tech.waitForSelector('#new-session');
  assert.deepEqual(await pageContext(tech), { secure: true, protocol: 'https:', canShare: true });
  const pin = await createSession(tech);
  assert.equal(await tech.getAttribute('#customer-link', 'href'), `${origin}/join/${pin}`);

  const customer = await newPage(browser, t);
  await customer.goto(`${origin}/join/${pin}#share=this-tab`);
  assert.deepEqual(await pageContext(customer), {
    secure: true,
    protocol: 'https:',
    canShare: true,
  });
  await customer.fill('#customer-name', 'Alice');
  await customer.click('#join-button');
  await customer.waitForSelector('#share');
  await pickUp(tech);
  await tech.click('#ask-consent');
  await customer.waitForSelector('.prompt button.allow');
  await customer.click('.prompt button.allow');
  await tech.waitForFunction(() => document.getElementById('granted')?.textContent === 'view');
  await shareTab(customer);
  // a red block, what the technician must see, and a live square that keeps the tab repainting
  await animate(customer);
  await paintBlock(customer, 'rgb(255,0,0)');
  // the shared tab's red block reaches the technician's canvas (through wss:// both ways)
  await tech.waitForFunction(
    () => {
      const c = document.querySelector('canvas.monitor:not([hidden])');
      if (c === null || c.width === 0) return false;
      const d = c
        .getContext('2d')
        .getImageData(Math.floor(c.width / 4), Math.floor(c.height * 0.3), 1, 1).data;
      return d[0] >= 215 && d[1] <= 40 && d[2] <= 40;
    },
    undefined,
    { timeout: 15_000 },
  );
  assert.match((await tech.textContent('#screen-stats')) ?? '', /fps/);
});

test('the same name over plain http is no secure context: the customer page cannot share', {
  skip: SKIP,
}, async (t) => {
  const { gateway } = await startGateway(t);
  const browser = await browserFor(t, NO_KEY);
  const customer = await newPage(browser, t);
  await customer.goto(`http://${NAME}:${gateway.port}/join/123456789012`);
  assert.deepEqual(await pageContext(customer), {
    secure: false,
    protocol: 'http:',
    canShare: false,
  });
});

test('a browser that does not trust the certificate key refuses the https console', {
  skip: SKIP,
}, async (t) => {
  const { origin } = await serveTls(t);
  const browser = await browserFor(t, NO_KEY);
  const page = await newPage(browser, t);
  await assert.rejects(page.goto(`${origin}/`), /ERR_CERT_AUTHORITY_INVALID/);
});
