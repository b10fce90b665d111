/**
 * Unattended access across gateways sharing a directory (`--directory redis://`), with a real
 * redis-server: a jump client pinned through one gateway authenticates through another, an unpin
 * on one is refused by the others at once and told to the gateway holding the device, a
 * technician who asks a gateway that does not hold the jump client is redirected to the one that
 * does and the session relays there, support buttons work everywhere, technicians are listed by
 * every gateway, and with the store down the registry answers with a code, never from stale
 * state. Then the atomic parts of the store, on `RedisDirectory` itself. Waits are events or
 * bounded polls, never a fixed sleep.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { waitFor } from '../../src/clients/client.js';
import { type JumpClientCredentials, UnattendedCustomer } from '../../src/clients/unattended.js';
import { RedisDirectory } from '../../src/directory/redis.js';
import type {
  JumpClientRecord,
  MemberLoad,
  TechnicianPresence,
} from '../../src/directory/shared.js';
import type { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { REGISTRY_FILE } from '../../src/tools/jump-clients.js';
import { activePair, startGateway, technician, tempDir, url } from '../handlers/access-harness.js';
import { encode, rawPeer } from '../integration/harness.js';
import { composeCommands } from '../support/compose.js';
import { availability, until } from '../support/directory.js';
import { startRedis } from '../support/redis.js';

const redis = await startRedis({ after });
const SECRET = 'a-secret-every-gateway-of-the-deployment-shares';
const PINNER = { perms: ['jump_client', 'unattended'], teams: ['support'] };
const REACHER = { perms: ['unattended'], teams: ['support'] };

/** A gateway of the deployment on `directory` (this file's Redis unless given). */
async function member(t: TestContext, id: string, directory = redis.url, dataDir?: string) {
  const { gateway } = await startGateway(t, {
    directory,
    gatewayId: id,
    secret: SECRET,
    ...(dataDir === undefined ? {} : { dataDir }),
  });
  return gateway;
}

/** Pins the customer of a fresh PIN session on `gateway` and ends that session. */
async function pinThrough(t: TestContext, gateway: Gateway): Promise<JumpClientCredentials> {
  const { access, tools, tech } = await activePair(t, gateway, {
    ...PINNER,
    tools: { stateDir: tempDir(t) },
  });
  const kept = once(tools, 'jumpClient') as Promise<[JumpClientCredentials]>;
  await access.pinJumpClient();
  const [credentials] = await kept;
  await tech.endSession();
  return credentials;
}

/** The jump client in unattended mode, connected to `gateway`. */
async function jumpClient(t: TestContext, gateway: Gateway, pinned: JumpClientCredentials) {
  const jump = new UnattendedCustomer({
    url: url(gateway),
    name: 'kiosk',
    credentials: { jumpClientId: pinned.jumpClientId, jumpClientKey: pinned.key },
  });
  t.after(() => jump.close());
  const welcome = await jump.connect();
  assert.equal(welcome.sessionId, '', 'unattended mode: connected, in no session');
  return { jump, welcome };
}

function jumpHello(id: string, key: string): Uint8Array {
  return encode({
    channel: ferry.v1.Channel.CHANNEL_CONTROL,
    control: {
      requestId: 1,
      hello: { role: ferry.v1.Role.ROLE_CUSTOMER, jumpClientId: id, jumpClientKey: key },
    },
  });
}

