/**
 * `RedisDirectory` against a real redis-server (one per file, each test under its own key
 * prefix; the outage test has a server of its own, since it stops it). Waits are bounded polls
 * of a condition or events, never a fixed sleep.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, type TestContext, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { freeLoopbackPort } from '../../bench/common/ports.js';
import { RedisDirectory, type RedisDirectoryOptions } from '../../src/directory/redis.js';
import type { MemberLoad } from '../../src/directory/shared.js';
import { silentLogger } from '../../src/log.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { issue, makeCa } from '../tls/certs.js';

const server: RedisServer = await startRedis({ after });
let prefixes = 0;

const idle: MemberLoad = { sessions: 0, cpu: 0, bytesPerSecond: 0, draining: false };

/** A started directory for gateway `id`, stopped after the test. */
async function gateway(
  t: TestContext,
  id: string,
  options: Partial<RedisDirectoryOptions> & { url?: string; load?: MemberLoad } = {},
): Promise<RedisDirectory> {
  const directory = new RedisDirectory({
    url: server.url,
    selfId: id,
    logger: silentLogger(),
    ...options,
  });
  t.after(() => directory.stop());
  await directory.start(
    { url: `wss://${id}.example/v1/ws`, region: 'eu' },
    () => options.load ?? idle,
  );
  return directory;
}

/** A key prefix of its own for each test on the shared server. */
function prefix(): string {
  prefixes += 1;
  return `t${prefixes}:`;
}

/** Polls `condition` every 20 ms until true; fails after `boundMs`. */
async function waitFor(
  what: string,
  condition: () => Promise<boolean> | boolean,
  boundMs = 5000,
): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A plain ioredis client, to look at the keys themselves. */
function raw(t: TestContext, url = server.url, options: RedisOptions = {}): Redis {
  const client = new Redis(url, options);
  // at once, no QUIT: a server the test started is stopped by an after hook registered before
  t.after(() => client.disconnect());
  return client;
}

test('two gateways see each other with their load; a stopped one leaves', async (t) => {
  const keyPrefix = prefix();
  const loadA: MemberLoad = { sessions: 3, cpu: 0.25, bytesPerSecond: 1000, draining: false };
  const loadB: MemberLoad = { sessions: 1, cpu: 0.5, bytesPerSecond: 20, draining: true };
  const b = await gateway(t, 'gw-b', { keyPrefix, load: loadB });
  const a = await gateway(t, 'gw-a', { keyPrefix, load: loadA });
  assert.equal(a.available, true);

  const members = await b.members();
  assert.deepEqual(
    members.map(({ seenAtMs: _, ...rest }) => rest),
    [
      { id: 'gw-a', url: 'wss://gw-a.example/v1/ws', region: 'eu', ...loadA },
      { id: 'gw-b', url: 'wss://gw-b.example/v1/ws', region: 'eu', ...loadB },
    ],
  );
  assert.ok(members.every((m) => Math.abs(m.seenAtMs - Date.now()) < 5000));

  await b.stop();
  assert.equal(b.available, false);
  assert.deepEqual(
    (await a.members()).map((m) => m.id),
    ['gw-a'],
  );
  await assert.rejects(b.members(), { message: /^directory unavailable:/ });
});

test('a gateway that stops beating drops out, and what it owned reports a dead owner', async (t) => {
  const keyPrefix = prefix();
  const b = await gateway(t, 'gw-b', { keyPrefix, heartbeatMs: 100 });
  // Registers once, then would beat only after a minute: as good as a dead process.
  const a = await gateway(t, 'gw-a', { keyPrefix, heartbeatMs: 60_000, memberTtlMs: 300 });
  assert.equal(await a.publishPin('424242', 's-a', Date.now() + 60_000), true);
  await a.publishSession({
    id: 's-a',
    status: 'Active',
    technician: 'tech',
    customer: 'cust',
    participants: 2,
  });
  await a.publishResume('token-a', 's-a');
  assert.equal((await b.pinOwner('424242'))?.member?.id, 'gw-a');

  await waitFor('gw-a to drop out', async () => {
    const ids = (await b.members()).map((m) => m.id);
    return !ids.includes('gw-a');
  });
  assert.deepEqual(
    (await b.members()).map((m) => m.id),
    ['gw-b'],
  );
  assert.deepEqual(await b.pinOwner('424242'), {
    gatewayId: 'gw-a',
    sessionId: 's-a',
    member: null,
  });
  assert.deepEqual(await b.sessionOwner('s-a'), {
    gatewayId: 'gw-a',
    sessionId: 's-a',
    member: null,
  });
  assert.deepEqual(await b.resumeOwner('token-a'), {
    gatewayId: 'gw-a',
    sessionId: 's-a',
    member: null,
  });
  // The dead owner's session can be taken over.
  assert.equal(await b.takeOver('s-a', 'gw-a'), true);
  assert.equal((await b.resumeOwner('token-a'))?.member?.id, 'gw-b');
});

