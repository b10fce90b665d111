/**
 * Secrets the gateway creates for itself on first start and reuses: the token-signing secret and
 * the admin bearer token. Each lives in its own file in the data directory, mode 0600, so that
 * `ferry token issue` and `ferry serve` agree with no set-up.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface StoredSecret {
  readonly value: string;
  /** File the secret came from, or '' when it was configured explicitly. */
  readonly file: string;
  readonly created: boolean;
}

export function loadOrCreateSecret(
  dataDir: string,
  name: string,
  configured: string,
): StoredSecret {
  if (configured !== '') return { value: configured, file: '', created: false };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, name);
  try {
    const value = fs.readFileSync(file, 'utf8').trim();
    if (value.length >= 16) return { value, file, created: false };
    throw new Error(`${file} holds fewer than 16 characters; delete it to create a new one`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = randomBytes(32).toString('base64url');
  // Written whole to a file of this process, then linked into place: the link fails if another
  // process created the secret meanwhile (never overwritten), and nobody ever reads a file
  // created but not yet written (two gateways started together on one data directory).
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${value}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { value: fs.readFileSync(file, 'utf8').trim(), file, created: false };
    }
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { value, file, created: true };
}
