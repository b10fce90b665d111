/**
 * TLS on the gateway's own ports (uWebSockets.js `SSLApp`): loading and checking certificates,
 * SNI names, and reloading a certificate without dropping a connection.
 *
 * Every certificate and key is read and checked here with node:crypto before uWS sees it (uWS
 * aborts the process on a file it cannot load), then handed to uWS as a private snapshot of the
 * checked bytes, so a file replaced between the check and the load cannot reach uWS.
 *
 * Reload: uWS v20.30 cannot change the certificate of a running app, and a second app cannot
 * listen on the port while connections accepted on it are open (no SO_REUSEPORT, no
 * SO_REUSEADDR). So a reload registers each server name of the new certificate with
 * `addServerName` (after `removeServerName` of the old one): a new connection that names the
 * server gets the new certificate, open connections keep theirs. The app's default certificate,
 * for clients that send no server name, stays the one it started with (docs/tls.md).
 */

import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { quote } from '../config/quote.js';
import type { Uws, UwsModule } from './uws.js';

/** A certificate or key that cannot serve: the gateway does not start (or keeps the old one). */
export class TlsError extends Error {
  readonly code = 'FERRY_ERR_TLS';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsError';
  }
}

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  /** File whose first line is the key's passphrase; '' = the key is not encrypted. */
  readonly passphraseFile: string;
}

export interface LoadedCertificate {
  readonly files: CertificateFiles;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly passphrase: string;
  readonly serial: string;
  readonly notAfterMs: number;
  /** DNS names of the certificate (subjectAltName, else the subject CN). */
  readonly names: readonly string[];
  /** Changes when any byte of the certificate, key or passphrase changes. */
  readonly fingerprint: string;
}

/** The Strict-Transport-Security value of every HTTP response on a TLS port. */
export const HSTS_HEADER = 'max-age=31536000';

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TlsError(`cannot read the TLS ${what} ${file}: ${reason}`, { cause: err });
  }
}

