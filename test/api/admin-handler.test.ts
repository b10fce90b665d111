import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createAdminHandler } from '../../src/api/admin.js';
import type { GatewayView, LiveSessionView, OperatorActions } from '../../src/api/gateway-view.js';
import type { AdminReply, AdminRequest } from '../../src/api/http.js';
import type { MeteredConnection } from '../../src/metrics/source.js';
import { Connectivity } from '../../src/netstats/grades.js';
import { Codes, refuse } from '../../src/protocol/codes.js';
import { CHANNEL_COUNT, Channel, Role } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { dropReasonNames, RefusalReasons, RelayStats } from '../../src/relay/stats.js';
import { Status } from '../../src/session/states.js';

const TOKEN = 'admin-secret';
const auth = `Bearer ${TOKEN}`;

function liveSession(id: string): LiveSessionView {
  const tech = { id: 'c1', name: 'tech-1' };
  const relayedFrames = new Float64Array(CHANNEL_COUNT);
  const relayedBytes = new Float64Array(CHANNEL_COUNT);
  relayedFrames[Channel.CHANNEL_SCREEN] = 3;
  relayedBytes[Channel.CHANNEL_SCREEN] = 300;
  return {
    id,
    status: Status.ACTIVE,
    createdAtMs: Date.UTC(2025, 0, 1),
    creator: tech,
    customerInfo: { name: 'Alice' },
    customerLabel: 'Alice at ACME',
    customer: {},
    technicians: [tech],
    controller: tech,
    relayedFrames,
    relayedBytes,
    droppedFrames: new Float64Array(CHANNEL_COUNT),
    recordings: [{ cast: 'shell-1-1.cast', transcript: 'shell-1-1.txt' }],
  };
}

/** Operator actions the read-only tests never reach. */
const noActions: OperatorActions = {
  technicianOf: (token) => (token === 'tech-token' ? 'tech-1' : null),
  endSession: () => refuse(Codes.STATE_CONFLICT, 'not in this test'),
  kick: () => refuse(Codes.STATE_CONFLICT, 'not in this test'),
  revokePin: () => refuse(Codes.STATE_CONFLICT, 'not in this test'),
  revokeSessionPin: () => refuse(Codes.STATE_CONFLICT, 'not in this test'),
  drain: () => refuse(Codes.STATE_CONFLICT, 'not in this test'),
  searchReports: () => ({ reports: [], nextCursor: null }),
  reportJson: () => null,
  reportStored: () => false,
  audit: () => undefined,
  auditTail: () => ({ entries: [], verdict: { ok: true, entries: 0, lastHash: '' } }),
};

/** A plain-object GatewayView: one live session "live-1" and one report "ended-1". */
function fakeView(dataDir: string) {
  const calls = { flushes: 0 };
  const relay = new RelayStats();
  relay.inFrames[Channel.CHANNEL_SCREEN] = 4;
  relay.error('FERRY_ERR_WRONG_ROLE');
  const connections = new Set<MeteredConnection>([
    { role: 0, link: { status: 0 } },
    { role: Role.ROLE_TECHNICIAN, link: { status: Connectivity.CONNECTIVITY_GOOD } },
  ]);
  const view = {
    id: 'gw-test',
    uwsSource: 'uWebSockets.js',
    region: 'eu-central',
    startedAtMs: Date.now() - 5000,
    draining: false as boolean,
    adminToken: TOKEN,
    actions: {
      ...noActions,
      // the report of "ended-1" below, as the gateway's actions answer it
      reportJson: (id: string) =>
        id === 'ended-1' ? JSON.stringify({ id: 'ended-1', recordings: [] }) : null,
    },
    connections,
    relay,
    sessionTotals: {
      counts: () => ({ ACTIVE: 1 }),
      created: 2,
      ended: 1,
      openPins: 0,
      pinAccepted: 2,
      pinRejected: 1,
      pinRateLimited: 0,
      refusedTransitions: 0,
    },
    sendBudget: { used: 0, limitBytes: 1000 },
    retained: { used: 0, limit: 1000, spills: 0, spilledBytes: 0 },
    refused: { address_limit: 0, origin: 0, draining: 0 },
    netstats: { alertsRaised: 0, alertsCleared: 0 },
    labels: {
      statuses: Object.values(Status),
      dropReasons: dropReasonNames,
      refusalReasons: RefusalReasons,
    },
    location: { name: 'Frankfurt, DE', region: 'eu-central', latitude: null, longitude: null },
    metrics: { contentType: 'text/plain; version=0.0.4', text: async () => 'ferry_up 1\n' },
    sessions: new Map([['live-1', liveSession('live-1')]]),
    reports: new Map([
      ['ended-1', { id: 'ended-1', recordings: [] as { cast: string; transcript: string }[] }],
    ]),
    networkStats: (): ferry.v1.INetworkStats => ({
      gatewayTimeUnixMs: Date.UTC(2025, 0, 1),
      overall: Connectivity.CONNECTIVITY_GOOD,
      participants: [
        {
          participantId: 'c1',
          displayName: 'tech-1',
          role: Role.ROLE_TECHNICIAN,
          status: Connectivity.CONNECTIVITY_GOOD,
          avgRttMs: 60.0004,
          rateSource: ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED,
        },
      ],
    }),
    recordingsFlushed: () => {
      calls.flushes++;
      return Promise.resolve();
    },
    recordingPath: (sessionId: string, file: string) =>
      /^shell-\d+-\d+\.(cast|txt)$/.test(file) ? path.join(dataDir, sessionId, file) : null,
    gateways: () => Promise.resolve([]),
    technicians: () => Promise.resolve([]),
  } satisfies GatewayView;
  return { view, calls };
}

