/**
 * Unattended access end to end (spec session-tools A4): a permitted technician pins the customer
 * client; the jump client comes back in unattended mode with the key the gateway registered; a
 * permitted teammate starts a session to it without a PIN and with nobody at the customer side;
 * unpinning revokes the key at the gateway, so the same key is refused from then on.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import {
  CustomerTools,
  JUMP_CLIENT_FILE,
  type JumpClientCredentials,
  UnattendedCustomer,
} from '../../src/clients/unattended.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { encode, rawPeer } from '../integration/harness.js';
import { freePort } from '../support/gateway-process.js';
import {
  activePair,
  fakeCommand,
  startGateway,
  technician,
  tempDir,
  url,
} from './access-harness.js';

const PINNER = { perms: ['jump_client', 'unattended'], teams: ['support'] };

function jumpHello(id: string, key: string): Uint8Array {
  return encode({
    channel: ferry.v1.Channel.CHANNEL_CONTROL,
    control: {
      requestId: 1,
      hello: { role: ferry.v1.Role.ROLE_CUSTOMER, jumpClientId: id, jumpClientKey: key },
    },
  });
}

/** Pins the customer of a fresh PIN session and ends that session; resolves with the key it kept. */
async function pinAndLeave(
  t: test.TestContext,
  gateway: Parameters<typeof activePair>[1],
  stateDir: string,
): Promise<JumpClientCredentials> {
  const { access, tools, tech } = await activePair(t, gateway, { ...PINNER, tools: { stateDir } });
  const kept = once(tools, 'jumpClient') as Promise<[JumpClientCredentials]>;
  const pinned = await access.pinJumpClient();
  assert.equal(pinned.team, 'support');
  assert.equal(pinned.technician, 'tech-1');
  const [credentials] = await kept;
  assert.equal(credentials.jumpClientId, pinned.id);
  await tech.endSession();
  return credentials;
}

test('a pinned jump client is reached without a PIN and nobody at the customer side, and refused after unpinning', async (t) => {
  const { gateway } = await startGateway(t);
  const stateDir = tempDir(t);
  const pinned = await pinAndLeave(t, gateway, stateDir);
  // the key is kept by the customer client only, in a file only its user reads
  const file = path.join(stateDir, JUMP_CLIENT_FILE);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(await CustomerTools.loadJumpClient(stateDir), pinned);
  // the gateway keeps a digest only
  const registry = fs.readFileSync(path.join(gateway.config.dataDir, 'unattended.json'), 'utf8');
  assert.ok(!registry.includes(pinned.key));

  const jump = new UnattendedCustomer({
    url: url(gateway),
    name: 'kiosk-7',
    credentials: { jumpClientId: pinned.jumpClientId, jumpClientKey: pinned.key },
  });
  t.after(() => jump.close());
  const welcome = await jump.connect();
  assert.equal(welcome.sessionId, '', 'unattended mode: connected, in no session');
  const pinsBefore = gateway.registry.pinAccepted;

  const { tech: teammate, access } = await technician(t, gateway, 'tech-2', {
    perms: ['unattended'],
    teams: ['support'],
  });
  const listed = await access.listJumpClients();
  assert.deepEqual(
    listed.map((j) => [j.id, j.online, j.inSession]),
    [[pinned.jumpClientId, true, false]],
  );
  const attached = once(jump.unattended, 'attached') as Promise<[ferry.v1.Welcome]>;
  const sessionId = await access.startJumpSession(pinned.jumpClientId);
  const [joined] = await attached;
  assert.equal(joined.sessionId, sessionId);
  assert.notEqual(joined.resumeToken, '');
  const session = gateway.registry.get(sessionId)!;
  assert.equal(session.status, 'ACTIVE');
  assert.equal(session.owner.name, 'tech-2');
  assert.equal(session.pin, '', 'no PIN was issued');
  assert.equal(gateway.registry.pinAccepted, pinsBefore, 'no PIN was used');
  assert.ok(
    session.log.entries.some(
      (e) =>
        e.kind === 'event' && e.detail === `jump client ${pinned.deviceName} joined unattended`,
    ),
  );
  // the session works like any other: chat reaches the jump client
  const chat = waitFor(jump, 'chat', (c) => c.text === 'hello from tech-2');
  teammate.chat('hello from tech-2');
  await chat;

  // the session ends; the jump client goes back to unattended mode on a new connection
  const waiting = once(jump.unattended, 'waiting');
  await teammate.endSession();
  await waiting;
  assert.equal(jump.connects, 2);

  // unpinning: the key is revoked at the gateway and the device is told to uninstall
  const refused = once(jump.unattended, 'refused') as Promise<[string]>;
  const { access: pinner } = await technician(t, gateway, 'tech-1', PINNER);
  await pinner.unpinJumpClient(pinned.jumpClientId);
  assert.deepEqual(await refused, ['FERRY_ERR_JUMP_CLIENT_REVOKED']);
  await assert.rejects(pinner.startJumpSession(pinned.jumpClientId), {
    code: 'FERRY_ERR_JUMP_CLIENT_NOT_FOUND',
  });
  assert.deepEqual(await pinner.listJumpClients(), []);
  // the old key, presented again, is refused and the connection closed
  const raw = await rawPeer(t, url(gateway));
  raw.send(jumpHello(pinned.jumpClientId, pinned.key));
  assert.equal((await raw.nextError()).code, 'FERRY_ERR_JUMP_CLIENT_REVOKED');
  assert.equal((await raw.closed).code, 4003);
});

