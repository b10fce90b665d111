/**
 * wss:// for the reference clients: which certificates they trust, and a certificate that fails
 * verification turned into an error naming the reason. Nothing here accepts an unverified
 * certificate unless the caller asks for it by name (`insecureSkipVerify`).
 */
import tls from 'node:tls';

export interface ClientTls {
  /** PEM of CA certificates trusted besides Node's store (a private CA): `--ca FILE`. */
  readonly ca?: string | Buffer;
  /** Development only: accept any certificate. The CLI warns on every start. */
  readonly insecureSkipVerify?: boolean;
}

/** Options for `ws` / `tls.connect`: Node's store plus `ca`, verified unless skipped by name. */
export function tlsConnectOptions(options: ClientTls | undefined): tls.ConnectionOptions {
  if (options === undefined) return {};
  return {
    // `ca` replaces Node's store, so it is given back in full with the private CA added.
    ...(options.ca !== undefined ? { ca: [...tls.rootCertificates, options.ca.toString()] } : {}),
    ...(options.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
  };
}

/** Node's verification error codes, by what they mean to an operator. */
const REASONS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is for another name (wrong name)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown issuer: the certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'unknown issuer: the certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown issuer: the certificate is not signed by a trusted CA',
  SELF_SIGNED_CERT_IN_CHAIN:
    'unknown issuer: the chain ends in a self-signed CA that is not trusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown issuer: the certificate is self-signed',
  CERT_REVOKED: 'the certificate has been revoked',
  CERT_SIGNATURE_FAILURE: 'the certificate signature is invalid',
  CERT_UNTRUSTED: 'the certificate is not trusted for this purpose',
};

/** A gateway certificate that did not verify; `reason` is Node's code (CERT_HAS_EXPIRED, ...). */
export class CertificateError extends Error {
  readonly code = 'FERRY_ERR_TLS_VERIFY';
  readonly reason: string;
  constructor(url: string, reason: string, cause: unknown) {
    const what = REASONS[reason] ?? 'the certificate did not verify';
    super(
      `cannot verify the gateway certificate of ${url}: ${what} (${reason}). Give a private CA with --ca FILE`,
      { cause },
    );
    this.name = 'CertificateError';
    this.reason = reason;
  }
}

/** `err` as a `CertificateError` when it is a verification failure, else `err` itself. */
export function verificationError(err: Error, url: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && (REASONS[code] !== undefined || code.startsWith('CERT_'))) {
    return new CertificateError(url, code, err);
  }
  return err;
}
