/**
 * The admin port's HTTP API: health and readiness, the Prometheus exposition, and the JSON status
 * API under /api/v1 (bearer token required). One route table, matched before the method check,
 * which comes before the token check: an unknown path is 404 and a known one with the wrong
 * method 405 either way. Reads the gateway through `GatewayView` only; never touches sockets.
 * The admin listener calls the handler; this module knows nothing of the server.
 */
import fs from 'node:fs/promises';
import { Codes } from '../protocol/codes.js';
import { bearerChecker } from './auth.js';
import type { GatewayView, RecordingView } from './gateway-view.js';
import type { AdminHandler, AdminReply, AdminRequest } from './http.js';
import { sessionDetailView, sessionListView, statusView } from './views.js';

const json = (status: number, value: unknown): AdminReply => ({
  status,
  contentType: 'application/json',
  body: `${JSON.stringify(value)}\n`,
});

const failure = (status: number, code: string, message: string): AdminReply =>
  json(status, { error: { code, message } });

const HEALTHY = json(200, { status: 'ok' });
const READY = json(200, { status: 'ready' });
const DRAINING = json(503, { status: 'draining' });
const UNAUTHORIZED = failure(
  401,
  Codes.UNAUTHORIZED.code,
  'send the admin token as "Authorization: Bearer <token>"',
);
const METHOD_NOT_ALLOWED = failure(
  405,
  Codes.METHOD_NOT_ALLOWED.code,
  'only GET and HEAD are served',
);

/** Session ids are 16 base64url characters; anything else cannot name a session. */
const SESSION_PATH = /^\/api\/v1\/sessions\/([A-Za-z0-9_-]{1,64})(\/report)?$/;
/** Shell recordings of a session (spec E4, E5): the list, or one file of it. */
const RECORDINGS_PATH =
  /^\/api\/v1\/sessions\/([A-Za-z0-9_-]{1,64})\/recordings(?:\/([^/]{1,64}))?$/;

const CONTENT_TYPES: Record<string, string> = {
  cast: 'application/x-asciicast',
  txt: 'text/plain; charset=utf-8',
};

interface Route {
  /** False for health and metrics, which load balancers and Prometheus fetch without a token. */
  readonly auth: boolean;
  /** `id` is the session id of the /api/v1/sessions/{id} routes, '' for the others. */
  readonly serve: (id: string) => AdminReply | Promise<AdminReply>;
}

export function createAdminHandler(gateway: GatewayView): AdminHandler {
  const authorized = bearerChecker(gateway.adminToken);
  const { sessions, reports } = gateway;

  const fixed = new Map<string, Route>([
    ['/healthz', { auth: false, serve: () => HEALTHY }],
    ['/readyz', { auth: false, serve: () => (gateway.draining ? DRAINING : READY) }],
    [
      '/metrics',
      {
        auth: false,
        serve: async () => ({
          status: 200,
          contentType: gateway.metrics.contentType,
          body: await gateway.metrics.text(),
        }),
      },
    ],
    ['/api/v1/status', { auth: true, serve: () => json(200, statusView(gateway)) }],
    ['/api/v1/sessions', { auth: true, serve: () => json(200, sessionListView(gateway)) }],
  ]);

  const sessionDetail: Route = {
    auth: true,
    serve: (id) => {
      const live = sessions.get(id);
      if (live !== undefined) return json(200, sessionDetailView(gateway, live));
      if (reports.has(id)) {
        return failure(
          404,
          Codes.SESSION_ENDED.code,
          `session ${id} has ended; see /api/v1/sessions/${id}/report`,
        );
      }
      return failure(404, Codes.SESSION_NOT_FOUND.code, `no session ${id}`);
    },
  };

  const sessionReport: Route = {
    auth: true,
    serve: (id) => {
      const report = reports.get(id);
      if (report !== undefined) return json(200, report);
      if (sessions.has(id)) {
        return failure(
          404,
          Codes.REPORT_NOT_READY.code,
          `session ${id} is still live; its report exists once it ends`,
        );
      }
      return failure(404, Codes.SESSION_NOT_FOUND.code, `no session or report ${id}`);
    },
  };

  /** The recordings of a live session or of an archived report; null when neither exists. */
  const recordingsOf = (id: string): readonly RecordingView[] | null =>
    sessions.get(id)?.recordings ?? reports.get(id)?.recordings ?? null;

  const recordingList: Route = {
    auth: true,
    serve: (id) => {
      const list = recordingsOf(id);
      if (list === null) return failure(404, Codes.SESSION_NOT_FOUND.code, `no session ${id}`);
      return json(200, { sessionId: id, recordings: list });
    },
  };

  /**
   * One recording file. Only names listed for the session are served (the gateway checks the
   * name pattern too), from that session's directory: nothing else on disk can be reached.
   */
  const recordingFile = (file: string): Route => ({
    auth: true,
    serve: async (id) => {
      const list = recordingsOf(id);
      if (list === null) return failure(404, Codes.SESSION_NOT_FOUND.code, `no session ${id}`);
      const listed = list.some((r) => r.cast === file || r.transcript === file);
      const full = listed ? gateway.recordingPath(id, file) : null;
      if (full === null) {
        return failure(404, Codes.NOT_FOUND.code, `session ${id} has no recording ${file}`);
      }
      await gateway.recordingsFlushed();
      try {
        const body = await fs.readFile(full, 'utf8');
        return { status: 200, contentType: CONTENT_TYPES[file.split('.').pop()!]!, body };
      } catch {
        return failure(404, Codes.NOT_FOUND.code, `recording ${file} is not on disk`);
      }
    },
  });

  const match = (path: string): { route: Route; id: string } | null => {
    const route = fixed.get(path);
    if (route !== undefined) return { route, id: '' };
    const r = RECORDINGS_PATH.exec(path);
    if (r !== null) {
      return { route: r[2] === undefined ? recordingList : recordingFile(r[2]), id: r[1]! };
    }
    const m = SESSION_PATH.exec(path);
    if (m === null) return null;
    return { route: m[2] === undefined ? sessionDetail : sessionReport, id: m[1]! };
  };

  return (req: AdminRequest) => {
    const path = req.path.length > 1 && req.path.endsWith('/') ? req.path.slice(0, -1) : req.path;
    const found = match(path);
    if (found === null) return failure(404, Codes.NOT_FOUND.code, `no route ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return METHOD_NOT_ALLOWED;
    if (found.route.auth && !authorized(req.authorization)) return UNAUTHORIZED;
    return found.route.serve(found.id);
  };
}
