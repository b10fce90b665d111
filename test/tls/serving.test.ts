/**
 * TLS on a gateway in this process: the reference clients over wss:// (verifying against a
 * private CA), refusals naming the reason, HSTS, the expiry metric, reload without dropping a
 * session, hostile TLS clients, and the forwarded address from a trusted proxy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { CertificateError } from '../../src/clients/tls.js';
import type { ConfigKey } from '../../src/config/schema.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../api/harness.js';
import { helloCustomer } from '../integration/harness.js';
import { type Issued, issue, makeCa, type TestCa } from './certs.js';

interface TlsGateway {
  readonly gateway: Gateway;
  readonly ca: TestCa;
  readonly server: Issued;
  readonly url: string;
  readonly caPem: Buffer;
}

async function tlsGateway(
  t: TestContext,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
): Promise<TlsGateway> {
  const ca = makeCa(t);
  const server = issue(ca, 'server');
  const gateway = await startGateway(
    t,
    {},
    { tlsCert: server.cert, tlsKey: server.key, ...overrides },
  );
  return {
    gateway,
    ca,
    server,
    url: `wss://127.0.0.1:${gateway.port}/v1/ws`,
    caPem: fs.readFileSync(ca.cert),
  };
}

/** A technician and a customer of `g` in an Active session over wss://, verified with the CA. */
async function pairOverTls(t: TestContext, g: TlsGateway) {
  const tech = new TechnicianClient({
    url: g.url,
    token: issueToken(g.gateway.config.secret, 'tech-1', 3600),
    name: 'tech-1',
    tls: { ca: g.caPem },
    reconnect: false,
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession('Alice over TLS');
  const customer = new CustomerClient({
    url: g.url,
    pin,
    name: 'Alice',
    screen: { tileBytes: 512 },
    consent: ['view', 'control'],
    tls: { ca: g.caPem },
    reconnect: false,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return { tech, customer, sessionId };
}

/** Chat both ways: the session relays. */
async function relays(
  tech: TechnicianClient,
  customer: CustomerClient,
  tag: string,
): Promise<void> {
  const atCustomer = waitFor(customer, 'chat', (c) => c.text === `to customer ${tag}`);
  const atTech = waitFor(tech, 'chat', (c) => c.text === `to tech ${tag}`);
  tech.chat(`to customer ${tag}`);
  customer.chat(`to tech ${tag}`);
  await Promise.all([atCustomer, atTech]);
}

/** The serial number of the certificate a new TLS connection to `port` gets. */
function peerSerial(port: number, ca: Buffer, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}) },
      () => {
        resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** Resolves with the ms until `socket` closed, or rejects past `deadlineMs`. */
function closedWithin(socket: net.Socket, deadlineMs: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - start);
    });
  });
}

test('both reference clients pair and relay over wss:// when they trust the private CA', async (t) => {
  const g = await tlsGateway(t);
  const { tech, customer } = await pairOverTls(t, g);
  await relays(tech, customer, 'one');
  assert.equal(g.gateway.tlsSite('client')?.serial, g.server.serial);
});

