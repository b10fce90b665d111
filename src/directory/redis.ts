/**
 * `RedisDirectory`: the shared directory (shared.ts) kept in one Redis (standalone, 6.2 or newer:
 * `SET … PXAT`), reached with ioredis. Every key starts with `keyPrefix` (default `ferry:`):
 *
 *   gw:<id>                 string  JSON GatewayMember, PX memberTtlMs, rewritten at each beat
 *   gws                     set     ids that have beaten; pruned of expired members on listing
 *   pin:<pin>               string  JSON {gatewayId, sessionId}, PXAT expiry, written NX
 *   attempts:<addr>:<min>   string  INCR counter per address and Unix minute, expires in 2 min
 *   session:<id>            hash    gatewayId, status, technician, customer, participants
 *   gw-sessions:<gw>        set     the session ids a gateway owns
 *   resume:<tokenKey>       hash    gatewayId (publisher, kept current by takeOver), sessionId
 *   session-resume:<id>     set     the resume token keys published for a session
 *   queue:<name>            zset    queued session ids, score = enqueue time (oldest first)
 *   queue-owner:<name>      hash    session id -> the gateway that queued it
 *   events                  channel pub/sub: what gateways tell each other (DirectoryEvent)
 *   journal:<id>            list    the session's journal lines (src/journal/record.ts), in order:
 *                                   what a surviving gateway rebuilds it from (failover)
 *   jc:<id>                 hash    a jump client registration: technician, team, deviceName,
 *                                   createdAtMs, keyDigest (HMAC of the key, never the key),
 *                                   revokedAtMs and revokedBy ('' while active), lastSeenAtMs
 *   jcs                     zset    active jump client ids, score = createdAtMs (oldest first)
 *   jcs-revoked             zset    revoked ones (their jc:<id> is the tombstone), score =
 *                                   revokedAtMs; the oldest beyond the bound are deleted
 *   sb:<id>                 hash    a support button: team, deviceName, createdAtMs
 *   sbs                     zset    support button ids, score = createdAtMs
 *   jc-at:<id>              string  JSON JumpClientPresence: the gateway holding the jump client's
 *                                   connection, PX memberTtlMs, written again at each beat
 *   techs:<gw>              hash    participant id -> JSON TechnicianPresence: a gateway's
 *                                   connected technicians, PX memberTtlMs, rewritten at each beat
 *   registry-pepper         string  hex HMAC-SHA256(secret, "ferry.registry.v1"): which secret the
 *                                   digests of jc:<id> are peppered with, set NX by the first
 *                                   gateway that opens the registry (src/directory/unattended.ts)
 *
 * Liveness is the member key's TTL: a gateway that stops beating drops out of `members()` after
 * `memberTtlMs`, and every ownership answer carries `member: null` for it, so a caller can tell
 * a dead owner from a live one without any key of the dead gateway expiring. Sessions and resume
 * tokens have no TTL: they live until their owner removes them or another gateway takes over.
 * A resume token's owner is its session's owner (the `session:<id>` hash), which is what makes
 * `takeOver` one compare-and-set on that hash; the publisher recorded in `resume:<tokenKey>` is
 * only the fallback once the session is gone, and `takeOver` rewrites it too.
 *
 * Presence (jump clients and technicians connected to a gateway) lives like a member record: this
 * gateway keeps what it holds in memory and writes it again at each beat with the member TTL, so
 * it vanishes with a dead gateway, and comes back by itself after the store lost it. A jump
 * client's newest connection wins: a connection's first successful write is unconditional (it is
 * the newest), every later one (a beat, the move into a session) only if the presence still names
 * that connection; a beat does not write over another gateway's presence, and tells this gateway
 * its own connection is stale. A beat also reads each held jump client's registration: one revoked
 * or gone is reported (its `unpinned` event may have been missed) and its presence dropped.
 *
 * The member record and the presence are written by separate chains, each never overlapping
 * itself: however long the presence takes (many jump clients, a distant Redis), the member
 * write is not held behind it, so this gateway never looks dead to the others for that.
 *
 * Every write that two gateways could race on is one Lua script (atomic on the server): release
 * of a PIN, publication and removal of a session, forgetting a resume token, takeover and
 * pick-up from a queue, adding a registration under its bound and id, revoking one, adding a
 * support button, and forgetting or refreshing a jump client's presence. The scripts name derived keys themselves (from the prefix), which a
 * standalone Redis allows and Redis Cluster does not.
 *
 * Availability: commands are never queued while disconnected (`enableOfflineQueue: false`), and
 * every method checks the connection first, so a call fails at once with `directory unavailable:`
 * instead of waiting; a command left unanswered by a dropped connection fails too and is never
 * sent again (`autoResendUnfulfilledCommands: false`): its outcome is unknown, and what the
 * gateway writes again on reconnect (members, sessions, journals) is written whole; ioredis reconnects forever with a backoff capped at one second, and the
 * membership is written again as soon as the connection is ready.
 */
import fs from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type {
  AddOutcome,
  DirectoryEvent,
  GatewayMember,
  JumpClientPresence,
  JumpClientRecord,
  JumpClientWhere,
  MemberLoad,
  Ownership,
  QueuedSession,
  SessionSummary,
  SharedDirectory,
  SupportButtonRecord,
  TechnicianPresence,
} from './shared.js';

/** The few pino methods the directory logs with. */
export interface DirectoryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RedisDirectoryOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://…` (TLS). */
  readonly url: string;
  /** This gateway's id. */
  readonly selfId: string;
  /** Prefix of every key (default `ferry:`), so deployments can share one Redis. */
  readonly keyPrefix?: string;
  /** Heartbeat period (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** How long a member stays listed after its last beat (default 3 × heartbeatMs). */
  readonly memberTtlMs?: number;
  /** A PEM file of CA certificates to verify the server with; implies TLS. */
  readonly tlsCaFile?: string;
  readonly logger?: DirectoryLogger;
  /** Unix ms (default `Date.now`): member `seenAtMs`, queue order, attempt minutes. */
  readonly clock?: () => number;
}

/** How long an attempt counter outlives its minute. */
const ATTEMPT_TTL_MS = 120_000;
/** Reconnect backoff: 100, 200, 400, 800, then every 1000 ms, forever. */
const RETRY_CAP_MS = 1000;
/** A command that gets no reply in this long fails (a dead peer that sent no RST). */
const COMMAND_TIMEOUT_MS = 5000;