test('a PIN is held by one gateway, released only by it, and expires', async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'gw-a', { keyPrefix });
  const b = await gateway(t, 'gw-b', { keyPrefix });

  assert.equal(await b.pinOwner('123456'), null);
  assert.equal(await a.publishPin('123456', 's-1', Date.now() + 60_000), true);
  const owner = await b.pinOwner('123456');
  assert.equal(owner?.gatewayId, 'gw-a');
  assert.equal(owner?.sessionId, 's-1');
  assert.equal(owner?.member?.id, 'gw-a');
  assert.equal(owner?.member?.url, 'wss://gw-a.example/v1/ws');

  assert.equal(await b.publishPin('123456', 's-2', Date.now() + 60_000), false);
  await b.releasePin('123456');
  assert.equal((await a.pinOwner('123456'))?.sessionId, 's-1', "B cannot release A's PIN");
  await a.releasePin('123456');
  assert.equal(await b.pinOwner('123456'), null);
  assert.equal(await b.publishPin('123456', 's-2', Date.now() + 60_000), true, 'free again');

  const expiresAtMs = Date.now() + 200;
  assert.equal(await a.publishPin('654321', 's-3', expiresAtMs), true);
  await waitFor('the PIN to expire', async () => (await b.pinOwner('654321')) === null, 3000);
  assert.ok(Date.now() >= expiresAtMs - 50, 'not gone before its expiry');
});

test('PIN attempts from one address are counted across gateways', async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'gw-a', { keyPrefix });
  const b = await gateway(t, 'gw-b', { keyPrefix });
  assert.equal(await a.countAttempt('203.0.113.7'), 1);
  assert.equal(await b.countAttempt('203.0.113.7'), 2);
  assert.equal(await a.countAttempt('203.0.113.7'), 3);
  assert.equal(await b.countAttempt('198.51.100.1'), 1);
  const counts = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).countAttempt('2001:db8::1')),
  );
  assert.deepEqual(
    counts.sort((x, y) => x - y),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  // every counter expires (2 minutes), so a gateway's death leaves none behind
  const raw = new Redis(server.url);
  t.after(() => raw.disconnect());
  const counters = await raw.keys(`${keyPrefix}attempts:*`);
  assert.equal(counters.length, 3);
  for (const key of counters) {
    const ttl = await raw.pttl(key);
    assert.ok(ttl > 0 && ttl <= 120_000, `${key} expires: ${ttl}`);
  }
});

test("a technician's presence is listed everywhere and expires with its gateway's member record", async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'gw-a', { keyPrefix, heartbeatMs: 1000 });
  const b = await gateway(t, 'gw-b', { keyPrefix });
  await a.technicianHere({ participantId: 'p1', name: 'Ada', teams: ['it'], connectedAtMs: 1 });
  const listed = await b.technicians();
  assert.deepEqual(
    listed.map((p) => [p.gatewayId, p.participantId, p.name, p.teams]),
    [['gw-a', 'p1', 'Ada', ['it']]],
  );
  const raw = new Redis(server.url);
  t.after(() => raw.disconnect());
  const ttl = await raw.pttl(`${keyPrefix}techs:gw-a`);
  assert.ok(ttl > 0 && ttl <= a.memberTtlMs, `the presence expires: ${ttl}`);
});