function dnsNames(x509: X509Certificate): string[] {
  const names = (x509.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/**
 * Reads and checks a certificate and its key: both readable and PEM, the key decrypts with the
 * passphrase, belongs to the certificate, and the certificate is valid now. Throws `TlsError`
 * naming the file and the reason.
 */
export function loadCertificate(files: CertificateFiles, nowMs = Date.now()): LoadedCertificate {
  const certPem = readFile(files.cert, 'certificate');
  const keyPem = readFile(files.key, 'key');
  const passphrase =
    files.passphraseFile === ''
      ? ''
      : (readFile(files.passphraseFile, 'passphrase file').toString('utf8').split(/\r?\n/)[0] ??
        '');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsError(`the TLS certificate ${files.cert} is not a PEM certificate`, {
      cause: err,
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, ...(passphrase === '' ? {} : { passphrase }) });
  } catch (err) {
    const encrypted =
      (err as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE' ||
      /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(
        keyPem.toString('latin1'),
      );
    const why =
      encrypted && passphrase === ''
        ? 'it is encrypted and no passphrase file was given'
        : passphrase !== ''
          ? 'it is not a PEM private key, or the passphrase is wrong'
          : 'it is not a PEM private key';
    throw new TlsError(`cannot load the TLS key ${files.key}: ${why}`, { cause: err });
  }
  if (!x509.checkPrivateKey(key)) {
    throw new TlsError(
      `the TLS key ${files.key} does not match the certificate ${files.cert} (subject ${x509.subject.replaceAll('\n', ', ')})`,
    );
  }
  const notAfterMs = Date.parse(x509.validTo);
  if (notAfterMs <= nowMs) {
    throw new TlsError(`the TLS certificate ${files.cert} expired on ${x509.validTo}`);
  }
  const notBeforeMs = Date.parse(x509.validFrom);
  if (notBeforeMs > nowMs) {
    throw new TlsError(`the TLS certificate ${files.cert} is not valid before ${x509.validFrom}`);
  }
  const fingerprint = createHash('sha256')
    .update(certPem)
    .update('\0')
    .update(keyPem)
    .update('\0')
    .update(passphrase)
    .digest('hex');
  return {
    files,
    certPem,
    keyPem,
    passphrase,
    serial: x509.serialNumber,
    notAfterMs,
    names: dnsNames(x509),
    fingerprint,
  };
}

export interface SniEntry {
  /** Server name as clients send it; `*.example.com` matches one label. */
  readonly name: string;
  readonly files: CertificateFiles;
}

/**
 * `--tls-sni`: entries `name=cert,key`. Repeated flags arrive joined by commas, the environment
 * separates entries with `;`: an entry starts at each `name=` and its next comma-separated part
 * is the key.
 */
export function parseSni(spec: string): SniEntry[] {
  const parts = spec
    .split(/[;,\s]+/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const entries: SniEntry[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const head = parts[i]!;
    const eq = head.indexOf('=');
    const key = parts[i + 1];
    if (eq <= 0 || eq === head.length - 1 || key === undefined || key.includes('=')) {
      throw new TlsError(
        `tlsSni entries are name=cert,key (several separated by ;), got ${quote(spec)}`,
      );
    }
    entries.push({
      name: head.slice(0, eq).toLowerCase(),
      files: { cert: head.slice(eq + 1), key, passphraseFile: '' },
    });
  }
  return entries;
}

/** What a TLS port serves now: its default certificate and one per SNI name. */
interface Served {
  readonly main: LoadedCertificate;
  readonly sni: ReadonlyMap<string, LoadedCertificate>;
}

/** One certificate a port serves, for metrics: name '' is the default (no or unknown SNI). */
export interface ServedCertificate {
  readonly port: string;
  readonly name: string;
  readonly serial: string;
  readonly notAfterMs: number;
}

export interface ReloadOutcome {
  /** False when no file changed (nothing was done). */
  readonly changed: boolean;
  /** Time to build the new app and move the listen socket to it, ms. */
  readonly ms: number;
  readonly serial: string;
}

const ROUTE_METHODS = new Set([
  'get',
  'post',
  'options',
  'del',
  'patch',
  'put',
  'head',
  'connect',
  'trace',
  'any',
  'ws',
]);

type Route = readonly [method: string, args: readonly unknown[]];
type AppMethod = (this: Uws.TemplatedApp, ...args: unknown[]) => Uws.TemplatedApp;
type HttpHandler = (res: Uws.HttpResponse, req: Uws.HttpRequest) => void;
const call = (app: Uws.TemplatedApp, method: string, args: readonly unknown[]) =>
  (app as unknown as Record<string, AppMethod>)[method]!.apply(app, [...args]);

/**
 * `res` with every response ending the connection (`Connection: close`). The routes of a server
 * name are set up with it: uWS looks a connection's router up again for each request, and
 * `removeServerName` (a reload) frees that router, so a connection made under a name never
 * carries a second request.
 */
function closingResponse(res: Uws.HttpResponse): Uws.HttpResponse {
  const proxy: Uws.HttpResponse = new Proxy(res, {
    get(target, prop) {
      if (prop === 'end') {
        return (body?: Uws.RecognizedString) => {
          target.end(body, true);
          return proxy;
        };
      }
      if (prop === 'endWithoutBody') {
        return (length?: number) => {
          endHead(target, length ?? 0);
          return proxy;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result === target ? proxy : result;
      };
    },
  });
  return proxy;
}

/** A route for a server name: HTTP handlers close the connection after their response. */
function nameRoute([method, args]: Route): Route {
  if (method === 'ws' || typeof args[1] !== 'function') return [method, args];
  const handler = args[1] as HttpHandler;
  return [
    method,
    [args[0], (res: Uws.HttpResponse, req: Uws.HttpRequest) => handler(closingResponse(res), req)],
  ];
}

export interface TlsSiteOptions {
  /** 'client' or 'admin': names the port in messages and metrics. */
  readonly port: string;
  readonly main: CertificateFiles;
  readonly sni: readonly SniEntry[];
  /** ssl_prefer_low_memory_usage (SSL_MODE_RELEASE_BUFFERS). */
  readonly lowMemory: boolean;
  /** Private directory (mode 0700) for the snapshots handed to uWS. */
  readonly snapshotDir: string;
  /** A handshake named a server no certificate is registered for (it gets the default one). */
  readonly onUnknownName?: (name: string) => void;
}

/**
 * One TLS port: its app, the certificate it was created with (the default: clients that send no
 * server name or an unknown one), and the server names registered on it, each with its own
 * certificate and a copy of the routes (recorded as they are set up through `app()`).
 */
export class TlsSite {
  readonly options: TlsSiteOptions;
  readonly #uws: UwsModule;
  /** The certificate the app was created with: uWS cannot change it while the app runs. */
  #default: LoadedCertificate;
  /** The files as last loaded (the default and the names a reload registers come from them). */
  #served: Served;
  /** Server names registered on the app, with the certificate each serves. */
  readonly #names = new Map<string, LoadedCertificate>();
  readonly #routes: Route[] = [];
  #app: Uws.TemplatedApp | null = null;
  /** The SNI names were added to the app (by its first listen). */
  #namesAdded = false;
  #generation = 0;
  reloads = { ok: 0, failed: 0, unchanged: 0 };
  unknownNames = 0;

  /** Loads and checks every certificate of the port; throws `TlsError`. */
  constructor(uws: UwsModule, options: TlsSiteOptions) {
    this.#uws = uws;
    this.options = options;
    this.#served = this.#load();
    this.#default = this.#served.main;
  }

  #load(): Served {
    const main = loadCertificate(this.options.main);
    const sni = new Map<string, LoadedCertificate>();
    for (const entry of this.options.sni) sni.set(entry.name, loadCertificate(entry.files));
    return { main, sni };
  }

  /** Serial of the certificate of the port's files (what a client naming the server gets). */
  get serial(): string {
    return this.#served.main.serial;
  }

  certificates(): ServedCertificate[] {
    const port = this.options.port;
    const d = this.#default;
    return [
      { port, name: '', serial: d.serial, notAfterMs: d.notAfterMs },
      ...[...this.#names].map(([name, c]) => ({
        port,
        name,
        serial: c.serial,
        notAfterMs: c.notAfterMs,
      })),
    ];
  }

  /** Every file the port reads (the watcher's list). */
  files(): string[] {
    const all = [this.options.main, ...this.options.sni.map((e) => e.files)];
    return all.flatMap((f) => [f.cert, f.key, f.passphraseFile]).filter((f) => f !== '');
  }

  /**
   * Writes the checked bytes where only the gateway reads them, runs `use` with uWS options
   * naming them, and removes them again (uWS reads the files while `use` runs).
   */
  #withSnapshot<T>(cert: LoadedCertificate, use: (options: Uws.AppOptions) => T): T {
    fs.mkdirSync(this.options.snapshotDir, { recursive: true, mode: 0o700 });
    const base = path.join(
      this.options.snapshotDir,
      `${this.options.port}-${process.pid}-${this.#generation++}`,
    );
    const certFile = `${base}-cert.pem`;
    const keyFile = `${base}-key.pem`;
    fs.writeFileSync(certFile, cert.certPem, { mode: 0o600 });
    fs.writeFileSync(keyFile, cert.keyPem, { mode: 0o600 });
    try {
      return use({
        cert_file_name: certFile,
        key_file_name: keyFile,
        ...(cert.passphrase === '' ? {} : { passphrase: cert.passphrase }),
        ssl_prefer_low_memory_usage: this.options.lowMemory,
      });
    } finally {
      fs.rmSync(certFile, { force: true });
      fs.rmSync(keyFile, { force: true });
    }
  }

  /** Registers `name` with `cert` and the recorded routes (uWS keeps a router per name). */
  #addName(app: Uws.TemplatedApp, name: string, cert: LoadedCertificate): void {
    if (this.#names.has(name)) app.removeServerName(name);
    this.#withSnapshot(cert, (options) => app.addServerName(name, options));
    app.domain(name);
    for (const route of this.#routes) call(app, ...nameRoute(route));
    this.#names.set(name, cert);
  }

  /**
   * The port's app. Route registrations on it are recorded (and applied at once) so that server
   * names, added when it listens and on reloads, get the same routes.
   */
  app(): Uws.TemplatedApp {
    let app: Uws.TemplatedApp;
    try {
      app = this.#withSnapshot(this.#default, (options) => this.#uws.SSLApp(options));
    } catch (err) {
      throw new TlsError(
        `uWebSockets.js refused the certificate ${this.#default.files.cert}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    app.missingServerName((name) => {
      this.unknownNames++;
      this.options.onUnknownName?.(name);
    });
    this.#app = app;
    const routes = this.#routes;
    const proxy: Uws.TemplatedApp = new Proxy(app, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof prop === 'string' && ROUTE_METHODS.has(prop)) {
          return (...args: unknown[]) => {
            routes.push([prop, args]);
            call(target, prop, args);
            return proxy;
          };
        }
        return typeof value === 'function' ? (value as AppMethod).bind(target) : value;
      },
    });
    return proxy;
  }

  /** Listens with the port's app (from `app()`), its server names registered first. */
  listen(host: string, port: number, what: string): Promise<{ port: number; close(): void }> {
    const app = this.#app;
    if (app === null) return Promise.reject(new Error('TlsSite.listen before app()'));
    if (this.#served.sni.size > 0 && !this.#namesAdded) {
      // once per app: a second port of the same app (a worker's own) serves the same names
      this.#namesAdded = true;
      for (const [name, cert] of this.#served.sni) this.#addName(app, name, cert);
      app.domain(''); // no such name: later routes go to the default router again
    }
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
          port: this.#uws.us_socket_local_port(socket as unknown as Uws.us_socket),
          close: () => {
            if (!open) return;
            open = false;
            this.#uws.us_listen_socket_close(socket);
          },
        });
      });
    });
  }

  /**
   * Loads the files again. Unchanged: nothing happens. Changed and valid: every server name of the
   * new certificate (and of --tls-sni) is registered again with its new certificate, so a new
   * connection naming the server gets it; open connections keep theirs. A client that sends no
   * server name (one connecting by IP address) keeps getting the default certificate uWS was
   * started with. Invalid: throws `TlsError`, and the port serves what it served before.
   */
  reload(): ReloadOutcome {
    const start = performance.now();
    let served: Served;
    try {
      served = this.#load();
    } catch (err) {
      this.reloads.failed++;
      throw err;
    }
    const same =
      served.main.fingerprint === this.#served.main.fingerprint &&
      [...served.sni].every(([n, c]) => this.#served.sni.get(n)?.fingerprint === c.fingerprint);
    if (same) {
      this.reloads.unchanged++;
      return { changed: false, ms: performance.now() - start, serial: served.main.serial };
    }
    const wanted = new Map<string, LoadedCertificate>();
    for (const name of served.main.names) wanted.set(name, served.main);
    for (const [name, cert] of served.sni) wanted.set(name, cert);
    const app = this.#app;
    if (app !== null) {
      try {
        let touched = false;
        for (const [name, cert] of wanted) {
          if (this.#names.get(name)?.fingerprint === cert.fingerprint) continue;
          this.#addName(app, name, cert);
          touched = true;
        }
        for (const name of [...this.#names.keys()]) {
          if (wanted.has(name)) continue;
          app.removeServerName(name);
          this.#names.delete(name);
        }
        if (touched) app.domain('');
      } catch (err) {
        this.reloads.failed++;
        throw new TlsError(
          `uWebSockets.js refused the new certificate: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    this.#served = served;
    this.reloads.ok++;
    return { changed: true, ms: performance.now() - start, serial: served.main.serial };
  }
}

/** The TLS settings of the gateway (a subset of its Config). */
export interface TlsSettings {
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsPassphraseFile: string;
  readonly tlsSni: string;
  readonly tlsLowMemory: number;
  readonly adminTlsCert: string;
  readonly adminTlsKey: string;
  readonly adminTlsPassphraseFile: string;
}

export interface TlsSites {
  readonly client: TlsSite | null;
  readonly admin: TlsSite | null;
}

/**
 * The TLS sites of both ports from the settings, every file checked; throws `TlsError`. The admin
 * port uses the client port's files unless it names its own, or `none` (plain HTTP).
 */
export function openTlsSites(
  uws: UwsModule,
  settings: TlsSettings,
  snapshotDir: string,
  onUnknownName?: (port: string, name: string) => void,
): TlsSites {
  const pair = (cert: string, key: string, what: string) => {
    if (cert !== '' && key === '') throw new TlsError(`${what}Key is required with ${what}Cert`);
    if (cert === '' && key !== '') throw new TlsError(`${what}Cert is required with ${what}Key`);
  };
  pair(settings.tlsCert, settings.tlsKey, 'tls');
  const sni = settings.tlsSni.trim() === '' ? [] : parseSni(settings.tlsSni);
  if (sni.length > 0 && settings.tlsCert === '') {
    throw new TlsError('tlsSni needs tlsCert and tlsKey (the certificate for other names)');
  }
  const site = (port: string, main: CertificateFiles, names: readonly SniEntry[]) =>
    new TlsSite(uws, {
      port,
      main,
      sni: names,
      lowMemory: settings.tlsLowMemory === 1,
      snapshotDir,
      ...(onUnknownName ? { onUnknownName: (name: string) => onUnknownName(port, name) } : {}),
    });
  const client =
    settings.tlsCert === ''
      ? null
      : site(
          'client',
          {
            cert: settings.tlsCert,
            key: settings.tlsKey,
            passphraseFile: settings.tlsPassphraseFile,
          },
          sni,
        );
  let admin: TlsSite | null = null;
  if (settings.adminTlsCert === 'none') {
    admin = null;
  } else if (settings.adminTlsCert !== '') {
    const key = settings.adminTlsKey || settings.tlsKey;
    pair(settings.adminTlsCert, key, 'adminTls');
    admin = site(
      'admin',
      { cert: settings.adminTlsCert, key, passphraseFile: settings.adminTlsPassphraseFile },
      [],
    );
  } else if (client !== null) {
    admin = site(
      'admin',
      {
        cert: settings.tlsCert,
        key: settings.adminTlsKey || settings.tlsKey,
        passphraseFile: settings.adminTlsPassphraseFile || settings.tlsPassphraseFile,
      },
      [],
    );
  }
  return { client, admin };
}

/**
 * Watches the directories of `files` (a renewal usually replaces files by renaming, which a
 * watch on the file itself would miss) and calls `onChange` once things are quiet for
 * `debounceMs`. Returns the function that stops watching.
 */
export function watchFiles(
  files: readonly string[],
  debounceMs: number,
  onChange: () => void,
  onError: (err: unknown) => void,
): () => void {
  const dirs = new Map<string, Set<string>>();
  for (const file of files) {
    const abs = path.resolve(file);
    const dir = path.dirname(abs);
    if (!dirs.has(dir)) dirs.set(dir, new Set());
    dirs.get(dir)!.add(path.basename(abs));
  }
  let timer: NodeJS.Timeout | null = null;
  const watchers: fs.FSWatcher[] = [];
  for (const dir of dirs.keys()) {
    try {
      const watcher = fs.watch(dir, { persistent: false }, () => {
        if (timer !== null) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          onChange();
        }, debounceMs);
        timer.unref();
      });
      watcher.on('error', onError);
      watchers.push(watcher);
    } catch (err) {
      onError(err);
    }
  }
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

const ignoreAbort = (): void => undefined;

/**
 * Ends a HEAD response with the length a GET would send (RFC 9110 9.3.2), saying
 * `Connection: close`. uWS v20.30 does not count endWithoutBody as a response: without an abort
 * handler it terminates the process as soon as the request handler returns, so one is attached
 * first; and a connection kept alive after it answers its next request by hanging up (two HEADs
 * through one keep-alive agent lost the second: test/console/serving.test.ts), so the client is
 * told not to keep it. uWS leaves the socket open all the same (a client that ignores the header
 * holds it), and requests pipelined behind a HEAD get no answer: limits of uWS v20.30 that
 * `res.close()` after the response does not lift.
 */
export function endHead(res: Uws.HttpResponse, length: number): void {
  res.onAborted(ignoreAbort);
  res.endWithoutBody(length, true);
}
