import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { Status } from '../../src/session/states.js';
import { activeSession, adminRequest, relayScreen, startGateway } from './harness.js';

const PROTECTED = [
  '/api/v1/status',
  '/api/v1/sessions',
  '/api/v1/sessions/abc',
  '/api/v1/sessions/abc/report',
];

function assertError(reply: { status: number; json: unknown }, status: number, code: string): void {
  assert.equal(reply.status, status);
  const body = reply.json as { error: { code: string; message: string } };
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
}

function assertTypes(
  value: Record<string, unknown>,
  shape: Record<string, string>,
  where: string,
): void {
  assert.deepEqual(Object.keys(value).sort(), Object.keys(shape).sort(), `${where} keys`);
  for (const [key, type] of Object.entries(shape)) {
    const v = value[key];
    const actual = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    assert.ok(type.split('|').includes(actual), `${where}.${key} is ${actual}, expected ${type}`);
  }
}

test('health, readiness and metrics answer without a token; readiness is 503 while draining', async (t) => {
  const gateway = await startGateway(t);
  const health = await adminRequest(gateway, '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { status: 'ok' });
  assert.deepEqual((await adminRequest(gateway, '/readyz')).json, { status: 'ready' });
  assert.equal((await adminRequest(gateway, '/metrics')).status, 200);
  gateway.draining = true;
  const draining = await adminRequest(gateway, '/readyz');
  assert.equal(draining.status, 503);
  assert.deepEqual(draining.json, { status: 'draining' });
  assert.equal((await adminRequest(gateway, '/healthz')).status, 200);
});

test('every status API route answers 401 with a coded JSON error without the token or with a wrong one', async (t) => {
  const gateway = await startGateway(t);
  const wrong = [
    {},
    { token: 'not-the-token' },
    { token: `${gateway.adminToken}x` },
    { authorization: gateway.adminToken },
    { authorization: `Basic ${gateway.adminToken}` },
    { authorization: 'Bearer ' },
  ];
  for (const path of PROTECTED) {
    for (const options of wrong) {
      assertError(await adminRequest(gateway, path, options), 401, 'FERRY_ERR_UNAUTHORIZED');
    }
  }
  const ok = await adminRequest(gateway, '/api/v1/status', {
    authorization: `bearer ${gateway.adminToken}`,
  });
  assert.equal(ok.status, 200, 'the scheme is case-insensitive');
});

test('unknown paths are 404 and other methods 405, both with coded JSON errors', async (t) => {
  const gateway = await startGateway(t);
  const token = gateway.adminToken;
  assertError(await adminRequest(gateway, '/nope'), 404, 'FERRY_ERR_NOT_FOUND');
  assertError(await adminRequest(gateway, '/api/v1/nope', { token }), 404, 'FERRY_ERR_NOT_FOUND');
  assertError(
    await adminRequest(gateway, '/api/v1/sessions/a/b', { token }),
    404,
    'FERRY_ERR_NOT_FOUND',
  );
  assertError(
    await adminRequest(gateway, '/healthz', { method: 'POST' }),
    405,
    'FERRY_ERR_METHOD_NOT_ALLOWED',
  );
  assertError(
    await adminRequest(gateway, '/api/v1/sessions', { method: 'DELETE', token }),
    405,
    'FERRY_ERR_METHOD_NOT_ALLOWED',
  );
});

test('the status endpoint reports the gateway, its connections, sessions by status and relay totals', async (t) => {
  const gateway = await startGateway(t);
  const session = await activeSession(t, gateway);
  const sent = await relayScreen(session, 3);
  const reply = await adminRequest(gateway, '/api/v1/status', { token: gateway.adminToken });
  assert.equal(reply.status, 200);
  assert.match(reply.contentType, /^application\/json/);
  const body = reply.json;
  assertTypes(
    body,
    {
      id: 'string',
      version: 'string',
      uwsSource: 'string',
      location: 'object',
      startedAt: 'string',
      uptimeSeconds: 'number',
      draining: 'boolean',
      connections: 'object',
      sessions: 'object',
      pinAttempts: 'object',
      relay: 'object',
      networkAlerts: 'object',
      errors: 'object',
    },
    'status',
  );
  assert.equal(body.id, gateway.id);
  assert.equal(body.uwsSource, gateway.uwsSource);
  assert.deepEqual(body.location, {
    name: 'Frankfurt, DE',
    region: 'eu-central',
    latitude: null,
    longitude: null,
  });
  assert.ok(Number.isInteger(body.uptimeSeconds) && body.uptimeSeconds >= 0);
  assert.deepEqual(body.connections, {
    total: 2,
    byRole: { pending: 0, technician: 1, customer: 1 },
  });
  assert.deepEqual(Object.keys(body.sessions.byStatus).sort(), Object.values(Status).sort());
  assert.equal(body.sessions.byStatus.ACTIVE, 1);
  assert.equal(body.sessions.live, 1);
  assert.equal(body.sessions.created, 1);
  assert.equal(body.sessions.ended, 0);
  assert.deepEqual(body.pinAttempts, { accepted: 1, rejected: 0 });
  const screen = body.relay.channels.screen;
  assertTypes(
    screen,
    {
      inFrames: 'number',
      inBytes: 'number',
      outFrames: 'number',
      outBytes: 'number',
      dropped: 'number',
    },
    'relay.channels.screen',
  );
  assert.equal(screen.inFrames, sent.frames);
  assert.equal(screen.outBytes, session.tech.screenBytes);
  assert.ok(body.relay.totals.inFrames >= sent.frames);
  assert.equal(body.relay.channels.unspecified, undefined);
});

test('the session list shows each live session with its people and relayed totals', async (t) => {
  const gateway = await startGateway(t);
  const session = await activeSession(t, gateway);
  const sent = await relayScreen(session, 2);
  const reply = await adminRequest(gateway, '/api/v1/sessions', { token: gateway.adminToken });
  assert.equal(reply.status, 200);
  assert.equal(reply.json.count, 1);
  const [item] = reply.json.sessions;
  assertTypes(
    item,
    {
      id: 'string',
      status: 'string',
      createdAt: 'string',
      creator: 'string',
      customerName: 'string|null',
      customerConnected: 'boolean',
      technicians: 'array',
      relayed: 'object',
    },
    'sessions[0]',
  );
  assert.equal(item.id, session.sessionId);
  assert.equal(item.status, 'ACTIVE');
  assert.equal(item.creator, 'tech-1');
  assert.equal(item.customerName, 'Alice');
  assert.equal(item.customerConnected, true);
  assert.deepEqual(item.technicians, [
    { id: item.technicians[0].id, name: 'tech-1', controller: true },
  ]);
  assert.deepEqual(item.relayed, { frames: sent.frames, bytes: sent.bytes, dropped: 0 });
  assert.ok(!Number.isNaN(Date.parse(item.createdAt)));
});

test('a live session shows both participants with their network statistics as plain JSON', async (t) => {
  const gateway = await startGateway(t);
  const session = await activeSession(t, gateway);
  await relayScreen(session, 2);
  const reply = await adminRequest(gateway, `/api/v1/sessions/${session.sessionId}`, {
    token: gateway.adminToken,
  });
  assert.equal(reply.status, 200);
  const body = reply.json;
  assert.equal(body.id, session.sessionId);
  assert.ok(body.relayedByChannel.screen.frames > 0);
  assertTypes(
    body.network,
    { gatewayTime: 'string', location: 'object', overall: 'string', participants: 'array' },
    'network',
  );
  const rows = body.network.participants as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((r) => [r.role, r.displayName]),
    [
      ['customer', 'Alice'],
      ['technician', 'tech-1'],
    ],
  );
  const grades = ['UNKNOWN', 'EXCELLENT', 'GOOD', 'AVERAGE', 'POOR'];
  for (const row of rows) {
    assertTypes(
      row,
      {
        participantId: 'string',
        displayName: 'string',
        role: 'string',
        grade: 'string',
        avgRttMs: 'number',
        lastRttMs: 'number',
        jitterMs: 'number',
        sampleCount: 'number',
        stalledProbes: 'number',
        uploadBps: row.role === 'customer' ? 'number' : 'null',
        downloadBps: row.role === 'technician' ? 'number' : 'null',
        rateSource: 'string',
        peerToPeer: 'boolean',
      },
      `participant ${row.role}`,
    );
    assert.ok(grades.includes(row.grade as string), `grade ${row.grade}`);
    assert.equal(row.rateSource, 'GATEWAY_MEASURED');
  }
  assert.ok(grades.includes(body.network.overall));
});