/** The Lua scripts, registered with ioredis (EVALSHA, EVAL once per connection). */
const SCRIPTS = {
  /** KEYS: ids set. ARGV: member key prefix. The live members' records; prunes the dead. */
  ferryMembers: `
    local out = {}
    for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
      local record = redis.call('GET', ARGV[1] .. id)
      if record then out[#out + 1] = record else redis.call('SREM', KEYS[1], id) end
    end
    return out`,
  /**
   * KEYS: counter. ARGV: ttl ms. Counts one and (re)sets the expiry; the new count. One command
   * where MULTI INCR PEXPIRE EXEC were four (half the client's CPU on loopback).
   */
  ferryCount: `
    local count = redis.call('INCR', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return count`,
  /** KEYS: hash. ARGV: field, value, ttl ms. Sets the field and (re)sets the hash's expiry. */
  ferryHashSetWithTtl: `
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return redis.call('PEXPIRE', KEYS[1], ARGV[3])`,
  /** KEYS: pin. ARGV: self. Deletes the PIN if self holds it. */
  ferryReleasePin: `
    local value = redis.call('GET', KEYS[1])
    if not value then return 0 end
    local ok, record = pcall(cjson.decode, value)
    if ok and type(record) == 'table' and record.gatewayId == ARGV[1] then
      return redis.call('DEL', KEYS[1])
    end
    return 0`,
  /**
   * One turn's writes of one session in one round trip (see SessionSteps). KEYS: session, self's
   * gw-sessions, journal, session-resume, then one resume key per token. ARGV: self, id, publish
   * ('1' or '0'), status, technician, customer, participants, the token count T, the T token
   * keys, then the journal lines. When another gateway owns the session (it was moved or taken
   * over: returns 0) only the tokens are written, naming that owner (a place given out while the
   * session moved resumes there; its seat is in the journal copy the move makes last); else
   * publishes the summary (1; -1 when the step had none), the tokens, and appends the lines.
   */
  ferrySessionStep: `
    local owner = redis.call('HGET', KEYS[1], 'gatewayId')
    local tokens = tonumber(ARGV[8])
    if owner and owner ~= ARGV[1] then
      -- moved or taken over: its new tokens lead to its owner, the rest is the owner's to write
      for i = 1, tokens do
        redis.call('HSET', KEYS[4 + i], 'gatewayId', owner, 'sessionId', ARGV[2])
        redis.call('SADD', KEYS[4], ARGV[8 + i])
      end
      return 0
    end
    local written = -1
    if ARGV[3] == '1' then
      redis.call('HSET', KEYS[1], 'gatewayId', ARGV[1], 'status', ARGV[4],
        'technician', ARGV[5], 'customer', ARGV[6], 'participants', ARGV[7])
      redis.call('SADD', KEYS[2], ARGV[2])
      written = 1
    end
    for i = 1, tokens do
      redis.call('HSET', KEYS[4 + i], 'gatewayId', ARGV[1], 'sessionId', ARGV[2])
      redis.call('SADD', KEYS[4], ARGV[8 + i])
    end
    -- unpack gives at most a few thousand values: the lines go in chunks
    for first = 9 + tokens, #ARGV, 1000 do
      redis.call('RPUSH', KEYS[3], unpack(ARGV, first, math.min(first + 999, #ARGV)))
    end
    return written`,
  /**
   * KEYS: journal, session. ARGV: self, then the lines. Replaces the journal copy of a session
   * self moved to another gateway with the lines, only while that gateway has not taken it over
   * yet (the session is still marked `movedFrom` self): 1, else 0.
   */
  ferryReplaceJournalIf: `
    if redis.call('HGET', KEYS[2], 'movedFrom') ~= ARGV[1] then return 0 end
    redis.call('DEL', KEYS[1])
    for first = 2, #ARGV, 1000 do
      redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 999, #ARGV)))
    end
    return 1`,
  /**
   * KEYS: session, self's gw-sessions, session-resume, journal. ARGV: self, id, resume key
   * prefix. A session listed as self's that self no longer holds: unlisted, and unless another
   * gateway owns it now, deleted with its resume tokens and its journal copy (1; 0 if another's).
   */
  ferryRemoveSession: `
    redis.call('SREM', KEYS[2], ARGV[2])
    local owner = redis.call('HGET', KEYS[1], 'gatewayId')
    if owner and owner ~= ARGV[1] then return 0 end
    for _, token in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      local key = ARGV[3] .. token
      if redis.call('HGET', key, 'sessionId') == ARGV[2] then redis.call('DEL', key) end
    end
    redis.call('DEL', KEYS[3], KEYS[4], KEYS[1])
    return 1`,
  /**
   * KEYS: resume. ARGV: key prefix. {owner, sessionId} of a resume token, the owner being the
   * session's current one (the recorded publisher once the session is gone); nil if none.
   */
  ferryResumeOwner: `
    local sid = redis.call('HGET', KEYS[1], 'sessionId')
    if not sid then return false end
    local owner = redis.call('HGET', ARGV[1] .. 'session:' .. sid, 'gatewayId')
      or redis.call('HGET', KEYS[1], 'gatewayId')
    return {owner, sid}`,
  /** KEYS: resume. ARGV: key prefix, self, tokenKey. Deletes the token if self owns it. */
  ferryForgetResume: `
    local sid = redis.call('HGET', KEYS[1], 'sessionId')
    if not sid then return 0 end
    local owner = redis.call('HGET', ARGV[1] .. 'session:' .. sid, 'gatewayId')
      or redis.call('HGET', KEYS[1], 'gatewayId')
    if owner ~= ARGV[2] then return 0 end
    redis.call('SREM', ARGV[1] .. 'session-resume:' .. sid, ARGV[3])
    return redis.call('DEL', KEYS[1])`,
  /**
   * KEYS: session, from's gw-sessions, self's gw-sessions, session-resume. ARGV: from, self,
   * sessionId, resume key prefix, and '1' for a move (`from` hands it to live `self`) or '0'
   * for a take-over (`self` takes it). Compare-and-set of the session's owner from `from` to
   * self; moves the id between the owners' sets and points the session's resume tokens at self.
   * A move marks the session `movedFrom` = from until its new owner takes it over (adopts it).
   */
  ferryTakeOver: `
    if redis.call('HGET', KEYS[1], 'gatewayId') ~= ARGV[1] then return 0 end
    redis.call('HSET', KEYS[1], 'gatewayId', ARGV[2])
    if ARGV[5] == '1' then
      redis.call('HSET', KEYS[1], 'movedFrom', ARGV[1])
    else
      redis.call('HDEL', KEYS[1], 'movedFrom')
    end
    redis.call('SREM', KEYS[2], ARGV[3])
    redis.call('SADD', KEYS[3], ARGV[3])
    for _, token in ipairs(redis.call('SMEMBERS', KEYS[4])) do
      local key = ARGV[4] .. token
      if redis.call('EXISTS', key) == 1 then
        redis.call('HSET', key, 'gatewayId', ARGV[2])
      else
        redis.call('SREM', KEYS[4], token)
      end
    end
    return 1`,
  /** KEYS: queue, queue-owner. ARGV: sessionId. 1 for the one caller that removes it. */
  ferryPickUp: `
    if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call('HDEL', KEYS[2], ARGV[1])
    return 1`,
  /**
   * KEYS: jc:<id>, jcs, jcs-revoked. ARGV: id, max active, createdAtMs, technician, team,
   * deviceName, keyDigest, revokedAtMs, revokedBy ('' for an active one). -1 when the id exists
   * (a registration or a tombstone), 0 when `max` active ones exist, 1 when added.
   */
  ferryAddJumpClient: `
    if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
    if ARGV[8] == '' then
      if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
      redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    else
      redis.call('ZADD', KEYS[3], ARGV[8], ARGV[1])
    end
    redis.call('HSET', KEYS[1], 'technician', ARGV[4], 'team', ARGV[5], 'deviceName', ARGV[6],
      'createdAtMs', ARGV[3], 'keyDigest', ARGV[7], 'revokedAtMs', ARGV[8],
      'revokedBy', ARGV[9], 'lastSeenAtMs', '')
    return 1`,
  /**
   * KEYS: jc:<id>, jcs, jcs-revoked. ARGV: id, revokedAtMs, revokedBy, max tombstones, jc key
   * prefix. 1 for the one caller that revokes an active registration; the oldest tombstones
   * beyond the bound are deleted.
   */
  ferryRevokeJumpClient: `
    if redis.call('HGET', KEYS[1], 'revokedAtMs') ~= '' then return 0 end
    redis.call('HSET', KEYS[1], 'revokedAtMs', ARGV[2], 'revokedBy', ARGV[3])
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
    local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
    if extra > 0 then
      for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, extra - 1)) do
        redis.call('DEL', ARGV[5] .. old)
      end
      redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1)
    end
    return 1`,
  /** KEYS: jc:<id>. ARGV: atMs. Sets lastSeenAtMs of an existing, active registration. */
  ferryJumpClientSeen: `
    if redis.call('HGET', KEYS[1], 'revokedAtMs') ~= '' then return 0 end
    redis.call('HSET', KEYS[1], 'lastSeenAtMs', ARGV[1])
    return 1`,
  /**
   * KEYS: sb:<id>, sbs. ARGV: id, max, createdAtMs, team, deviceName. -1 when the id exists, 0
   * when `max` buttons exist, 1 when added.
   */
  ferryAddSupportButton: `
    if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
    if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
    redis.call('HSET', KEYS[1], 'team', ARGV[4], 'deviceName', ARGV[5], 'createdAtMs', ARGV[3])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    return 1`,
  /**
   * KEYS: none. ARGV: jc-at key prefix, self, then (id, participant id) pairs. Deletes each
   * presence that still names self and that connection (a newer one elsewhere stays).
   */
  ferryForgetPresence: `
    for i = 3, #ARGV, 2 do
      local key = ARGV[1] .. ARGV[i]
      local value = redis.call('GET', key)
      if value then
        local ok, p = pcall(cjson.decode, value)
        if ok and type(p) == 'table' and p.gatewayId == ARGV[2] and p.participantId == ARGV[i + 1] then
          redis.call('DEL', key)
        end
      end
    end
    return 0`,
  /**
   * KEYS: none. ARGV: jc-at key prefix, self, TTL ms, jc key prefix, then (id, participant id,
   * JSON, first) quadruples. A jump client whose registration is revoked or gone is answered in
   * `revoked` (id, revokedBy pairs) and its presence here deleted. Otherwise its presence is
   * written with a fresh TTL: when `first` is '1' (the connection's first write, which failed or
   * has not been done) unless the presence there names a connection that connected later, else
   * unless another connection (here or on another gateway) holds the jump client now: those ids
   * are answered in `stale`.
   */
  ferryRefreshPresence: `
    local stale, revoked = {}, {}
    for i = 5, #ARGV, 4 do
      local key = ARGV[1] .. ARGV[i]
      local value = redis.call('GET', key)
      local mine = true
      if value then
        local ok, p = pcall(cjson.decode, value)
        mine = ok and type(p) == 'table' and p.gatewayId == ARGV[2] and p.participantId == ARGV[i + 1]
      end
      -- a first write retried by a beat (it failed as the connection came) never replaces a
      -- connection that came after it (the gateways' clocks: skew favours the retry's side)
      local newer = false
      if not mine and value and ARGV[i + 3] == '1' then
        local okT, theirs = pcall(cjson.decode, value)
        local okO, ours = pcall(cjson.decode, ARGV[i + 2])
        newer = okT and okO and type(theirs) == 'table' and type(ours) == 'table'
          and tonumber(theirs.connectedAtMs) ~= nil and tonumber(ours.connectedAtMs) ~= nil
          and tonumber(theirs.connectedAtMs) > tonumber(ours.connectedAtMs)
      end
      local jc = redis.call('HMGET', ARGV[4] .. ARGV[i], 'keyDigest', 'revokedAtMs', 'revokedBy')
      if not jc[1] or (jc[2] and jc[2] ~= '') then
        if mine and value then redis.call('DEL', key) end
        revoked[#revoked + 1] = ARGV[i]
        revoked[#revoked + 1] = jc[3] or ''
      elseif mine or (ARGV[i + 3] == '1' and not newer) then
        redis.call('SET', key, ARGV[i + 2], 'PX', ARGV[3])
      else
        stale[#stale + 1] = ARGV[i]
      end
    end
    return {stale, revoked}`,
} as const;