function setup(t: { after: (fn: () => void) => void }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-admin-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const { view, calls } = fakeView(dataDir);
  const handler = createAdminHandler(view);
  const get = async (
    urlPath: string,
    options: Partial<AdminRequest> = {},
    // biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
  ): Promise<AdminReply & { json: any }> => {
    const reply = await handler({ method: 'GET', path: urlPath, authorization: '', ...options });
    const json = reply.contentType === 'application/json' ? JSON.parse(reply.body) : undefined;
    return { ...reply, json };
  };
  return { dataDir, view, calls, get };
}

test('health and metrics need no token, readiness turns 503 while the view says draining', async (t) => {
  const { view, get } = setup(t);
  assert.deepEqual((await get('/healthz')).json, { status: 'ok' });
  assert.deepEqual((await get('/readyz')).json, { status: 'ready' });
  const metrics = await get('/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.contentType, 'text/plain; version=0.0.4');
  assert.equal(metrics.body, 'ferry_up 1\n');
  view.draining = true;
  const draining = await get('/readyz');
  assert.equal(draining.status, 503);
  assert.deepEqual(draining.json, { status: 'draining' });
});

test('the status routes want the bearer token and other methods are refused', async (t) => {
  const { get } = setup(t);
  const denied = await get('/api/v1/status', { authorization: 'Bearer wrong' });
  assert.equal(denied.status, 401);
  assert.equal(denied.json.error.code, 'FERRY_ERR_UNAUTHORIZED');
  const technician = await get('/api/v1/status', { authorization: 'Bearer tech-token' });
  assert.equal(technician.status, 403);
  assert.equal(technician.json.error.code, 'FERRY_ERR_FORBIDDEN');
  const posted = await get('/api/v1/status', { method: 'POST', authorization: auth });
  assert.equal(posted.status, 405);
  assert.equal(posted.json.error.code, 'FERRY_ERR_METHOD_NOT_ALLOWED');
  const unknown = await get('/api/v1/nope', { authorization: auth });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'FERRY_ERR_NOT_FOUND');
});

