/**
 * The admin port's HTTP API: health and readiness, the Prometheus exposition, the JSON status
 * API under /api/v1, the operator actions (end a session, kick a participant, revoke a PIN,
 * drain), the report search and export, the audit log, and the OpenAPI document.
 * One table of routes (`adminRoutes`; the OpenAPI test enumerates it), matched by path before
 * the method check, which comes before the token check: an unknown path is 404 and a known one
 * with the wrong method 405 either way. /api/v1 wants the admin token (the operator scope): no
 * or a wrong token is 401, a valid technician token 403. Every action and every search writes
 * an audit entry, refused ones included. Reads and acts on the gateway through `GatewayView`
 * only; never touches sockets. The admin listener calls the handler.
 */
import fs from 'node:fs/promises';
import { type CodeEntry, Codes, type Refusal } from '../protocol/codes.js';
import { CursorError } from '../store/report-store.js';
import { bearerChecker } from './auth.js';
import type { ActionOutcome, GatewayView, RecordingView } from './gateway-view.js';
import type { AdminHandler, AdminReply, AdminRequest } from './http.js';
import { OPENAPI } from './openapi.js';
import { parseReportQuery, toCsv, toJsonLines } from './reports.js';
import { sessionDetailView, sessionListView, statusView } from './views.js';

const json = (status: number, value: unknown): AdminReply => ({
  status,
  contentType: 'application/json',
  body: `${JSON.stringify(value)}\n`,
});

/** The HTTP status of a code the gateway also sends on WebSockets (those have no `http`). */
const HTTP_STATUS = new Map<CodeEntry, number>([
  [Codes.SESSION_NOT_FOUND, 404],
  [Codes.SESSION_ENDED, 409],
  [Codes.WRONG_STATE, 409],
  [Codes.INVALID_TRANSITION, 409],
  [Codes.SHUTTING_DOWN, 409],
]);

const statusOf = (entry: CodeEntry): number => entry.http ?? HTTP_STATUS.get(entry) ?? 409;

const failure = (entry: CodeEntry, message: string, status = statusOf(entry)): AdminReply =>
  json(status, { error: { code: entry.code, message } });

const refused = (r: Refusal): AdminReply => failure(r.entry, r.message);

const HEALTHY = json(200, { status: 'ok' });
const READY = json(200, { status: 'ready' });
const DRAINING = json(503, { status: 'draining' });
const DIRECTORY_DOWN = json(503, { status: 'directory unavailable' });
const UNAUTHORIZED = failure(
  Codes.UNAUTHORIZED,
  'send the admin token as "Authorization: Bearer <token>"',
);
const FORBIDDEN = failure(
  Codes.FORBIDDEN,
  'a technician token may not use the admin API; send the admin (operator) token',
);

const CONTENT_TYPES: Record<string, string> = {
  cast: 'application/x-asciicast',
  txt: 'text/plain; charset=utf-8',
};

/** What a path parameter may hold, by name. */
const PARAMETER_PATTERNS: Readonly<Record<string, string>> = {
  id: '[A-Za-z0-9_-]{1,64}',
  pid: '[A-Za-z0-9_-]{1,64}',
  pin: '[0-9]{1,32}',
  file: '[^/]{1,64}',
  jti: '[A-Za-z0-9_.-]{1,128}',
};

/** Longest reason an operator may give. */
const MAX_REASON = 512;
const OPERATOR_NAME = /^[\w.@ -]{1,64}$/;
const BEARER = /^Bearer +(\S+) *$/i;

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a route's `serve` gets: its path parameters, the query, the body, who and from where. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: string;
  /** The JSON body's fields ({} when empty). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly actor: string;
  readonly address: string;
}

export interface AdminRoute {
  readonly method: Method;
  /** OpenAPI path template: `/api/v1/sessions/{id}/end`. */
  readonly path: string;
  /** False for health, readiness, metrics and the OpenAPI document, fetched without a token. */
  readonly auth: boolean;
  /** The audit log's action name; absent for plain reads. */
  readonly audit?: string;
  /** The audit entry's target from the path parameters ('' when none). */
  readonly target?: (params: Readonly<Record<string, string>>) => string;
  readonly serve: (ctx: RouteContext) => AdminReply | Promise<AdminReply>;
}

