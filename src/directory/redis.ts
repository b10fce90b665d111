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
 *
 * Liveness is the member key's TTL: a gateway that stops beating drops out of `members()` after
 * `memberTtlMs`, and every ownership answer carries `member: null` for it, so a caller can tell
 * a dead owner from a live one without any key of the dead gateway expiring. Sessions and resume
 * tokens have no TTL: they live until their owner removes them or another gateway takes over.
 * A resume token's owner is its session's owner (the `session:<id>` hash), which is what makes
 * `takeOver` one compare-and-set on that hash; the publisher recorded in `resume:<tokenKey>` is
 * only the fallback once the session is gone, and `takeOver` rewrites it too.
 *
 * Every write that two gateways could race on is one Lua script (atomic on the server): release
 * of a PIN, publication and removal of a session, forgetting a resume token, takeover and
 * pick-up from a queue. The scripts name derived keys themselves (from the prefix), which a
 * standalone Redis allows and Redis Cluster does not.
 *
 * Availability: commands are never queued while disconnected (`enableOfflineQueue: false`), and
 * every method checks the connection first, so a call fails at once with `directory unavailable:`
 * instead of waiting; ioredis reconnects forever with a backoff capped at one second, and the
 * membership is written again as soon as the connection is ready.
 */
import fs from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type {
  DirectoryEvent,
  GatewayMember,
  MemberLoad,
  Ownership,
  QueuedSession,
  SessionSummary,
  SharedDirectory,
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
   * KEYS: session, self's gw-sessions. ARGV: self, id, status, technician, customer,
   * participants. Writes the summary unless another gateway owns the session.
   */
  ferryPublishSession: `
    local owner = redis.call('HGET', KEYS[1], 'gatewayId')
    if owner and owner ~= ARGV[1] then return 0 end
    redis.call('HSET', KEYS[1], 'gatewayId', ARGV[1], 'status', ARGV[3],
      'technician', ARGV[4], 'customer', ARGV[5], 'participants', ARGV[6])
    redis.call('SADD', KEYS[2], ARGV[2])
    return 1`,
  /**
   * KEYS: session, self's gw-sessions, session-resume. ARGV: self, id, resume key prefix.
   * Deletes the session if self owns it, with the resume tokens published for it that still
   * name it (a technician's token may name a later session of its own).
   */
  ferryRemoveSession: `
    redis.call('SREM', KEYS[2], ARGV[2])
    if redis.call('HGET', KEYS[1], 'gatewayId') ~= ARGV[1] then return 0 end
    for _, token in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      local key = ARGV[3] .. token
      if redis.call('HGET', key, 'sessionId') == ARGV[2] then redis.call('DEL', key) end
    end
    redis.call('DEL', KEYS[3])
    return redis.call('DEL', KEYS[1])`,
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
   * sessionId, resume key prefix. Compare-and-set of the session's owner from `from` to self;
   * moves the id between the owners' sets and points the session's resume tokens at self.
   */
  ferryTakeOver: `
    if redis.call('HGET', KEYS[1], 'gatewayId') ~= ARGV[1] then return 0 end
    redis.call('HSET', KEYS[1], 'gatewayId', ARGV[2])
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
} as const;

/** The scripts as ioredis defines them on the client. */
interface ScriptCommands {
  ferryMembers(ids: string, memberPrefix: string): Promise<string[]>;
  ferryReleasePin(pin: string, self: string): Promise<number>;
  ferryPublishSession(
    session: string,
    own: string,
    self: string,
    id: string,
    status: string,
    technician: string,
    customer: string,
    participants: number,
  ): Promise<number>;
  ferryRemoveSession(
    session: string,
    own: string,
    resumeSet: string,
    self: string,
    id: string,
    resumePrefix: string,
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
  ): Promise<number>;
  ferryPickUp(queue: string, owners: string, id: string): Promise<number>;
}

type Client = Redis & ScriptCommands;

const KEY_COUNTS: Record<keyof typeof SCRIPTS, number> = {
  ferryMembers: 1,
  ferryReleasePin: 1,
  ferryPublishSession: 2,
  ferryRemoveSession: 3,
  ferryResumeOwner: 1,
  ferryForgetResume: 1,
  ferryTakeOver: 4,
  ferryPickUp: 2,
};

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

export class RedisDirectory implements SharedDirectory {
  readonly selfId: string;
  readonly heartbeatMs: number;
  readonly memberTtlMs: number;
  readonly #redis: Client;
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
  /** The beat in flight, so beats never overlap and `stop()` can wait for it. */
  #beating: Promise<void> | undefined;
  /** The first connection error of the current outage was logged. */
  #errorLogged = false;
  /** A failed beat was logged since the last successful one. */
  #beatFailureLogged = false;
  #lastError: Error | undefined;

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
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * 2 ** (times - 1), RETRY_CAP_MS),
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectionName: `ferry:${this.selfId}`,
      scripts: Object.fromEntries(
        Object.entries(SCRIPTS).map(([name, lua]) => [
          name,
          { lua, numberOfKeys: KEY_COUNTS[name as keyof typeof SCRIPTS] },
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
    this.#setAvailable(this.#redis.status === 'ready');
    this.#started = true;
    this.#subscribe();
    this.#errorLogged = false;
    this.#timer = setInterval(() => void this.#beat(), this.heartbeatMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    if (this.#redis.status === 'ready') {
      try {
        await this.#redis
          .multi()
          .del(this.#key('gw', this.selfId))
          .srem(this.#key('gws'), this.selfId)
          .exec();
      } catch (err) {
        this.#logger?.warn({ err }, 'directory: could not remove membership');
      }
    }
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
    this.#setAvailable(false);
  }

  members(): Promise<GatewayMember[]> {
    return this.#run('members', async () => {
      const records = await this.#redis.ferryMembers(this.#key('gws'), this.#key('gw', ''));
      return records
        .map((record) => JSON.parse(record) as GatewayMember)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  publishPin(pin: string, sessionId: string, expiresAtMs: number): Promise<boolean> {
    return this.#run('publishPin', async () => {
      const value = JSON.stringify({ gatewayId: this.selfId, sessionId });
      const reply = await this.#redis.set(
        this.#key('pin', pin),
        value,
        'PXAT',
        Math.ceil(expiresAtMs),
        'NX',
      );
      return reply === 'OK';
    });
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
    return this.#run('releasePin', async () => {
      await this.#redis.ferryReleasePin(this.#key('pin', pin), this.selfId);
    });
  }

  countAttempt(address: string): Promise<number> {
    return this.#run('countAttempt', async () => {
      const key = this.#key('attempts', address, String(Math.floor(this.#clock() / 60_000)));
      const replies = await this.#redis.multi().incr(key).pexpire(key, ATTEMPT_TTL_MS).exec();
      const [err, count] = replies?.[0] ?? [new Error('transaction aborted'), 0];
      if (err) throw err;
      return Number(count);
    });
  }

  publishSession(summary: SessionSummary): Promise<void> {
    return this.#run('publishSession', async () => {
      const written = await this.#redis.ferryPublishSession(
        this.#key('session', summary.id),
        this.#key('gw-sessions', this.selfId),
        this.selfId,
        summary.id,
        summary.status,
        summary.technician,
        summary.customer,
        summary.participants,
      );
      if (written === 0) {
        this.#logger?.warn(
          { sessionId: summary.id },
          'directory: session is owned by another gateway, not published',
        );
      }
    });
  }

  removeSession(sessionId: string): Promise<void> {
    return this.#run('removeSession', async () => {
      await this.#redis.ferryRemoveSession(
        this.#key('session', sessionId),
        this.#key('gw-sessions', this.selfId),
        this.#key('session-resume', sessionId),
        this.selfId,
        sessionId,
        this.#key('resume', ''),
      );
    });
  }

  sessionOwner(sessionId: string): Promise<Ownership | null> {
    return this.#run('sessionOwner', async () => {
      const gatewayId = await this.#redis.hget(this.#key('session', sessionId), 'gatewayId');
      return gatewayId === null ? null : this.#ownership(gatewayId, sessionId);
    });
  }

  publishResume(tokenKey: string, sessionId: string): Promise<void> {
    return this.#run('publishResume', async () => {
      await this.#redis
        .multi()
        .hset(this.#key('resume', tokenKey), { gatewayId: this.selfId, sessionId })
        .sadd(this.#key('session-resume', sessionId), tokenKey)
        .exec();
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

  appendJournal(sessionId: string, line: Uint8Array): Promise<void> {
    return this.#run('appendJournal', async () => {
      await this.#redis.rpush(
        this.#key('journal', sessionId),
        Buffer.from(line.buffer, line.byteOffset, line.byteLength),
      );
    });
  }

  replaceJournal(sessionId: string, lines: readonly Uint8Array[]): Promise<void> {
    return this.#run('replaceJournal', async () => {
      const key = this.#key('journal', sessionId);
      const multi = this.#redis.multi().del(key);
      if (lines.length > 0) multi.rpush(key, ...lines.map((l) => Buffer.from(l)));
      await multi.exec();
    });
  }

  readJournal(sessionId: string): Promise<Buffer[]> {
    return this.#run('readJournal', () =>
      this.#redis.lrangeBuffer(this.#key('journal', sessionId), 0, -1),
    );
  }

  dropJournal(sessionId: string): Promise<void> {
    return this.#run('dropJournal', async () => {
      await this.#redis.del(this.#key('journal', sessionId));
    });
  }

  /** `<prefix><kind>:<part>:<part>…` */
  #key(kind: string, ...parts: string[]): string {
    return [this.#prefix + kind, ...parts].join(':');
  }

  /** Runs a command if connected; any failure becomes `directory unavailable: <op>: …`. */
  async #run<T>(op: string, command: () => Promise<T>): Promise<T> {
    if (!this.#started) throw new Error(`directory unavailable: ${op}: not started`);
    if (this.#redis.status !== 'ready') {
      throw new Error(`directory unavailable: ${op}: ${this.#safeUrl} is ${this.#redis.status}`);
    }
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

  /** One heartbeat: never throws, never overlaps another; none while disconnected. */
  #beat(): Promise<void> {
    if (!this.#started || this.#redis.status !== 'ready') return Promise.resolve();
    this.#beating ??= this.#writeMember()
      .then(() => {
        if (this.#beatFailureLogged) this.#logger?.info({}, 'directory heartbeat restored');
        this.#beatFailureLogged = false;
      })
      .catch((err: unknown) => {
        if (this.#beatFailureLogged) return;
        this.#beatFailureLogged = true;
        this.#logger?.warn({ err }, 'directory heartbeat failed');
      })
      .finally(() => {
        this.#beating = undefined;
      });
    return this.#beating;
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
