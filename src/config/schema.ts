/**
 * Every gateway setting in one place: its type, default, environment variable and doc. The CLI
 * (`ferry serve --help`), the environment (`FERRY_<NAME>`), `ferry config` and programmatic use
 * (`resolveConfig`) all read this table, so a key cannot exist in one of them only.
 * Defaults run a working gateway with no configuration at all.
 */
import os from 'node:os';
import path from 'node:path';

interface KeySpec<T extends number | string> {
  readonly type: T extends number ? 'number' : 'string';
  readonly default: T;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly group: 'network' | 'security' | 'limits' | 'netstats' | 'location' | 'logging' | 'tools';
}

const num = (
  def: number,
  doc: string,
  group: KeySpec<number>['group'],
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): KeySpec<number> => ({ type: 'number', default: def, doc, group, min, max });
const str = (def: string, doc: string, group: KeySpec<string>['group']): KeySpec<string> => ({
  type: 'string',
  default: def,
  doc,
  group,
});

function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'ferry');
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const schema = {
  host: str('0.0.0.0', 'address the client WebSocket port binds to', 'network'),
  port: num(8080, 'client WebSocket port (path /v1/ws); 0 picks a free port', 'network', 0, 65535),
  adminHost: str('127.0.0.1', 'address the admin port (metrics, status API) binds to', 'network'),
  adminPort: num(9090, 'admin HTTP port; 0 picks a free port', 'network', 0, 65535),
  dataDir: str(defaultDataDir(), 'directory for the generated secret and admin token', 'security'),
  secret: str(
    '',
    'secret that signs technician tokens; empty = create one in the data directory (mode 0600)',
    'security',
  ),
  tokenAudience: str('ferry', 'audience (aud) a technician JWT must name', 'security'),
  tokenIssuer: str('ferry', 'issuer (iss) a technician JWT must name', 'security'),
  jwksFile: str(
    '',
    'local JWKS file (a path, not a URL) whose public keys verify RS256, ES256 and EdDSA technician tokens; empty = HS256 with the secret only',
    'security',
  ),
  adminToken: str(
    '',
    'bearer token of the status API; empty = create one in the data directory (mode 0600)',
    'security',
  ),
  gatewayId: str('', 'this gateway instance id; empty = <hostname>-<port>', 'network'),
  directory: str(
    'memory',
    'where gateways find each other: memory = this process alone; redis://[user:password@]host:port/db or rediss://... (TLS) = a Redis shared by every gateway of the deployment, which then holds who owns each PIN, session and resume token, and the members with their load (docs/operations.md, "Scale-out")',
    'network',
  ),
  directoryTlsCa: str(
    '',
    'PEM file of the CA that signed the Redis server certificate (rediss:// only); empty = the system roots',
    'network',
  ),
  publicUrl: str(
    '',
    'the WebSocket URL clients reach this gateway at (ws[s]://host:port/v1/ws), where other gateways redirect clients to; empty = ws[s]://<host or 127.0.0.1>:<port>/v1/ws. Set it when gateways share a directory',
    'network',
  ),
  region: str('', 'a region label for this gateway, shown in GET /api/v1/gateways', 'network'),
  ownPort: num(
    0,
    'a second client WebSocket port this process alone listens on, announced as its public URL (where other gateways redirect clients to); --workers gives each worker port+1+i; 0 = none',
    'network',
    0,
    65535,
  ),
  workers: str(
    '1',
    'gateway processes on this host (1-256, or auto = one per core), all on one client port (SO_REUSEPORT), each a member of the shared directory, which more than one needs (--directory redis://). Worker i listens alone on port+1+i (its public URL), serves its admin API on adminPort+i and STUN on stunPort+i, under <dataDir>/workers/<i>',
    'network',
  ),
  p2p: str(
    'any',
    'direct paths (docs/direct-path.md): off = every frame goes through the relay (audit); lan = host candidates only, in the private ranges unless --p2p-networks says otherwise; any = host, server- and peer-reflexive candidates (server-reflexive with --stun-port)',
    'network',
  ),
  p2pNetworks: str(
    '',
    "comma-separated CIDRs (10.0.0.0/8,fd00::/8) that direct-path candidates must lie in; empty = any address but loopback. Link-local addresses, and the gateway's own addresses with its ports, are never passed on",
    'network',
  ),
  stunPort: num(
    0,
    "UDP port of the gateway's own STUN server (RFC 5389 binding requests only, rate-limited per address), which gives clients their server-reflexive candidates; 0 = off",
    'network',
    0,
    65535,
  ),
  stunHost: str(
    '',
    'host clients reach the STUN port at (stun:<host>:<port>); empty = the host of --public-url, else the address the port binds to (127.0.0.1 when it binds every address)',
    'network',
  ),
  helloTimeoutMs: num(5000, 'a connection must send Hello within this many ms', 'limits', 1),
  pinLength: num(
    12,
    'digits of a customer PIN (see the README for the guessing arithmetic)',
    'security',
    6,
    18,
  ),
  pinTtlSeconds: num(600, 'seconds a PIN stays valid if no customer joins', 'security', 1),
  maxFrameBytes: num(
    1 * MiB,
    'largest SCREEN/INPUT/SHELL/SYSINFO/FILE frame relayed; bigger ones get FERRY_ERR_FRAME_TOO_LARGE',
    'limits',
    1 * KiB,
    64 * MiB,
  ),
  maxControlBytes: num(
    64 * KiB,
    'largest CONTROL/CHAT/HEARTBEAT frame accepted',
    'limits',
    1 * KiB,
    16 * MiB,
  ),
  screenDropBytes: num(
    1 * MiB,
    'send-buffer level above which SCREEN frames to a technician are dropped (and a key frame requested on drain)',
    'limits',
    0,
  ),
  maxBufferedBytes: num(
    8 * MiB,
    'hard cap of a connection send buffer; past it the connection is closed with FERRY_ERR_SLOW_CONSUMER',
    'limits',
    64 * KiB,
  ),
  globalBufferedBytes: num(
    256 * MiB,
    'gateway-wide send-buffer budget: past half of it SCREEN frames are dropped for everyone; past all of it a congested receiver of a reliable frame is closed',
    'limits',
    1 * MiB,
  ),
  maxMessagesPerSecond: num(
    5000,
    'frames a connection may send per second; past it the connection is closed with FERRY_ERR_RATE_LIMITED',
    'limits',
    1,
  ),
  maxChatPerSecond: num(
    20,
    'chat messages a participant may send per second, in bursts of up to twice as many; past it a message is refused with FERRY_ERR_RATE_LIMITED and is neither logged nor relayed',
    'limits',
    1,
  ),
  maxBadFrames: num(
    20,
    'refused frames a connection may send per minute; past it the connection is closed with FERRY_ERR_TOO_MANY_ERRORS',
    'limits',
    1,
  ),
  inputGraceMs: num(
    2000,
    'after a consent revoke, a control hand-over or a status change, SCREEN and INPUT frames refused for this long are dropped and counted (ferry_refusals_excused_total) instead of counting toward --max-bad-frames: the sender could not have seen the change yet',
    'limits',
    0,
  ),
  maxConnectionsPerAddress: num(
    64,
    'open client connections per remote address; more are refused with HTTP 429 at the upgrade',
    'limits',
    1,
  ),
  pinAttemptsPerMinute: num(
    10,
    'customer PIN attempts per remote address per minute (burst of the same size)',
    'security',
    1,
  ),
  pinAttemptsPerSecond: num(
    20,
    'customer PIN attempts per second for the whole gateway (burst of 5 seconds worth)',
    'security',
    1,
  ),
  allowedOrigins: str(
    '',
    'comma-separated Origin values browsers may connect from besides the gateway origin (its web console), e.g. https://support.example.com; * = any page. Empty = the own origin only (Origin host equal to the request Host). Clients that send no Origin are not browsers and pass',
    'security',
  ),
  tlsCert: str(
    '',
    'PEM certificate (chain) file of the client port; with tlsKey the port serves wss:// and https:// only. Empty = plain ws:// (a warning at start when the port is not on loopback)',
    'security',
  ),
  tlsKey: str('', 'PEM private key file of tlsCert', 'security'),
  tlsPassphraseFile: str(
    '',
    'file holding the passphrase of an encrypted tlsKey (first line); empty = the key is not encrypted',
    'security',
  ),
  tlsSni: str(
    '',
    'more server names on the client port, each with its own certificate: name=cert,key (the flag may be repeated; in the environment separate entries with ;). Clients sending another name get tlsCert',
    'security',
  ),
  tlsLowMemory: num(
    1,
    '1 = release the TLS buffers of idle connections (SSL_MODE_RELEASE_BUFFERS): less memory per idle session for a little CPU; 0 = keep them',
    'security',
    0,
    1,
  ),
  adminTlsCert: str(
    '',
    'PEM certificate file of the admin port; empty = tlsCert when that is set (the admin port then serves https:// only); none = plain HTTP on the admin port',
    'security',
  ),
  adminTlsKey: str('', 'PEM private key file of adminTlsCert; empty = tlsKey', 'security'),
  adminTlsPassphraseFile: str(
    '',
    'passphrase file of adminTlsKey; empty = tlsPassphraseFile when the admin port uses the client port files',
    'security',
  ),
  trustedProxies: str(
    '',
    'comma-separated CIDRs (e.g. 10.0.0.0/8,::1/128) of reverse proxies whose X-Forwarded-For names the real client address; from any other address the header is ignored. Empty = trust no proxy',
    'network',
  ),
  drainTimeoutSeconds: num(
    30,
    'on SIGTERM, how long to wait for sessions to finish before ending them (reports are written either way)',
    'limits',
    0,
    3600,
  ),
  idleTimeoutSeconds: num(
    60,
    'close a connection that sends nothing (not even pongs) for this long; 0 = off',
    'limits',
    0,
    960,
  ),
  heartbeatIntervalMs: num(
    2000,
    'gateway ping interval for RTT measurement (NS-D6); a pong also frees the copies of reliable frames kept for a client that counts them (Hello.counts_reliable), so a longer interval holds more of them (up to resumeBufferBytes a connection)',
    'netstats',
    100,
  ),
  heartbeatStallMs: num(
    5000,
    'an unanswered ping counts as a sample of this many ms (NS-D6); more than half of heartbeatIntervalMs',
    'netstats',
    100,
  ),
  statsIntervalMs: num(
    2000,
    'how often technicians receive NetworkStats; 0 = only on request',
    'netstats',
    0,
  ),
  offlineAfterSeconds: num(
    300,
    'a session Reconnecting or Rebooting for longer than this goes Offline, and frames held for the absent participant are discarded (spec T_OFFLINE)',
    'limits',
    1,
  ),
  resumeTtlSeconds: num(
    3600,
    'how long a lost participant may resume its place with its resume token; at least offlineAfterSeconds. A session nobody can resume ends',
    'limits',
    1,
  ),
  resumeBufferBytes: num(
    1 * MiB,
    'reliable frames (all but SCREEN and HEARTBEAT) held per absent participant for its resume, and the copies a connection keeps of those it wrote until its client acknowledges them; past it they are counted as lost and reported',
    'limits',
    0,
  ),
  journal: str(
    'on',
    'on = every live session is kept in a journal under <dataDir>/journal/ (its log, chat, consent, status and participants, resume tokens as SHA-256 only), so a gateway started again on the same data directory (after kill -9, SIGTERM or an upgrade) takes its sessions back; off = live sessions live in memory only and end with the process',
    'limits',
  ),
  journalFsync: str(
    '100',
    'when journal writes are forced to disk: always (after every batch), a number of milliseconds (at most one fsync per period), or off (when the OS decides). Writes happen before acknowledgements either way, so a killed process loses nothing; a host crash loses at most this period',
    'limits',
  ),
  retainedBytes: num(
    64 * MiB,
    'gateway-wide budget for session log text held in memory; past it the log that grows spills its oldest entries to its journal (read back for late joiners and the report), keeping 32 per session; without a journal they are dropped and counted',
    'limits',
    1 * MiB,
  ),
  heapGrowthPercent: num(
    50,
    "how far V8 may grow the gateway's heap past what is live before it collects, in percent (V8's --heap-growing-percent, process-wide): a fixed factor keeps memory near the live heap after bursts (a restart's resumes, a busy machine), where V8's own choice lets it climb to four times that; 0 leaves it to V8",
    'limits',
    0,
    400,
  ),
  orphanPolicy: str(
    'queue',
    'what happens to a session whose owner quits (Ctrl-C, /quit, window closed) with no other technician in it: queue = back to Waiting in its queue at once, where the same technician may pick it up again; close = it stays as it is and closes. Either way it closes if nobody has picked it up after orphanGraceSeconds. A network drop is not a quit (Reconnecting, Offline)',
    'limits',
  ),
  orphanGraceSeconds: num(
    300,
    'how long a session whose owner quit waits for a technician before it closes (orphanPolicy); 0 = at once',
    'limits',
    0,
  ),
  activeIdleSeconds: num(
    0,
    'admin idle timeout of an Active session, from the last user action; 0 = off (spec T_ADMIN_IDLE)',
    'limits',
    0,
  ),
  waitingIdleSeconds: num(0, 'admin idle timeout of a Waiting session; 0 = off', 'limits', 0),
  incomingIdleSeconds: num(
    0,
    "admin idle timeout of a pending transfer, as the target's Incoming view; 0 = off",
    'limits',
    0,
  ),
  outgoingIdleSeconds: num(
    0,
    "admin idle timeout of a pending transfer, as the sender's Outgoing view; 0 = off",
    'limits',
    0,
  ),
  onHoldIdleSeconds: num(
    0,
    'admin idle timeout of an On Hold session, from the last user action; 0 = off',
    'limits',
    0,
  ),
  reconnectingIdleSeconds: num(
    0,
    'admin idle timeout of a Reconnecting session, from the last user action; 0 = off',
    'limits',
    0,
  ),
  offlineIdleSeconds: num(
    0,
    'admin idle timeout of an Offline session, from the last user action; 0 = off',
    'limits',
    0,
  ),
  collaboratingIdleSeconds: num(
    0,
    'admin idle timeout of a shared session, and of each collaborator from its own last action (its entry leaves the queue); 0 = off',
    'limits',
    0,
  ),
  // Session tools II: command shells and file transfer.
  maxShellsPerSession: num(
    8,
    'command shells open at once in one session (all technicians together); more get FERRY_ERR_SHELL_LIMIT',
    'limits',
    1,
    256,
  ),
  recordShells: num(
    0,
    '1 = record every command shell as an asciicast v2 file plus a text transcript under <dataDir>/recordings/<session>/, listed in the session report; 0 = off',
    'security',
    0,
    1,
  ),
  reportRetentionDays: num(
    90,
    'session reports (in <dataDir>/reports.db, with their search rows and log text) older than this many days are deleted, checked once an hour; 0 = keep forever',
    'security',
    0,
    36500,
  ),
  shellRecordingMaxBytes: num(
    16 * MiB,
    'bound of one shell recording (and of its transcript); past it a truncation marker is written and later events are dropped',
    'limits',
    4 * KiB,
  ),
  fileTransferMaxBytes: num(
    1024 * MiB,
    'largest file a transfer may announce; bigger offers get FERRY_ERR_FILE_TOO_LARGE, and chunks past the announced size FERRY_ERR_FILE_BEYOND_SIZE',
    'limits',
    0,
  ),
  locationName: str('', 'human-readable place of this gateway, e.g. "Frankfurt, DE"', 'location'),
  locationRegion: str('local', 'region code of this gateway, e.g. eu-central', 'location'),
  locationLatitude: str('', 'optional latitude in degrees', 'location'),
  locationLongitude: str('', 'optional longitude in degrees', 'location'),
  technicianDefaultPermissions: str(
    'reboot,sysinfo',
    'comma-separated permissions of a technician whose token has no perms claim: sysinfo, reboot, scripts, special_actions, elevate, jump_client, unattended, support_button, after_session_lock, after_session_logout (empty = none)',
    'tools',
  ),
  technicianDefaultTeam: str(
    'default',
    'team (queue) of a technician whose token has no teams claim',
    'tools',
  ),
  cannedScriptsFile: str(
    '',
    'JSON file of the canned scripts technicians may run on the customer machine: {"scripts":[{"id","name","description"?,"body","teams"?}]}; empty = none',
    'tools',
  ),
  elevationPlatforms: str(
    'win32,darwin,linux',
    "comma-separated customer platforms (process.platform) to which administrative elevation is offered; spec A1.5 names win32,darwin, Linux works through the client's pkexec/sudo command",
    'tools',
  ),
  elevateOnSessionStart: num(
    0,
    '1 = when a technician picks up a session whose customer client is not elevated and whose platform is in elevationPlatforms, the gateway asks the customer client to elevate (admin) by itself, once per session, and logs it as by policy (spec A1.6); 0 = off',
    'tools',
    0,
    1,
  ),
  logLevel: str('info', 'pino level: fatal, error, warn, info, debug, trace or silent', 'logging'),
} as const;

export type ConfigKey = keyof typeof schema;
export type Config = {
  -readonly [K in ConfigKey]: (typeof schema)[K]['default'] extends number ? number : string;
};

/** `adminHost` -> `admin-host` */
export function flagName(key: ConfigKey): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `adminHost` -> `FERRY_ADMIN_HOST` */
export function envName(key: ConfigKey): string {
  return `FERRY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export const configKeys = Object.keys(schema) as ConfigKey[];