test('jump clients: wrong role, missing permission, another team, a wrong key and service mode are refused with codes', async (t) => {
  const { gateway } = await startGateway(t);
  const stateDir = tempDir(t);
  const pinned = await pinAndLeave(t, gateway, stateDir);

  // a technician without the permission, and a customer, cannot pin
  const plain = await activePair(t, gateway, { name: 'tech-3', perms: [], teams: ['support'] });
  await assert.rejects(plain.access.pinJumpClient(), { code: 'FERRY_ERR_PERMISSION_DENIED' });
  await assert.rejects(plain.customer.request({ jumpClientInstall: {} }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(plain.access.startJumpSession(pinned.jumpClientId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  // service mode needs an elevated customer client (A1.3)
  const pinner = await activePair(t, gateway, { name: 'tech-4', ...PINNER });
  await assert.rejects(pinner.access.pinJumpClient({ serviceMode: true }), {
    code: 'FERRY_ERR_ELEVATION_REQUIRED',
  });

  // a technician of another team does not reach it; an offline jump client cannot be started
  const { access: sales } = await technician(t, gateway, 'tech-5', {
    perms: ['unattended', 'jump_client'],
    teams: ['sales'],
  });
  await assert.rejects(sales.startJumpSession(pinned.jumpClientId), {
    code: 'FERRY_ERR_JUMP_CLIENT_NOT_FOUND',
  });
  await assert.rejects(sales.unpinJumpClient(pinned.jumpClientId), {
    code: 'FERRY_ERR_JUMP_CLIENT_NOT_FOUND',
  });
  assert.deepEqual(await sales.listJumpClients(), []);
  await assert.rejects(pinner.access.startJumpSession(pinned.jumpClientId), {
    code: 'FERRY_ERR_JUMP_CLIENT_OFFLINE',
  });

  // a wrong key and an unknown id get the same code, and the connection is closed
  for (const [id, key] of [
    [pinned.jumpClientId, 'not-the-key'],
    ['jc_unknown', pinned.key],
  ] as const) {
    const raw = await rawPeer(t, url(gateway));
    raw.send(jumpHello(id, key));
    assert.equal((await raw.nextError()).code, 'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED');
    assert.equal((await raw.closed).code, 4003);
  }
  // clients do not send the gateway's answers
  await assert.rejects(pinner.tech.request({ jumpClientKey: {} }), {
    code: 'FERRY_ERR_UNSUPPORTED_OPERATION',
  });
});

test('jump client keys are tried no faster than PINs: the per-address attempt limit applies', async (t) => {
  const { gateway } = await startGateway(t, { pinAttemptsPerMinute: 2 });
  const codes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const raw = await rawPeer(t, url(gateway));
    raw.send(jumpHello('jc_guess', `guess-${i}`));
    codes.push((await raw.nextError()).code);
  }
  assert.deepEqual(codes, [
    'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED',
    'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED',
    'FERRY_ERR_RATE_LIMITED',
  ]);
});

test('closing a jump client session with uninstall runs the uninstall command once and revokes the key', async (t) => {
  const { gateway } = await startGateway(t);
  const stateDir = tempDir(t);
  const commands = tempDir(t);
  const uninstall = fakeCommand(commands, 'uninstall');
  const pinned = await pinAndLeave(t, gateway, stateDir);
  const jump = new UnattendedCustomer({
    url: url(gateway),
    credentials: { jumpClientId: pinned.jumpClientId, jumpClientKey: pinned.key },
  });
  t.after(() => jump.close());
  const tools = new CustomerTools(jump, {
    stateDir,
    afterSession: { commands: { uninstall: uninstall.command } },
  });
  await jump.connect();
  const { access } = await technician(t, gateway, 'tech-2', PINNER);
  const sessionId = await access.startJumpSession(pinned.jumpClientId);
  const ran = once(tools, 'afterSession');
  const refused = once(jump.unattended, 'refused') as Promise<[string]>;
  await access.closeAndUninstall(sessionId);
  await ran;
  assert.deepEqual(uninstall.runs(), [`uninstall ${sessionId}`]);
  assert.equal(fs.existsSync(path.join(stateDir, JUMP_CLIENT_FILE)), false);
  // the jump client tries to come back and finds its key revoked
  assert.deepEqual(await refused, ['FERRY_ERR_JUMP_CLIENT_REVOKED']);
  assert.deepEqual(uninstall.runs(), [`uninstall ${sessionId}`], 'ran once');
});

test('a jump client asked to restart comes back to the same session with its resume token (Rebooting, then back)', async (t) => {
  const { gateway } = await startGateway(t);
  const pinned = await pinAndLeave(t, gateway, tempDir(t));
  const jump = new UnattendedCustomer({
    url: url(gateway),
    credentials: { jumpClientId: pinned.jumpClientId, jumpClientKey: pinned.key },
    rebootDelayMs: 20,
  });
  t.after(() => jump.close());
  await jump.connect();
  const { tech, access } = await technician(t, gateway, 'tech-2', {
    perms: ['unattended', 'reboot'],
    teams: ['support'],
  });
  const sessionId = await access.startJumpSession(pinned.jumpClientId);
  const back = waitFor(
    tech,
    'status',
    (s) =>
      s.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE && s.trigger === 'reboot_complete',
  );
  const resumed = once(jump, 'resumed') as Promise<[ferry.v1.Welcome]>;
  const done = await tech.reboot(sessionId);
  assert.equal(done.status, ferry.v1.SessionStatus.SESSION_STATUS_REBOOTING);
  await back;
  const [welcome] = await resumed;
  assert.equal(welcome.sessionId, sessionId);
  assert.ok(welcome.resumed);
  assert.equal(jump.reboots, 1);
  assert.equal(jump.connects, 1, 'resumed its place, no new unattended Hello');
  // the resumed connection is the device: listed online and in its session
  assert.deepEqual(
    (await access.listJumpClients()).map((j) => [j.id, j.online, j.inSession]),
    [[pinned.jumpClientId, true, true]],
  );
  // and an unpin reaches it there (the device is told to uninstall)
  const uninstall = waitFor(jump, 'control', (c) => c.jumpClientUninstall != null);
  const { access: pinner } = await technician(t, gateway, 'tech-1', PINNER);
  await pinner.unpinJumpClient(pinned.jumpClientId);
  await uninstall;
});

test("after a gateway restart the resumed jump client is still its session's device: listed, and closing with uninstall revokes its key", async (t) => {
  // a fixed port from the start: the successor can bind it while closed connections sit in
  // TIME_WAIT (uWS sets SO_REUSEADDR only on a fixed port)
  const { gateway: first } = await startGateway(t, { port: await freePort() });
  const pinned = await pinAndLeave(t, first, tempDir(t));
  const jump = new UnattendedCustomer({
    url: url(first),
    credentials: { jumpClientId: pinned.jumpClientId, jumpClientKey: pinned.key },
  });
  t.after(() => jump.close());
  await jump.connect();
  const { tech, access } = await technician(t, first, 'tech-2', PINNER);
  const sessionId = await access.startJumpSession(pinned.jumpClientId);
  // the gateway stops with the session live (kept in its journal) and starts again on its data
  // directory and port; the device and the technician resume their places
  const techBack = once(tech, 'resumed') as Promise<[ferry.v1.Welcome]>;
  const jumpBack = once(jump, 'resumed') as Promise<[ferry.v1.Welcome]>;
  await first.close('restart');
  const second = await Gateway.start({ ...first.config, port: first.port }, silentLogger());
  t.after(() => second.close());
  const [[techWelcome], [jumpWelcome]] = await Promise.all([techBack, jumpBack]);
  assert.ok(techWelcome.resumed && jumpWelcome.resumed);
  assert.equal(jumpWelcome.sessionId, sessionId);
  assert.equal(jump.connects, 1, 'resumed its place, no new unattended Hello');
  assert.deepEqual(
    (await access.listJumpClients()).map((j) => [j.id, j.online, j.inSession]),
    [[pinned.jumpClientId, true, true]],
  );
  // closing with uninstall still knows the session's jump client: its key is revoked
  const refused = once(jump.unattended, 'refused') as Promise<[string]>;
  await access.closeAndUninstall(sessionId);
  assert.deepEqual(await refused, ['FERRY_ERR_JUMP_CLIENT_REVOKED']);
  await second.close('test finished');
});
