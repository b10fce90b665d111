/**
 * The limit Ferry is measured against: a relay on the same native uWebSockets.js (loaded through
 * src/transport/uws.ts) that pairs two sockets by `/?pair=ID&side=a|b` and forwards every binary
 * message to the peer inside the message callback, nothing else: no protocol, no counters beyond
 * the drops it must not hide. Prints {"type":"target","port":N} once listening on 127.0.0.1:0.
 * `--tls-cert FILE --tls-key FILE` serve wss:// instead (an `SSLApp` with the certificate and
 * the buffer release Ferry uses by default, tlsLowMemory = 1), for the TLS scenarios.
 */
import { parseArgs } from 'node:util';

import { loadUws, type Uws } from '../../../src/transport/uws.js';
import { onShutdown, send } from '../../common/child-side.js';
import {
  IDLE_TIMEOUT_SECONDS,
  MAX_BACKPRESSURE_BYTES,
  MAX_PAYLOAD_BYTES,
  parsePairQuery,
} from './limits.js';

interface Side {
  readonly pair: string;
  readonly side: 'a' | 'b';
  peer: Uws.WebSocket<Side> | null;
}

interface Pair {
  a: Uws.WebSocket<Side> | null;
  b: Uws.WebSocket<Side> | null;
}

const SEND_DROPPED = 2; // uWS send(): 0 backpressure, 1 success, 2 dropped

const { uws, source } = loadUws();
const pairs = new Map<string, Pair>();
const sockets = new Set<Uws.WebSocket<Side>>();
let dropped = 0;

const { values: args } = parseArgs({
  options: { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } },
});
const tlsCert = args['tls-cert'];
const tlsKey = args['tls-key'];
if ((tlsCert === undefined) !== (tlsKey === undefined))
  throw new Error('bare-uws: --tls-cert and --tls-key go together');

const app =
  tlsCert !== undefined && tlsKey !== undefined
    ? uws.SSLApp({
        cert_file_name: tlsCert,
        key_file_name: tlsKey,
        ssl_prefer_low_memory_usage: true,
      })
    : uws.App();
app.ws<Side>('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: MAX_PAYLOAD_BYTES,
  maxBackpressure: MAX_BACKPRESSURE_BYTES,
  closeOnBackpressureLimit: 0,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const query = parsePairQuery(req.getQuery() ?? '');
    if (query === null) {
      res.writeStatus('400 Bad Request').end('connect to /?pair=ID&side=a|b\n');
      return;
    }
    res.upgrade<Side>(
      { pair: query.pair, side: query.side, peer: null },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    sockets.add(ws);
    const me = ws.getUserData();
    let pair = pairs.get(me.pair);
    if (pair === undefined) {
      pair = { a: null, b: null };
      pairs.set(me.pair, pair);
    }
    pair[me.side] = ws;
    const other = me.side === 'a' ? pair.b : pair.a;
    if (other !== null) {
      me.peer = other;
      other.getUserData().peer = ws;
    }
  },
  message: (ws, message, isBinary) => {
    const peer = ws.getUserData().peer;
    if (!isBinary || peer === null || peer.send(message, true) === SEND_DROPPED) dropped++;
  },
  close: (ws) => {
    sockets.delete(ws);
    const me = ws.getUserData();
    if (me.peer !== null) me.peer.getUserData().peer = null;
    me.peer = null;
    const pair = pairs.get(me.pair);
    if (pair === undefined) return;
    if (pair[me.side] === ws) pair[me.side] = null;
    if (pair.a === null && pair.b === null) pairs.delete(me.pair);
  },
});

app.listen('127.0.0.1', 0, (listenSocket) => {
  if (listenSocket === false) {
    send({ type: 'error', message: 'bare-uws: cannot listen on 127.0.0.1:0' });
    process.exitCode = 1;
    return;
  }
  const port = uws.us_socket_local_port(listenSocket as unknown as Uws.us_socket);
  send({
    type: 'target',
    target: 'bare-uws',
    pid: process.pid,
    port,
    path: '/',
    uws: source,
    tls: tlsCert !== undefined,
  });
  onShutdown(() => {
    uws.us_listen_socket_close(listenSocket);
    for (const ws of [...sockets]) ws.close();
    send({ type: 'stopped', dropped });
  });
});