test('takeOver moves a session and its resume tokens to exactly one claimant', async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'A', { keyPrefix });
  const b = await gateway(t, 'B', { keyPrefix });
  const c = await gateway(t, 'C', { keyPrefix });
  const summary = { id: 's1', status: 'Active', technician: 't', customer: 'c', participants: 2 };
  await a.publishSession(summary);
  await a.publishResume('tok-1', 's1');
  await a.publishResume('tok-2', 's1');
  assert.equal((await c.resumeOwner('tok-1'))?.gatewayId, 'A');
  assert.equal(await c.resumeOwner('tok-unknown'), null);
  assert.equal(await c.sessionOwner('s-unknown'), null);

  const results = await Promise.all([b.takeOver('s1', 'A'), c.takeOver('s1', 'A')]);
  assert.equal(results.filter(Boolean).length, 1, `exactly one wins: ${results}`);
  const [winner, loser] = results[0] ? [b, c] : [c, b];

  for (const token of ['tok-1', 'tok-2']) {
    const owner = await a.resumeOwner(token);
    assert.equal(owner?.gatewayId, winner.selfId);
    assert.equal(owner?.sessionId, 's1');
    assert.equal(owner?.member?.id, winner.selfId);
  }
  assert.equal((await a.sessionOwner('s1'))?.gatewayId, winner.selfId);
  assert.equal(await loser.takeOver('s1', 'A'), false, 'A no longer owns it');

  const redis = raw(t);
  assert.deepEqual(await redis.smembers(`${keyPrefix}gw-sessions:A`), []);
  assert.deepEqual(await redis.smembers(`${keyPrefix}gw-sessions:${winner.selfId}`), ['s1']);

  // The former owner can no longer refresh, remove it, forget its tokens or write to the new
  // owner's copy of its journal; a token it still gives out (a place taken while a live move
  // was on its way) leads to the new owner.
  await a.publishSession({ ...summary, status: 'Ended' });
  await a.publishResume('tok-late', 's1');
  await a.appendJournal('s1', Buffer.from('a late line of the former owner'));
  const late = await b.resumeOwner('tok-late');
  assert.deepEqual([late?.gatewayId, late?.sessionId], [winner.selfId, 's1']);
  assert.deepEqual(await redis.lrange(`${keyPrefix}journal:s1`, 0, -1), []);
  await a.removeSession('s1');
  await a.forgetResume('tok-1');
  assert.equal((await b.sessionOwner('s1'))?.gatewayId, winner.selfId);
  assert.equal(await redis.hget(`${keyPrefix}session:s1`, 'status'), 'Active');
  assert.equal((await b.resumeOwner('tok-1'))?.gatewayId, winner.selfId);

  await winner.forgetResume('tok-1');
  assert.equal(await b.resumeOwner('tok-1'), null);
  await winner.removeSession('s1');
  assert.equal(await b.sessionOwner('s1'), null);
  assert.deepEqual(await redis.smembers(`${keyPrefix}gw-sessions:${winner.selfId}`), []);
  // the session's remaining token goes with it: nothing of it stays behind
  assert.equal(await b.resumeOwner('tok-2'), null);
  assert.deepEqual(await redis.keys(`${keyPrefix}*s1*`), []);
  assert.deepEqual(await redis.keys(`${keyPrefix}resume:*`), []);
});

test("a moved session's last journal copy lands only until its new owner has taken it over", async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'A', { keyPrefix });
  const b = await gateway(t, 'B', { keyPrefix });
  const redis = raw(t);
  const summary = { id: 'm1', status: 'Active', technician: 't', customer: 'c', participants: 2 };
  await a.publishSession(summary);
  await a.replaceJournal('m1', [Buffer.from('first copy')]);
  assert.equal(await a.moveTo('m1', 'B'), true);
  // not taken over yet: the moving gateway's last copy replaces its first
  assert.equal(await a.replaceMovedJournal('m1', [Buffer.from('l1'), Buffer.from('l2')]), true);
  assert.deepEqual(await redis.lrange(`${keyPrefix}journal:m1`, 0, -1), ['l1', 'l2']);
  // B takes it over (a participant arrived) and writes on: a later copy from A is refused
  assert.equal(await b.takeOver('m1', 'B'), true);
  await b.appendJournal('m1', Buffer.from('B wrote this'));
  assert.equal(await a.replaceMovedJournal('m1', [Buffer.from('stale')]), false);
  assert.deepEqual(await redis.lrange(`${keyPrefix}journal:m1`, 0, -1), [
    'l1',
    'l2',
    'B wrote this',
  ]);
  // and a session never moved by A is never replaced by it
  assert.equal(await b.replaceMovedJournal('m1', [Buffer.from('x')]), false);
});