async function technicians(gateway: Gateway): Promise<TechnicianPresence[]> {
  const res = await fetch(`http://127.0.0.1:${gateway.adminPort}/api/v1/technicians`, {
    headers: { authorization: `Bearer ${gateway.adminToken}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { technicians: TechnicianPresence[] }).technicians;
}

test('a jump client pinned through A works through B; a technician asking A is sent to B and the session relays there', async (t) => {
  const a = await member(t, 'jc-a');
  const b = await member(t, 'jc-b');
  const pinned = await pinThrough(t, a);
  // neither gateway keeps a file of its own: the registration is in the directory, digest only
  assert.equal(fs.existsSync(path.join(a.config.dataDir, REGISTRY_FILE)), false);

  const { jump, welcome } = await jumpClient(t, b, pinned);
  assert.equal(welcome.gatewayId, 'jc-b');

  const { tech, access } = await technician(t, a, 'tech-2', REACHER);
  // A lists it online, on B
  // the registrations are the deployment's: other tests' are listed too
  const listed = await until(
    'the jump client listed on B',
    async () => (await access.listJumpClients()).filter((j) => j.id === pinned.jumpClientId),
    (list) => list.some((j) => j.online),
  );
  assert.deepEqual(
    listed.map((j) => [j.id, j.online, j.inSession, j.gatewayId]),
    [[pinned.jumpClientId, true, false, 'jc-b']],
  );
  assert.ok(Number(listed[0]!.lastSeenUnixMs) > 0, 'seen when it authenticated through B');

  const redirected = once(tech, 'redirected') as Promise<[string, string]>;
  const attached = once(jump.unattended, 'attached') as Promise<[ferry.v1.Welcome]>;
  const sessionId = await access.startJumpSession(pinned.jumpClientId);
  assert.deepEqual(await redirected, [url(b), 'jump_client']);
  assert.equal(tech.welcome?.gatewayId, 'jc-b', 'the technician said Hello again on B');
  assert.equal((await attached)[0].sessionId, sessionId);
  assert.equal(a.fleet!.counters.redirects.jump_client, 1);
  assert.equal(a.registry.sessions.size, 0);
  const session = b.registry.get(sessionId)!;
  assert.equal(session.status, 'ACTIVE');
  assert.equal(session.owner.name, 'tech-2');

  const toJump = waitFor(jump, 'chat', (c) => c.text === 'hello from tech-2');
  tech.chat('hello from tech-2');
  await toJump;
  const toTech = waitFor(tech, 'chat', (c) => c.text === 'hello from the kiosk');
  jump.chat('hello from the kiosk');
  await toTech;
  // in a session now, everywhere
  const busy = await until(
    'the jump client listed in its session',
    async () => (await access.listJumpClients()).filter((j) => j.id === pinned.jumpClientId),
    (list) => list[0]?.inSession === true,
  );
  assert.equal(busy[0]!.gatewayId, 'jc-b');
});

test('an unpin on B is refused at A at once, and the device connected to A is told to uninstall', async (t) => {
  const a = await member(t, 'unpin-a');
  const b = await member(t, 'unpin-b');
  const pinned = await pinThrough(t, a);
  const { jump } = await jumpClient(t, a, pinned);
  const refused = once(jump.unattended, 'refused') as Promise<[string]>;

  const { access } = await technician(t, b, 'tech-1', PINNER);
  await access.unpinJumpClient(pinned.jumpClientId);
  // the device, held by A, heard of it through the directory
  assert.deepEqual(await refused, [Codes.JUMP_CLIENT_REVOKED.code]);
  // the key is refused by A as soon as B answered the unpin (its client uninstalls itself)
  const raw = await rawPeer(t, url(a));
  raw.send(jumpHello(pinned.jumpClientId, pinned.key));
  assert.equal((await raw.nextError()).code, Codes.JUMP_CLIENT_REVOKED.code);
  assert.equal((await raw.closed).code, 4003);
  // a wrong key is refused alike everywhere, without saying it was revoked
  const wrong = await rawPeer(t, url(b));
  wrong.send(jumpHello(pinned.jumpClientId, `${pinned.key.slice(0, -2)}xx`));
  assert.equal((await wrong.nextError()).code, Codes.JUMP_CLIENT_AUTH_FAILED.code);
  await assert.rejects(access.unpinJumpClient(pinned.jumpClientId), {
    code: Codes.JUMP_CLIENT_NOT_FOUND.code,
  });
  const { access: other } = await technician(t, a, 'tech-3', REACHER);
  const listed = await other.listJumpClients();
  assert.equal(listed.filter((j) => j.id === pinned.jumpClientId).length, 0);
});

test('a technician who works sessions on A is not redirected to the jump client on B, but told where it is', async (t) => {
  const a = await member(t, 'busy-a');
  const b = await member(t, 'busy-b');
  const pinned = await pinThrough(t, a);
  await jumpClient(t, b, pinned);
  // tech-1 works a session on A
  const { access, tech } = await activePair(t, a, { ...REACHER, name: 'tech-1' });
  await until(
    'the jump client listed on B',
    () => access.listJumpClients(),
    (list) => list.find((j) => j.id === pinned.jumpClientId)?.gatewayId === 'busy-b',
  );
  await assert.rejects(access.startJumpSession(pinned.jumpClientId), (err: Error) => {
    assert.equal((err as { code?: string }).code, Codes.JUMP_CLIENT_ELSEWHERE.code);
    assert.match(err.message, /gateway busy-b/);
    return true;
  });
  assert.equal(tech.welcome?.gatewayId, 'busy-a', 'still connected to A');
  assert.equal(a.fleet!.counters.redirects.jump_client, 0);
});

test('a support button registered through A opens a queued session through B', async (t) => {
  const a = await member(t, 'sb-a');
  const b = await member(t, 'sb-b');
  const installer = await activePair(t, a, {
    perms: ['support_button'],
    teams: ['billing'],
    name: 'installer',
  });
  const button = await installer.access.installSupportButton('billing');
  await installer.tech.endSession();
  const onB = await technician(t, b, 'tech-b', { teams: ['billing'] });
  const heard = onB.access.waitForTeamSession('billing');
  const customer = new UnattendedCustomer({
    url: url(b),
    name: 'Bob',
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => customer.close());
  const welcome = await customer.connect();
  assert.equal(welcome.gatewayId, 'sb-b');
  assert.equal((await heard).sessionId, welcome.sessionId);

  // removed through B: A refuses a click from then on
  const remover = await activePair(t, b, {
    perms: ['support_button'],
    teams: ['billing'],
    name: 'remover',
  });
  await remover.access.removeSupportButton(button.supportButtonId);
  const late = await rawPeer(t, url(a));
  late.send(
    encode({
      channel: ferry.v1.Channel.CHANNEL_CONTROL,
      control: {
        requestId: 1,
        hello: { role: ferry.v1.Role.ROLE_CUSTOMER, supportButtonId: button.supportButtonId },
      },
    }),
  );
  assert.equal((await late.nextError()).code, Codes.SUPPORT_BUTTON_INVALID.code);
});

test('every gateway lists the technicians connected to each, until they leave', async (t) => {
  const a = await member(t, 'tp-a');
  const b = await member(t, 'tp-b');
  const { tech } = await technician(t, a, 'olivia', { teams: ['support', 'billing'] });
  const mine = (list: TechnicianPresence[]) => list.filter((p) => p.gatewayId.startsWith('tp-'));
  const listed = await until(
    'olivia listed through B',
    async () => mine(await technicians(b)),
    (list) => list.length === 1,
  );
  assert.equal(listed[0]!.gatewayId, 'tp-a');
  assert.equal(listed[0]!.name, 'olivia');
  assert.deepEqual(listed[0]!.teams, ['support', 'billing']);
  assert.equal(listed[0]!.participantId, tech.welcome?.participantId);
  assert.ok(Math.abs(listed[0]!.connectedAtMs - Date.now()) < 60_000);

  await tech.close();
  await until(
    'olivia gone from the list of B',
    async () => mine(await technicians(b)),
    (list) => list.length === 0,
  );
});

test('a gateway alone lists its own technicians and keeps its registry in its data directory', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech } = await technician(t, gateway, 'solo');
  const list = await technicians(gateway);
  assert.deepEqual(
    list.map((p) => [p.gatewayId, p.name, p.participantId]),
    [[gateway.id, 'solo', tech.welcome?.participantId]],
  );
  await tech.close();
  await until(
    'solo gone',
    () => technicians(gateway),
    (l) => l.length === 0,
  );
  await pinThrough(t, gateway);
  assert.ok(fs.existsSync(path.join(gateway.config.dataDir, REGISTRY_FILE)));
});

test('a gateway that joins a deployment copies the registrations of its data directory once', async (t) => {
  const alone = await startGateway(t, { secret: SECRET });
  const pinned = await pinThrough(t, alone.gateway);
  const revoked = await pinThrough(t, alone.gateway);
  const { access } = await technician(t, alone.gateway, 'tech-1', PINNER);
  await access.unpinJumpClient(revoked.jumpClientId);
  await alone.gateway.close();

  const joined = await member(t, 'import-a', redis.url, alone.dataDir);
  const other = await member(t, 'import-b');
  const file = path.join(alone.dataDir, REGISTRY_FILE);
  assert.equal(fs.existsSync(file), false, 'renamed once copied');
  assert.ok(fs.existsSync(`${file}.imported`));
  // the devices pinned before go on authenticating, on every gateway; the unpinned one does not
  await jumpClient(t, other, pinned);
  const raw = await rawPeer(t, url(joined));
  raw.send(jumpHello(revoked.jumpClientId, revoked.key));
  assert.equal((await raw.nextError()).code, Codes.JUMP_CLIENT_REVOKED.code);
});

test('with the store down: jump client and support button Hellos and registry operations get DIRECTORY_UNAVAILABLE, nothing stale', async (t) => {
  const store = await startRedis(t);
  const a = await member(t, 'down-a', store.url);
  const pinned = await pinThrough(t, a);
  const { access } = await technician(t, a, 'tech-2', REACHER);
  await store.stop();
  await availability(a, false);

  const raw = await rawPeer(t, url(a));
  raw.send(jumpHello(pinned.jumpClientId, pinned.key));
  assert.equal((await raw.nextError()).code, Codes.DIRECTORY_UNAVAILABLE.code);
  // not a refusal of the key: the connection stays, the client may say Hello again
  assert.equal(raw.ws.readyState, raw.ws.OPEN);
  const button = await rawPeer(t, url(a));
  button.send(
    encode({
      channel: ferry.v1.Channel.CHANNEL_CONTROL,
      control: {
        requestId: 1,
        hello: {
          role: ferry.v1.Role.ROLE_CUSTOMER,
          supportButtonId: 'sb_AAAAAAAAAAAAAAAA',
        },
      },
    }),
  );
  const refused = await button.nextError();
  assert.equal(refused.code, Codes.DIRECTORY_UNAVAILABLE.code);
  // a fixed text: the store's address is for the server log only
  assert.doesNotMatch(refused.message, new RegExp(`127\\.0\\.0\\.1|${store.port}`));
  await assert.rejects(access.listJumpClients(), { code: Codes.DIRECTORY_UNAVAILABLE.code });
  await assert.rejects(access.startJumpSession(pinned.jumpClientId), {
    code: Codes.DIRECTORY_UNAVAILABLE.code,
  });
  const res = await fetch(`http://127.0.0.1:${a.adminPort}/api/v1/technicians`, {
    headers: { authorization: `Bearer ${a.adminToken}` },
  });
  assert.equal(res.status, 503);
  assert.equal(
    ((await res.json()) as { error: { code: string } }).error.code,
    Codes.DIRECTORY_UNAVAILABLE.code,
  );

  await store.start();
  await availability(a, true);
  // the technician is announced again by the next beat (the store came back empty)
  await until(
    'tech-2 listed again',
    () => technicians(a),
    (list) => list.some((p) => p.name === 'tech-2'),
  );
});

