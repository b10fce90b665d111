/**
 * TLS for the relay bench: one private CA and one server certificate (P-256, names `localhost`
 * and 127.0.0.1), made with Debian's `openssl` in a temporary directory when a TLS scenario runs
 * and removed when the runner ends; both TLS targets serve that same certificate. Also the probe
 * that records which protocol and cipher a target negotiated with the generator's Node client.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { TargetTls } from './scenarios.js';

export interface BenchCertificate extends TargetTls {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
}

/** The name the generator sends and verifies (the certificate also holds IP 127.0.0.1). */
export const BENCH_SERVER_NAME = 'localhost';

const openssl = (args: readonly string[], cwd: string) =>
  execFileSync('openssl', [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** A CA and a server certificate it signs, in a fresh directory (remove it with `dispose`). */
export function makeBenchCertificate(): BenchCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-tls-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '2',
        '-subj',
        '/CN=Ferry Bench CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    fs.writeFileSync(
      path.join(dir, 'server.ext'),
      `subjectAltName=DNS:${BENCH_SERVER_NAME},IP:127.0.0.1\n`,
    );
    openssl(
      [
        'req',
        '-new',
        ...ec,
        '-keyout',
        'server.key',
        '-out',
        'server.csr',
        '-subj',
        `/CN=${BENCH_SERVER_NAME}`,
      ],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        'server.ext',
        '-out',
        'server.crt',
      ],
      dir,
    );
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(
      `cannot make the bench TLS certificate with openssl (apt-get install openssl): ${(err as Error).message}${stderr === '' ? '' : `\n${stderr}`}`,
      { cause: err },
    );
  }
  return {
    dir,
    cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key'),
    caFile: path.join(dir, 'ca.crt'),
    servername: BENCH_SERVER_NAME,
  };
}

export function disposeBenchCertificate(c: BenchCertificate): void {
  fs.rmSync(c.dir, { recursive: true, force: true });
}

export interface Negotiated {
  readonly protocol: string;
  readonly cipher: string;
  /** The key exchange group (e.g. X25519). */
  readonly group: string;
}

/** One verified handshake with a target, as the generator's clients make it: what was agreed. */
export function probeTls(port: number, t: TargetTls, timeoutMs = 5000): Promise<Negotiated> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: t.servername,
      ca: fs.readFileSync(t.caFile),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const key = socket.getEphemeralKeyInfo();
      resolve({
        protocol: socket.getProtocol() ?? '',
        cipher: socket.getCipher().standardName,
        group: key !== null && 'name' in key ? String(key.name) : '',
      });
      socket.destroy();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
