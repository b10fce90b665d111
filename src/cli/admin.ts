/**
 * `ferry admin`: the operator's side of the admin API from the command line. `end`, `kick`,
 * `revoke-pin` and `drain` wrap the operator actions; `reports search` searches (and exports)
 * the session reports; `audit` prints the audit log's last entries and its verification.
 * The admin URL and token come from flags, then FERRY_ADMIN_URL and FERRY_ADMIN_TOKEN, then the
 * defaults (http://127.0.0.1:9090 and the token file of the data directory). A refused action
 * prints its code and message and exits 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { envName, schema } from '../config/schema.js';
import { commandGroup, defineCommand, type ExitRequest, single, UsageError } from './common.js';

const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9090';
const REPORT_FILTERS = ['technician', 'customer', 'address', 'from', 'to', 'text'] as const;

interface Connection {
  readonly base: string;
  readonly token: string;
  readonly operator: string;
}

/** The admin options every subcommand takes. */
function withAdminOptions<T>(y: Argv<T>) {
  return y
    .option('admin-url', {
      type: 'string',
      describe: `admin API base URL [env FERRY_ADMIN_URL] [default: ${DEFAULT_ADMIN_URL}]`,
    })
    .option('admin-token', {
      type: 'string',
      describe: `the admin (operator) bearer token [env ${envName('adminToken')}] [default: <data-dir>/admin-token]`,
    })
    .option('data-dir', {
      type: 'string',
      describe: `where to find the admin-token file [env ${envName('dataDir')}]`,
    })
    .option('operator', {
      type: 'string',
      describe: 'your name for the audit log (X-Ferry-Operator) [env FERRY_OPERATOR]',
    });
}

function text(argv: Record<string, unknown>, key: string, flag: string): string | undefined {
  const value = single(argv, key, flag);
  return value === undefined ? undefined : String(value);
}

function connectionOf(argv: Record<string, unknown>): Connection {
  const url =
    text(argv, 'adminUrl', 'admin-url') ?? process.env.FERRY_ADMIN_URL ?? DEFAULT_ADMIN_URL;
  let base: URL;
  try {
    base = new URL(url);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    base = new URL('invalid:');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new UsageError(
      `--admin-url ${JSON.stringify(url)}: not an admin URL; allowed: http:// or https:// with a host, e.g. ${DEFAULT_ADMIN_URL}`,
    );
  }
  let token = text(argv, 'adminToken', 'admin-token') ?? process.env[envName('adminToken')] ?? '';
  if (token === '') {
    const dir =
      text(argv, 'dataDir', 'data-dir') ??
      process.env[envName('dataDir')] ??
      schema.dataDir.default;
    const file = path.join(dir, 'admin-token');
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new UsageError(
        `no admin token: give --admin-token or ${envName('adminToken')}, or run where ${file} exists`,
      );
    }
  }
  const operator = text(argv, 'operator', 'operator') ?? process.env.FERRY_OPERATOR ?? '';
  return { base: base.href.replace(/\/+$/, ''), token, operator };
}

/** A refused or failed call: its code and message, for one line of `ferry: ...`. */
export class AdminApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(`${code}: ${message} (HTTP ${status})`);
    this.name = 'AdminApiError';
    this.status = status;
    this.code = code;
  }
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly nextCursor: string | null;
}

async function call(
  conn: Connection,
  method: string,
  route: string,
  body?: Record<string, unknown>,
): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${conn.token}` };
  if (conn.operator !== '') headers['x-ferry-operator'] = conn.operator;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${conn.base}${route}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`cannot reach the admin API at ${conn.base}: ${cause}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let code = 'FERRY_ERR_HTTP';
    let message = text.trim();
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code ?? code;
      message = parsed.error?.message ?? message;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
    throw new AdminApiError(res.status, code, message);
  }
  return { status: res.status, body: text, nextCursor: res.headers.get('x-next-cursor') };
}

const print = (answer: Answer): void => {
  process.stdout.write(`${JSON.stringify(JSON.parse(answer.body), null, 2)}\n`);
};

const seg = (value: unknown): string => encodeURIComponent(String(value));

const endCommand = defineCommand({
  command: 'end <session>',
  describe: 'end a live session as an operator (the participants are told; normal close)',
  builder: (y) =>
    withAdminOptions(y)
      .positional('session', { type: 'string', describe: 'session id', demandOption: true })
      .option('reason', {
        type: 'string',
        describe: 'why (shown to the participants, audited)',
        demandOption: true,
      }),
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    const reason = text(a, 'reason', 'reason') ?? '';
    if (reason.trim() === '')
      throw new UsageError('--reason: empty; allowed: a few words saying why');
    print(
      await call(connectionOf(a), 'POST', `/api/v1/sessions/${seg(a.session)}/end`, { reason }),
    );
    return 0;
  },
});

const kickCommand = defineCommand({
  command: 'kick <session> <participant>',
  describe: 'take a collaborator (or invited technician) out of a live session',
  builder: (y) =>
    withAdminOptions(y)
      .positional('session', { type: 'string', describe: 'session id', demandOption: true })
      .positional('participant', { type: 'string', describe: 'participant id', demandOption: true })
      .option('reason', { type: 'string', describe: 'why (audited)' }),
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    const reason = text(a, 'reason', 'reason') ?? '';
    print(
      await call(
        connectionOf(a),
        'POST',
        `/api/v1/sessions/${seg(a.session)}/participants/${seg(a.participant)}/kick`,
        { reason },
      ),
    );
    return 0;
  },
});

