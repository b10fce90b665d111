import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadUws } from '../../src/transport/uws.js';
import { activeSession, startGateway } from '../api/harness.js';

// A drain closes the client port when it starts and the gateway closes it again when it stops.
// A second us_listen_socket_close on one socket is a use after free in the native library: the
// process crashed with SIGSEGV in about one drain of ten before Listening.close() became
// idempotent. The native call is wrapped (and still made) to count what reaches it.
test('a drain closes each listening socket exactly once in the native library', async (t) => {
  const { uws } = loadUws();
  const closes = t.mock.method(uws, 'us_listen_socket_close');
  const gateway = await startGateway(t);
  const { tech, sessionId } = await activeSession(t, gateway);
  const drained = gateway.drain('test drain', 60_000);
  await tech.endSession(sessionId, 'done before the deadline');
  await drained;
  await gateway.close('again');
  const sockets = closes.mock.calls.map((call) => call.arguments[0]);
  assert.equal(sockets.length, 2, 'the client port and the admin port');
  assert.notEqual(sockets[0], sockets[1], 'no socket closed twice');
});
