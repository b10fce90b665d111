/**
 * The web console's files, served on the client port from the built bundle (dist/console, made
 * by `npm run build`), listed at start. The page and the assets are read into memory then and
 * answered from the map. Assets the build compressed (`<name>.gz` beside them) are held
 * compressed only, sent as they are to a client that accepts gzip (every browser), and expanded
 * once, on the first request of one that does not. Source maps stay on disk and are read when
 * asked for: only a browser's developer tools fetch them, and held they were 0.59 of the 0.74 MB
 * the assets take compressed. Requests for the same file at once share one read.
 * The index page is the same for `/`, `/join` and `/join/<PIN>` (the page picks its view from
 * the path) and is never cached; assets carry a content hash in their name and are cached for a
 * year. Every answer carries a strict Content-Security-Policy: scripts and styles from this
 * origin only, no inline script, WebSocket to this origin only, nothing from anywhere else.
 * No request names a path: a source map is read from the path listed at start, so no request
 * can walk out of the bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

/** The bundle next to the compiled gateway: dist/src/transport/ -> dist/console/. */
export const DEFAULT_CONSOLE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'console',
);

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Headers every console answer carries. A gateway of a deployment (`--directory redis://`)
 * lets the page connect to WebSocket URLs beyond its own origin (`connectAnyWebSocket`): a
 * Redirect, a failover or a move sends it to another gateway, which only its own gateway can
 * name (the page follows ws:// and wss:// redirects only, at most 3 in a row).
 */
export function securityHeaders(
  connectAnyWebSocket = false,
): ReadonlyArray<readonly [string, string]> {
  const policy = connectAnyWebSocket
    ? CONTENT_SECURITY_POLICY.replace("connect-src 'self'", "connect-src 'self' ws: wss:")
    : CONTENT_SECURITY_POLICY;
  return [
    ['content-security-policy', policy],
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'no-referrer'],
    ['x-frame-options', 'DENY'],
    ['cross-origin-opener-policy', 'same-origin'],
  ];
}

/** The headers of a gateway alone. */
export const SECURITY_HEADERS = securityHeaders();

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const NO_CACHE = 'no-cache';

export interface StaticFile {
  /** The bytes as they are (for a compressed asset, expanded on first use and kept). */
  readonly body: Buffer;
  /** The bytes gzip-compressed, when the bundle has them. */
  readonly gzip: Buffer | null;
  readonly contentType: string;
  readonly cacheControl: string;
}

/** A file held as it is. */
export function plainFile(body: Buffer, contentType: string, cacheControl: string): StaticFile {
  return { body, gzip: null, contentType, cacheControl };
}

/** A file held gzip-compressed only. */
class CompressedFile implements StaticFile {
  readonly gzip: Buffer;
  readonly contentType: string;
  readonly cacheControl: string;
  #body: Buffer | null = null;

  constructor(gzip: Buffer, contentType: string, cacheControl: string) {
    this.gzip = gzip;
    this.contentType = contentType;
    this.cacheControl = cacheControl;
  }

  get body(): Buffer {
    this.#body ??= zlib.gunzipSync(this.gzip);
    return this.#body;
  }
}

/**
 * Whether an Accept-Encoding header admits gzip: named (or `*`) without `q=0`
 * (RFC 9110, 12.5.3). A missing header admits only the identity.
 */
export function acceptsGzip(header: string): boolean {
  let star = false;
  for (const part of header.toLowerCase().split(',')) {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim());
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue;
    const q = params.find((p) => p.startsWith('q='));
    const admitted = q === undefined || Number(q.slice(2)) > 0;
    if (coding === '*') star = admitted;
    else return admitted;
  }
  return star;
}

/** A file left on disk, read on each request for it (`ConsoleSite.load` lists which). */
export interface DiskFile {
  readonly path: string;
  /** The compressed copy the build wrote beside it, if any. */
  readonly gzipPath: string | null;
  readonly contentType: string;
  readonly cacheControl: string;
}

/** Reads of files on disk under way, by path: requests for the same file at once share one. */
const reading = new Map<string, Promise<Buffer>>();

function readShared(file: string): Promise<Buffer> {
  let read = reading.get(file);
  if (read === undefined) {
    read = fs.promises.readFile(file).finally(() => reading.delete(file));
    reading.set(file, read);
  }
  return read;
}

/**
 * What a client that does or does not accept gzip gets of `file`: its bytes read from disk, or
 * for a HEAD request (`head`) only their length, from the file's metadata.
 */
