/**
 * Where a client follows a Redirect (a Hello's, an operation's), a resume URL or an alternate:
 * never from wss:// down to ws:// (whoever can write the directory's Redis could otherwise have
 * the technician's token or the jump client's key sent in clear), and only to ws:// or wss://.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError, redirectTarget } from '../../src/clients/client.js';
import { Codes } from '../../src/protocol/codes.js';

test('a redirect from wss:// to ws:// is refused with a clear message; the other ways are followed', () => {
  const down = redirectTarget('ws://gw-b.example:8443/v1/ws', 0, 'wss://gw-a.example/v1/ws');
  assert.ok(down instanceof FerryError);
  assert.equal(down.code, Codes.PROTOCOL.code);
  assert.match(down.message, /from wss:\/\/ to ws:\/\/ refused/);
  // upper case scheme alike
  assert.ok(
    redirectTarget('WS://gw-b.example/v1/ws', 0, 'WSS://gw-a.example/v1/ws') instanceof FerryError,
  );

  assert.equal(
    redirectTarget('wss://gw-b.example/v1/ws', 0, 'wss://gw-a.example/v1/ws'),
    'wss://gw-b.example/v1/ws',
  );
  assert.equal(
    redirectTarget('wss://gw-b.example/v1/ws', 0, 'ws://gw-a.example/v1/ws'),
    'wss://gw-b.example/v1/ws',
  );
  assert.equal(
    redirectTarget('ws://gw-b.example/v1/ws', 0, 'ws://gw-a.example/v1/ws'),
    'ws://gw-b.example/v1/ws',
  );
  assert.ok(
    redirectTarget('https://gw-b.example/', 0, 'ws://gw-a.example/v1/ws') instanceof FerryError,
  );
  assert.ok(redirectTarget('wss://gw-b.example/v1/ws', 3, 'wss://a/') instanceof FerryError);
});