test('an import of the data directory that fails leaves the registry closed (DIRECTORY_UNAVAILABLE, never AUTH_FAILED) and is done again when the store comes back', async (t) => {
  const alone = await startGateway(t, { secret: SECRET });
  const pinned = await pinThrough(t, alone.gateway);
  await alone.gateway.close();
  const store = await startRedis(t);
  // a key of the wrong type makes the copy of an active registration fail on the server
  const raw = new Redis(store.url);
  t.after(() => raw.disconnect());
  await raw.set('ferry:jcs', 'not a sorted set');

  const a = await member(t, 'import-fail-a', store.url, alone.dataDir);
  const file = path.join(alone.dataDir, REGISTRY_FILE);
  const hello = await rawPeer(t, url(a));
  hello.send(jumpHello(pinned.jumpClientId, pinned.key));
  assert.equal((await hello.nextError()).code, Codes.DIRECTORY_UNAVAILABLE.code);
  assert.ok(fs.existsSync(file), 'not renamed: nothing was copied');

  // the store comes back (empty: nothing persisted): the copy is done again, and the device is in
  await store.stop();
  await availability(a, false);
  await store.start();
  await availability(a, true);
  await until(
    'the file copied and renamed',
    async () => fs.existsSync(`${file}.imported`),
    (done) => done,
  );
  await jumpClient(t, a, pinned);
});