const revokeCommand = defineCommand({
  command: 'revoke-pin [pin]',
  describe: 'revoke an open PIN (or the PIN of --session); the session waiting on it ends',
  builder: (y) =>
    withAdminOptions(y)
      .positional('pin', { type: 'string', describe: 'the PIN' })
      .option('session', {
        type: 'string',
        describe: 'revoke the open PIN of this session instead',
      }),
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    const pin = a.pin === undefined ? undefined : String(a.pin);
    const session = text(a, 'session', 'session');
    if ((pin === undefined) === (session === undefined)) {
      throw new UsageError('name the PIN or give --session <id>, not both');
    }
    if (pin !== undefined && !/^\d{1,32}$/.test(pin)) {
      throw new UsageError(`${JSON.stringify(pin)}: not a PIN; allowed: digits`);
    }
    const route =
      pin !== undefined ? `/api/v1/pins/${pin}` : `/api/v1/sessions/${seg(session)}/pin/revoke`;
    print(
      await call(
        connectionOf(a),
        pin !== undefined ? 'DELETE' : 'POST',
        route,
        pin ? undefined : {},
      ),
    );
    return 0;
  },
});

const drainCommand = defineCommand({
  command: 'drain',
  describe: 'drain the gateway: no new sessions; live ones finish or end at the deadline',
  builder: (y) =>
    withAdminOptions(y)
      .option('reason', { type: 'string', describe: 'told to the clients, audited' })
      .option('deadline-seconds', {
        type: 'number',
        describe: 'how long live sessions may go on (default: the gateway drainTimeoutSeconds)',
      }),
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    const body: Record<string, unknown> = {};
    const reason = text(a, 'reason', 'reason');
    if (reason !== undefined) body.reason = reason;
    const seconds = single(a, 'deadlineSeconds', 'deadline-seconds');
    if (seconds !== undefined) {
      if (!(Number.isInteger(seconds) && (seconds as number) >= 0 && (seconds as number) <= 3600)) {
        throw new UsageError(
          `--deadline-seconds ${String(seconds)}; allowed: an integer from 0 to 3600`,
        );
      }
      body.deadlineSeconds = seconds;
    }
    print(await call(connectionOf(a), 'POST', '/api/v1/drain', body));
    return 0;
  },
});

const searchCommand = defineCommand({
  command: 'search',
  describe: 'search session reports (newest first); --format jsonl|csv exports',
  builder: (y) => {
    let yy = withAdminOptions(y);
    for (const key of REPORT_FILTERS) {
      yy = yy.option(key, {
        type: 'string',
        describe:
          key === 'from' || key === 'to'
            ? `created ${key === 'from' ? 'at or after' : 'before'} (ISO 8601 or epoch ms)`
            : key === 'text'
              ? 'the session log contains this text'
              : key === 'address'
                ? "the customer's address as the gateway saw it (exact)"
                : `the ${key} (exact, case-insensitive)`,
      });
    }
    return yy
      .option('limit', {
        type: 'number',
        describe: 'page size (json: default 50, at most 1000; exports: up to 10000)',
      })
      .option('cursor', {
        type: 'string',
        describe: 'the next page: the nextCursor of the last answer',
      })
      .option('format', { choices: ['json', 'jsonl', 'csv'] as const, default: 'json' as const })
      .option('all', {
        type: 'boolean',
        default: false,
        describe: 'follow the cursor to the last page',
      });
  },
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    const conn = connectionOf(a);
    const params = new URLSearchParams();
    for (const key of REPORT_FILTERS) {
      const value = text(a, key, key);
      if (value !== undefined) params.set(key, value);
    }
    const limit = single(a, 'limit', 'limit');
    if (limit !== undefined) params.set('limit', String(limit));
    const format = String(a.format);
    params.set('format', format);
    let cursor = text(a, 'cursor', 'cursor');
    let first = true;
    const rows: unknown[] = [];
    for (;;) {
      if (cursor !== undefined) params.set('cursor', cursor);
      const answer = await call(conn, 'GET', `/api/v1/reports?${params}`);
      if (format === 'json') {
        const page = JSON.parse(answer.body) as { reports: unknown[]; nextCursor: string | null };
        if (a.all !== true) {
          print(answer);
          return 0;
        }
        rows.push(...page.reports);
      } else {
        // CSV: the header line once
        const body =
          format === 'csv' && !first
            ? answer.body.slice(answer.body.indexOf('\n') + 1)
            : answer.body;
        process.stdout.write(body);
      }
      first = false;
      if (a.all !== true || answer.nextCursor === null) break;
      cursor = answer.nextCursor;
    }
    if (format === 'json') {
      process.stdout.write(
        `${JSON.stringify({ count: rows.length, reports: rows, nextCursor: null }, null, 2)}\n`,
      );
    }
    return 0;
  },
});

const auditCommand = defineCommand({
  command: 'audit',
  describe: "print the audit log's last entries and whether its hash chain verifies",
  builder: (y) => withAdminOptions(y).option('limit', { type: 'number', default: 20 }),
  run: async (argv): Promise<ExitRequest> => {
    const a = argv as unknown as Record<string, unknown>;
    print(await call(connectionOf(a), 'GET', `/api/v1/audit?limit=${Number(a.limit)}`));
    return 0;
  },
});

export const adminCommand = commandGroup({
  command: 'admin',
  describe:
    'operator actions on a running gateway through its admin API (end, kick, revoke-pin, drain, reports, audit)',
  demand: 'name an admin command: end, kick, revoke-pin, drain, reports search, audit',
  subcommands: [
    endCommand,
    kickCommand,
    revokeCommand,
    drainCommand,
    commandGroup({
      command: 'reports',
      describe: 'session reports: search and export',
      demand: 'name a reports command: search',
      subcommands: [searchCommand],
    }),
    auditCommand,
  ],
});
