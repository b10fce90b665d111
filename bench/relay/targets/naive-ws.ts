/**
 * The naive relay: the `ws` library's WebSocketServer with its defaults (per-message deflate off,
 * as Ferry's), pairing two sockets by `/?pair=ID&side=a|b` and forwarding each binary message to
 * the peer. ws.send() reports nothing synchronously, so a frame is counted as dropped when the
 * peer is not open or already holds more than the shared backpressure cap, the same cap at which
 * uWS send() returns DROPPED. No idle timeout: ws has none by default. Prints {"type":"target","port":N} once listening on 127.0.0.1:0.
 */
import { WebSocket, WebSocketServer } from 'ws';
import { onShutdown, send } from '../../common/child-side.js';
import { MAX_BACKPRESSURE_BYTES, MAX_PAYLOAD_BYTES, parsePairQuery } from './limits.js';

interface Pair {
  a: WebSocket | null;
  b: WebSocket | null;
}

const pairs = new Map<string, Pair>();
let dropped = 0;

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  maxPayload: MAX_PAYLOAD_BYTES,
});

server.on('connection', (ws, req) => {
  const url = req.url ?? '';
  const query = parsePairQuery(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (query === null) {
    ws.close(1008, 'connect to /?pair=ID&side=a|b');
    return;
  }
  let pair = pairs.get(query.pair);
  if (pair === undefined) {
    pair = { a: null, b: null };
    pairs.set(query.pair, pair);
  }
  const entry = pair;
  entry[query.side] = ws;
  const otherSide = query.side === 'a' ? 'b' : 'a';
  ws.on('message', (data: Buffer, isBinary) => {
    const peer = entry[otherSide];
    if (
      !isBinary ||
      peer === null ||
      peer.readyState !== WebSocket.OPEN ||
      peer.bufferedAmount > MAX_BACKPRESSURE_BYTES
    ) {
      dropped++;
      return;
    }
    peer.send(data, { binary: true });
  });
  ws.on('error', (err) => process.stderr.write(`naive-ws: socket error: ${err.message}\n`));
  ws.on('close', () => {
    if (entry[query.side] === ws) entry[query.side] = null;
    if (entry.a === null && entry.b === null && pairs.get(query.pair) === entry)
      pairs.delete(query.pair);
  });
});

server.on('error', (err) => {
  send({ type: 'error', message: `naive-ws: ${err.message}` });
  process.exitCode = 1;
});

server.on('listening', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  send({ type: 'target', target: 'naive-ws', pid: process.pid, port, path: '/' });
  onShutdown(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of server.clients) ws.terminate();
        server.close(() => {
          send({ type: 'stopped', dropped });
          resolve();
        });
      }),
  );
});