test("a gateway whose secret is not the deployment's never opens the registry: DIRECTORY_UNAVAILABLE, never AUTH_FAILED", async (t) => {
  const store = await startRedis(t);
  const a = await member(t, 'pepper-a', store.url);
  const pinned = await pinThrough(t, a);
  const { gateway: b } = await startGateway(t, {
    directory: store.url,
    gatewayId: 'pepper-b',
    secret: 'another-secret-than-the-deployment-shares',
  });
  const raw = await rawPeer(t, url(b));
  raw.send(jumpHello(pinned.jumpClientId, pinned.key));
  assert.equal((await raw.nextError()).code, Codes.DIRECTORY_UNAVAILABLE.code);
  assert.equal(raw.ws.readyState, raw.ws.OPEN, 'not final: the client may try again');
  // the gateways with the deployment's secret go on
  await jumpClient(t, a, pinned);
});

test('a revoke whose event the holding gateway missed is told to the device within a beat', async (t) => {
  const a = await member(t, 'missed-a');
  const pinned = await pinThrough(t, a);
  const { jump } = await jumpClient(t, a, pinned);
  const refused = once(jump.unattended, 'refused') as Promise<[string]>;
  const uninstall = waitFor(jump, 'control', (c) => c.jumpClientUninstall != null);
  // revoked in the store alone, as by a gateway whose `unpinned` publish was lost
  const other = new RedisDirectory({ url: redis.url, selfId: 'missed-b', logger: silentLogger() });
  t.after(() => other.stop());
  await other.start({ url: 'ws://missed-b.example/v1/ws', region: '' }, () => idle);
  assert.equal(await other.revokeJumpClient(pinned.jumpClientId, Date.now(), 'tech-9', 100), true);
  const [control] = await uninstall;
  assert.equal(control.jumpClientUninstall?.by, 'tech-9');
  assert.deepEqual(await refused, [Codes.JUMP_CLIENT_REVOKED.code]);
});