test('without the CA both reference clients refuse the gateway and name the reason', async (t) => {
  const g = await tlsGateway(t);
  const tech = new TechnicianClient({
    url: g.url,
    token: issueToken(g.gateway.config.secret, 'tech-1', 3600),
    reconnect: false,
  });
  await assert.rejects(tech.connect(), (err: unknown) => {
    assert.ok(err instanceof CertificateError, String(err));
    assert.equal(err.reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(err.message, /unknown issuer/);
    return true;
  });
  const customer = new CustomerClient({ url: g.url, pin: '123456789012', reconnect: false });
  await assert.rejects(customer.connect(), /unknown issuer.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  assert.equal(g.gateway.connections.size, 0, 'no connection reached the gateway');
});

test('a certificate for another name is refused as the wrong name', async (t) => {
  const ca = makeCa(t);
  const other = issue(ca, 'other', { names: ['other.example'], ips: [] });
  const gateway = await startGateway(t, {}, { tlsCert: other.cert, tlsKey: other.key });
  const customer = new CustomerClient({
    url: `wss://127.0.0.1:${gateway.port}/v1/ws`,
    pin: '123456789012',
    tls: { ca: fs.readFileSync(ca.cert) },
    reconnect: false,
  });
  await assert.rejects(customer.connect(), (err: unknown) => {
    assert.ok(err instanceof CertificateError);
    assert.equal(err.reason, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(err.message, /wrong name/);
    return true;
  });
});

test('an expired certificate is refused as expired', async (t) => {
  const ca = makeCa(t);
  const expired = issue(ca, 'expired', { days: -1 });
  // The gateway refuses to start with it, so a bare TLS server shows it to the client.
  const server = https.createServer({
    cert: fs.readFileSync(expired.cert),
    key: fs.readFileSync(expired.key),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const customer = new CustomerClient({
    url: `wss://127.0.0.1:${port}/v1/ws`,
    pin: '123456789012',
    tls: { ca: fs.readFileSync(ca.cert) },
    reconnect: false,
  });
  await assert.rejects(customer.connect(), (err: unknown) => {
    assert.ok(err instanceof CertificateError);
    assert.equal(err.reason, 'CERT_HAS_EXPIRED');
    assert.match(err.message, /expired/);
    return true;
  });
});

test('the console and the admin port answer over https with HSTS, and /metrics shows the expiry', async (t) => {
  const g = await tlsGateway(t);
  const get = (port: number, path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path, ca: g.caPem, headers }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => {
              body += d.toString();
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
            );
          })
          .on('error', reject);
      },
    );
  const page = await get(g.gateway.port, '/');
  assert.ok(page.status === 200 || page.status === 404, `console status ${page.status}`);
  assert.equal(page.headers['strict-transport-security'], 'max-age=31536000');
  const metrics = await get(g.gateway.adminPort, '/metrics', {
    authorization: `Bearer ${g.gateway.adminToken}`,
  });
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers['strict-transport-security'], 'max-age=31536000');
  const expiry =
    /^ferry_tls_certificate_expiry_seconds\{port="client",name="default"\} (\S+)$/m.exec(
      metrics.body,
    );
  assert.ok(expiry, metrics.body.slice(0, 400));
  const seconds = Number(expiry[1]);
  assert.ok(seconds > 3600 && seconds <= 86_400, `expiry in ${seconds} s`);
  assert.match(
    metrics.body,
    /^ferry_tls_certificate_expiry_seconds\{port="admin",name="default"\}/m,
  );
  // The alert rules' TLS series exist (test/deploy checks the others on a plain gateway).
  const rulesFile = new URL('../../../deploy/prometheus/alerts.yml', import.meta.url);
  const used = new Set(fs.readFileSync(rulesFile, 'utf8').match(/\bferry_tls_[a-z_]+/g) ?? []);
  assert.ok(used.size > 0);
  for (const name of used) assert.match(metrics.body, new RegExp(`^${name}[{ ]`, 'm'), name);
});

