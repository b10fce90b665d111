/**
 * Bad direct-path signalling (docs/direct-path.md): the gateway refuses malformed offers,
 * answers and candidates with a coded error, refuses signalling from anybody but the attempt's
 * two ends, caps candidates per attempt, and never passes on a candidate at a link-local
 * address, at one of its own ports, or outside `--p2p-networks`. The technician here signals by
 * hand: its Hello says `direct`, but it has no DirectLink answering for it.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../integration/harness.js';

const LOOPBACK = { networks: ['127.0.0.0/8'] };

const candidate = (address: string, port: number, type = 'host') =>
  `candidate:1 1 udp 2130706431 ${address} ${port} typ ${type}`;

function technicianFor(gateway: Gateway, url: string, name: string): TechnicianClient {
  return new TechnicianClient({
    url,
    token: issueToken(gateway.config.secret, name, 3600),
    name,
    direct: LOOPBACK,
  });
}

/** An Active session whose technician signals by hand; resolves with the gateway's DirectOpen. */
async function manualAttempt(t: TestContext) {
  const { gateway, url } = await startGateway(t, { p2pNetworks: '127.0.0.0/8' });
  const tech = technicianFor(gateway, url, 'tech-1');
  t.after(() => tech.close());
  await tech.connect();
  tech.direct = null; // the test answers for it
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url,
    pin,
    name: 'Alice',
    consent: ['view', 'control'],
    direct: LOOPBACK,
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  const opened = waitFor(tech, 'control', (c: ferry.v1.Control) => c.directOpen != null);
  await tech.pickUp(sessionId);
  await tech.requestConsent(['view', 'control']);
  const open = (await opened)[0].directOpen!;
  const errors: ferry.v1.Error[] = [];
  tech.on('gatewayError', (e) => errors.push(e));
  const statuses: ferry.v1.IDirectStatus[] = [];
  tech.on('event', (e) => {
    if (e.directStatus) statuses.push(e.directStatus);
  });
  /** Sends a signal and resolves with the Errors it caused (the gateway answers in order). */
  const signal = async (body: ferry.v1.IDirectSignal): Promise<string[]> => {
    const from = errors.length;
    tech.notify({ directSignal: body });
    await tech.request({ chatHistoryRequest: {} });
    return errors.slice(from).map((e) => e.code);
  };
  return { gateway, url, tech, customer, sessionId, open, signal, errors, statuses };
}

test('the gateway refuses malformed offers, answers and candidates with FERRY_ERR_SIGNAL_INVALID, and unknown attempts with FERRY_ERR_WRONG_STATE', async (t) => {
  const { open, signal, gateway, tech, customer } = await manualAttempt(t);
  const pathId = open.pathId ?? 0;
  assert.equal(open.offerer, true);
  assert.ok((open.token ?? '').length >= 20, 'a token of at least 128 bits');

  assert.deepEqual(await signal({ pathId, description: { type: 'offer', sdp: 'hello' } }), [
    'FERRY_ERR_SIGNAL_INVALID',
  ]);
  assert.deepEqual(
    await signal({
      pathId,
      description: {
        type: 'answer',
        sdp: 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n',
      },
    }),
    ['FERRY_ERR_SIGNAL_INVALID'],
  );
  const noDataChannel = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n';
  assert.deepEqual(await signal({ pathId, description: { type: 'offer', sdp: noDataChannel } }), [
    'FERRY_ERR_SIGNAL_INVALID',
  ]);
  assert.deepEqual(await signal({ pathId, candidate: { candidate: 'candidate:garbage' } }), [
    'FERRY_ERR_SIGNAL_INVALID',
  ]);
  assert.deepEqual(
    await signal({ pathId }),
    ['FERRY_ERR_SIGNAL_INVALID'],
    'neither description nor candidate',
  );
  assert.deepEqual(
    await signal({ pathId: pathId + 100, candidate: { candidate: candidate('127.0.0.1', 5000) } }),
    ['FERRY_ERR_WRONG_STATE'],
  );
  // a report before the path is up
  const from = (await signal({ pathId, candidate: { candidate: '' } })).length;
  assert.equal(from, 0, 'an end-of-candidates is passed on');
  tech.notify({ directReport: { pathId, bytesSent: 1 } });
  const [notUp] = await waitFor(
    tech,
    'gatewayError',
    (e: ferry.v1.Error) => e.code === 'FERRY_ERR_WRONG_STATE',
  );
  assert.match(notUp.message, /not up/);

  // the gateway and the session are unharmed
  customer.chat('still here');
  await waitFor(tech, 'chat', (c) => c.text === 'still here');
  assert.equal(gateway.relay.direct.counters.signalsRefused, 6);
});