test('a technician of another team asking about a jump client held on another gateway is told it is not found, not redirected', async (t) => {
  const a = await member(t, 'team-a');
  const b = await member(t, 'team-b');
  const pinned = await pinThrough(t, a);
  await jumpClient(t, b, pinned);
  const { tech, access } = await technician(t, a, 'outsider', {
    perms: ['unattended', 'jump_client'],
    teams: ['billing'],
  });
  let redirected = false;
  tech.on('redirected', () => {
    redirected = true;
  });
  await assert.rejects(access.startJumpSession(pinned.jumpClientId), {
    code: Codes.JUMP_CLIENT_NOT_FOUND.code,
  });
  // the same answer as for a jump client held by its own gateway
  const { access: onB } = await technician(t, b, 'outsider-b', {
    perms: ['unattended'],
    teams: ['billing'],
  });
  await assert.rejects(onB.startJumpSession(pinned.jumpClientId), {
    code: Codes.JUMP_CLIENT_NOT_FOUND.code,
  });
  assert.equal(redirected, false);
  assert.equal(tech.welcome?.gatewayId, 'team-a');
  assert.equal(a.fleet!.counters.redirects.jump_client, 0);
  assert.equal(
    (await access.listJumpClients()).some((j) => j.id === pinned.jumpClientId),
    false,
  );
});