test('a reload serves the new certificate to new connections while an open session keeps relaying', async (t) => {
  const g = await tlsGateway(t);
  const { tech, customer } = await pairOverTls(t, g);
  assert.equal(await peerSerial(g.gateway.port, g.caPem), g.server.serial);

  const renewed = issue(g.ca, 'renewed');
  fs.copyFileSync(renewed.cert, g.server.cert);
  fs.copyFileSync(renewed.key, g.server.key);
  const outcomes = g.gateway.reloadTls('test');
  const client = outcomes.find((o) => o.port === 'client');
  assert.ok(client && 'changed' in client && client.changed, JSON.stringify(outcomes));

  // A client naming the server gets the new certificate; one that names none (an IP address)
  // gets the certificate the port started with (uWS cannot replace it, docs/tls.md).
  assert.equal(await peerSerial(g.gateway.port, g.caPem, 'localhost'), renewed.serial);
  assert.equal(await peerSerial(g.gateway.adminPort, g.caPem, 'localhost'), renewed.serial);
  assert.equal(await peerSerial(g.gateway.port, g.caPem), g.server.serial);
  await relays(tech, customer, 'after the reload');
  // The reference clients name the server when the URL has a host name.
  const late = new CustomerClient({
    url: `wss://localhost:${g.gateway.port}/v1/ws`,
    pin: '000000000000',
    tls: { ca: g.caPem },
    reconnect: false,
  });
  await assert.rejects(late.connect(), (err: Error) => !(err instanceof CertificateError));
  assert.equal(tech.closeCode, 0, 'the technician connection was not closed');

  // A broken file is refused and the port keeps the certificate it has.
  fs.writeFileSync(g.server.key, 'not a key');
  const failed = g.gateway.reloadTls('test');
  assert.match(JSON.stringify(failed), /cannot load the TLS key/);
  assert.equal(await peerSerial(g.gateway.port, g.caPem, 'localhost'), renewed.serial);
  await relays(tech, customer, 'after a failed reload');
});

test('plain HTTP, a stalled handshake and an unknown server name are closed or refused and other sessions go on', async (t) => {
  const g = await tlsGateway(t);
  const { tech, customer } = await pairOverTls(t, g);

  const plain = net.connect(g.gateway.port, '127.0.0.1', () => {
    plain.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  assert.ok((await closedWithin(plain, 5000)) < 5000);

  // A TCP connection that starts a ClientHello and never finishes it.
  const stalled = net.connect(g.gateway.port, '127.0.0.1', () => {
    stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  });
  const stalledMs = await closedWithin(stalled, 20_000);
  t.diagnostic(`stalled handshake closed after ${Math.round(stalledMs)} ms`);

  // An unknown server name gets the default certificate, which a verifying client refuses.
  const before = g.gateway.tlsSite('client')?.unknownNames ?? 0;
  await assert.rejects(peerSerial(g.gateway.port, g.caPem, 'unknown.example'), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
  assert.equal(g.gateway.tlsSite('client')?.unknownNames, before + 1, 'counted');

  await relays(tech, customer, 'after the hostile clients');
});

test('X-Forwarded-For from a trusted proxy is the customer address; from another peer it is ignored', async (t) => {
  const ca = makeCa(t);
  const server = issue(ca, 'server');
  const caPem = fs.readFileSync(ca.cert);
  const customerAddress = async (trustedProxies: string) => {
    const gateway = await startGateway(
      t,
      {},
      { tlsCert: server.cert, tlsKey: server.key, trustedProxies },
    );
    const tech = new TechnicianClient({
      url: `wss://127.0.0.1:${gateway.port}/v1/ws`,
      token: issueToken(gateway.config.secret, 'tech-1', 3600),
      tls: { ca: caPem },
      reconnect: false,
    });
    t.after(() => tech.close());
    await tech.connect();
    const { sessionId, pin } = await tech.createSession('behind a proxy');
    const queued = tech.waitForCustomer(sessionId);
    const ws = new WebSocket(`wss://127.0.0.1:${gateway.port}/v1/ws`, {
      ca: caPem,
      headers: { 'x-forwarded-for': '198.51.100.9, 203.0.113.7' },
    });
    t.after(() => ws.close());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(helloCustomer(pin));
    await queued;
    return gateway.registry.sessions.get(sessionId)?.customerAddress;
  };
  assert.equal(await customerAddress('127.0.0.1/32'), '203.0.113.7');
  assert.equal(await customerAddress('10.0.0.0/8, 192.168.0.0/16'), '127.0.0.1');
  assert.equal(ferry.v1.Role.ROLE_CUSTOMER > 0, true);
});
