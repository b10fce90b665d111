/**
 * Test certificates made at test time with Debian's `openssl`: a private CA and server
 * certificates it signs (P-256 keys, loopback names), in a temporary directory removed after the
 * test. Nothing here is committed.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export interface TestCa {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
}

export interface Issued {
  readonly cert: string;
  readonly key: string;
  /** Upper-case hex, as X509Certificate.serialNumber and getPeerCertificate() give it. */
  readonly serial: string;
}

const openssl = (args: readonly string[], cwd: string) =>
  execFileSync('openssl', [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** A private CA in a fresh temporary directory (removed after `t`). */
export function makeCa(t: TestContext): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=Ferry Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { dir, cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
}

export interface IssueOptions {
  /** DNS names; default localhost. */
  readonly names?: readonly string[];
  /** IP addresses; default 127.0.0.1. */
  readonly ips?: readonly string[];
  /** Validity in days; a negative number makes an expired certificate. */
  readonly days?: number;
  /** Encrypt the key with this passphrase. */
  readonly passphrase?: string;
  /** Another CA's file pair signs it (default `ca`). */
  readonly signer?: TestCa;
}

/** A server certificate `<base>.crt` and key `<base>.key` signed by `ca`, with a random serial. */
export function issue(ca: TestCa, base: string, options: IssueOptions = {}): Issued {
  const names = options.names ?? ['localhost'];
  const ips = options.ips ?? ['127.0.0.1'];
  const signer = options.signer ?? ca;
  const serial = `7${crypto.randomBytes(8).toString('hex').slice(1).toUpperCase()}`;
  const san = [...names.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
  fs.writeFileSync(path.join(ca.dir, `${base}.ext`), `subjectAltName=${san}\n`);
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${base}.plain.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${names[0] ?? 'ferry'}`,
    ],
    ca.dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      signer.cert,
      '-CAkey',
      signer.key,
      '-set_serial',
      `0x${serial}`,
      '-days',
      String(options.days ?? 1),
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.crt`,
    ],
    ca.dir,
  );
  if (options.passphrase !== undefined) {
    fs.writeFileSync(path.join(ca.dir, `${base}.pass`), `${options.passphrase}\n`);
    openssl(
      [
        'pkey',
        '-in',
        `${base}.plain.key`,
        '-aes256',
        '-passout',
        `file:${base}.pass`,
        '-out',
        `${base}.key`,
      ],
      ca.dir,
    );
  } else {
    fs.copyFileSync(path.join(ca.dir, `${base}.plain.key`), path.join(ca.dir, `${base}.key`));
  }
  return {
    cert: path.join(ca.dir, `${base}.crt`),
    key: path.join(ca.dir, `${base}.key`),
    serial,
  };
}