test('no value of the store holds a jump client key once pinned', async (t) => {
  const store = await startRedis(t);
  const a = await member(t, 'plain-a', store.url);
  const pinned = await pinThrough(t, a);
  await jumpClient(t, a, pinned);
  const raw = new Redis(store.url);
  t.after(() => raw.disconnect());
  const values: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'COUNT', 100);
    cursor = next;
    for (const key of keys) {
      values.push(key);
      const type = await raw.type(key);
      if (type === 'string') values.push((await raw.get(key)) ?? '');
      else if (type === 'hash') values.push(...Object.entries(await raw.hgetall(key)).flat());
      else if (type === 'list') values.push(...(await raw.lrange(key, 0, -1)));
      else if (type === 'set') values.push(...(await raw.smembers(key)));
      else if (type === 'zset') values.push(...(await raw.zrange(key, 0, -1)));
    }
  } while (cursor !== '0');
  assert.ok(
    values.some((v) => v.includes(pinned.jumpClientId)),
    'the registration is there',
  );
  assert.ok(pinned.key.length >= 16);
  assert.equal(values.filter((v) => v.includes(pinned.key)).length, 0, 'never the key');
});

// --- the store's atomic parts ---------------------------------------------------------------

const idle: MemberLoad = { sessions: 0, cpu: 0, bytesPerSecond: 0, draining: false };
let prefixes = 0;

/** Two started directories of one deployment under a fresh key prefix. */
async function pair(t: TestContext, options: { heartbeatMs?: number; memberTtlMs?: number } = {}) {
  const keyPrefix = `unattended-${++prefixes}:`;
  const open = async (id: string) => {
    const d = new RedisDirectory({
      url: redis.url,
      selfId: id,
      keyPrefix,
      logger: silentLogger(),
      ...options,
    });
    t.after(() => d.stop());
    await d.start({ url: `ws://${id}.example/v1/ws`, region: '' }, () => idle);
    return d;
  };
  return { a: await open('gw-a'), b: await open('gw-b') };
}

function record(id: string, createdAtMs = 1): JumpClientRecord {
  return {
    id,
    technician: 'alice',
    team: 'support',
    deviceName: 'PC',
    createdAtMs,
    revokedAtMs: null,
    revokedBy: null,
    keyDigest: 'ab'.repeat(32),
    lastSeenAtMs: null,
  };
}