test('the writes of one turn to a session go as one script call, in order, and before any later command', async (t) => {
  const keyPrefix = prefix();
  const a = await gateway(t, 'A', { keyPrefix });
  const redis = raw(t);
  const summary = {
    id: 's1',
    status: 'Connecting',
    technician: 't',
    customer: '',
    participants: 1,
  };
  /** Commands the server ran so far, by name (commandstats counts the ones inside scripts). */
  const calls = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
      out[m[1]!] = Number(m[2]);
    }
    return out;
  };
  const was = await calls();
  // one turn: two lines, the summary twice (the last wins), a token, a third line
  const writes = [
    a.appendJournal('s1', Buffer.from('line 1')),
    a.appendJournal('s1', Buffer.from('line 2')),
    a.publishSession(summary),
    a.publishSession({ ...summary, status: 'Waiting', customer: 'c', participants: 2 }),
    a.publishResume('tok-1', 's1'),
    a.appendJournal('s1', Buffer.from('line 3')),
  ];
  await Promise.all(writes);
  const now = await calls();
  const delta = (name: string) => (now[name] ?? 0) - (was[name] ?? 0);
  assert.equal(delta('evalsha') + delta('eval'), 1, 'one script call for the turn');
  assert.equal(delta('rpush'), 1, 'the three lines in one RPUSH');
  assert.deepEqual((await redis.lrangeBuffer(`${keyPrefix}journal:s1`, 0, -1)).map(String), [
    'line 1',
    'line 2',
    'line 3',
  ]);
  assert.deepEqual(await redis.hgetall(`${keyPrefix}session:s1`), {
    gatewayId: 'A',
    status: 'Waiting',
    technician: 't',
    customer: 'c',
    participants: '2',
  });
  assert.equal((await a.resumeOwner('tok-1'))?.sessionId, 's1');

  // a turn with more lines than Lua's unpack takes at once keeps them all, in order
  const many = Array.from({ length: 10_000 }, (_, i) =>
    a.appendJournal('s2', Buffer.from(`l${i}`)),
  );
  await Promise.all(many);
  const kept = await redis.lrange(`${keyPrefix}journal:s2`, 0, -1);
  assert.equal(kept.length, 10_000);
  assert.equal(kept[0], 'l0');
  assert.equal(kept[9_999], 'l9999');
  await a.removeSession('s2');

  // writes to two sessions interleaved in one turn keep their order: a technician's token
  // published for s3, then s4, then s3 again names s3 (and s4's line stays between s3's)
  const interleaved = [
    a.publishResume('tok-t', 's3'),
    a.appendJournal('s3', Buffer.from('s3 a')),
    a.publishResume('tok-t', 's4'),
    a.publishResume('tok-t', 's3'),
    a.appendJournal('s3', Buffer.from('s3 b')),
  ];
  await Promise.all(interleaved);
  assert.equal((await a.resumeOwner('tok-t'))?.sessionId, 's3');
  assert.deepEqual((await redis.lrange(`${keyPrefix}journal:s3`, 0, -1)).map(String), [
    's3 a',
    's3 b',
  ]);

  // a PIN reserved or a guess counted amid a turn's writes does not cut the turn in two: their
  // keys are none of a session's, so the turn's lines still go in one RPUSH
  const before = await calls();
  const mixed = [
    a.appendJournal('s5', Buffer.from('s5 a')),
    a.publishPin('123456789', 's5', Date.now() + 60_000),
    a.countAttempt('192.0.2.1'),
    a.appendJournal('s5', Buffer.from('s5 b')),
  ];
  const [, reserved, counted] = await Promise.all(mixed);
  assert.equal(reserved, true);
  assert.equal(counted, 1);
  const after = await calls();
  assert.equal((after.rpush ?? 0) - (before.rpush ?? 0), 1, 'the two lines in one RPUSH');
  assert.deepEqual((await redis.lrange(`${keyPrefix}journal:s5`, 0, -1)).map(String), [
    's5 a',
    's5 b',
  ]);
  assert.equal((await a.pinOwner('123456789'))?.sessionId, 's5');
  await a.removeSession('s5');

  // what the hook before a turn's writes adds (a journal's due snapshot) goes in the same
  // script call as the turn's other lines, after them
  let hooked = 0;
  a.beforeTurnWrites((): void => {
    hooked++;
    if (hooked === 1) void a.appendJournal('s6', Buffer.from('s6 snapshot'));
  });
  const beforeHook = await calls();
  await a.appendJournal('s6', Buffer.from('s6 line'));
  const afterHook = await calls();
  assert.equal(
    (afterHook.rpush ?? 0) - (beforeHook.rpush ?? 0),
    1,
    'the line and the snapshot in one RPUSH',
  );
  assert.deepEqual((await redis.lrange(`${keyPrefix}journal:s6`, 0, -1)).map(String), [
    's6 line',
    's6 snapshot',
  ]);
  // a hook that throws does not hold the turn's writes back
  a.beforeTurnWrites(() => {
    throw new Error('hook failed');
  });
  await a.appendJournal('s6', Buffer.from('s6 after a failed hook'));
  assert.equal(
    (await redis.lrange(`${keyPrefix}journal:s6`, 0, -1)).map(String).at(-1),
    's6 after a failed hook',
  );
  // run before a command that flushes the steps first (not only at the end of the turn)
  let fromRun = 0;
  a.beforeTurnWrites(() => {
    fromRun++;
    if (fromRun === 1) void a.appendJournal('s6', Buffer.from('s6 snapshot before a command'));
  });
  const pending = a.appendJournal('s6', Buffer.from('s6 before a command'));
  assert.equal((await a.sessionOwner('s6'))?.gatewayId, undefined);
  await pending;
  assert.deepEqual((await redis.lrange(`${keyPrefix}journal:s6`, 0, -1)).map(String).slice(-2), [
    's6 before a command',
    's6 snapshot before a command',
  ]);
  a.beforeTurnWrites(() => undefined);
  await a.removeSession('s6');

  // a removal in the same turn as a write comes after it: nothing of the session stays
  const last = a.appendJournal('s1', Buffer.from('line 4'));
  const republished = a.publishSession({ ...summary, status: 'Ended' });
  assert.equal(await a.removeSession('s1'), true);
  await Promise.all([last, republished]);
  assert.equal(await a.sessionOwner('s1'), null);
  assert.deepEqual(await redis.keys(`${keyPrefix}*s1*`), []);
});

