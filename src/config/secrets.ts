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
  try {
    // 'wx': never overwrite one that another process created meanwhile
    fs.writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { value: fs.readFileSync(file, 'utf8').trim(), file, created: false };
    }
    throw err;
  }
  return { value, file, created: true };
}