test('the status summary is built from the view alone, every session status listed', async (t) => {
  const { get } = setup(t);
  const reply = await get('/api/v1/status/', { authorization: auth });
  assert.equal(reply.status, 200);
  const body = reply.json;
  assert.equal(body.id, 'gw-test');
  assert.equal(body.uwsSource, 'uWebSockets.js');
  assert.deepEqual(body.location, {
    name: 'Frankfurt, DE',
    region: 'eu-central',
    latitude: null,
    longitude: null,
  });
  assert.ok(body.uptimeSeconds >= 5);
  assert.deepEqual(body.connections, {
    total: 2,
    byRole: { pending: 1, technician: 1, customer: 0 },
  });
  assert.deepEqual(Object.keys(body.sessions.byStatus), Object.values(Status));
  assert.equal(body.sessions.byStatus.ACTIVE, 1);
  assert.equal(body.sessions.byStatus.WAITING, 0);
  assert.deepEqual(
    { live: body.sessions.live, created: body.sessions.created, ended: body.sessions.ended },
    { live: 1, created: 2, ended: 1 },
  );
  assert.deepEqual(body.pinAttempts, { accepted: 2, rejected: 1 });
  assert.equal(body.relay.channels.screen.inFrames, 4);
  assert.equal(body.relay.totals.inFrames, 4);
  assert.deepEqual(body.errors, { FERRY_ERR_WRONG_ROLE: 1 });
});

test('a live session is listed and detailed with its network statistics from the view', async (t) => {
  const { get } = setup(t);
  const list = await get('/api/v1/sessions', { authorization: auth });
  assert.equal(list.json.count, 1);
  assert.deepEqual(list.json.sessions[0], {
    id: 'live-1',
    status: 'ACTIVE',
    createdAt: '2025-01-01T00:00:00.000Z',
    creator: 'tech-1',
    customerName: 'Alice',
    customerConnected: true,
    technicians: [{ id: 'c1', name: 'tech-1', controller: true }],
    relayed: { frames: 3, bytes: 300, dropped: 0 },
  });
  const detail = await get('/api/v1/sessions/live-1', { authorization: auth });
  assert.equal(detail.status, 200);
  assert.deepEqual(detail.json.relayedByChannel, { screen: { frames: 3, bytes: 300, dropped: 0 } });
  assert.equal(detail.json.network.overall, 'GOOD');
  const [row] = detail.json.network.participants;
  assert.equal(row.role, 'technician');
  assert.equal(row.grade, 'GOOD');
  assert.equal(row.avgRttMs, 60);
  assert.equal(row.rateSource, 'GATEWAY_MEASURED');
});

test('ended sessions answer with their report, and live ones have none yet', async (t) => {
  const { get } = setup(t);
  const ended = await get('/api/v1/sessions/ended-1', { authorization: auth });
  assert.equal(ended.status, 404);
  assert.equal(ended.json.error.code, 'FERRY_ERR_SESSION_ENDED');
  assert.deepEqual((await get('/api/v1/sessions/ended-1/report', { authorization: auth })).json, {
    id: 'ended-1',
    recordings: [],
  });
  const notReady = await get('/api/v1/sessions/live-1/report', { authorization: auth });
  assert.equal(notReady.json.error.code, 'FERRY_ERR_REPORT_NOT_READY');
  const none = await get('/api/v1/sessions/nobody/report', { authorization: auth });
  assert.equal(none.json.error.code, 'FERRY_ERR_SESSION_NOT_FOUND');
});

test('only a listed recording is read, from the file the view names', async (t) => {
  const { dataDir, calls, get } = setup(t);
  fs.mkdirSync(path.join(dataDir, 'live-1'));
  fs.writeFileSync(path.join(dataDir, 'live-1', 'shell-1-1.cast'), '{"version":2}\n');
  const list = await get('/api/v1/sessions/live-1/recordings', { authorization: auth });
  assert.deepEqual(list.json, {
    sessionId: 'live-1',
    recordings: [{ cast: 'shell-1-1.cast', transcript: 'shell-1-1.txt' }],
  });
  const cast = await get('/api/v1/sessions/live-1/recordings/shell-1-1.cast', {
    authorization: auth,
  });
  assert.equal(cast.status, 200);
  assert.equal(cast.contentType, 'application/x-asciicast');
  assert.equal(cast.body, '{"version":2}\n');
  assert.equal(calls.flushes, 1, 'recordings are flushed before a file is read');
  const missing = await get('/api/v1/sessions/live-1/recordings/shell-1-1.txt', {
    authorization: auth,
  });
  assert.equal(missing.status, 404);
  assert.match(missing.json.error.message, /not on disk/);
  const unlisted = await get('/api/v1/sessions/live-1/recordings/shell-2-1.cast', {
    authorization: auth,
  });
  assert.equal(unlisted.status, 404);
  assert.match(unlisted.json.error.message, /has no recording/);
});