test("candidates at link-local addresses, at the gateway's own ports, outside --p2p-networks or of type relay are not passed on; 32 per attempt at most", async (t) => {
  const { open, signal, gateway } = await manualAttempt(t);
  const pathId = open.pathId ?? 0;
  const counters = gateway.relay.direct.counters;
  const dropped = (verdict: string) => counters.candidatesDropped.get(verdict) ?? 0;

  assert.deepEqual(
    await signal({ pathId, candidate: { candidate: candidate('169.254.169.254', 80) } }),
    [],
  );
  assert.equal(dropped('link-local'), 1);
  assert.deepEqual(
    await signal({ pathId, candidate: { candidate: candidate('127.0.0.1', gateway.adminPort) } }),
    [],
  );
  assert.deepEqual(
    await signal({ pathId, candidate: { candidate: candidate('127.0.0.1', gateway.port) } }),
    [],
  );
  assert.equal(dropped('own-port'), 2);
  assert.deepEqual(
    await signal({ pathId, candidate: { candidate: candidate('10.1.2.3', 5000) } }),
    [],
  );
  assert.equal(dropped('network'), 1);
  assert.deepEqual(
    await signal({ pathId, candidate: { candidate: candidate('127.0.0.1', 5000, 'relay') } }),
    [],
  );
  assert.equal(dropped('policy'), 1);
  assert.equal(counters.candidatesPassed, 0);

  const codes: string[] = [];
  for (let i = 0; i < 34; i++) {
    codes.push(
      ...(await signal({ pathId, candidate: { candidate: candidate('127.0.0.1', 40_000 + i) } })),
    );
  }
  assert.equal(counters.candidatesPassed, 32);
  assert.deepEqual(codes, ['FERRY_ERR_CANDIDATE_LIMIT'], 'told once, then dropped quietly');
  assert.equal(dropped('limit'), 2);
});

test('only the customer and the technician in control may signal: a collaborator gets FERRY_ERR_WRONG_ROLE', async (t) => {
  const { open, gateway, url, tech, sessionId } = await manualAttempt(t);
  const helper = technicianFor(gateway, url, 'tech-2');
  t.after(() => helper.close());
  await helper.connect();
  await tech.invite('tech-2');
  await helper.acceptInvitation(sessionId);
  helper.notify({
    directSignal: { pathId: open.pathId, candidate: { candidate: candidate('127.0.0.1', 5000) } },
  });
  const [refused] = await waitFor(
    helper,
    'gatewayError',
    (e: ferry.v1.Error) => e.code === 'FERRY_ERR_WRONG_ROLE',
  );
  assert.match(refused.message, /technician in control/);
  assert.equal(gateway.relay.direct.counters.candidatesPassed, 0);
});

test('a signal of an attempt that just ended crosses its close and is dropped without an error', async (t) => {
  const { open, signal, tech, gateway, statuses } = await manualAttempt(t);
  tech.notify({
    directClose: {
      pathId: open.pathId,
      cause: ferry.v1.DirectCloseCause.DIRECT_CLOSE_FAILED,
      reason: 'no route',
    },
  });
  assert.deepEqual(
    await signal({ pathId: open.pathId, candidate: { candidate: candidate('127.0.0.1', 5000) } }),
    [],
  );
  assert.equal(gateway.relay.direct.counters.closed.get('DIRECT_CLOSE_FAILED'), 1);
  // and the technician is told the session is relayed, why, and when the next attempt comes
  const last = statuses.at(-1)!;
  assert.equal(last.state, ferry.v1.DirectState.DIRECT_STATE_RELAYED);
  assert.match(last.reason ?? '', /no route.*next attempt in 2 s/);
  assert.ok((last.retryInMs ?? 0) > 0);
});

test('a DirectClose from an end is a failure whatever cause it names: the next attempt waits for the back-off', async (t) => {
  const { open, tech, gateway, statuses } = await manualAttempt(t);
  const opens: ferry.v1.IDirectOpen[] = [];
  tech.on('control', (c) => {
    if (c.directOpen) opens.push(c.directOpen);
  });
  const notEligible = ferry.v1.DirectCloseCause.DIRECT_CLOSE_NOT_ELIGIBLE;
  tech.notify({ directClose: { pathId: open.pathId, cause: notEligible, reason: 'x\u0000y' } });
  await tech.request({ chatHistoryRequest: {} });
  assert.deepEqual([...gateway.relay.direct.counters.closed], [['DIRECT_CLOSE_CLOSED', 1]]);
  assert.equal(opens.length, 0, 'no new attempt in the same turn');
  assert.equal(gateway.relay.direct.counters.opened, 1);
  const last = statuses.at(-1)!;
  assert.ok((last.retryInMs ?? 0) > 0);
  assert.match(last.reason ?? '', /technician's end: xy/);
});
