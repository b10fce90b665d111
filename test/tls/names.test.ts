/**
 * Server names (--tls-sni), the parsing of the TLS and proxy settings, and the client address
 * taken from X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { issueToken } from '../../src/session/tokens.js';
import { TrustedProxies } from '../../src/transport/forwarded.js';
import { parseSni, TlsError } from '../../src/transport/tls.js';
import { startGateway } from '../api/harness.js';
import { helloTechnician } from '../integration/harness.js';
import { issue, makeCa } from './certs.js';

function handshake(
  port: number,
  ca: Buffer,
  servername: string,
): Promise<{ serial: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername }, () =>
      resolve({ serial: socket.getPeerCertificate().serialNumber.toUpperCase(), socket }),
    );
    socket.on('error', reject);
  });
}

test('each --tls-sni name gets its own certificate, serves the same routes, and reloads with the rest', async (t) => {
  const ca = makeCa(t);
  const caPem = fs.readFileSync(ca.cert);
  const main = issue(ca, 'main');
  const eu = issue(ca, 'eu', { names: ['eu.support.test'], ips: [] });
  const gateway = await startGateway(
    t,
    {},
    { tlsCert: main.cert, tlsKey: main.key, tlsSni: `eu.support.test=${eu.cert},${eu.key}` },
  );
  const viaEu = await handshake(gateway.port, caPem, 'eu.support.test');
  assert.equal(viaEu.serial, eu.serial);
  // HTTP under a name answers and closes (a reload may free the router of the name).
  viaEu.socket.write('GET / HTTP/1.1\r\nHost: eu.support.test\r\n\r\n');
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    viaEu.socket.on('data', (d: Buffer) => {
      text += d.toString();
    });
    viaEu.socket.on('close', () => resolve(text));
  });
  assert.match(reply, /^HTTP\/1\.1 (200|404)/);
  assert.match(reply, /strict-transport-security: max-age=31536000/i);
  assert.equal((await handshake(gateway.port, caPem, 'localhost')).serial, main.serial);

  // A WebSocket under the name is a Ferry connection like any other.
  // `ws` hands tls.connect options on (the types do not list servername).
  const options = { ca: caPem, servername: 'eu.support.test' } as WebSocket.ClientOptions;
  const ws = new WebSocket(`wss://127.0.0.1:${gateway.port}/v1/ws`, options);
  t.after(() => ws.close());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const welcome = new Promise<Buffer>((resolve) => ws.once('message', resolve));
  ws.send(helloTechnician(issueToken(gateway.config.secret, 'tech-eu', 3600)));
  assert.ok((await welcome).length > 0);

  const renewed = issue(ca, 'eu2', { names: ['eu.support.test'], ips: [] });
  fs.copyFileSync(renewed.cert, eu.cert);
  fs.copyFileSync(renewed.key, eu.key);
  gateway.reloadTls('test');
  assert.equal((await handshake(gateway.port, caPem, 'eu.support.test')).serial, renewed.serial);
  assert.equal(
    ws.readyState,
    WebSocket.OPEN,
    'the connection made under the old certificate stays',
  );
});

test('--tls-sni entries parse from repeated flags and from the environment form', () => {
  assert.deepEqual(
    parseSni('a.example=/c/a.crt,/c/a.key;b.example=/c/b.crt,/c/b.key').map((e) => [
      e.name,
      e.files.cert,
      e.files.key,
    ]),
    [
      ['a.example', '/c/a.crt', '/c/a.key'],
      ['b.example', '/c/b.crt', '/c/b.key'],
    ],
  );
  assert.equal(parseSni('A.Example=/a.crt,/a.key,b.example=/b.crt,/b.key').length, 2);
  assert.throws(() => parseSni('a.example=/a.crt'), TlsError);
  assert.throws(() => parseSni('/a.crt,/a.key'), TlsError);
});

test('X-Forwarded-For counts only from a trusted proxy, right to left past other trusted hops', () => {
  const proxies = new TrustedProxies('10.0.0.0/8, 127.0.0.1, fd00::/8');
  assert.equal(proxies.clientAddress('127.0.0.1', '203.0.113.7'), '203.0.113.7');
  assert.equal(proxies.clientAddress('192.0.2.1', '203.0.113.7'), '192.0.2.1', 'untrusted peer');
  // A client may prepend anything; the proxies append: the right-most untrusted hop is the client.
  assert.equal(proxies.clientAddress('10.1.2.3', '1.1.1.1, 203.0.113.7, 10.9.9.9'), '203.0.113.7');
  assert.equal(proxies.clientAddress('10.1.2.3', 'garbage, 203.0.113.7'), '203.0.113.7');
  assert.equal(proxies.clientAddress('10.1.2.3', 'garbage'), '10.1.2.3');
  assert.equal(proxies.clientAddress('10.1.2.3', '[2001:db8::1]:443'), '2001:db8::1');
  assert.equal(proxies.clientAddress('10.1.2.3', '198.51.100.4:5000'), '198.51.100.4');
  // uWS writes IPv6 peers in full and IPv4 peers of a dual-stack port mapped.
  assert.equal(
    proxies.clientAddress('0000:0000:0000:0000:0000:ffff:7f00:0001', '203.0.113.7'),
    '203.0.113.7',
  );
  assert.equal(
    proxies.clientAddress('fd00:0000:0000:0000:0000:0000:0000:0001', '203.0.113.8'),
    '203.0.113.8',
  );
  assert.equal(new TrustedProxies('').clientAddress('127.0.0.1', '203.0.113.7'), '127.0.0.1');
  assert.throws(() => new TrustedProxies('10.0.0.0/33'), RangeError);
  assert.throws(() => new TrustedProxies('proxy.example'), RangeError);
});