test('a report is 404 while the session is live and served once the technician closes it', async (t) => {
  const gateway = await startGateway(t);
  const token = gateway.adminToken;
  const session = await activeSession(t, gateway);
  const sent = await relayScreen(session, 2);
  const reportPath = `/api/v1/sessions/${session.sessionId}/report`;
  assertError(
    await adminRequest(gateway, reportPath, { token }),
    404,
    'FERRY_ERR_REPORT_NOT_READY',
  );
  assertError(
    await adminRequest(gateway, '/api/v1/sessions/unknown-id/report', { token }),
    404,
    'FERRY_ERR_SESSION_NOT_FOUND',
  );
  assertError(
    await adminRequest(gateway, '/api/v1/sessions/unknown-id', { token }),
    404,
    'FERRY_ERR_SESSION_NOT_FOUND',
  );

  const closed = waitFor(
    session.tech,
    'status',
    (s) => s.status === ferry.v1.SessionStatus.SESSION_STATUS_CLOSED_BY_TECHNICIAN,
  );
  session.tech.closeSession(session.sessionId, 'done');
  await closed;

  const reply = await adminRequest(gateway, reportPath, { token });
  assert.equal(reply.status, 200);
  const report = reply.json;
  assert.equal(report.id, session.sessionId);
  assert.equal(report.status, 'CLOSED_BY_TECHNICIAN');
  assert.equal(report.creator, 'tech-1');
  assert.equal(report.customer, 'Alice');
  assert.equal(report.relayed.screen.frames, sent.frames);
  assert.ok(Array.isArray(report.statusHistory) && report.statusHistory.length >= 3);
  assertError(
    await adminRequest(gateway, `/api/v1/sessions/${session.sessionId}`, { token }),
    404,
    'FERRY_ERR_SESSION_ENDED',
  );
  const list = await adminRequest(gateway, '/api/v1/sessions', { token });
  assert.equal(list.json.count, 0);
});