test('a turn of session writes while the store is down is refused with the code, each of them', async (t) => {
  const keyPrefix = prefix();
  const own = await startRedis(t);
  const a = await gateway(t, 'A', { keyPrefix, url: own.url });
  const down = new Promise<void>((resolve) => a.onAvailability((up) => !up && resolve()));
  await own.stop();
  await down;
  const results = await Promise.allSettled([
    a.appendJournal('s1', Buffer.from('x')),
    a.publishResume('tok', 's1'),
  ]);
  assert.deepEqual(
    results.map(
      (r) => r.status === 'rejected' && /^directory unavailable: /.test(String(r.reason.message)),
    ),
    [true, true],
  );
});

test('a queued session is picked up by exactly one of ten concurrent claimants', async (t) => {
  const keyPrefix = prefix();
  let now = 1_700_000_000_000;
  const a = await gateway(t, 'gw-a', { keyPrefix, clock: () => now++ });
  const b = await gateway(t, 'gw-b', { keyPrefix });
  await a.enqueue('helpdesk', 's-9');
  await a.enqueue('helpdesk', 's-1');
  await a.enqueue('helpdesk', 's-5');
  assert.deepEqual(await b.queued('helpdesk'), ['s-9', 's-1', 's-5'], 'oldest first');
  assert.deepEqual(await b.queued('other'), []);

  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).pickUp('helpdesk', 's-1', `tech-${i}`)),
  );
  assert.equal(results.filter(Boolean).length, 1);
  assert.deepEqual(await a.queued('helpdesk'), ['s-9', 's-5']);
  assert.equal(await b.pickUp('helpdesk', 's-1', 'late'), false);
});

