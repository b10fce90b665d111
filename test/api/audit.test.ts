/**
 * The operator audit log: a hash chain over append-only JSON lines. Editing, removing or
 * reordering a line fails verification at that line; a reopened log goes on from its last entry;
 * through a real gateway, each action is recorded with the client address, the real one when a
 * trusted proxy forwards it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  type AuditEntry,
  AuditLog,
  type AuditRecord,
  entryHash,
  GENESIS_HASH,
  verifyAuditLog,
  verifyAuditText,
} from '../../src/audit/audit-log.js';
import { activeSession, startGateway } from '../integration/harness.js';
import { adminRequest } from './harness.js';

const record = (action: string, target: string): AuditRecord => ({
  actor: 'admin:olivia',
  action,
  target,
  address: '192.0.2.10',
  status: 200,
  code: '',
  detail: 'reason: test',
});

function tempLog(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-audit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'audit.log');
}

test('each audit entry carries the hash of the one before, and the whole chain verifies', (t) => {
  const file = tempLog(t);
  const { log, verdict } = AuditLog.open(file, () => Date.UTC(2026, 0, 2, 3, 4, 5));
  assert.deepEqual(verdict, { ok: true, entries: 0, lastHash: GENESIS_HASH });
  const a = log.append(record('session.end', 's1'));
  const b = log.append(record('gateway.drain', ''));
  log.close();
  assert.equal(a.seq, 1);
  assert.equal(a.prev, GENESIS_HASH);
  assert.equal(b.prev, a.hash);
  assert.equal(a.at, '2026-01-02T03:04:05.000Z');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(verifyAuditLog(file), { ok: true, entries: 2, lastHash: b.hash });

  const reopened = AuditLog.open(file);
  const c = reopened.log.append(record('pin.revoke', 'pin'));
  reopened.log.close();
  assert.equal(c.seq, 3);
  assert.equal(c.prev, b.hash, 'a reopened log goes on from its last entry');
  assert.equal(verifyAuditLog(file).ok, true);
});

test('editing a line of the audit log makes verification fail at that line', (t) => {
  const file = tempLog(t);
  const { log } = AuditLog.open(file);
  for (const target of ['s1', 's2', 's3']) log.append(record('session.end', target));
  log.close();
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');

  const edited = [...lines];
  const entry = JSON.parse(edited[1]!) as AuditEntry;
  edited[1] = JSON.stringify({ ...entry, actor: 'admin:mallory' });
  fs.writeFileSync(file, `${edited.join('\n')}\n`);
  const verdict = verifyAuditLog(file);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.line, 2);
  assert.match(!verdict.ok ? verdict.reason : '', /hash/);

  // rehashing the edited line does not help: the next line's prev no longer matches
  const { hash: _old, ...unhashed } = { ...entry, actor: 'admin:mallory' };
  const rehashed = JSON.stringify({ ...unhashed, hash: entryHash(unhashed) });
  const forged = verifyAuditText(`${[lines[0], rehashed, lines[2]].join('\n')}\n`);
  assert.equal(!forged.ok && forged.line, 3);
  // removing a line breaks the chain at the line after it
  const removed = verifyAuditText(`${[lines[0], lines[2]].join('\n')}\n`);
  assert.equal(removed.ok, false);
  assert.equal(!removed.ok && removed.line, 2);
  const reordered = verifyAuditText(`${[lines[1], lines[0], lines[2]].join('\n')}\n`);
  assert.equal(!reordered.ok && reordered.line, 1);
  assert.equal(verifyAuditText(`${lines.join('\n')}\n`).ok, true);
});

test('operator actions are audited with the client address, the real one behind a trusted proxy', async (t) => {
  const { gateway } = await startGateway(t, { trustedProxies: '127.0.0.1' });
  const { sessionId } = await activeSession(t, gateway);
  const ended = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/end`, {
    method: 'POST',
    token: gateway.adminToken,
    body: { reason: 'customer asked' },
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-ferry-operator': 'olivia' },
  });
  assert.equal(ended.status, 200);
  const audit = await adminRequest(gateway, '/api/v1/audit?limit=5', { token: gateway.adminToken });
  assert.equal(audit.status, 200);
  assert.equal(audit.json.verified.ok, true);
  const [entry] = audit.json.entries as AuditEntry[];
  assert.equal(entry!.action, 'session.end');
  assert.equal(entry!.actor, 'admin:olivia');
  assert.equal(entry!.address, '203.0.113.7');
  assert.equal(entry!.target, sessionId);
  assert.match(entry!.detail, /customer asked/);
});

test('without a trusted proxy, X-Forwarded-For is ignored in the audit log', async (t) => {
  const { gateway } = await startGateway(t);
  await adminRequest(gateway, '/api/v1/drain', {
    method: 'POST',
    headers: { 'x-forwarded-for': '203.0.113.7' },
  });
  const [entry] = gateway.audit.tail(1);
  assert.equal(entry!.status, 401);
  assert.equal(entry!.address, '127.0.0.1');
});