/** The scripts as ioredis defines them on the client. */
interface ScriptCommands {
  ferryMembers(ids: string, memberPrefix: string): Promise<string[]>;
  /** Keys first, their count first of all (the count of resume keys varies). */
  ferrySessionStep(
    keyCount: number,
    ...keysThenArgs: (string | number | Buffer)[]
  ): Promise<number>;
  ferryCount(counter: string, ttlMs: number): Promise<number>;
  ferryHashSetWithTtl(hash: string, field: string, value: string, ttlMs: number): Promise<number>;
  ferryReleasePin(pin: string, self: string): Promise<number>;
  ferryRemoveSession(
    session: string,
    own: string,
    resumeSet: string,
    journal: string,
    self: string,
    id: string,
    resumePrefix: string,
  ): Promise<number>;
  ferryReplaceJournalIf(
    journal: string,
    session: string,
    self: string,
    ...lines: Buffer[]
  ): Promise<number>;
  ferryResumeOwner(resume: string, prefix: string): Promise<[string, string] | null>;
  ferryForgetResume(resume: string, prefix: string, self: string, token: string): Promise<number>;
  ferryTakeOver(
    session: string,
    fromSessions: string,
    ownSessions: string,
    resumeSet: string,
    from: string,
    self: string,
    id: string,
    resumePrefix: string,
    move: '1' | '0',
  ): Promise<number>;
  ferryPickUp(queue: string, owners: string, id: string): Promise<number>;
  ferryAddJumpClient(
    record: string,
    active: string,
    revoked: string,
    ...args: (string | number)[]
  ): Promise<number>;
  ferryRevokeJumpClient(
    record: string,
    active: string,
    revoked: string,
    id: string,
    atMs: number,
    by: string,
    max: number,
    recordPrefix: string,
  ): Promise<number>;
  ferryJumpClientSeen(record: string, atMs: number): Promise<number>;
  ferryAddSupportButton(
    record: string,
    all: string,
    id: string,
    max: number,
    createdAtMs: number,
    team: string,
    deviceName: string,
  ): Promise<number>;
  ferryForgetPresence(prefix: string, self: string, ...pairs: string[]): Promise<number>;
  ferryRefreshPresence(
    prefix: string,
    self: string,
    ttlMs: number,
    recordPrefix: string,
    ...quadruples: string[]
  ): Promise<[stale: string[], revoked: string[]]>;
}

type Client = Redis & ScriptCommands;

/** Keys per script; null: the caller passes the count first (it varies). */
const KEY_COUNTS: Record<keyof typeof SCRIPTS, number | null> = {
  ferryMembers: 1,
  ferryCount: 1,
  ferryHashSetWithTtl: 1,
  ferrySessionStep: null,
  ferryReleasePin: 1,
  ferryRemoveSession: 4,
  ferryReplaceJournalIf: 2,
  ferryResumeOwner: 1,
  ferryForgetResume: 1,
  ferryTakeOver: 4,
  ferryPickUp: 2,
  ferryAddJumpClient: 3,
  ferryRevokeJumpClient: 3,
  ferryJumpClientSeen: 1,
  ferryAddSupportButton: 2,
  ferryForgetPresence: 0,
  ferryRefreshPresence: 0,
};

/** One kind of beat work's log state: its failure is logged once, and so is its recovery. */
interface BeatLog {
  readonly failedText: string;
  readonly restoredText: string;
  failed: boolean;
}

/**
 * What one turn wrote of one session: its summary (the last one), resume tokens and journal
 * lines, sent together by `ferrySessionStep`, one round trip instead of one per write (the
 * set-up of a pair was 13 round trips, 10 of them these; docs/benchmarks.md, Scale-out).
 */
interface SessionStep {
  summary: SessionSummary | null;
  readonly tokens: string[];
  readonly lines: Buffer[];
  readonly waiters: { op: string; resolve: () => void; reject: (err: Error) => void }[];
}

/** Presences refreshed by one script call (a beat of many jump clients is a few, pipelined). */
const PRESENCE_BATCH = 500;

/**
 * A jump client held here: its presence, whether a write of it reached the store yet, and whether
 * it was dropped (a newer connection holds the device, or its registration is revoked): a dropped
 * connection is written no more, until it closes (`jumpClientLeft`) and a new one comes.
 */
type HeldJumpClient = Omit<JumpClientPresence, 'gatewayId'> & {
  written: boolean;
  dropped: boolean;
};

/** What an add script answered (-1 taken, 0 full, 1 added). */
function addOutcome(reply: number): AddOutcome {
  return reply === 1 ? 'added' : reply === 0 ? 'full' : 'taken';
}