/** A reason from the body (or the query): trimmed, bounded; '' when none. */
function reasonOf(ctx: RouteContext): string | Refusal {
  const raw = ctx.body.reason ?? new URLSearchParams(ctx.query).get('reason') ?? '';
  if (typeof raw !== 'string') {
    return { ok: false, entry: Codes.BAD_REQUEST, message: 'reason must be a string' };
  }
  const reason = raw.trim();
  if (reason.length > MAX_REASON) {
    return {
      ok: false,
      entry: Codes.BAD_REQUEST,
      message: `reason is ${reason.length} characters; allowed: at most ${MAX_REASON}`,
    };
  }
  return reason;
}

const isRefused = (x: unknown): x is Refusal =>
  typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false;

const outcome = (done: ActionOutcome, status = 200): AdminReply =>
  done.ok ? json(status, done.result) : refused(done);

/** Every route of the admin port, in the order the OpenAPI document lists them. */
export function adminRoutes(gateway: GatewayView): readonly AdminRoute[] {
  const sessionDetail = (id: string): AdminReply => {
    const live = gateway.sessions.get(id);
    if (live !== undefined) return json(200, sessionDetailView(gateway, live));
    if (gateway.reports.has(id) || gateway.actions.reportStored(id)) {
      return failure(
        Codes.SESSION_ENDED,
        `session ${id} has ended; see /api/v1/sessions/${id}/report`,
        404,
      );
    }
    return failure(Codes.SESSION_NOT_FOUND, `no session ${id}`);
  };

  const sessionReport = (id: string): AdminReply => {
    const report = gateway.actions.reportJson(id);
    if (report !== null)
      return { status: 200, contentType: 'application/json', body: `${report}\n` };
    if (gateway.sessions.has(id)) {
      return failure(
        Codes.REPORT_NOT_READY,
        `session ${id} is still live; its report exists once it ends`,
      );
    }
    return failure(Codes.SESSION_NOT_FOUND, `no session or report ${id}`);
  };

  /** The recordings of a live session or of an archived report; null when neither exists. */
  const recordingsOf = (id: string): readonly RecordingView[] | null => {
    const known = gateway.sessions.get(id)?.recordings ?? gateway.reports.get(id)?.recordings;
    if (known !== undefined) return known;
    const stored = gateway.actions.reportJson(id);
    if (stored === null) return null;
    return (JSON.parse(stored) as { recordings?: readonly RecordingView[] }).recordings ?? [];
  };

  /**
   * One recording file. Only names listed for the session are served (the gateway checks the
   * name pattern too), from that session's directory: nothing else on disk can be reached.
   */
  const recordingFile = async (id: string, file: string): Promise<AdminReply> => {
    const list = recordingsOf(id);
    if (list === null) return failure(Codes.SESSION_NOT_FOUND, `no session ${id}`);
    const listed = list.some((r) => r.cast === file || r.transcript === file);
    const full = listed ? gateway.recordingPath(id, file) : null;
    if (full === null) {
      return failure(Codes.NOT_FOUND, `session ${id} has no recording ${file}`);
    }
    await gateway.recordingsFlushed();
    try {
      const body = await fs.readFile(full, 'utf8');
      return { status: 200, contentType: CONTENT_TYPES[file.split('.').pop()!]!, body };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR') throw err;
      return failure(Codes.NOT_FOUND, `recording ${file} is not on disk`);
    }
  };

  const searchReports = (ctx: RouteContext): AdminReply => {
    let parsed: ReturnType<typeof parseReportQuery>;
    try {
      parsed = parseReportQuery(ctx.query);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return failure(Codes.BAD_REQUEST, err.message);
    }
    let page: ReturnType<GatewayView['actions']['searchReports']>;
    try {
      page = gateway.actions.searchReports(parsed.query);
    } catch (err) {
      if (!(err instanceof CursorError)) throw err;
      return failure(Codes.BAD_REQUEST, err.message);
    }
    const headers: Record<string, string> =
      page.nextCursor === null ? {} : { 'x-next-cursor': page.nextCursor };
    if (parsed.format === 'csv') {
      return {
        status: 200,
        contentType: 'text/csv; charset=utf-8',
        body: toCsv(page.reports),
        headers: { ...headers, 'content-disposition': 'attachment; filename="reports.csv"' },
      };
    }
    if (parsed.format === 'jsonl') {
      return {
        status: 200,
        contentType: 'application/x-ndjson',
        body: toJsonLines(page.reports),
        headers: { ...headers, 'content-disposition': 'attachment; filename="reports.jsonl"' },
      };
    }
    return {
      ...json(200, {
        count: page.reports.length,
        reports: page.reports,
        nextCursor: page.nextCursor,
      }),
      headers,
    };
  };

  const auditLog = (ctx: RouteContext): AdminReply => {
    const text = new URLSearchParams(ctx.query).get('limit') ?? '100';
    const limit = Number(text);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
      return failure(Codes.BAD_REQUEST, `limit=${JSON.stringify(text)}; allowed: 1 to 10000`);
    }
    const { entries, verdict } = gateway.actions.auditTail(limit);
    return json(200, { verified: verdict, count: entries.length, entries });
  };

  const get = (path: string, serve: AdminRoute['serve'], auth = true): AdminRoute => ({
    method: 'GET',
    path,
    auth,
    serve,
  });

  return [
    get('/healthz', () => HEALTHY, false),
    get(
      '/readyz',
      () =>
        gateway.draining
          ? DRAINING
          : gateway.directory?.available === false
            ? DIRECTORY_DOWN
            : READY,
      false,
    ),
    // public: clients given a region list measure their RTT to each member and pick
    get('/api/v1/gateways', async () => json(200, { gateways: await gateway.gateways() }), false),
    get(
      '/metrics',
      async () => ({
        status: 200,
        contentType: gateway.metrics.contentType,
        body: await gateway.metrics.text(),
      }),
      false,
    ),
    get('/api/v1/openapi.json', () => json(200, OPENAPI), false),
    get('/api/v1/status', () => json(200, statusView(gateway))),
    get('/api/v1/technicians', async () => {
      let technicians: Awaited<ReturnType<GatewayView['technicians']>>;
      try {
        technicians = await gateway.technicians();
      } catch (err) {
        return failure(Codes.DIRECTORY_UNAVAILABLE, (err as Error).message, 503);
      }
      return json(200, { count: technicians.length, technicians });
    }),
    get('/api/v1/sessions', () => json(200, sessionListView(gateway))),
    get('/api/v1/sessions/{id}', ({ params }) => sessionDetail(params.id!)),
    get('/api/v1/sessions/{id}/report', ({ params }) => sessionReport(params.id!)),
    get('/api/v1/sessions/{id}/recordings', ({ params }) => {
      const list = recordingsOf(params.id!);
      if (list === null) return failure(Codes.SESSION_NOT_FOUND, `no session ${params.id}`);
      return json(200, { sessionId: params.id, recordings: list });
    }),
    get('/api/v1/sessions/{id}/recordings/{file}', ({ params }) =>
      recordingFile(params.id!, params.file!),
    ),
    {
      method: 'POST',
      path: '/api/v1/sessions/{id}/end',
      auth: true,
      audit: 'session.end',
      target: (p) => p.id!,
      serve: (ctx) => {
        const reason = reasonOf(ctx);
        if (isRefused(reason)) return refused(reason);
        if (reason === '') {
          return failure(Codes.BAD_REQUEST, 'give the reason: {"reason": "..."}');
        }
        return outcome(gateway.actions.endSession(ctx.params.id!, reason, ctx.actor));
      },
    },
    {
      method: 'POST',
      path: '/api/v1/sessions/{id}/participants/{pid}/kick',
      auth: true,
      audit: 'participant.kick',
      target: (p) => `${p.id}/${p.pid}`,
      serve: (ctx) => {
        const reason = reasonOf(ctx);
        if (isRefused(reason)) return refused(reason);
        return outcome(gateway.actions.kick(ctx.params.id!, ctx.params.pid!, reason, ctx.actor));
      },
    },
    {
      method: 'POST',
      path: '/api/v1/sessions/{id}/pin/revoke',
      auth: true,
      audit: 'pin.revoke',
      target: (p) => p.id!,
      serve: (ctx) => outcome(gateway.actions.revokeSessionPin(ctx.params.id!, ctx.actor)),
    },
    {
      method: 'DELETE',
      path: '/api/v1/pins/{pin}',
      auth: true,
      audit: 'pin.revoke',
      // the PIN itself stays out of the log: the session it opened is named in the detail
      target: () => 'pin',
      serve: (ctx) => outcome(gateway.actions.revokePin(ctx.params.pin!, ctx.actor)),
    },
    {
      method: 'POST',
      path: '/api/v1/tokens/{jti}/revoke',
      auth: true,
      audit: 'token.revoke',
      target: (p) => p.jti!,
      serve: (ctx) => {
        if (gateway.revokeToken === undefined) {
          return failure(Codes.BAD_REQUEST, 'this gateway keeps no token deny-list');
        }
        gateway.revokeToken(ctx.params.jti!);
        return json(200, { jti: ctx.params.jti, revoked: true });
      },
    },
    {
      method: 'POST',
      path: '/api/v1/drain',
      auth: true,
      audit: 'gateway.drain',
      serve: (ctx) => {
        const reason = reasonOf(ctx);
        if (isRefused(reason)) return refused(reason);
        const seconds = ctx.body.deadlineSeconds;
        if (
          seconds !== undefined &&
          !(
            typeof seconds === 'number' &&
            Number.isInteger(seconds) &&
            seconds >= 0 &&
            seconds <= 3600
          )
        ) {
          return failure(Codes.BAD_REQUEST, 'deadlineSeconds: allowed: an integer from 0 to 3600');
        }
        const deadlineMs = seconds === undefined ? null : seconds * 1000;
        // ?move=1 (or "move": true): live sessions move to another gateway of the deployment
        const moveText = new URLSearchParams(ctx.query).get('move');
        const move = ctx.body.move === true || moveText === '1' || moveText === 'true';
        if (move && gateway.directory === undefined) {
          return failure(
            Codes.BAD_REQUEST,
            'move: this gateway shares no directory (--directory redis://): there is no other gateway to move sessions to',
          );
        }
        return outcome(
          gateway.actions.drain(reason || 'drained by an operator', deadlineMs, ctx.actor, move),
          202,
        );
      },
    },
    {
      method: 'GET',
      path: '/api/v1/reports',
      auth: true,
      audit: 'reports.search',
      serve: searchReports,
    },
    get('/api/v1/audit', auditLog),
  ];
}