export async function readDiskFile(
  file: DiskFile,
  acceptGzip: boolean,
  head = false,
): Promise<{ readonly body: Buffer; readonly length: number; readonly gzip: boolean }> {
  const gzip = acceptGzip && file.gzipPath !== null;
  const at = gzip ? file.gzipPath! : file.path;
  if (head) return { body: EMPTY, length: (await fs.promises.stat(at)).size, gzip };
  const body = await readShared(at);
  return { body, length: body.length, gzip };
}

const EMPTY = Buffer.alloc(0);

export type StaticReply =
  | { readonly status: number; readonly file: StaticFile; readonly disk?: undefined }
  | { readonly status: 200; readonly file?: undefined; readonly disk: DiskFile };

/** Files left on disk: source maps, which only developer tools fetch. */
const ON_DISK = /\.map$/;

/** Paths answered with the index page: the technician console and the customer page. */
const PAGE = /^\/(?:index\.html)?$|^\/join\/?$|^\/join\/[0-9A-Za-z-]{1,32}\/?$/;

function text(body: string): StaticFile {
  return plainFile(Buffer.from(body), 'text/plain; charset=utf-8', 'no-store');
}

/** The answer to a path that names no file of the console. */
export const NOT_FOUND = text('Not found. The console is at /, customers join at /join.\n');

/** The answer when a file listed at start cannot be read now (other than gone). */
export const UNREADABLE = text('This file of the console cannot be read now; try again later.\n');

export class ConsoleSite {
  /** Where the bundle was read from. */
  readonly dir: string;
  /** False when no bundle was found: pages answer 503 saying how to build it. */
  readonly built: boolean;
  readonly #index: StaticFile | null;
  readonly #assets = new Map<string, StaticFile>();
  readonly #onDisk = new Map<string, DiskFile>();

  constructor(
    dir: string,
    index: StaticFile | null,
    assets: Map<string, StaticFile>,
    onDisk: Map<string, DiskFile> = new Map(),
  ) {
    this.dir = dir;
    this.#index = index;
    this.built = index !== null;
    for (const [k, v] of assets) this.#assets.set(k, v);
    for (const [k, v] of onDisk) this.#onDisk.set(k, v);
  }

  /** Reads the bundle in `dir` (index.html and assets/); a missing bundle is not an error. */
  static load(dir: string = DEFAULT_CONSOLE_DIR): ConsoleSite {
    const indexFile = path.join(dir, 'index.html');
    if (!fs.existsSync(indexFile)) return new ConsoleSite(dir, null, new Map());
    const index = plainFile(fs.readFileSync(indexFile), TYPES['.html']!, NO_CACHE);
    const assets = new Map<string, StaticFile>();
    const onDisk = new Map<string, DiskFile>();
    const assetDir = path.join(dir, 'assets');
    if (fs.existsSync(assetDir)) {
      const names = new Set(fs.readdirSync(assetDir));
      for (const name of names) {
        const file = path.join(assetDir, name);
        if (name.endsWith('.gz') || !fs.statSync(file).isFile()) continue;
        const type = TYPES[path.extname(name)] ?? 'application/octet-stream';
        const gzipPath = names.has(`${name}.gz`) ? `${file}.gz` : null;
        if (ON_DISK.test(name)) {
          onDisk.set(`/assets/${name}`, {
            path: file,
            gzipPath,
            contentType: type,
            cacheControl: IMMUTABLE,
          });
        } else {
          assets.set(
            `/assets/${name}`,
            gzipPath !== null
              ? new CompressedFile(fs.readFileSync(gzipPath), type, IMMUTABLE)
              : plainFile(fs.readFileSync(file), type, IMMUTABLE),
          );
        }
      }
    }
    return new ConsoleSite(dir, index, assets, onDisk);
  }

  /** The answer to GET `url` (path only, no query): a file held, or one to read from disk. */
  lookup(url: string): StaticReply {
    if (PAGE.test(url)) {
      if (this.#index === null) {
        return {
          status: 503,
          file: text(
            'The web console is not built on this gateway: run "npm run build", then restart it.\n',
          ),
        };
      }
      return { status: 200, file: this.#index };
    }
    const asset = this.#assets.get(url);
    if (asset !== undefined) return { status: 200, file: asset };
    const disk = this.#onDisk.get(url);
    if (disk !== undefined) return { status: 200, disk };
    return { status: 404, file: NOT_FOUND };
  }
}

/**
 * Same origin: the Origin header names the host the request was sent to (its Host header), in
 * any scheme (a TLS proxy in front of the gateway turns https into http on the way).
 */
export function isSameOrigin(origin: string, host: string): boolean {
  if (origin === '' || host === '') return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // not a URL: "null" (sandboxed frames, file://) or garbage is no origin of ours
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.host.toLowerCase() === host.toLowerCase();
}