/** A `jc:<id>` hash as a record; null when it is not one (gone, or written by something else). */
function jumpClientOf(id: string, h: Record<string, string>): JumpClientRecord | null {
  if (h.keyDigest === undefined || h.createdAtMs === undefined) return null;
  const number = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  return {
    id,
    technician: h.technician ?? '',
    team: h.team ?? '',
    deviceName: h.deviceName ?? '',
    createdAtMs: Number(h.createdAtMs),
    revokedAtMs: number(h.revokedAtMs),
    revokedBy: h.revokedBy ? h.revokedBy : null,
    keyDigest: h.keyDigest,
    lastSeenAtMs: number(h.lastSeenAtMs),
  };
}

/** A `sb:<id>` hash as a record; null when it is not one. */
function supportButtonOf(id: string, h: Record<string, string>): SupportButtonRecord | null {
  if (h.team === undefined || h.createdAtMs === undefined) return null;
  return { id, team: h.team, deviceName: h.deviceName ?? '', createdAtMs: Number(h.createdAtMs) };
}

/** A JSON value of the store, or null when it does not parse. */
function parsed<T>(text: string | null | undefined): T | null {
  if (text == null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** The URL without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `#run`'s mark for a command on keys no session step writes. */
const INDEPENDENT = true;

export class RedisDirectory implements SharedDirectory {
  readonly selfId: string;
  readonly heartbeatMs: number;
  readonly memberTtlMs: number;
  readonly #redis: Client;
  /** This turn's writes per session, sent as one script call each (`#sendSteps`). */
  readonly #steps = new Map<string, SessionStep>();
  /** The session of the step written last: a write to an earlier one sends the steps first. */
  #lastStep = '';
  #stepsDue: NodeJS.Immediate | null = null;
  readonly #prefix: string;
  readonly #safeUrl: string;
  readonly #logger: DirectoryLogger | undefined;
  readonly #clock: () => number;
  readonly #listeners: ((available: boolean) => void)[] = [];
  #available = false;
  /** Between a successful `start()` and `stop()`. */
  #started = false;
  #self: { url: string; region: string } = { url: '', region: '' };
  #load: () => MemberLoad = () => ({ sessions: 0, cpu: 0, bytesPerSecond: 0, draining: false });
  #timer: NodeJS.Timeout | undefined;
  /** The connection subscribed to the events channel (from start to stop). */
  #subscriber: Redis | undefined;
  readonly #eventListeners: ((event: DirectoryEvent) => void)[] = [];
  /** The member write in flight, so beats never overlap and `stop()` can wait for it. */
  #beating: Promise<void> | undefined;
  /**
   * The presence refresh in flight: its own guard, so the member write never waits for it (a
   * member write held past the member TTL would make the others take this gateway's sessions).
   */
  #refreshing: Promise<void> | undefined;
  /** The first connection error of the current outage was logged. */
  #errorLogged = false;
  /** A failed beat (member write, presence refresh) was logged since the last successful one. */
  /** Whether the heartbeat's and the presence refresh's last failure was logged. */
  readonly #beatLog: BeatLog = {
    failedText: 'directory heartbeat failed',
    restoredText: 'directory heartbeat restored',
    failed: false,
  };
  readonly #presenceLog: BeatLog = {
    failedText: 'directory presence refresh failed',
    restoredText: 'directory presence restored',
    failed: false,
  };
  #lastError: Error | undefined;
  /** The jump clients whose connection this gateway holds (written again at each beat). */
  readonly #jumpClientsHere = new Map<string, HeldJumpClient>();
  /** The technicians connected here, by participant id (rewritten at each beat). */
  readonly #techniciansHere = new Map<string, Omit<TechnicianPresence, 'gatewayId'>>();
  readonly #elsewhereListeners: ((id: string, participantId: string) => void)[] = [];
  readonly #revokedListeners: ((id: string, participantId: string, by: string) => void)[] = [];

  constructor(options: RedisDirectoryOptions) {
    if (!/^rediss?:\/\//i.test(options.url)) {
      throw new Error(
        `directory url must be redis:// or rediss://: ${redactRedisUrl(options.url)}`,
      );
    }
    this.selfId = options.selfId;
    this.#prefix = options.keyPrefix ?? 'ferry:';
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.memberTtlMs = options.memberTtlMs ?? 3 * this.heartbeatMs;
    this.#safeUrl = redactRedisUrl(options.url);
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;

    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      // a command unanswered when the connection dropped fails; it is not sent again after the
      // reconnect, where it could run twice or after its caller was told it failed
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * 2 ** (times - 1), RETRY_CAP_MS),
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectionName: `ferry:${this.selfId}`,
      scripts: Object.fromEntries(
        Object.entries(SCRIPTS).map(([name, lua]) => [
          name,
          KEY_COUNTS[name as keyof typeof SCRIPTS] === null
            ? { lua }
            : { lua, numberOfKeys: KEY_COUNTS[name as keyof typeof SCRIPTS]! },
        ]),
      ),
    };
    if (options.tlsCaFile !== undefined) {
      let ca: Buffer;
      try {
        ca = fs.readFileSync(options.tlsCaFile);
      } catch (err) {
        throw new Error(`directory TLS CA file ${options.tlsCaFile}: ${message(err)}`);
      }
      redisOptions.tls = { ca };
    }
    this.#redis = new Redis(options.url, redisOptions) as Client;

    this.#redis.on('error', (err: Error) => {
      this.#lastError = err;
      if (this.#errorLogged || !this.#started) return;
      this.#errorLogged = true;
      this.#logger?.warn({ err, url: this.#safeUrl }, 'directory connection error');
    });
    for (const event of ['close', 'end', 'reconnecting'] as const) {
      this.#redis.on(event, () => this.#setAvailable(false));
    }
    this.#redis.on('ready', () => {
      if (!this.#started) return; // start() registers itself
      this.#errorLogged = false;
      this.#setAvailable(true);
      void this.#beat(); // re-register at once, not at the next period
    });
  }

  get available(): boolean {
    return this.#available;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async start(self: { url: string; region: string }, load: () => MemberLoad): Promise<void> {
    if (this.#started) throw new Error('directory already started');
    this.#self = { url: self.url, region: self.region };
    this.#load = load;
    this.#lastError = undefined;
    try {
      await this.#redis.connect();
      await this.#writeMember();
    } catch (err) {
      this.#redis.disconnect(); // no retries in the background of a failed start
      const cause = this.#lastError ?? err;
      const reason = `cannot connect to ${this.#safeUrl}: ${message(cause)}`;
      throw new Error(`directory unavailable: ${reason}`, { cause });
    }
    this.#logger?.info(
      { url: this.#safeUrl, selfId: this.selfId, heartbeatMs: this.heartbeatMs },
      'directory connected',
    );
    // started first: the availability listeners (the gateway publishing what it holds) may
    // call back in at once
    this.#started = true;
    this.#setAvailable(this.#redis.status === 'ready');
    this.#subscribe();
    this.#errorLogged = false;
    this.#timer = setInterval(() => void this.#beat(), this.heartbeatMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#sendSteps();
    this.#started = false;
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all([this.#beating, this.#refreshing]);
    if (this.#redis.status === 'ready') {
      try {
        await this.#redis
          .multi()
          .del(this.#key('gw', this.selfId))
          .srem(this.#key('gws'), this.selfId)
          .del(this.#key('techs', this.selfId))
          .exec();
        const pairs = [...this.#jumpClientsHere].flatMap(([id, p]) => [id, p.participantId]);
        for (let i = 0; i < pairs.length; i += 2 * PRESENCE_BATCH) {
          const batch = pairs.slice(i, i + 2 * PRESENCE_BATCH);
          await this.#redis.ferryForgetPresence(this.#key('jc-at', ''), this.selfId, ...batch);
        }
      } catch (err) {
        this.#logger?.warn({ err }, 'directory: could not remove membership');
      }
    }
    this.#jumpClientsHere.clear();
    this.#techniciansHere.clear();
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
    this.#setAvailable(false);
  }

  members(): Promise<GatewayMember[]> {
    return this.#run(
      'members',
      async () => {
        const records = await this.#redis.ferryMembers(this.#key('gws'), this.#key('gw', ''));
        return records
          .map((record) => JSON.parse(record) as GatewayMember)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      },
      INDEPENDENT,
    );
  }

  publishPin(pin: string, sessionId: string, expiresAtMs: number): Promise<boolean> {
    return this.#run(
      'publishPin',
      async () => {
        const value = JSON.stringify({ gatewayId: this.selfId, sessionId });
        const reply = await this.#redis.set(
          this.#key('pin', pin),
          value,
          'PXAT',
          Math.ceil(expiresAtMs),
          'NX',
        );
        return reply === 'OK';
      },
      INDEPENDENT,
    );
  }

  pinOwner(pin: string): Promise<Ownership | null> {
    return this.#run('pinOwner', async () => {
      const value = await this.#redis.get(this.#key('pin', pin));
      if (value === null) return null;
      const { gatewayId, sessionId } = JSON.parse(value) as {
        gatewayId: string;
        sessionId: string;
      };
      return this.#ownership(gatewayId, sessionId);
    });
  }

  releasePin(pin: string): Promise<void> {
    return this.#run(
      'releasePin',
      async () => {
        await this.#redis.ferryReleasePin(this.#key('pin', pin), this.selfId);
      },
      INDEPENDENT,
    );
  }

  countAttempt(address: string): Promise<number> {
    return this.#run(
      'countAttempt',
      async () => {
        const key = this.#key('attempts', address, String(Math.floor(this.#clock() / 60_000)));
        return Number(await this.#redis.ferryCount(key, ATTEMPT_TTL_MS));
      },
      INDEPENDENT,
    );
  }

  publishSession(summary: SessionSummary): Promise<void> {
    return this.#stepOf('publishSession', summary.id, (step) => {
      step.summary = summary;
    });
  }

  removeSession(sessionId: string): Promise<boolean> {
    return this.#run('removeSession', async () => {
      const removed = await this.#redis.ferryRemoveSession(
        this.#key('session', sessionId),
        this.#key('gw-sessions', this.selfId),
        this.#key('session-resume', sessionId),
        this.#key('journal', sessionId),
        this.selfId,
        sessionId,
        this.#key('resume', ''),
      );
      return removed === 1;
    });
  }

  sessionOwner(sessionId: string): Promise<Ownership | null> {
    return this.#run('sessionOwner', async () => {
      const gatewayId = await this.#redis.hget(this.#key('session', sessionId), 'gatewayId');
      return gatewayId === null ? null : this.#ownership(gatewayId, sessionId);
    });
  }

  publishResume(tokenKey: string, sessionId: string): Promise<void> {
    return this.#stepOf('publishResume', sessionId, (step) => {
      step.tokens.push(tokenKey);
    });
  }

  forgetResume(tokenKey: string): Promise<void> {
    return this.#run('forgetResume', async () => {
      await this.#redis.ferryForgetResume(
        this.#key('resume', tokenKey),
        this.#prefix,
        this.selfId,
        tokenKey,
      );
    });
  }

  resumeOwner(tokenKey: string): Promise<Ownership | null> {
    return this.#run('resumeOwner', async () => {
      const reply = await this.#redis.ferryResumeOwner(this.#key('resume', tokenKey), this.#prefix);
      return reply === null ? null : this.#ownership(reply[0], reply[1]);
    });
  }

  takeOver(sessionId: string, from: string): Promise<boolean> {
    return this.#run('takeOver', async () => {
      const moved = await this.#redis.ferryTakeOver(
        this.#key('session', sessionId),
        this.#key('gw-sessions', from),
        this.#key('gw-sessions', this.selfId),
        this.#key('session-resume', sessionId),
        from,
        this.selfId,
        sessionId,
        this.#key('resume', ''),
        '0',
      );
      return moved === 1;
    });
  }

  publish(event: DirectoryEvent): Promise<void> {
    return this.#run('publish', async () => {
      await this.#redis.publish(this.#key('events'), JSON.stringify(event));
    });
  }

  onEvent(listener: (event: DirectoryEvent) => void): void {
    this.#eventListeners.push(listener);
  }

  /**
   * A second connection, subscribed to the events channel (a subscribed connection can do
   * nothing else); it reconnects and subscribes again by itself (ioredis).
   */
  #subscribe(): void {
    const subscriber = this.#redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
    this.#subscriber = subscriber;
    subscriber.on('error', () => undefined); // the main connection reports outages
    const channel = this.#key('events');
    subscriber.subscribe(channel).catch(() => undefined);
    subscriber.on('message', (from: string, text: string) => {
      if (from !== channel) return;
      let event: DirectoryEvent;
      try {
        event = JSON.parse(text) as DirectoryEvent;
      } catch {
        return;
      }
      for (const listener of this.#eventListeners) {
        try {
          listener(event);
        } catch (err) {
          this.#logger?.error({ err, event: event.kind }, 'directory event listener failed');
        }
      }
    });
  }

  queuedSessions(team: string): Promise<QueuedSession[]> {
    return this.#run('queuedSessions', async () => {
      const ids = await this.#redis.zrange(this.#key('queue', team), 0, -1, 'WITHSCORES');
      const pipeline = this.#redis.pipeline();
      for (let i = 0; i < ids.length; i += 2) pipeline.hgetall(this.#key('session', ids[i]!));
      const summaries = (await pipeline.exec()) ?? [];
      const queued: QueuedSession[] = [];
      for (let i = 0; i < ids.length; i += 2) {
        const summary = summaries[i / 2]?.[1] as Record<string, string> | undefined;
        // a session that ended (or was never published) is no longer waiting
        if (summary === undefined || summary.gatewayId === undefined) continue;
        queued.push({
          sessionId: ids[i]!,
          gatewayId: summary.gatewayId,
          customer: summary.customer ?? '',
          status: summary.status ?? '',
          queuedAtMs: Number(ids[i + 1]),
        });
      }
      return queued;
    });
  }

  moveTo(sessionId: string, to: string): Promise<boolean> {
    return this.#run('moveTo', async () => {
      const moved = await this.#redis.ferryTakeOver(
        this.#key('session', sessionId),
        this.#key('gw-sessions', this.selfId),
        this.#key('gw-sessions', to),
        this.#key('session-resume', sessionId),
        this.selfId,
        to,
        sessionId,
        this.#key('resume', ''),
        '1',
      );
      return moved === 1;
    });
  }

  enqueue(queue: string, sessionId: string): Promise<void> {
    return this.#run('enqueue', async () => {
      await this.#redis
        .multi()
        .zadd(this.#key('queue', queue), this.#clock(), sessionId)
        .hset(this.#key('queue-owner', queue), sessionId, this.selfId)
        .exec();
    });
  }

  queued(queue: string): Promise<string[]> {
    return this.#run('queued', () => this.#redis.zrange(this.#key('queue', queue), 0, -1));
  }

  pickUp(queue: string, sessionId: string, technician: string): Promise<boolean> {
    return this.#run('pickUp', async () => {
      const picked = await this.#redis.ferryPickUp(
        this.#key('queue', queue),
        this.#key('queue-owner', queue),
        sessionId,
      );
      if (picked === 1) {
        this.#logger?.info({ queue, sessionId, technician }, 'directory: queued session picked up');
      }
      return picked === 1;
    });
  }

  beforeTurnWrites(hook: () => void): void {
    this.#beforeSteps = hook;
  }

  /** The hook that may add to a turn's steps before they are sent (`beforeTurnWrites`). */
  #beforeSteps: (() => void) | null = null;
  #inBeforeSteps = false;

  appendJournal(sessionId: string, line: Uint8Array): Promise<void> {
    return this.#stepOf('appendJournal', sessionId, (step) => {
      step.lines.push(Buffer.from(line.buffer, line.byteOffset, line.byteLength));
    });
  }

  /**
   * Adds a write to `sessionId`'s step of this turn; resolves once the step's script ran (it
   * rejects, as `#run` does, when the directory is unavailable then or now).
   */
  #stepOf(op: string, sessionId: string, add: (step: SessionStep) => void): Promise<void> {
    const unavailable = this.#unavailable(op);
    if (unavailable !== null) return Promise.reject(unavailable);
    // writes to one session coalesce; a write that would land in a step older than another
    // session's later write (a technician's resume token, moved between its sessions) would
    // reorder them: the steps so far go first
    if (sessionId !== this.#lastStep && this.#steps.has(sessionId)) this.#sendSteps();
    let step = this.#steps.get(sessionId);
    if (step === undefined) {
      step = { summary: null, tokens: [], lines: [], waiters: [] };
      this.#steps.set(sessionId, step);
    }
    this.#lastStep = sessionId;
    add(step);
    this.#stepsDue ??= setImmediate(this.#sendSteps);
    const waiters = step.waiters;
    return new Promise((resolve, reject) => waiters.push({ op, resolve, reject }));
  }

  /**
   * Sends the steps of this turn, one script call each, in the order they were started (a write
   * to a session whose step is not the latest sends them first: `#stepOf`). Runs at the end of
   * the turn, and before any other command (`#run`) but those on keys no step writes
   * (`INDEPENDENT`), so that the store sees every write to a session in the order the gateway
   * made it.
   */
  readonly #sendSteps = (): void => {
    if (this.#stepsDue !== null) clearImmediate(this.#stepsDue);
    this.#stepsDue = null;
    if (this.#steps.size === 0) return;
    if (this.#beforeSteps !== null && !this.#inBeforeSteps) {
      // what the turn still has to write joins its steps (a journal's due snapshot); a write of
      // it that must go after the steps so far sends them from inside, as anywhere else
      this.#inBeforeSteps = true;
      try {
        this.#beforeSteps();
      } catch (err) {
        this.#logger?.error({ err }, "directory: the hook before a turn's writes failed");
      } finally {
        this.#inBeforeSteps = false;
      }
      if (this.#stepsDue !== null) clearImmediate(this.#stepsDue);
      this.#stepsDue = null;
      if (this.#steps.size === 0) return;
    }
    const steps = [...this.#steps];
    this.#steps.clear();
    this.#lastStep = '';
    for (const [sessionId, step] of steps) {
      const { summary, tokens, lines, waiters } = step;
      const keys = [
        this.#key('session', sessionId),
        this.#key('gw-sessions', this.selfId),
        this.#key('journal', sessionId),
        this.#key('session-resume', sessionId),
        ...tokens.map((t) => this.#key('resume', t)),
      ];
      const args: (string | number | Buffer)[] = [
        this.selfId,
        sessionId,
        summary === null ? '0' : '1',
        summary?.status ?? '',
        summary?.technician ?? '',
        summary?.customer ?? '',
        summary?.participants ?? 0,
        tokens.length,
        ...tokens,
        ...lines,
      ];
      let sent: Promise<number>;
      try {
        sent =
          this.#unavailable('sessionStep') === null
            ? this.#redis.ferrySessionStep(keys.length, ...keys, ...args)
            : Promise.reject(new Error(`${this.#safeUrl} is ${this.#redis.status}`));
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent.then(
        (written) => {
          if (written === 0) {
            this.#logger?.warn(
              { sessionId },
              'directory: session is owned by another gateway, not written',
            );
          }
          for (const w of waiters) w.resolve();
        },
        (err: unknown) => {
          for (const w of waiters) {
            w.reject(new Error(`directory unavailable: ${w.op}: ${message(err)}`, { cause: err }));
          }
        },
      );
    }
  };

  replaceJournal(sessionId: string, lines: readonly Uint8Array[]): Promise<void> {
    return this.#run('replaceJournal', async () => {
      const key = this.#key('journal', sessionId);
      const multi = this.#redis.multi().del(key);
      if (lines.length > 0) multi.rpush(key, ...lines.map((l) => Buffer.from(l)));
      await multi.exec();
    });
  }

  replaceMovedJournal(sessionId: string, lines: readonly Uint8Array[]): Promise<boolean> {
    return this.#run('replaceMovedJournal', async () => {
      const replaced = await this.#redis.ferryReplaceJournalIf(
        this.#key('journal', sessionId),
        this.#key('session', sessionId),
        this.selfId,
        ...lines.map((l) => Buffer.from(l)),
      );
      return replaced === 1;
    });
  }

  readJournal(sessionId: string): Promise<Buffer[]> {
    return this.#run('readJournal', () =>
      this.#redis.lrangeBuffer(this.#key('journal', sessionId), 0, -1),
    );
  }

  // --- unattended access ---------------------------------------------------------------------

  addJumpClient(record: JumpClientRecord, maxActive: number): Promise<AddOutcome> {
    return this.#run('addJumpClient', async () =>
      addOutcome(await this.#addJumpClient(record, maxActive)),
    );
  }

  #addJumpClient(r: JumpClientRecord, maxActive: number): Promise<number> {
    return this.#redis.ferryAddJumpClient(
      this.#key('jc', r.id),
      this.#key('jcs'),
      this.#key('jcs-revoked'),
      r.id,
      maxActive,
      r.createdAtMs,
      r.technician,
      r.team,
      r.deviceName,
      r.keyDigest,
      r.revokedAtMs === null ? '' : r.revokedAtMs,
      r.revokedBy ?? '',
    );
  }

  jumpClient(id: string): Promise<JumpClientRecord | null> {
    return this.#run('jumpClient', async () =>
      jumpClientOf(id, await this.#redis.hgetall(this.#key('jc', id))),
    );
  }

  jumpClients(includeRevoked: boolean): Promise<JumpClientRecord[]> {
    return this.#run('jumpClients', async () => {
      const ids = await this.#redis.zrange(this.#key('jcs'), 0, -1);
      if (includeRevoked) ids.push(...(await this.#redis.zrange(this.#key('jcs-revoked'), 0, -1)));
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.#key('jc', id));
      const replies = (await pipeline.exec()) ?? [];
      const records: JumpClientRecord[] = [];
      ids.forEach((id, i) => {
        const [err, hash] = replies[i] ?? [null, {}];
        if (err) throw err;
        // revoked and trimmed between the two reads: not listed
        const record = jumpClientOf(id, hash as Record<string, string>);
        if (record !== null) records.push(record);
      });
      return records;
    });
  }

  revokeJumpClient(id: string, atMs: number, by: string, maxTombstones: number): Promise<boolean> {
    return this.#run('revokeJumpClient', async () => {
      const revoked = await this.#redis.ferryRevokeJumpClient(
        this.#key('jc', id),
        this.#key('jcs'),
        this.#key('jcs-revoked'),
        id,
        atMs,
        by,
        maxTombstones,
        this.#key('jc', ''),
      );
      return revoked === 1;
    });
  }

  jumpClientSeen(id: string, atMs: number): Promise<void> {
    return this.#run('jumpClientSeen', async () => {
      await this.#redis.ferryJumpClientSeen(this.#key('jc', id), atMs);
    });
  }

  addSupportButton(record: SupportButtonRecord, max: number): Promise<AddOutcome> {
    return this.#run('addSupportButton', async () =>
      addOutcome(
        await this.#redis.ferryAddSupportButton(
          this.#key('sb', record.id),
          this.#key('sbs'),
          record.id,
          max,
          record.createdAtMs,
          record.team,
          record.deviceName,
        ),
      ),
    );
  }

  supportButton(id: string): Promise<SupportButtonRecord | null> {
    return this.#run('supportButton', async () =>
      supportButtonOf(id, await this.#redis.hgetall(this.#key('sb', id))),
    );
  }

  supportButtons(): Promise<SupportButtonRecord[]> {
    return this.#run('supportButtons', async () => {
      const ids = await this.#redis.zrange(this.#key('sbs'), 0, -1);
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.#key('sb', id));
      const replies = (await pipeline.exec()) ?? [];
      return ids.flatMap((id, i) => {
        const [err, hash] = replies[i] ?? [null, {}];
        if (err) throw err;
        const record = supportButtonOf(id, hash as Record<string, string>);
        return record === null ? [] : [record];
      });
    });
  }

  removeSupportButton(id: string): Promise<boolean> {
    return this.#run('removeSupportButton', async () => {
      const replies = await this.#redis
        .multi()
        .del(this.#key('sb', id))
        .zrem(this.#key('sbs'), id)
        .exec();
      const [err, deleted] = replies?.[0] ?? [new Error('transaction aborted'), 0];
      if (err) throw err;
      return deleted === 1;
    });
  }

  importRegistrations(
    jumpClients: readonly JumpClientRecord[],
    buttons: readonly SupportButtonRecord[],
  ): Promise<number> {
    return this.#run('importRegistrations', async () => {
      let copied = 0;
      // no bound on an import: the file had the same one
      for (const record of jumpClients) {
        if ((await this.#addJumpClient(record, Number.MAX_SAFE_INTEGER)) === 1) copied++;
      }
      for (const b of buttons) {
        const reply = await this.#redis.ferryAddSupportButton(
          this.#key('sb', b.id),
          this.#key('sbs'),
          b.id,
          Number.MAX_SAFE_INTEGER,
          b.createdAtMs,
          b.team,
          b.deviceName,
        );
        if (reply === 1) copied++;
      }
      return copied;
    });
  }

  registryPepper(fingerprint: string): Promise<string> {
    return this.#run('registryPepper', async () => {
      const key = this.#key('registry-pepper');
      const replies = await this.#redis.multi().set(key, fingerprint, 'NX').get(key).exec();
      const failed = replies?.find(([err]) => err !== null)?.[0];
      if (replies === null || failed) throw failed ?? new Error('transaction aborted');
      return String(replies[1]?.[1] ?? '');
    });
  }

  // --- presence --------------------------------------------------------------------------------

  jumpClientHere(id: string, presence: Omit<JumpClientPresence, 'gatewayId'>): Promise<void> {
    const held = this.#jumpClientsHere.get(id);
    const same = held?.participantId === presence.participantId;
    // a connection found stale or revoked at a beat takes nothing back
    if (same && held.dropped) return Promise.resolve();
    // only a connection's first successful write is unconditional (the newest connection wins);
    // a later one (into a session) must not take the presence from a newer one elsewhere
    const written = same && held.written;
    const record: HeldJumpClient = {
      participantId: presence.participantId,
      inSession: presence.inSession,
      connectedAtMs: presence.connectedAtMs,
      written,
      dropped: false,
    };
    // kept first: a write that fails now is done by the next beat once the store is back
    this.#jumpClientsHere.set(id, record);
    return this.#run('jumpClientHere', async () => {
      if (written) {
        await this.#refreshJumpClients([[id, record]]);
        return;
      }
      // the connection's first write, as it connects: the newest connection wins, whatever
      // the clocks of the gateways say (a first write that failed is retried by the beat, which
      // then yields to a connection made after this one)
      await this.#redis.set(
        this.#key('jc-at', id),
        this.#presenceJson(record),
        'PX',
        this.memberTtlMs,
      );
      record.written = true;
    });
  }

  jumpClientLeft(id: string, participantId: string): Promise<void> {
    if (this.#jumpClientsHere.get(id)?.participantId === participantId) {
      this.#jumpClientsHere.delete(id);
    }
    return this.#run('jumpClientLeft', async () => {
      await this.#redis.ferryForgetPresence(this.#key('jc-at', ''), this.selfId, id, participantId);
    });
  }

  jumpClientsAt(ids: readonly string[]): Promise<Map<string, JumpClientWhere>> {
    return this.#run('jumpClientsAt', async () => {
      const found = new Map<string, JumpClientWhere>();
      if (ids.length === 0) return found;
      const values = await this.#redis.mget(ids.map((id) => this.#key('jc-at', id)));
      const presences = values.map((v) => parsed<JumpClientPresence>(v));
      const gateways = [...new Set(presences.flatMap((p) => (p?.gatewayId ? [p.gatewayId] : [])))];
      if (gateways.length === 0) return found;
      const records = await this.#redis.mget(gateways.map((g) => this.#key('gw', g)));
      const live = new Map<string, GatewayMember>();
      gateways.forEach((g, i) => {
        const member = parsed<GatewayMember>(records[i]);
        if (member !== null) live.set(g, member);
      });
      ids.forEach((id, i) => {
        const p = presences[i];
        const member = p == null ? undefined : live.get(p.gatewayId);
        // a presence of a dead gateway is not one (its key outlives it by less than the TTL)
        if (p != null && member !== undefined) {
          found.set(id, {
            gatewayId: p.gatewayId,
            participantId: p.participantId,
            inSession: p.inSession === true,
            connectedAtMs: p.connectedAtMs,
            member,
          });
        }
      });
      return found;
    });
  }

  onJumpClientElsewhere(listener: (id: string, participantId: string) => void): void {
    this.#elsewhereListeners.push(listener);
  }

  onJumpClientRevoked(listener: (id: string, participantId: string, by: string) => void): void {
    this.#revokedListeners.push(listener);
  }

  technicianHere(presence: Omit<TechnicianPresence, 'gatewayId'>): Promise<void> {
    const record = {
      participantId: presence.participantId,
      name: presence.name,
      teams: [...presence.teams],
      connectedAtMs: presence.connectedAtMs,
    };
    this.#techniciansHere.set(record.participantId, record);
    return this.#run(
      'technicianHere',
      async () => {
        const key = this.#key('techs', this.selfId);
        const value = JSON.stringify({ gatewayId: this.selfId, ...record });
        await this.#redis.ferryHashSetWithTtl(key, record.participantId, value, this.memberTtlMs);
      },
      INDEPENDENT,
    );
  }

  technicianLeft(participantId: string): Promise<void> {
    this.#techniciansHere.delete(participantId);
    return this.#run(
      'technicianLeft',
      async () => {
        await this.#redis.hdel(this.#key('techs', this.selfId), participantId);
      },
      INDEPENDENT,
    );
  }

  technicians(): Promise<TechnicianPresence[]> {
    return this.#run(
      'technicians',
      async () => {
        const ids = (await this.#redis.ferryMembers(this.#key('gws'), this.#key('gw', ''))).map(
          (record) => (JSON.parse(record) as GatewayMember).id,
        );
        const pipeline = this.#redis.pipeline();
        for (const id of ids) pipeline.hvals(this.#key('techs', id));
        const replies = (await pipeline.exec()) ?? [];
        const all: TechnicianPresence[] = [];
        for (const [err, values] of replies) {
          if (err) throw err;
          for (const value of values as string[]) {
            const p = parsed<TechnicianPresence>(value);
            if (p !== null) all.push(p);
          }
        }
        return all.sort((a, b) =>
          a.gatewayId !== b.gatewayId
            ? a.gatewayId < b.gatewayId
              ? -1
              : 1
            : a.connectedAtMs - b.connectedAtMs,
        );
      },
      INDEPENDENT,
    );
  }

  /**
   * Writes this gateway's presence again with a fresh TTL (a beat): the technicians' hash whole,
   * and each jump client's presence (`#refreshJumpClients`). The technicians' transaction and the
   * jump clients' batches go out together (one round trip, pipelined).
   */
  async #refreshPresence(): Promise<void> {
    const techs = this.#key('techs', this.selfId);
    const multi = this.#redis.multi().del(techs);
    if (this.#techniciansHere.size > 0) {
      const fields: string[] = [];
      for (const [pid, p] of this.#techniciansHere) {
        fields.push(pid, JSON.stringify({ gatewayId: this.selfId, ...p }));
      }
      multi.hset(techs, ...fields).pexpire(techs, this.memberTtlMs);
    }
    const [replies] = await Promise.all([
      multi.exec(),
      this.#refreshJumpClients([...this.#jumpClientsHere].filter(([, p]) => !p.dropped)),
    ]);
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (replies === null || failed) throw failed ?? new Error('transaction aborted');
  }

  /**
   * Writes the presence of jump clients held here again (ferryRefreshPresence, in batches sent
   * in one pipeline): one whose registration is revoked or gone is let go (its listeners are
   * told, with who revoked it), one a newer connection holds is stale (its listeners are told);
   * either is dropped (written no more). The rest count as written from now on.
   */
  async #refreshJumpClients(entries: readonly [string, HeldJumpClient][]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.#redis.pipeline() as unknown as ScriptCommands & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (let i = 0; i < entries.length; i += PRESENCE_BATCH) {
      const quadruples = entries
        .slice(i, i + PRESENCE_BATCH)
        .flatMap(([id, p]) => [id, p.participantId, this.#presenceJson(p), p.written ? '0' : '1']);
      void pipeline.ferryRefreshPresence(
        this.#key('jc-at', ''),
        this.selfId,
        this.memberTtlMs,
        this.#key('jc', ''),
        ...quadruples,
      );
    }
    const replies = (await pipeline.exec()) ?? [];
    const sent = new Map(entries);
    // the entry sent, if it is still the one held (a newer connection here is not this one)
    const held = (id: string): HeldJumpClient | undefined => {
      const here = this.#jumpClientsHere.get(id);
      return here !== undefined &&
        !here.dropped &&
        here.participantId === sent.get(id)?.participantId
        ? here
        : undefined;
    };
    const batches = Math.ceil(entries.length / PRESENCE_BATCH);
    let failure: Error | null = null;
    for (let b = 0; b < batches; b++) {
      const [err, reply] = replies[b] ?? [new Error('no reply'), null];
      if (err !== null) {
        failure ??= err;
        continue;
      }
      const [stale, revoked] = reply as [string[], string[]];
      for (let i = 0; i + 1 < revoked.length; i += 2) {
        const id = revoked[i]!;
        const here = held(id);
        if (here === undefined) continue;
        here.dropped = true;
        this.#tell(this.#revokedListeners, id, (l) => l(id, here.participantId, revoked[i + 1]!));
      }
      for (const id of stale) {
        const here = held(id);
        if (here === undefined) continue;
        here.dropped = true;
        this.#tell(this.#elsewhereListeners, id, (l) => l(id, here.participantId));
      }
      for (const [id] of entries.slice(b * PRESENCE_BATCH, (b + 1) * PRESENCE_BATCH)) {
        const here = held(id);
        if (here !== undefined) here.written = true;
      }
    }
    if (failure !== null) throw failure;
  }

  /** Calls each of `listeners` (a listener that throws is logged, the others still called). */
  #tell<L>(listeners: readonly L[], jumpClient: string, call: (listener: L) => void): void {
    for (const listener of listeners) {
      try {
        call(listener);
      } catch (err) {
        this.#logger?.error({ err, jumpClient }, 'directory presence listener threw');
      }
    }
  }

  /** A held jump client's presence as stored (`jc-at:<id>`). */
  #presenceJson(p: HeldJumpClient): string {
    return JSON.stringify({
      gatewayId: this.selfId,
      participantId: p.participantId,
      inSession: p.inSession,
      connectedAtMs: p.connectedAtMs,
    });
  }

  /** `<prefix><kind>:<part>:<part>…` */
  #key(kind: string, ...parts: string[]): string {
    return [this.#prefix + kind, ...parts].join(':');
  }

  /** Why `op` cannot run now (not started, not connected), or null when it can. */
  #unavailable(op: string): Error | null {
    if (!this.#started) return new Error(`directory unavailable: ${op}: not started`);
    if (this.#redis.status !== 'ready') {
      return new Error(`directory unavailable: ${op}: ${this.#safeUrl} is ${this.#redis.status}`);
    }
    return null;
  }

  /**
   * Runs a command if connected; any failure becomes `directory unavailable: <op>: …`. The
   * session steps of this turn go first: the store sees the writes in the order they were made.
   * A command on keys no step touches (`independent`: a PIN, an attempt counter, presence,
   * membership) does not need them first, and leaves them to the end of the turn: a session's
   * set-up would otherwise cut its turn's writes in two round trips (one before its PIN is
   * reserved, one after).
   */
  async #run<T>(op: string, command: () => Promise<T>, independent = false): Promise<T> {
    if (!independent) this.#sendSteps();
    const unavailable = this.#unavailable(op);
    if (unavailable !== null) throw unavailable;
    try {
      return await command();
    } catch (err) {
      throw new Error(`directory unavailable: ${op}: ${message(err)}`, { cause: err });
    }
  }

  /** The ownership answer, with the owner's member record if it is alive. */
  async #ownership(gatewayId: string, sessionId: string): Promise<Ownership> {
    const record = await this.#redis.get(this.#key('gw', gatewayId));
    return { gatewayId, sessionId, member: record === null ? null : JSON.parse(record) };
  }

  /**
   * One heartbeat: the member write and the presence refresh, each never overlapping itself and
   * neither waiting for the other; never throws; none while disconnected.
   */
  /** A beat's work whose failure is logged once, and its recovery once; never rejects. */
  #logOnce(work: Promise<void>, log: BeatLog): Promise<void> {
    return work.then(
      () => {
        if (log.failed) this.#logger?.info({}, log.restoredText);
        log.failed = false;
      },
      (err: unknown) => {
        if (log.failed) return;
        log.failed = true;
        this.#logger?.warn({ err }, log.failedText);
      },
    );
  }

  #beat(): Promise<void> {
    if (!this.#started || this.#redis.status !== 'ready') return Promise.resolve();
    // the member record first: on the connection, it never queues behind this beat's presence
    this.#beating ??= this.#logOnce(this.#writeMember(), this.#beatLog).finally(() => {
      this.#beating = undefined;
    });
    this.#refreshing ??= this.#logOnce(this.#refreshPresence(), this.#presenceLog).finally(() => {
      this.#refreshing = undefined;
    });
    return Promise.all([this.#beating, this.#refreshing]).then(() => undefined);
  }

  /** Writes this gateway's member record with a fresh TTL and lists its id. */
  async #writeMember(): Promise<void> {
    const load = this.#load();
    const member: GatewayMember = {
      id: this.selfId,
      url: this.#self.url,
      region: this.#self.region,
      sessions: load.sessions,
      cpu: load.cpu,
      bytesPerSecond: load.bytesPerSecond,
      seenAtMs: this.#clock(),
      draining: load.draining,
    };
    const replies = await this.#redis
      .multi()
      .set(this.#key('gw', this.selfId), JSON.stringify(member), 'PX', this.memberTtlMs)
      .sadd(this.#key('gws'), this.selfId)
      .exec();
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (replies === null || failed) throw failed ?? new Error('transaction aborted');
  }

  #setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    if (this.#started) {
      if (available) this.#logger?.info({ url: this.#safeUrl }, 'directory available again');
      else this.#logger?.warn({ url: this.#safeUrl }, 'directory unavailable');
    }
    for (const listener of this.#listeners) {
      try {
        listener(available);
      } catch (err) {
        this.#logger?.error({ err }, 'directory availability listener threw');
      }
    }
  }
}
