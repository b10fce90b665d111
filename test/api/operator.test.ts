/**
 * Operator actions on the admin API, through a real gateway and the reference clients: ending a
 * session, kicking a collaborator, revoking a PIN and draining, with their coded refusals
 * (401, 403, 404, 409) and the audit entry each one leaves; and `ferry admin`, which wraps them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { type AuditEntry, verifyAuditLog } from '../../src/audit/audit-log.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import type { Gateway } from '../../src/gateway.js';
import type { ferry } from '../../src/protocol/gen/ferry.js';
import { hs256Subject, issueJwt } from '../../src/session/jwt.js';
import { issueToken } from '../../src/session/tokens.js';
import {
  activeSession,
  activeWithCollaborator,
  startGateway,
  technician,
} from '../integration/harness.js';
import { adminRequest } from './harness.js';

const auditEntries = (gateway: Gateway): AuditEntry[] => gateway.audit.tail(10_000);

const closeOf = (client: CustomerClient | TechnicianClient) =>
  new Promise<{ code: number; reason: string }>((resolve) => {
    client.once('close', (code: number, reason: string) => resolve({ code, reason }));
  });

test('an operator ends a live session: the customer is told and let go with 4100, and the action is audited', async (t) => {
  const { gateway } = await startGateway(t);
  const { customer, sessionId } = await activeSession(t, gateway);
  const statuses: string[] = [];
  customer.on('status', (s: ferry.v1.StatusChanged) => statuses.push(String(s.status)));
  const closed = closeOf(customer);
  const token = gateway.adminToken;

  const ended = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/end`, {
    method: 'POST',
    token,
    body: { reason: 'fraud suspected' },
    headers: { 'x-ferry-operator': 'olivia' },
  });
  assert.equal(ended.status, 200);
  assert.deepEqual(ended.json, {
    sessionId,
    ended: true,
    status: 'CLOSED_BY_TECHNICIAN',
    reason: 'fraud suspected',
  });
  assert.equal((await closed).code, 4100, 'a normal session end, not an error');
  assert.ok(statuses.length > 0, 'the customer saw the status change before the close');

  await gateway.reportsWritten();
  const report = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/report`, { token });
  assert.equal(report.json.endReason, 'ended by an operator: fraud suspected');
  assert.ok(
    report.json.log.some(
      (e: { type?: string; actor?: string }) =>
        e.type === 'operator_close' && e.actor === 'admin:olivia',
    ),
  );

  const again = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/end`, {
    method: 'POST',
    token,
    body: { reason: 'twice' },
  });
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, 'FERRY_ERR_SESSION_ENDED');
  const unknown = await adminRequest(gateway, '/api/v1/sessions/nosuchsession/end', {
    method: 'POST',
    token,
    body: { reason: 'x' },
  });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'FERRY_ERR_SESSION_NOT_FOUND');
  const noReason = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/end`, {
    method: 'POST',
    token,
  });
  assert.equal(noReason.status, 400);
  assert.equal(noReason.json.error.code, 'FERRY_ERR_BAD_REQUEST');
  const notJson = await fetch(
    `http://127.0.0.1:${gateway.adminPort}/api/v1/sessions/${sessionId}/end`,
    { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '[1,2' },
  );
  assert.equal(notJson.status, 400);

  const ends = auditEntries(gateway).filter((e) => e.action === 'session.end');
  assert.deepEqual(
    ends.map((e) => [e.actor, e.target, e.status, e.code]),
    [
      ['admin:olivia', sessionId, 200, ''],
      ['admin', sessionId, 409, 'FERRY_ERR_SESSION_ENDED'],
      ['admin', 'nosuchsession', 404, 'FERRY_ERR_SESSION_NOT_FOUND'],
      ['admin', sessionId, 400, 'FERRY_ERR_BAD_REQUEST'],
      ['admin', sessionId, 400, 'FERRY_ERR_BAD_REQUEST'],
    ],
  );
  assert.equal(ends[0]!.address, '127.0.0.1');
  assert.match(ends[0]!.detail, /reason: fraud suspected/);
  assert.ok(Math.abs(Date.parse(ends[0]!.at) - Date.now()) < 60_000);
  assert.equal(verifyAuditLog(gateway.audit.file).ok, true);
});

test('operator routes want the admin token: none is 401, a technician token 403, and both are audited', async (t) => {
  const { gateway } = await startGateway(t);
  const techToken = issueToken(gateway.config.secret, 'tech-1', 3600);
  // the JWT `ferry token issue` mints (HS256 with the gateway secret)
  const techJwt = await issueJwt(gateway.config.secret, 'tech-1', 3600, {
    audience: gateway.config.tokenAudience,
    issuer: gateway.config.tokenIssuer,
  });
  assert.equal(hs256Subject(gateway.config.secret, techJwt), 'tech-1');
  assert.equal(hs256Subject('another secret', techJwt), null, 'a token of another gateway');
  const routes: [string, string][] = [
    ['POST', '/api/v1/sessions/abc/end'],
    ['POST', '/api/v1/sessions/abc/participants/c1/kick'],
    ['POST', '/api/v1/sessions/abc/pin/revoke'],
    ['DELETE', '/api/v1/pins/123456'],
    ['POST', '/api/v1/drain'],
    ['GET', '/api/v1/reports'],
    ['GET', '/api/v1/audit'],
  ];
  for (const [method, path] of routes) {
    const body = method === 'GET' ? undefined : { reason: 'r' };
    const none = await adminRequest(gateway, path, { method, body });
    assert.equal(none.status, 401, `${method} ${path} without a token`);
    assert.equal(none.json.error.code, 'FERRY_ERR_UNAUTHORIZED');
    for (const token of [techToken, techJwt]) {
      const tech = await adminRequest(gateway, path, { method, token, body });
      assert.equal(tech.status, 403, `${method} ${path} with a technician token`);
      assert.equal(tech.json.error.code, 'FERRY_ERR_FORBIDDEN');
    }
  }
  const wrongMethod = await adminRequest(gateway, '/api/v1/drain', { token: gateway.adminToken });
  assert.equal(wrongMethod.status, 405);
  assert.equal(gateway.draining, false, 'nothing was drained');
  const entries = auditEntries(gateway);
  assert.equal(entries.filter((e) => e.actor === 'anonymous' && e.status === 401).length, 6);
  assert.equal(
    entries.filter((e) => e.actor === 'technician:tech-1' && e.status === 403).length,
    12,
    'six refusals for each kind of technician token',
  );
});

test('an operator kicks a collaborator; the owner and customer cannot be kicked and unknown ids are 404', async (t) => {
  const { gateway } = await startGateway(t);
  const { sessionId } = await activeWithCollaborator(t, gateway);
  const token = gateway.adminToken;
  const detail = await adminRequest(gateway, `/api/v1/sessions/${sessionId}`, { token });
  const people = detail.json.technicians as { id: string; name: string }[];
  const helperId = people.find((p) => p.name === 'tech-2')!.id;
  const ownerId = people.find((p) => p.name === 'tech-1')!.id;
  const customerId = (
    detail.json.network.participants as { participantId: string; role: string }[]
  ).find((p) => p.role === 'customer')!.participantId;

  const kicked = await adminRequest(
    gateway,
    `/api/v1/sessions/${sessionId}/participants/${helperId}/kick`,
    { method: 'POST', token, body: { reason: 'not on this case' } },
  );
  assert.equal(kicked.status, 200);
  assert.deepEqual(kicked.json, {
    sessionId,
    participantId: helperId,
    name: 'tech-2',
    kicked: true,
  });
  const after = await adminRequest(gateway, `/api/v1/sessions/${sessionId}`, { token });
  assert.deepEqual(
    after.json.technicians.map((p: { name: string }) => p.name),
    ['tech-1'],
  );
  assert.equal(after.json.status, 'ACTIVE', 'collaboration ended with the last collaborator');

  for (const id of [ownerId, customerId]) {
    const refused = await adminRequest(
      gateway,
      `/api/v1/sessions/${sessionId}/participants/${id}/kick`,
      { method: 'POST', token },
    );
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, 'FERRY_ERR_STATE_CONFLICT');
  }
  const nobody = await adminRequest(
    gateway,
    `/api/v1/sessions/${sessionId}/participants/nobody/kick`,
    { method: 'POST', token },
  );
  assert.equal(nobody.status, 404);
  assert.equal(nobody.json.error.code, 'FERRY_ERR_PARTICIPANT_NOT_FOUND');
  const kicks = auditEntries(gateway).filter((e) => e.action === 'participant.kick');
  assert.deepEqual(
    kicks.map((e) => e.status),
    [200, 409, 409, 404],
  );
  assert.equal(kicks[0]!.target, `${sessionId}/${helperId}`);
});

test('revoking a PIN ends the session waiting on it; the PIN opens nothing after, and a used PIN is a conflict', async (t) => {
  const { gateway, url } = await startGateway(t);
  const tech = await technician(t, gateway, 'tech-1');
  const { sessionId, pin } = await tech.createSession('Bob');
  const told = new Promise<ferry.v1.Error>((resolve) => tech.once('gatewayError', resolve));
  const token = gateway.adminToken;

  const revoked = await adminRequest(gateway, `/api/v1/pins/${pin}`, { method: 'DELETE', token });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.json.sessionId, sessionId);
  assert.equal(
    (await told).code,
    'FERRY_ERR_PIN_EXPIRED',
    'the technician hears its session ended',
  );
  const gone = await adminRequest(gateway, `/api/v1/pins/${pin}`, { method: 'DELETE', token });
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'FERRY_ERR_PIN_NOT_FOUND');
  const late = new CustomerClient({ url, pin, name: 'Bob' });
  t.after(() => late.close());
  await assert.rejects(late.connect(), /PIN/);

  const { sessionId: activeId } = await activeSession(t, gateway);
  const used = await adminRequest(gateway, `/api/v1/sessions/${activeId}/pin/revoke`, {
    method: 'POST',
    token,
  });
  assert.equal(used.status, 409);
  assert.equal(used.json.error.code, 'FERRY_ERR_STATE_CONFLICT');
  const revokes = auditEntries(gateway).filter((e) => e.action === 'pin.revoke');
  assert.deepEqual(
    revokes.map((e) => [e.status, e.target]),
    [
      [200, 'pin'],
      [404, 'pin'],
      [409, activeId],
    ],
  );
  assert.ok(!revokes.some((e) => JSON.stringify(e).includes(pin)), 'the PIN is not in the log');
  assert.match(revokes[0]!.detail, new RegExp(sessionId));
});

test('an operator drains the gateway through the API: no new connections, clients told, and it stops once sessions end', async (t) => {
  const { gateway, url } = await startGateway(t);
  const { tech, sessionId } = await activeSession(t, gateway);
  const closing = new Promise<ferry.v1.Event>((resolve) => {
    tech.on('event', (e: ferry.v1.Event) => {
      if (e.closing) resolve(e);
    });
  });
  const token = gateway.adminToken;
  const drained = await adminRequest(gateway, '/api/v1/drain', {
    method: 'POST',
    token,
    body: { reason: 'maintenance window', deadlineSeconds: 600 },
  });
  assert.equal(drained.status, 202);
  assert.deepEqual(drained.json, {
    draining: true,
    sessions: 1,
    deadlineSeconds: 600,
    move: false,
  });
  const event = await closing;
  assert.equal(event.closing!.reason, 'maintenance window');
  assert.equal(Number(event.closing!.deadlineMs), 600_000);
  assert.equal((await adminRequest(gateway, '/readyz')).status, 503);
  const twice = await adminRequest(gateway, '/api/v1/drain', { method: 'POST', token });
  assert.equal(twice.status, 409);
  assert.equal(twice.json.error.code, 'FERRY_ERR_STATE_CONFLICT');
  const late = new TechnicianClient({
    url,
    token: issueToken(gateway.config.secret, 'late', 60),
    name: 'late',
  });
  t.after(() => late.close());
  await assert.rejects(late.connect());

  await tech.endSession(sessionId);
  await gateway.stopped();
  const drains = verifyAuditLog(gateway.audit.file);
  assert.equal(drains.ok, true);
  const entries = auditEntries(gateway).filter((e) => e.action === 'gateway.drain');
  assert.deepEqual(
    entries.map((e) => [e.actor, e.status, e.code]),
    [
      ['admin', 202, ''],
      ['admin', 409, 'FERRY_ERR_STATE_CONFLICT'],
    ],
  );
  assert.match(entries[0]!.detail, /maintenance window/);
});

const run = promisify(execFile);
const BIN = path.join(process.cwd(), 'bin', 'ferry.js');

test('ferry admin wraps the actions: it ends a session, searches reports as CSV, and a refused action exits 1 with its code', async (t) => {
  const { gateway } = await startGateway(t);
  const { sessionId } = await activeSession(t, gateway);
  const env = {
    ...process.env,
    FERRY_ADMIN_URL: `http://127.0.0.1:${gateway.adminPort}`,
    FERRY_ADMIN_TOKEN: gateway.adminToken,
  };
  const ended = await run(
    process.execPath,
    [BIN, 'admin', 'end', sessionId, '--reason', 'wrong customer', '--operator', 'olivia'],
    { env },
  );
  assert.equal(JSON.parse(ended.stdout).status, 'CLOSED_BY_TECHNICIAN');
  await gateway.reportsWritten();
  const csv = await run(
    process.execPath,
    [BIN, 'admin', 'reports', 'search', '--technician', 'tech-1', '--format', 'csv', '--all'],
    { env },
  );
  const rows = csv.stdout.trimEnd().split('\r\n');
  assert.equal(rows.length, 2);
  assert.ok(rows[1]!.startsWith(`${sessionId},`));
  await assert.rejects(
    run(process.execPath, [BIN, 'admin', 'end', sessionId, '--reason', 'again'], { env }),
    (err: { code: number; stderr: string }) =>
      err.code === 1 && /FERRY_ERR_SESSION_ENDED/.test(err.stderr),
  );
  await assert.rejects(
    run(process.execPath, [BIN, 'admin', 'drain'], {
      env: { ...env, FERRY_ADMIN_TOKEN: issueToken(gateway.config.secret, 'tech-1', 60) },
    }),
    (err: { code: number; stderr: string }) =>
      err.code === 1 && /FERRY_ERR_FORBIDDEN/.test(err.stderr),
  );
  const ends = auditEntries(gateway).filter((e) => e.action === 'session.end');
  assert.deepEqual(
    ends.map((e) => [e.actor, e.status]),
    [
      ['admin:olivia', 200],
      ['admin', 409],
    ],
  );
});