test('store: adds stay under the bound and never reuse an id; one of concurrent revokes wins; tombstones are bounded', async (t) => {
  const { a, b } = await pair(t);
  assert.equal(await a.addJumpClient(record('jc_1'), 2), 'added');
  assert.equal(await b.addJumpClient(record('jc_1'), 2), 'taken');
  // two gateways race for the last place: exactly one gets it
  const raced = await Promise.all([
    a.addJumpClient(record('jc_2'), 2),
    b.addJumpClient(record('jc_3'), 2),
  ]);
  assert.deepEqual([...raced].sort(), ['added', 'full']);

  const revokes = await Promise.all([
    a.revokeJumpClient('jc_1', 10, 'alice', 1),
    b.revokeJumpClient('jc_1', 11, 'bob', 1),
    a.revokeJumpClient('jc_1', 12, 'carol', 1),
  ]);
  assert.equal(revokes.filter(Boolean).length, 1);
  const tombstone = await b.jumpClient('jc_1');
  assert.ok(tombstone?.revokedAtMs !== null && tombstone?.revokedBy !== null);
  // a tombstone keeps its id: nothing registers over it
  assert.equal(await a.addJumpClient(record('jc_1'), 10), 'taken');
  // the place it held is free again; an unknown id is not revoked
  const free = raced[0] === 'added' ? 'jc_3' : 'jc_2';
  assert.equal(await b.addJumpClient(record(free), 2), 'added');
  assert.equal(await a.revokeJumpClient('jc_unknown', 13, 'x', 1), false);
  // a second tombstone beyond the bound of 1 pushes the oldest out
  const active = (await a.jumpClients(false)).map((r) => r.id);
  assert.equal(await a.revokeJumpClient(active[0]!, 20, 'x', 1), true);
  assert.equal(await a.jumpClient('jc_1'), null);
  assert.deepEqual(
    (await a.jumpClients(true)).filter((r) => r.revokedAtMs !== null).map((r) => r.id),
    [active[0]],
  );
  // seen: recorded on an active registration only, and never creates one
  await a.jumpClientSeen(active[1]!, 30);
  await a.jumpClientSeen('jc_gone', 30);
  assert.equal((await b.jumpClient(active[1]!))?.lastSeenAtMs, 30);
  assert.equal(await b.jumpClient('jc_gone'), null);

  // support buttons: bounded, removed once
  const button = (id: string) => ({ id, team: 'billing', deviceName: 'TILL', createdAtMs: 1 });
  assert.equal(await a.addSupportButton(button('sb_1'), 1), 'added');
  assert.equal(await b.addSupportButton(button('sb_2'), 1), 'full');
  assert.equal(await b.addSupportButton(button('sb_1'), 5), 'taken');
  const removes = await Promise.all([a.removeSupportButton('sb_1'), b.removeSupportButton('sb_1')]);
  assert.deepEqual([...removes].sort(), [false, true]);
  assert.deepEqual(await a.supportButtons(), []);
  // an import copies what is missing only: a revoked registration stays revoked
  const copied = await b.importRegistrations(
    [record(active[0]!), record('jc_new')],
    [button('sb_9')],
  );
  assert.equal(copied, 2);
  assert.notEqual((await a.jumpClient(active[0]!))?.revokedAtMs, null);
});

test("store: a jump client's newest connection wins; a stale one is told at the next beat; presence goes with its gateway", async (t) => {
  // frequent beats, and a TTL that a loaded machine's late beat does not outlast
  const { a, b } = await pair(t, { heartbeatMs: 50, memberTtlMs: 10_000 });
  const stale: [string, string][] = [];
  a.onJumpClientElsewhere((id, participantId) => stale.push([id, participantId]));
  assert.equal(await a.addJumpClient(record('jc_x'), 10), 'added');
  await a.jumpClientHere('jc_x', { participantId: 'c1', inSession: false, connectedAtMs: 1 });
  assert.equal((await b.jumpClientsAt(['jc_x'])).get('jc_x')?.gatewayId, 'gw-a');
  // the device connects to B (A's connection is half-open): B's is the presence now
  await b.jumpClientHere('jc_x', { participantId: 'c9', inSession: true, connectedAtMs: 2 });
  // A's beat does not write over it, and tells A its connection is stale
  await until(
    'A told its connection is stale',
    async () => stale.length,
    (n) => n === 1,
  );
  assert.deepEqual(stale, [['jc_x', 'c1']]);
  // the close of A's old connection forgets nothing of B's
  await a.jumpClientLeft('jc_x', 'c1');
  const where = (await a.jumpClientsAt(['jc_x', 'jc_none'])).get('jc_x');
  assert.equal(where?.gatewayId, 'gw-b');
  assert.equal(where?.inSession, true);
  assert.equal(where?.member.url, 'ws://gw-b.example/v1/ws');

  await b.technicianHere({ participantId: 'c2', name: 'tech', teams: ['t'], connectedAtMs: 3 });
  assert.deepEqual(
    (await a.technicians()).map((p) => [p.gatewayId, p.name]),
    [['gw-b', 'tech']],
  );
  // a stopped gateway's presence is gone at once
  await b.stop();
  assert.deepEqual(await a.technicians(), []);
  assert.equal((await a.jumpClientsAt(['jc_x'])).size, 0);
});

