/**
 * The gateway serves the web console on its client port: the page for /, /join and /join/<PIN>
 * (never cached), content-hashed assets (cached for a year), a strict Content-Security-Policy on
 * every answer, and the WebSocket upgrade's Origin check (own origin and non-browsers pass, a
 * foreign page is refused with 403 and counted). No browser needed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { buildConsole } from '../../src/console/build.js';
import { type ClientHandlers, listenClients } from '../../src/transport/server.js';
import {
  acceptsGzip,
  ConsoleSite,
  DEFAULT_CONSOLE_DIR,
  isSameOrigin,
  readDiskFile,
} from '../../src/transport/static.js';
import { startGateway } from '../integration/harness.js';

before(async () => {
  if (!ConsoleSite.load().built) await buildConsole();
});

function upgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', () => undefined);
  });
}

test('the console page is served for /, /join and /join/<PIN> with a strict CSP and no caching', async (t) => {
  const { gateway } = await startGateway(t);
  const base = `http://127.0.0.1:${gateway.port}`;
  for (const p of ['/', '/join', '/join/123456789012']) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    // no inline script, nothing from another host
    assert.doesNotMatch(html, /<script>(?!<)/);
    assert.doesNotMatch(html, /(src|href)="https?:/);
    assert.match(html, /<script type="module" src="\/assets\/console-[A-Z0-9]+\.js">/);
  }
});

test('HEAD on the console and the admin port answers the length a GET sends, and the gateway stays up', async (t) => {
  const { gateway } = await startGateway(t);
  const base = `http://127.0.0.1:${gateway.port}`;
  for (const p of ['/', '/join/123456789012', '/nope']) {
    const head = await fetch(base + p, { method: 'HEAD' });
    const get = await fetch(base + p);
    const body = Buffer.from(await get.arrayBuffer());
    assert.equal(head.status, get.status, p);
    assert.equal(Number(head.headers.get('content-length')), body.length, p);
  }
  const health = await fetch(`http://127.0.0.1:${gateway.adminPort}/healthz`, { method: 'HEAD' });
  assert.equal(health.status, 200);
  // the process answered everything above and still serves
  assert.equal((await fetch(`${base}/`)).status, 200);
});

test('hashed assets are cached for a year and unknown paths are 404', async (t) => {
  const { gateway } = await startGateway(t);
  const base = `http://127.0.0.1:${gateway.port}`;
  const html = await (await fetch(`${base}/`)).text();
  const script = /src="(\/assets\/[^"]+)"/.exec(html)?.[1];
  assert.ok(script);
  const res = await fetch(base + script);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /javascript/);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal((await fetch(`${base}/assets/nope.js`)).status, 404);
  assert.equal((await fetch(`${base}/../../etc/passwd`)).status, 404);
  assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
});

test('a WebSocket upgrade from a foreign Origin is refused with 403 and counted; own origin and non-browsers pass', async (t) => {
  const { gateway, url } = await startGateway(t);
  const own = `http://127.0.0.1:${gateway.port}`;
  const foreign = await upgrade(url, { Origin: 'https://evil.example.net' });
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /origin: https:\/\/evil\.example\.net may not connect/);
  assert.equal(gateway.refused.origin, 1);
  // same host, other port: another origin
  assert.equal((await upgrade(url, { Origin: 'http://127.0.0.1:1' })).status, 403);
  assert.equal((await upgrade(url, { Origin: own })).status, 101);
  assert.equal((await upgrade(url, {})).status, 101);
  assert.equal(gateway.refused.origin, 2);
});

test('allowedOrigins adds origins to the own one, and * lets any page connect', async (t) => {
  const listed = await startGateway(t, { allowedOrigins: 'https://support.example.com' });
  assert.equal((await upgrade(listed.url, { Origin: 'https://support.example.com' })).status, 101);
  assert.equal(
    (await upgrade(listed.url, { Origin: `http://127.0.0.1:${listed.gateway.port}` })).status,
    101,
  );
  assert.equal((await upgrade(listed.url, { Origin: 'https://other.example.com' })).status, 403);
  const any = await startGateway(t, { allowedOrigins: '*' });
  assert.equal((await upgrade(any.url, { Origin: 'https://other.example.com' })).status, 101);
});

test('same origin compares the Origin host with the Host header, in any scheme', () => {
  assert.equal(isSameOrigin('http://gw.example:8080', 'gw.example:8080'), true);
  assert.equal(isSameOrigin('https://gw.example', 'GW.example'), true);
  assert.equal(isSameOrigin('https://gw.example', 'gw.example:8080'), false);
  assert.equal(isSameOrigin('null', 'gw.example'), false);
  assert.equal(isSameOrigin('file:///x', ''), false);
  assert.equal(isSameOrigin('chrome-extension://abc', 'abc'), false);
});

/** Handlers of a client server that takes no WebSocket: the test only reads its HTTP side. */
const refuseAll: ClientHandlers = {
  accept: () => ({ status: 403, reason: 'no WebSocket here' }),
  onOpen: () => undefined,
  onMessage: () => undefined,
  onDrain: () => undefined,
  onClose: () => undefined,
};

