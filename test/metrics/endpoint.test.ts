import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FerryError, waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { GatewayHooks } from '../../src/gateway.js';
import { Channel } from '../../src/protocol/frames.js';
import { Status } from '../../src/session/states.js';
import {
  activeSession,
  adminRequest,
  clientUrl,
  relayScreen,
  startGateway,
} from '../api/harness.js';
import { promtool } from '../deploy/promtool.js';
import { parseExposition, value } from './exposition.js';

/** Hooks that count RTT samples per role and let a test wait for a number of them. */
function sampleCounter() {
  const seen = [0, 0, 0];
  const waiters: (() => void)[] = [];
  const hooks: GatewayHooks = {
    onRttSample: (conn) => {
      seen[conn.role]!++;
      for (const wake of waiters.splice(0)) wake();
    },
  };
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { seen, hooks, until };
}

test('the /metrics exposition of a gateway relaying a session passes promtool check metrics', async (t) => {
  const { seen, hooks, until } = sampleCounter();
  const gateway = await startGateway(t, hooks);
  const session = await activeSession(t, gateway);
  await relayScreen(session, 5);
  await until(() => seen[1]! >= 1 && seen[2]! >= 1);
  const reply = await adminRequest(gateway, '/metrics');
  assert.equal(reply.status, 200);
  assert.match(reply.contentType, /^text\/plain; version=0\.0\.4/);
  const checked = promtool(t, ['check', 'metrics'], reply.text);
  if (checked === null) return;
  assert.equal(checked.status, 0, checked.output);
});

test('relayed frames and bytes on /metrics equal what the customer sent and the technician received', async (t) => {
  const gateway = await startGateway(t);
  const session = await activeSession(t, gateway);
  const sent = await relayScreen(session, 7);
  assert.ok(sent.frames > 0);
  const exp = parseExposition((await adminRequest(gateway, '/metrics')).text);
  const screen = (direction: string) => ({ channel: 'screen', direction });
  assert.equal(value(exp, 'ferry_relayed_frames_total', screen('in')), sent.frames);
  assert.equal(value(exp, 'ferry_relayed_bytes_total', screen('in')), sent.bytes);
  assert.equal(value(exp, 'ferry_relayed_frames_total', screen('out')), session.tech.screenFrames);
  assert.equal(value(exp, 'ferry_relayed_bytes_total', screen('out')), session.tech.screenBytes);
  assert.equal(session.tech.screenFrames, sent.frames);
  assert.equal(
    value(exp, 'ferry_dropped_frames_total', { channel: 'screen', reason: 'slow_consumer' }),
    0,
  );
  assert.equal(value(exp, 'ferry_connections', { role: 'technician' }), 1);
  assert.equal(value(exp, 'ferry_connections', { role: 'customer' }), 1);
  assert.equal(value(exp, 'ferry_connections_opened_total'), 2);
  assert.equal(value(exp, 'ferry_sessions', { status: Status.ACTIVE }), 1);
  assert.equal(value(exp, 'ferry_sessions', { status: Status.WAITING }), 0);
  assert.equal(value(exp, 'ferry_sessions_created_total'), 1);
  assert.equal(value(exp, 'ferry_pin_attempts_total', { result: 'accepted' }), 1);
  assert.equal(
    value(exp, 'ferry_gateway_info', {
      id: gateway.id,
      version: exp.samples.find((s) => s.name === 'ferry_gateway_info')!.labels.version!,
      region: 'eu-central',
      uws: gateway.uwsSource,
    }),
    1,
  );
  assert.ok(
    exp.names.has('process_cpu_seconds_total'),
    'default process metrics keep their standard names',
  );
  assert.ok(exp.names.has('nodejs_eventloop_lag_seconds'));
});

test('heartbeat samples fill the RTT histogram of each role and participants get a grade', async (t) => {
  const { seen, hooks, until } = sampleCounter();
  const gateway = await startGateway(t, hooks);
  await activeSession(t, gateway);
  await until(() => seen[1]! >= 3 && seen[2]! >= 3);
  const observed = [...seen];
  const exp = parseExposition((await adminRequest(gateway, '/metrics')).text);
  for (const [role, index] of [
    ['technician', 1],
    ['customer', 2],
  ] as const) {
    const count = value(exp, 'ferry_rtt_seconds_count', { role });
    assert.ok(count >= observed[index]!, `${role}: ${count} >= ${observed[index]}`);
    assert.equal(value(exp, 'ferry_rtt_seconds_bucket', { role, le: '+Inf' }), count);
    const graded = exp.samples
      .filter(
        (s) =>
          s.name === 'ferry_participants' && s.labels.role === role && s.labels.grade !== 'UNKNOWN',
      )
      .reduce((n, s) => n + s.value, 0);
    assert.equal(graded, 1, `${role} has a grade after 3 samples`);
  }
});

test('refused PINs and coded errors are counted by result and by code', async (t) => {
  const gateway = await startGateway(t);
  const session = await activeSession(t, gateway);
  const intruder = new CustomerClient({ url: clientUrl(gateway), pin: '000000000' });
  t.after(() => intruder.close());
  await assert.rejects(
    intruder.connect(),
    (err: FerryError) => err.code === 'FERRY_ERR_PIN_INVALID',
  );
  const refused = waitFor(
    session.customer,
    'gatewayError',
    (e) => e.code === 'FERRY_ERR_WRONG_ROLE',
  );
  session.customer.send({ channel: Channel.CHANNEL_INPUT, input: { move: { x: 1, y: 1 } } });
  await refused;
  const exp = parseExposition((await adminRequest(gateway, '/metrics')).text);
  assert.equal(value(exp, 'ferry_pin_attempts_total', { result: 'rejected' }), 1);
  assert.equal(value(exp, 'ferry_errors_total', { code: 'FERRY_ERR_PIN_INVALID' }), 1);
  assert.equal(value(exp, 'ferry_errors_total', { code: 'FERRY_ERR_WRONG_ROLE' }), 1);
  assert.equal(value(exp, 'ferry_relayed_frames_total', { channel: 'input', direction: 'in' }), 1);
  assert.equal(value(exp, 'ferry_relayed_frames_total', { channel: 'input', direction: 'out' }), 0);
});