interface CompiledRoute {
  readonly route: AdminRoute;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile(route: AdminRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const pattern = PARAMETER_PATTERNS[name];
    if (pattern === undefined)
      throw new RangeError(`route ${route.path}: no pattern for {${name}}`);
    names.push(name);
    return `(${pattern})`;
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

/** The body as an object of fields; null when it is not a JSON object. */
function parseBody(body: string): Record<string, unknown> | null {
  if (body.trim() === '') return {};
  try {
    const value = JSON.parse(body) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch (err) {
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}

export function createAdminHandler(gateway: GatewayView): AdminHandler {
  const isAdmin = bearerChecker(gateway.adminToken);
  const routes = adminRoutes(gateway).map(compile);

  const match = (path: string) => {
    const found: { route: AdminRoute; params: Record<string, string> }[] = [];
    for (const c of routes) {
      const m = c.pattern.exec(path);
      if (m === null) continue;
      const params: Record<string, string> = {};
      try {
        c.names.forEach((name, i) => {
          params[name] = decodeURIComponent(m[i + 1]!);
        });
      } catch (err) {
        // a malformed %-escape names nothing: the path is not this route's
        if (err instanceof URIError) continue;
        throw err;
      }
      found.push({ route: c.route, params });
    }
    return found;
  };

  /** The scope of the Authorization header: the admin token, a technician's, or none. */
  const whoIs = (req: AdminRequest): { scope: 'admin' | 'technician' | 'none'; actor: string } => {
    if (isAdmin(req.authorization)) {
      const name = req.operator?.trim() ?? '';
      return { scope: 'admin', actor: OPERATOR_NAME.test(name) ? `admin:${name}` : 'admin' };
    }
    const token = BEARER.exec(req.authorization)?.[1];
    const technician = token === undefined ? null : gateway.actions.technicianOf(token);
    if (technician !== null) return { scope: 'technician', actor: `technician:${technician}` };
    return { scope: 'none', actor: 'anonymous' };
  };

  return async (req: AdminRequest) => {
    const path = req.path.length > 1 && req.path.endsWith('/') ? req.path.slice(0, -1) : req.path;
    const candidates = match(path);
    if (candidates.length === 0) return failure(Codes.NOT_FOUND, `no route ${path}`);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const found = candidates.find((c) => c.route.method === method);
    if (found === undefined) {
      const allowed = [...new Set(candidates.map((c) => c.route.method))].join(', ');
      return failure(
        Codes.METHOD_NOT_ALLOWED,
        `${path} serves ${allowed}${allowed === 'GET' ? ' and HEAD' : ''} only`,
      );
    }
    const { route, params } = found;
    if (!route.auth) {
      return route.serve({ params, query: req.query ?? '', body: {}, actor: '', address: '' });
    }
    const who = whoIs(req);
    const address = req.remoteAddress ?? '';
    let reply: AdminReply;
    const body = parseBody(req.body ?? '');
    if (who.scope === 'none') reply = UNAUTHORIZED;
    else if (who.scope === 'technician') reply = FORBIDDEN;
    else if (body === null) reply = failure(Codes.BAD_REQUEST, 'the body must be a JSON object');
    else {
      reply = await route.serve({
        params,
        query: req.query ?? '',
        body,
        actor: who.actor,
        address,
      });
    }
    if (route.audit !== undefined) {
      const refusal = reply.status >= 400 ? errorCode(reply) : '';
      gateway.actions.audit({
        actor: who.actor,
        action: route.audit,
        target: route.target?.(params) ?? '',
        address,
        status: reply.status,
        code: refusal,
        detail: auditDetail(route, req, body, reply),
      });
    }
    return reply;
  };
}

function errorCode(reply: AdminReply): string {
  try {
    return (JSON.parse(reply.body) as { error?: { code?: string } }).error?.code ?? '';
  } catch (err) {
    if (err instanceof SyntaxError) return '';
    throw err;
  }
}

/** What the audit entry says beside who and what: the reason, the query, the outcome. */
function auditDetail(
  route: AdminRoute,
  req: AdminRequest,
  body: Record<string, unknown> | null,
  reply: AdminReply,
): string {
  if (route.method === 'GET') return req.query ?? '';
  const parts: string[] = [];
  const reason = body?.reason;
  if (typeof reason === 'string' && reason !== '')
    parts.push(`reason: ${reason.slice(0, MAX_REASON)}`);
  if (reply.status < 400 && reply.contentType === 'application/json') {
    const result = JSON.parse(reply.body) as Record<string, unknown>;
    if (typeof result.sessionId === 'string' && route.path === '/api/v1/pins/{pin}') {
      parts.push(`session: ${result.sessionId}`);
    }
    if (typeof result.sessions === 'number') parts.push(`live sessions: ${result.sessions}`);
  } else if (reply.status >= 400) {
    const message = (JSON.parse(reply.body) as { error?: { message?: string } }).error?.message;
    if (message !== undefined) parts.push(message);
  }
  return parts.join('; ');
}