/** One raw request (no client-side decoding): status, headers and the bytes as sent. */
function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
  agent?: http.Agent,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.once('error', reject);
    req.end();
  });
}

/** The built bundle's assets, and the name of one ending in `suffix` that has a compressed copy. */
const assets = path.join(DEFAULT_CONSOLE_DIR, 'assets');
function compressedAsset(suffix: string): string {
  const name = fs
    .readdirSync(assets)
    .find((n) => n.endsWith(suffix) && fs.existsSync(path.join(assets, `${n}.gz`)));
  assert.ok(name, `the build wrote no compressed ${suffix} file`);
  return name;
}

test('assets go gzip-compressed to a client that accepts it and as they are to one that does not', async (t) => {
  const { gateway } = await startGateway(t);
  const base = `http://127.0.0.1:${gateway.port}`;
  const script = compressedAsset('.js');
  const onDisk = fs.readFileSync(path.join(assets, script));
  const url = `${base}/assets/${script}`;

  const gz = await raw(url, 'GET', { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'accept-encoding');
  assert.ok(gz.body.length < onDisk.length / 2, `${gz.body.length} of ${onDisk.length} bytes`);
  assert.deepEqual(zlib.gunzipSync(gz.body), onDisk);

  for (const encoding of [undefined, 'identity', 'gzip;q=0, br', 'br']) {
    const plain = await raw(
      url,
      'GET',
      encoding === undefined ? {} : { 'accept-encoding': encoding },
    );
    assert.equal(plain.headers['content-encoding'], undefined, String(encoding));
    assert.equal(plain.headers.vary, 'accept-encoding');
    assert.deepEqual(plain.body, onDisk, String(encoding));
  }

  // HEAD announces the length of what the same GET sends
  const headGz = await raw(url, 'HEAD', { 'accept-encoding': 'gzip' });
  assert.equal(Number(headGz.headers['content-length']), gz.body.length);
  const headPlain = await raw(url, 'HEAD', {});
  assert.equal(Number(headPlain.headers['content-length']), onDisk.length);

  // the page itself is small and goes as it is
  const page = await raw(`${base}/`, 'GET', { 'accept-encoding': 'gzip' });
  assert.equal(page.headers['content-encoding'], undefined);
  assert.match(page.body.toString(), /<script type="module"/);
});

test('source maps are read from disk when asked for, compressed or not, and are not held', async (t) => {
  const { gateway } = await startGateway(t);
  const base = `http://127.0.0.1:${gateway.port}`;
  const map = compressedAsset('.js.map');
  const url = `/assets/${map}`;
  const reply = ConsoleSite.load().lookup(url);
  assert.equal(reply.file, undefined, 'a source map is held in memory');
  assert.equal(reply.disk?.path, path.join(assets, map));

  const onDisk = fs.readFileSync(path.join(assets, map));
  const gz = await raw(base + url, 'GET', { 'accept-encoding': 'gzip' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-type'], 'application/json');
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'accept-encoding');
  assert.equal(gz.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(String(gz.headers['content-security-policy']), /default-src 'none'/);
  assert.deepEqual(zlib.gunzipSync(gz.body), onDisk);
  const plain = await raw(base + url, 'GET', {});
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.deepEqual(plain.body, onDisk);
  const head = await raw(base + url, 'HEAD', { 'accept-encoding': 'gzip' });
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers['content-length']), gz.body.length);
});

test('a file on disk is read only from the path listed at start: one added later is 404, one gone is 404', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-site-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
  fs.writeFileSync(path.join(dir, 'assets', 'a.js.map'), '{"version":3}');
  const reply = ConsoleSite.load(dir).lookup('/assets/a.js.map');
  assert.ok(reply.disk);
  assert.equal(reply.disk.gzipPath, null);
  // no compressed copy: a client that accepts gzip gets the file as it is
  const read = await readDiskFile(reply.disk, true);
  assert.deepEqual(read, { body: Buffer.from('{"version":3}'), length: 13, gzip: false });

  fs.writeFileSync(path.join(dir, 'assets', 'c.js.map'), '{"c":1}');
  const unreadable: string[] = [];
  const server = await listenClients(
    {
      host: '127.0.0.1',
      port: 0,
      maxPayloadLength: 1024,
      maxBackpressure: 1024,
      idleTimeoutSeconds: 30,
      site: ConsoleSite.load(dir),
      onDiskError: (file) => unreadable.push(file),
    },
    refuseAll,
  );
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.port}`;
  assert.equal((await raw(`${base}/assets/a.js.map`, 'GET', {})).body.toString(), '{"version":3}');
  const head = await raw(`${base}/assets/a.js.map`, 'HEAD', {});
  assert.equal(Number(head.headers['content-length']), '{"version":3}'.length);
  fs.writeFileSync(path.join(dir, 'assets', 'b.js.map'), '{}');
  assert.equal((await raw(`${base}/assets/b.js.map`, 'GET', {})).status, 404);
  fs.rmSync(path.join(dir, 'assets', 'a.js.map'));
  const gone = await raw(`${base}/assets/a.js.map`, 'GET', {});
  assert.equal(gone.status, 404);
  assert.match(gone.body.toString(), /Not found/);
  assert.deepEqual(unreadable, []);
  // a file that is there but cannot be read is the host's trouble: 503, and reported
  fs.rmSync(path.join(dir, 'assets', 'c.js.map'));
  fs.mkdirSync(path.join(dir, 'assets', 'c.js.map'));
  const broken = await raw(`${base}/assets/c.js.map`, 'GET', {});
  assert.equal(broken.status, 503);
  assert.match(broken.body.toString(), /cannot be read/);
  assert.deepEqual(unreadable, [path.join(dir, 'assets', 'c.js.map')]);
  // the server still answers
  assert.equal((await raw(`${base}/`, 'GET', {})).status, 200);
});

test('requests for the same file on disk at once share one read', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-site-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
  fs.writeFileSync(path.join(dir, 'assets', 'a.js.map'), 'x'.repeat(100_000));
  const reply = ConsoleSite.load(dir).lookup('/assets/a.js.map');
  assert.ok(reply.disk);
  const reads: string[] = [];
  const readFile = fs.promises.readFile;
  t.mock.method(fs.promises, 'readFile', (file: string) => {
    reads.push(file);
    return readFile(file);
  });
  const answers = await Promise.all([1, 2, 3].map(() => readDiskFile(reply.disk, false)));
  assert.equal(reads.length, 1);
  for (const a of answers) assert.equal(a.body.length, 100_000);
  assert.equal(answers[0]!.body, answers[2]!.body);
  // once done, a later request reads the file again (a rebuilt bundle is seen)
  await readDiskFile(reply.disk, false);
  assert.equal(reads.length, 2);
});

test('acceptsGzip reads Accept-Encoding as RFC 9110 does', () => {
  assert.equal(acceptsGzip(''), false);
  assert.equal(acceptsGzip('gzip'), true);
  assert.equal(acceptsGzip('GZIP'), true);
  assert.equal(acceptsGzip('deflate, gzip;q=0.5'), true);
  assert.equal(acceptsGzip('gzip;q=0'), false);
  assert.equal(acceptsGzip('gzip; q=0.0'), false);
  assert.equal(acceptsGzip('x-gzip'), true);
  assert.equal(acceptsGzip('*'), true);
  assert.equal(acceptsGzip('*;q=0'), false);
  assert.equal(acceptsGzip('br, identity'), false);
  // a named coding wins over *
  assert.equal(acceptsGzip('*, gzip;q=0'), false);
});

test('HEAD requests one after another through a keep-alive agent are all answered', async (t) => {
  const { gateway } = await startGateway(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (const url of [
    `http://127.0.0.1:${gateway.port}/`,
    `http://127.0.0.1:${gateway.adminPort}/healthz`,
  ]) {
    for (const method of ['HEAD', 'HEAD', 'GET', 'HEAD']) {
      const res = await raw(url, method, {}, agent);
      assert.equal(res.status, 200, `${method} ${url}`);
      if (method === 'HEAD') assert.equal(res.headers.connection, 'close');
    }
  }
});