test('store: a held jump client revoked without an event is reported at the next beat, once; a later write does not take the presence from a newer connection', async (t) => {
  const { a, b } = await pair(t, { heartbeatMs: 50, memberTtlMs: 10_000 });
  const revoked: [string, string, string][] = [];
  a.onJumpClientRevoked((id, participantId, by) => revoked.push([id, participantId, by]));
  assert.equal(await a.addJumpClient(record('jc_r'), 10), 'added');
  await a.jumpClientHere('jc_r', { participantId: 'c5', inSession: false, connectedAtMs: 1 });
  assert.equal(await b.revokeJumpClient('jc_r', 5, 'bob', 10), true);
  await until(
    'A told the jump client it holds is revoked',
    async () => revoked.length,
    (n) => n > 0,
  );
  assert.deepEqual(revoked, [['jc_r', 'c5', 'bob']]);
  assert.equal((await b.jumpClientsAt(['jc_r'])).size, 0, 'its presence is dropped');

  // newest wins: A's older connection moving into a session does not take B's newer presence
  assert.equal(await a.addJumpClient(record('jc_n'), 10), 'added');
  const stale: string[] = [];
  a.onJumpClientElsewhere((id) => stale.push(id));
  await a.jumpClientHere('jc_n', { participantId: 'c1', inSession: false, connectedAtMs: 1 });
  await b.jumpClientHere('jc_n', { participantId: 'c9', inSession: false, connectedAtMs: 2 });
  await a.jumpClientHere('jc_n', { participantId: 'c1', inSession: true, connectedAtMs: 1 });
  const where = (await b.jumpClientsAt(['jc_n'])).get('jc_n');
  assert.equal(where?.gatewayId, 'gw-b');
  assert.equal(where?.participantId, 'c9');
  assert.deepEqual(stale, ['jc_n']);
  assert.equal(revoked.length, 1, 'told once');

  // a first write that failed as its connection came (the store refused it) is retried by the
  // beat; by then the device connected elsewhere, later: that presence stays, and this
  // connection is told it is stale
  assert.equal(await a.addJumpClient(record('jc_l'), 10), 'added');
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  try {
    await admin.call('ACL', 'SETUSER', 'default', '-set');
    await assert.rejects(
      a.jumpClientHere('jc_l', { participantId: 'c2', inSession: false, connectedAtMs: 10 }),
      /directory unavailable: jumpClientHere:/,
    );
  } finally {
    await admin.call('ACL', 'SETUSER', 'default', '+@all');
  }
  await b.jumpClientHere('jc_l', { participantId: 'c8', inSession: false, connectedAtMs: 20 });
  await until(
    "A's retry to yield",
    async () => stale.length,
    (n) => n === 2,
  );
  assert.deepEqual(stale, ['jc_n', 'jc_l']);
  assert.equal((await a.jumpClientsAt(['jc_l'])).get('jc_l')?.participantId, 'c8');
  // a first write as a newer connection comes replaces an older one's presence
  await a.jumpClientHere('jc_l', { participantId: 'c3', inSession: false, connectedAtMs: 30 });
  assert.equal((await b.jumpClientsAt(['jc_l'])).get('jc_l')?.participantId, 'c3');
});

test('a Redis run as deploy/compose runs it keeps the jump client registrations across a restart', async (t) => {
  // the compose file's own Redis options (its AOF), on this machine's redis-server
  const compose = fs.readFileSync(path.resolve('deploy/compose/compose.yml'), 'utf8');
  const [program, ...args] = composeCommands(compose).get('redis') ?? [];
  assert.equal(program, 'redis-server');
  const store = await startRedis(t, { args });
  const a = await member(t, 'persist-a', store.url);
  const pinned = await pinThrough(t, a);
  await store.stop();
  await availability(a, false);
  await store.start();
  await availability(a, true);
  // the registration came back from the AOF: the device still authenticates
  const { welcome } = await jumpClient(t, a, pinned);
  assert.equal(welcome.gatewayId, 'persist-a');
});