test('availability follows the connection; the member registers again on reconnect', async (t) => {
  const own = await startRedis(t);
  const a = await gateway(t, 'gw-a', {
    url: own.url,
    heartbeatMs: 60_000, // only the reconnect can register it again within the test
    memberTtlMs: 60_000,
  });
  assert.equal(a.available, true);
  const changes: boolean[] = [];
  const next = (value: boolean) =>
    new Promise<void>((resolve) => a.onAvailability((v) => v === value && resolve()));
  a.onAvailability((v) => changes.push(v));

  const down = next(false);
  await own.stop();
  await down;
  assert.equal(a.available, false);

  const startedMs = Date.now();
  await assert.rejects(a.members(), { message: /^directory unavailable:/ });
  await assert.rejects(a.publishPin('111111', 's', Date.now() + 60_000), {
    message: /^directory unavailable:/,
  });
  await assert.rejects(a.takeOver('s', 'gw-x'), { message: /^directory unavailable:/ });
  assert.ok(Date.now() - startedMs < 2000, 'rejected at once, not after a timeout');

  const up = next(true);
  await own.start(); // empty: nothing persisted
  await up;
  assert.equal(a.available, true);
  await waitFor('gw-a to register again', async () =>
    (await a.members()).some((m) => m.id === 'gw-a'),
  );
  assert.deepEqual(changes, [false, true], 'each change once');
});

test('a command in flight when the connection drops is refused, and not run after the reconnect', async (t) => {
  const own = await startRedis(t);
  const a = await gateway(t, 'gw-a', { url: own.url, heartbeatMs: 60_000, memberTtlMs: 60_000 });
  const expires = Date.now() + 60_000;
  // the server stops answering: the write goes out and stays unanswered
  own.signal('SIGSTOP');
  const outcome = a.publishPin('222222', 'first', expires).then(
    (held) => `answered ${held}`,
    (err: Error) => err.message,
  );
  // the server dies with it unanswered (so never run), and comes back empty
  const down = new Promise<void>((resolve) => a.onAvailability((v) => !v && resolve()));
  own.signal('SIGKILL');
  await own.stop(); // waits for its exit
  await down;
  await own.start();
  await waitFor('the directory to be available again', () => a.available);
  assert.match(await outcome, /^directory unavailable: publishPin:/);
  // nothing sent it again behind the caller's back: the PIN is still free
  assert.equal(await a.publishPin('222222', 'second', expires), true);
  const held = JSON.parse((await raw(t, own.url).get('ferry:pin:222222')) ?? 'null');
  assert.deepEqual(held, { gatewayId: 'gw-a', sessionId: 'second' });
});

test('start rejects with a clear message when nothing listens', async () => {
  const port = await freeLoopbackPort();
  const directory = new RedisDirectory({
    url: `redis://ferry:s3cret@127.0.0.1:${port}/2`,
    selfId: 'gw-a',
  });
  const startedMs = Date.now();
  await assert.rejects(
    directory.start({ url: 'wss://a', region: '' }, () => idle),
    (err) => {
      assert.ok(err instanceof Error);
      assert.match(
        err.message,
        /^directory unavailable: cannot connect to redis:\/\/ferry:\*\*\*@127/,
      );
      assert.match(err.message, new RegExp(`:${port}/2`));
      assert.match(err.message, /ECONNREFUSED/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    },
  );
  assert.ok(Date.now() - startedMs < 2000);
  assert.equal(directory.available, false);
  await assert.rejects(directory.members(), { message: /^directory unavailable:/ });
  await directory.stop(); // harmless after a failed start
});

test('rediss:// with a CA file and a password in the URL', async (t) => {
  const ca = makeCa(t);
  const tls = await startRedis(t, { password: 'p@ss word', tls: issue(ca, 'redis') });
  assert.match(tls.url, /^rediss:\/\/:p%40ss%20word@127\.0\.0\.1:\d+\/0$/);
  const a = await gateway(t, 'gw-a', { url: tls.url.replace(/\/0$/, '/3'), tlsCaFile: ca.cert });
  assert.equal(await a.publishPin('777777', 's', Date.now() + 60_000), true);
  assert.deepEqual(
    (await a.members()).map((m) => m.id),
    ['gw-a'],
  );
  const redis = raw(t, tls.url.replace(/\/0$/, '/3'), { tls: { ca: fs.readFileSync(ca.cert) } });
  assert.equal(await redis.exists('ferry:pin:777777'), 1, 'in db 3, default prefix');

  const untrusted = new RedisDirectory({ url: tls.url, selfId: 'gw-x' });
  await assert.rejects(
    untrusted.start({ url: 'wss://x', region: '' }, () => idle),
    {
      message: /^directory unavailable: cannot connect to rediss:\/\/:\*\*\*@.*certificate/,
    },
  );
});
