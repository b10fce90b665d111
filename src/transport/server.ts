/**
 * The two listening sockets of a gateway, both on native uWebSockets.js:
 * - the client port: WebSocket upgrades on /v1/ws, and GET/HEAD of the web console's pages and
 *   hashed assets from memory (src/transport/static.ts); anything else gets 404;
 * - the admin port: plain HTTP routed to a handler that returns status, headers and body.
 * Buffer lifetimes follow the uWS contract: a message ArrayBuffer is valid only inside the
 * callback; an HTTP response must be written corked and never after `onAborted`.
 */
import { intern } from '../session/intern.js';
import { Connection, type SocketData } from './connection.js';
import type { TrustedProxies } from './forwarded.js';
import {
  acceptsGzip,
  ConsoleSite,
  NOT_FOUND,
  readDiskFile,
  securityHeaders,
  UNREADABLE,
} from './static.js';
import { endHead, HSTS_HEADER, type TlsSite } from './tls.js';
import { loadUws, type Uws } from './uws.js';

/** One answer of the console's HTTP side. */
interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly cacheControl: string;
  readonly body: Buffer;
  /** A HEAD answer's length when `body` is not read (a file on disk). */
  readonly length?: number;
  /** The body is gzip-compressed. */
  readonly gzip: boolean;
  /** The file has a compressed form: the answer depends on Accept-Encoding. */
  readonly compressible: boolean;
}

export interface Listening {
  readonly port: number;
  /** The port this process alone listens on besides (`ClientServerOptions.ownPort`), or 0. */
  readonly ownPort?: number;
  /** Stops listening; calling it again does nothing. */
  close(): void;
}

export interface ClientHandlers {
  /**
   * Creates the per-socket state at upgrade time, or refuses the upgrade with an HTTP status.
   * `origin` and `host` are the request's headers ('' when absent).
   */
  accept(
    remoteAddress: string,
    origin: string,
    host: string,
  ): Connection | { status: number; reason: string };
  onOpen(conn: Connection): void;
  onMessage(conn: Connection, message: ArrayBuffer, isBinary: boolean): void;
  onDrain(conn: Connection): void;
  onClose(conn: Connection, code: number, reason: string): void;
}

export interface ClientServerOptions {
  readonly host: string;
  /** The client port: shared with the other workers of the host (SO_REUSEPORT, uWS's default). */
  readonly port: number;
  /** A second port serving the same app, this process's alone (its public URL); 0 = none. */
  readonly ownPort?: number;
  /** Hard limit of one received message; bigger ones make uWS close the connection (1009). */
  readonly maxPayloadLength: number;
  /** Per-socket send buffer cap; sends past it return DROPPED. */
  readonly maxBackpressure: number;
  readonly idleTimeoutSeconds: number;
  /** The web console served on GET; default: the bundle built next to the gateway (dist/console). */
  readonly site?: ConsoleSite;
  /** The console may connect to other gateways' WebSocket URLs (a deployment's redirects). */
  readonly connectAnyWebSocket?: boolean;
  /** A console file listed at start could not be read for a request (answered 503). */
  readonly onDiskError?: (file: string, err: Error) => void;
  /** Serve wss:// and https:// with this site's certificates (src/transport/tls.ts); absent = plain. */
  readonly tls?: TlsSite | null;
  /** Proxies whose X-Forwarded-For names the client address (src/transport/forwarded.ts). */
  readonly proxies?: TrustedProxies;
}

export const CLIENT_PATH = '/v1/ws';

function listenOn(
  app: Uws.TemplatedApp,
  host: string,
  port: number,
  what: string,
): Promise<Listening> {
  const { uws } = loadUws();
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) {
        reject(
          new Error(
            `cannot listen on ${host}:${port} for ${what} (address in use or not permitted)`,
          ),
        );
        return;
      }
      let open = true;
      resolve({
        port: uws.us_socket_local_port(socket as unknown as Uws.us_socket),
        // Idempotent: a second us_listen_socket_close frees the socket again and crashes the
        // process (a drain closes the port when it starts and again when it ends).
        close: () => {
          if (!open) return;
          open = false;
          uws.us_listen_socket_close(socket);
        },
      });
    });
  });
}

