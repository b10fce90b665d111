/**
 * Special actions and elevation end to end (spec session-tools C4.6, C4.10, A1): the operator's
 * canned scripts, offered to technicians by team, run on the customer machine only with the
 * customer's shell grant, each run logged with its output; reboot needs its permission; elevation
 * runs the customer client's own command (credentials typed on the customer side) and the log
 * records only who elevated.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activePair, startGateway, technician, tempDir } from './access-harness.js';

function scriptsFile(dir: string): string {
  const file = path.join(dir, 'scripts.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      scripts: [
        {
          id: 'whoami',
          name: 'Who asks',
          description: 'prints who asked, then fails on purpose',
          body: 'echo "asked by $FERRY_REQUESTED_BY"; echo oops >&2; exit 3',
          teams: ['support'],
        },
        { id: 'sales-report', name: 'Sales report', body: 'echo sales', teams: ['sales'] },
        { id: 'uptime', name: 'Uptime', body: 'echo up' },
      ],
    }),
  );
  return file;
}

test('a canned script runs on the customer machine with the shell grant, and the run and its output are logged', async (t) => {
  const dir = tempDir(t);
  const { gateway } = await startGateway(t, { cannedScriptsFile: scriptsFile(dir) });
  const { access, customer, sessionId, tech } = await activePair(t, gateway, {
    perms: ['scripts'],
    teams: ['support'],
    consent: ['shell'],
  });
  const listed = await access.listScripts();
  assert.deepEqual(
    listed.map((s) => s.id),
    ['whoami', 'uptime'],
    'scripts of other teams are not offered',
  );
  await assert.rejects(access.runScript('whoami'), { code: 'FERRY_ERR_NOT_GRANTED' });
  await tech.requestConsent(['shell']);
  const result = await access.runScript('whoami');
  assert.equal(result.exitCode, 3);
  assert.match(result.output, /asked by tech-1/);
  assert.match(result.output, /oops/);
  assert.equal(result.ranBy, 'Alice');

  const history = await tech.chatHistory();
  const events = history.entries
    .map((e) => e.event as ferry.v1.SessionEvent | null)
    .filter((e): e is ferry.v1.SessionEvent => e?.type === 'script');
  assert.deepEqual(
    events.map((e) => [e.actor, e.detail.split('\n')[0]]),
    [
      ['tech-1', 'ran canned script "Who asks" (whoami)'],
      ['Alice', 'canned script whoami for tech-1: exit code 3, 21 bytes of output'],
    ],
  );
  assert.match(events[1]?.detail ?? '', /asked by tech-1/);
  // the customer sees that a script ran, not its output
  const seen = await customer.request({ chatHistoryRequest: {} });
  const customerEvents = seen.chatHistory!.entries!.map((e) => e.event?.detail ?? '');
  assert.ok(customerEvents.includes('ran canned script "Who asks" (whoami)'));
  assert.ok(!customerEvents.some((d) => d.includes('oops') || d.includes('exit code')));

  // another team's script and an unknown one are not found; customers cannot run scripts
  await assert.rejects(access.runScript('sales-report'), { code: 'FERRY_ERR_SCRIPT_NOT_FOUND' });
  await assert.rejects(access.runScript('rm-rf'), { code: 'FERRY_ERR_SCRIPT_NOT_FOUND' });
  await assert.rejects(customer.request({ runCannedScript: { scriptId: 'uptime' } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  // a result for a run nobody asked for is refused
  await assert.rejects(customer.request({ cannedScriptResult: { ticket: 999 } }), {
    code: 'FERRY_ERR_UNKNOWN_REQUEST',
  });
  // a technician without the permission sees and runs nothing
  const other = await technician(t, gateway, 'tech-2', { perms: [], teams: ['support'] });
  await assert.rejects(other.access.listScripts(), { code: 'FERRY_ERR_PERMISSION_DENIED' });
  await assert.rejects(other.access.runScript('uptime', sessionId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
});

test('reboot needs the reboot permission, and drives Rebooting and back', async (t) => {
  const { gateway } = await startGateway(t);
  const denied = await activePair(t, gateway, { perms: [] });
  await assert.rejects(denied.tech.reboot(), { code: 'FERRY_ERR_PERMISSION_DENIED' });
  assert.equal(gateway.registry.get(denied.sessionId)!.status, 'ACTIVE');
  const allowed = await activePair(t, gateway, {
    name: 'tech-2',
    perms: ['reboot'],
    reconnect: true,
  });
  const back = waitFor(
    allowed.tech,
    'status',
    (s) =>
      s.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE && s.trigger === 'reboot_complete',
  );
  const done = await allowed.tech.reboot();
  assert.equal(done.status, ferry.v1.SessionStatus.SESSION_STATUS_REBOOTING);
  await back;
  assert.equal(allowed.customer.reboots, 1);
});

test("elevation runs the customer client's own command; credentials stay on the customer side and the log records only who elevated", async (t) => {
  const { gateway } = await startGateway(t, { elevationPlatforms: process.platform });
  const dir = tempDir(t);
  // the customer "types" the password into a local prompt: here a file the command reads
  const typed = path.join(dir, 'typed-password');
  fs.writeFileSync(typed, 'hunter2-secret\n', { mode: 0o600 });
  const prompt = [
    '/bin/sh',
    '-c',
    'read pw < "$0"; [ "$pw" = hunter2-secret ] && [ -n "$FERRY_RESUME_TOKEN" ] && [ "$FERRY_ELEVATION_KIND" = admin ]',
    typed,
  ];
  const { access, tools, tech, customer, sessionId } = await activePair(t, gateway, {
    perms: ['elevate', 'jump_client'],
    tools: { elevateCommand: prompt },
  });
  const result = await access.elevate('admin');
  assert.equal(result.elevated, true);
  assert.equal(result.by, 'tech-1');
  assert.equal(tools.elevated, true);
  // A1.3: an elevated customer client may host a service-mode jump client
  const pinned = await access.pinJumpClient({ serviceMode: true });
  assert.ok(pinned.id.startsWith('jc_'));

  const history = await tech.chatHistory();
  const elevation = history.entries
    .map((e) => e.event)
    .filter((e) => e?.type === 'elevate')
    .map((e) => [e!.actor, e!.detail]);
  assert.deepEqual(elevation, [
    ['tech-1', 'asked to elevate the customer client (admin)'],
    ['tech-1', 'elevated by tech-1 (admin)'],
  ]);
  // no credential field exists on the wire, and nothing typed reached the gateway
  for (const message of [new ferry.v1.ElevateRequest(), new ferry.v1.ElevateResult()]) {
    const fields: string[] = [];
    for (const key in message) if (typeof (message as never)[key] !== 'function') fields.push(key);
    assert.ok(fields.includes('kind'));
    assert.ok(!fields.some((f) => /password|secret|credential(?!Source)/i.test(f)), fields.join());
  }
  await tech.endSession();
  const report = JSON.stringify(gateway.registry.reports.get(sessionId));
  assert.match(report, /elevated by tech-1/);
  assert.ok(!report.includes('hunter2'));
  void customer;
});

test('elevation: missing permission, technician credentials, an unsupported platform and a failed prompt', async (t) => {
  const { gateway } = await startGateway(t, { elevationPlatforms: 'win32,darwin' });
  const plain = await activePair(t, gateway, { perms: [] });
  await assert.rejects(plain.access.elevate(), { code: 'FERRY_ERR_PERMISSION_DENIED' });
  const dir = tempDir(t);
  const { access, tech } = await activePair(t, gateway, {
    name: 'tech-2',
    perms: ['elevate'],
    tools: { elevateCommand: ['/bin/sh', '-c', 'exit 1'] },
  });
  void dir;
  await assert.rejects(
    tech.request({
      elevateRequest: {
        kind: ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN,
        credentialSource: ferry.v1.CredentialSource.CREDENTIAL_SOURCE_TECHNICIAN,
      },
    }),
    { code: 'FERRY_ERR_ELEVATION_UNSUPPORTED' },
  );
  // spec A1.5: admin elevation only where the operator offers it (here not on this platform)
  if (process.platform !== 'win32' && process.platform !== 'darwin') {
    await assert.rejects(access.elevate('admin'), { code: 'FERRY_ERR_ELEVATION_UNSUPPORTED' });
  }
  await assert.rejects(tech.request({ elevateRequest: {} }), {
    code: 'FERRY_ERR_ELEVATION_UNSUPPORTED',
  });
  // the full client kind is offered everywhere; a refused prompt is a result, not an elevation
  const result = await access.elevate('full_client');
  assert.equal(result.elevated, false);
  const history = await tech.chatHistory();
  assert.ok(
    history.entries.some(
      (e) => e.event?.detail === 'elevation asked by tech-2 was not done (full client)',
    ),
  );
  await assert.rejects(plain.customer.request({ elevateRequest: {} }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
});
