/**
 * The soak's fault proxy on loopback, port 0, in front of a small echo server: it forwards both
 * ways, a reset cut closes both sides, an outage refuses (or holds) new connections until it
 * ends, and a half-close ends one direction only while the other still flows. Every wait is on
 * an event; the outages are short real timers awaited through the proxy's 'outageEnd'.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { CutKind, FaultProxy, OutageMode } from '../../bench/soak/fault-proxy.js';

interface Echo {
  readonly server: net.Server;
  readonly port: number;
  /** Server-side sockets, in the order they connected. */
  readonly sockets: net.Socket[];
}

/** Echoes every byte back; keeps its sockets half-open when the client ends. */
async function echoServer(t: { after: (fn: () => Promise<void> | void) => void }): Promise<Echo> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      if (s.writable) s.write(d);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

async function proxyFor(t: { after: (fn: () => Promise<void>) => void }, port: number) {
  const proxy = await FaultProxy.start(port);
  t.after(() => proxy.close());
  return proxy;
}

/** Connects through the proxy and waits until the proxy has connected it to the target. */
async function dial(proxy: FaultProxy): Promise<net.Socket> {
  const connected = once(proxy, 'connection');
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  await connected;
  return socket;
}

/** Writes `text` and resolves with the next chunk read back. */
async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  const reply = once(socket, 'data');
  socket.write(text);
  const [data] = (await reply) as [Buffer];
  return data.toString();
}

test('the fault proxy forwards bytes both ways between a client and its target', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  const socket = await dial(proxy);
  assert.equal(await roundTrip(socket, 'hello'), 'hello');
  assert.equal(proxy.links, 1);
  socket.destroy();
});

test('a reset cut closes the client and the target side, and is counted', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  const socket = await dial(proxy);
  assert.equal(await roundTrip(socket, 'a'), 'a');
  // once() would reject on the reset's 'error': wait for 'close' itself
  const closed = (s: net.Socket) => new Promise((resolve) => s.once('close', resolve));
  const clientClosed = closed(socket);
  const targetClosed = closed(echo.sockets[0]!);
  assert.equal(proxy.cut(CutKind.RESET), 1);
  await Promise.all([clientClosed, targetClosed]);
  assert.equal(proxy.counters.cuts, 1);
  assert.equal(proxy.links, 0);
});

test('during an outage new connections are refused, and go through again once it ends', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  const ended = once(proxy, 'outageEnd');
  proxy.outage(50, OutageMode.REFUSE);
  assert.ok(proxy.inOutage);
  const refused = once(proxy, 'refused');
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  const failed = new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('close', () => resolve('closed'));
  });
  await refused;
  assert.match(await failed, /ECONNRESET|closed/);
  assert.equal(echo.sockets.length, 0, 'the target never saw the refused connection');
  await ended;
  const again = await dial(proxy);
  assert.equal(await roundTrip(again, 'back'), 'back');
  assert.equal(proxy.counters.refused, 1);
  again.destroy();
});

test('an outage that holds keeps a new connection waiting and connects it when it ends', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  proxy.outage(60_000, OutageMode.HOLD);
  const connected = once(proxy, 'connection');
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('queued');
  const reply = once(socket, 'data');
  assert.equal(echo.sockets.length, 0);
  proxy.endOutage();
  await connected;
  const [data] = (await reply) as [Buffer];
  assert.equal(data.toString(), 'queued');
  assert.equal(proxy.counters.held, 1);
  socket.destroy();
});

test('a half-close towards the target ends that direction only; the target can still write back', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  const socket = await dial(proxy);
  assert.equal(await roundTrip(socket, 'x'), 'x');
  const target = echo.sockets[0]!;
  const targetEnded = once(target, 'end');
  proxy.cut(CutKind.HALF_CLOSE_TO_TARGET);
  await targetEnded;
  // the other direction still flows: the target's bytes reach the client
  const heard = once(socket, 'data');
  target.write('still open');
  const [data] = (await heard) as [Buffer];
  assert.equal(data.toString(), 'still open');
  // what the client sends now is dropped, and counted
  const dropped = once(proxy, 'dropped');
  socket.write('dropped');
  await dropped;
  assert.equal(proxy.counters.droppedBytes, 'dropped'.length);
  // the target notices and closes: the client hears the end
  const clientEnded = once(socket, 'end');
  target.end();
  await clientEnded;
  socket.destroy();
});

test('a half-close towards the client ends its direction; the client can still send to the target', async (t) => {
  const echo = await echoServer(t);
  const proxy = await proxyFor(t, echo.port);
  const socket = await dial(proxy);
  assert.equal(await roundTrip(socket, 'y'), 'y');
  const target = echo.sockets[0]!;
  const clientEnded = once(socket, 'end');
  proxy.cut(CutKind.HALF_CLOSE_TO_CLIENT);
  await clientEnded;
  const heard = once(target, 'data');
  socket.write('one way');
  const [data] = (await heard) as [Buffer];
  assert.equal(data.toString(), 'one way');
  // the client notices and closes: the target hears the end
  const targetEnded = once(target, 'end');
  socket.end();
  await targetEnded;
});

test('a connection whose target is down is reset', async (t) => {
  const echo = await echoServer(t);
  const port = echo.port;
  await new Promise<void>((resolve) => echo.server.close(() => resolve()));
  const proxy = await proxyFor(t, port);
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  const outcome = new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('close', () => resolve('closed'));
  });
  assert.match(await outcome, /ECONNRESET|closed/);
  assert.equal(proxy.links, 0);
});