export function listenClients(
  options: ClientServerOptions,
  handlers: ClientHandlers,
): Promise<Listening> {
  const { uws } = loadUws();
  const app = options.tls ? options.tls.app() : uws.App();
  app.ws<SocketData>(CLIENT_PATH, {
    compression: uws.DISABLED,
    maxPayloadLength: options.maxPayloadLength,
    maxBackpressure: options.maxBackpressure,
    closeOnBackpressureLimit: 0,
    idleTimeout: options.idleTimeoutSeconds,
    // Liveness is the gateway's heartbeat (HEARTBEAT channel), not WebSocket pings.
    sendPingsAutomatically: false,
    upgrade: (res, req, context) => {
      // clients behind one address (a NAT, a proxy, a bench) share one copy of it
      const peer = intern(Buffer.from(res.getRemoteAddressAsText()).toString());
      const remote = options.proxies
        ? options.proxies.clientAddress(peer, req.getHeader('x-forwarded-for'))
        : peer;
      const origin = req.getHeader('origin');
      const conn = handlers.accept(remote, origin, req.getHeader('host'));
      if (!(conn instanceof Connection)) {
        const why =
          conn.reason === 'origin'
            ? `origin: ${origin} may not connect to this gateway (allowedOrigins)`
            : conn.reason;
        res.cork(() => {
          res
            .writeStatus(STATUS_TEXT[conn.status] ?? `${conn.status} Refused`)
            .writeHeader('content-type', 'text/plain')
            .end(`${why}\n`);
        });
        return;
      }
      res.upgrade<SocketData>(
        { conn },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.attach(ws);
      handlers.onOpen(conn);
    },
    message: (ws, message, isBinary) =>
      handlers.onMessage(ws.getUserData().conn, message, isBinary),
    drain: (ws) => handlers.onDrain(ws.getUserData().conn),
    close: (ws, code, message) => {
      const conn = ws.getUserData().conn;
      conn.onClosed();
      handlers.onClose(conn, code, Buffer.from(message).toString());
    },
  });
  const headers = securityHeaders(options.connectAnyWebSocket === true);
  const site = options.site ?? ConsoleSite.load();
  const send = (res: Uws.HttpResponse, answer: Answer, head: boolean) => {
    res.cork(() => {
      res
        .writeStatus(STATUS_TEXT[answer.status] ?? `${answer.status} Status`)
        .writeHeader('content-type', answer.contentType)
        .writeHeader('cache-control', answer.cacheControl);
      if (answer.compressible) res.writeHeader('vary', 'accept-encoding');
      if (answer.gzip) res.writeHeader('content-encoding', 'gzip');
      for (const [name, value] of headers) res.writeHeader(name, value);
      if (options.tls) res.writeHeader('strict-transport-security', HSTS_HEADER);
      if (head) endHead(res, answer.length ?? answer.body.length);
      else res.end(answer.body);
    });
  };
  const serve = (res: Uws.HttpResponse, req: Uws.HttpRequest, head: boolean) => {
    const reply = site.lookup(req.getUrl());
    const acceptGzip = acceptsGzip(req.getHeader('accept-encoding'));
    if (reply.disk === undefined) {
      const { status, file } = reply;
      const gzip = file.gzip !== null && acceptGzip;
      const body = gzip ? file.gzip! : file.body;
      send(res, { ...file, status, body, gzip, compressible: file.gzip !== null }, head);
      return;
    }
    // a file read from disk (a source map): answered when read, unless the client left first.
    // uWS v20.30 closes a connection whose next request comes before this answer: browsers,
    // which do not pipeline, never send one (docs/console.md)
    const disk = reply.disk;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    readDiskFile(disk, acceptGzip, head).then(
      ({ body, length, gzip }) => {
        if (aborted) return;
        const compressible = disk.gzipPath !== null;
        send(res, { ...disk, status: 200, body, length, gzip, compressible }, head);
      },
      (err: NodeJS.ErrnoException) => {
        if (aborted) return;
        // gone: the bundle was rebuilt since start; anything else is the host's trouble
        const gone = err.code === 'ENOENT';
        if (!gone) options.onDiskError?.(disk.path, err);
        const file = gone ? NOT_FOUND : UNREADABLE;
        send(res, { ...file, status: gone ? 404 : 503, gzip: false, compressible: false }, head);
      },
    );
  };
  app.get('/*', (res, req) => serve(res, req, false));
  app.head('/*', (res, req) => serve(res, req, true));
  app.any('/*', (res) => {
    res
      .writeStatus('405 Method Not Allowed')
      .writeHeader('allow', 'GET, HEAD')
      .end(`Ferry clients connect with WebSocket to ${CLIENT_PATH}; the console is GET /\n`);
  });
  const listen = (port: number, what: string) =>
    options.tls
      ? options.tls.listen(options.host, port, what)
      : listenOn(app, options.host, port, what);
  return listenBoth(listen, options.port, options.ownPort ?? 0);
}

/** Listens on the shared port, then on the own port (if any): both, or neither. */
async function listenBoth(
  listen: (port: number, what: string) => Promise<Listening>,
  port: number,
  ownPort: number,
): Promise<Listening> {
  const shared = await listen(port, 'clients');
  if (ownPort === 0) return shared;
  let own: Listening;
  try {
    own = await listen(ownPort, "this worker's own client port");
  } catch (err) {
    shared.close();
    throw err;
  }
  return {
    port: shared.port,
    ownPort: own.port,
    close: () => {
      shared.close();
      own.close();
    },
  };
}

export interface HttpRequestInfo {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly authorization: string;
  /** The client address: the peer, or the one a trusted proxy names in X-Forwarded-For. */
  readonly remoteAddress: string;
  /** The X-Ferry-Operator header ('' when absent): who acts, for the audit log. */
  readonly operator: string;
  /** The request body of methods other than GET and HEAD ('' for those). */
  readonly body: string;
}

/** The admin port reads at most this much of a request body (a little more shows it was larger). */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** More response headers (lower-case names), e.g. a download's content-disposition. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type HttpHandler = (req: HttpRequestInfo) => HttpReply | Promise<HttpReply>;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Content Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function listenHttp(
  host: string,
  port: number,
  handler: HttpHandler,
  onError: (err: unknown) => void,
  tls: TlsSite | null = null,
  proxies: TrustedProxies | null = null,
): Promise<Listening> {
  const { uws } = loadUws();
  const app = tls ? tls.app() : uws.App();
  app.any('/*', (res, req) => {
    // uWS invalidates req when this callback returns: copy what the handler needs now.
    const peer = Buffer.from(res.getRemoteAddressAsText()).toString();
    const method = req.getMethod().toUpperCase();
    const info: HttpRequestInfo = {
      method,
      path: req.getUrl(),
      query: req.getQuery() ?? '',
      authorization: req.getHeader('authorization'),
      remoteAddress: proxies ? proxies.clientAddress(peer, req.getHeader('x-forwarded-for')) : peer,
      operator: req.getHeader('x-ferry-operator'),
      body: '',
    };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const write = (reply: HttpReply) => {
      if (aborted) return;
      res.cork(() => {
        res
          .writeStatus(STATUS_TEXT[reply.status] ?? `${reply.status} Status`)
          .writeHeader('content-type', reply.contentType)
          .writeHeader('cache-control', 'no-store');
        for (const [name, value] of Object.entries(reply.headers ?? {}))
          res.writeHeader(name, value);
        if (tls) res.writeHeader('strict-transport-security', HSTS_HEADER);
        // HEAD: the length a GET would send, no body (RFC 9110 9.3.2).
        if (info.method === 'HEAD') endHead(res, Buffer.byteLength(reply.body));
        else res.end(reply.body);
      });
    };
    const failed = (err: unknown) => {
      onError(err);
      write({
        status: 500,
        contentType: 'application/json',
        body: '{"error":{"code":"FERRY_ERR_INTERNAL","message":"internal error"}}\n',
      });
    };
    const run = (request: HttpRequestInfo) => {
      try {
        const reply = handler(request);
        if (reply instanceof Promise) reply.then(write, failed);
        else write(reply);
      } catch (err) {
        failed(err);
      }
    };
    if (method === 'GET' || method === 'HEAD') {
      run(info);
      return;
    }
    // A body (operator actions): read up to the cap; past it the handler sees an oversize body.
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, last) => {
      if (size <= MAX_ADMIN_BODY_BYTES) {
        chunks.push(Buffer.from(chunk.slice(0)));
        size += chunk.byteLength;
      }
      if (last) run({ ...info, body: Buffer.concat(chunks).toString('utf8') });
    });
  });
  return tls ? tls.listen(host, port, 'admin') : listenOn(app, host, port, 'admin');
}
