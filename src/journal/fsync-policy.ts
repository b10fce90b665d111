/**
 * When the journal asks the disk to make its writes durable (fsync):
 * - `always`: after every batch write, before the writer's flush promises resolve;
 * - `interval`: at most once per `ms` while there are unsynced writes (a crash loses at most
 *   about `ms` of records);
 * - `off`: never; the operating system writes back when it likes.
 * Text form (config, flags): `always`, `off`, `100` or `100ms`.
 */

export type FsyncPolicy = { kind: 'always' } | { kind: 'off' } | { kind: 'interval'; ms: number };

export const FSYNC_INTERVAL_MIN_MS = 1;
export const FSYNC_INTERVAL_MAX_MS = 60_000;

export const DEFAULT_FSYNC: FsyncPolicy = { kind: 'interval', ms: 100 };

const INTERVAL_TEXT = /^(\d+)(?:ms)?$/;

/** The policy named by `text`, or an error message to show the operator. */
export function parseFsyncPolicy(text: string): FsyncPolicy | string {
  const trimmed = text.trim();
  if (trimmed === 'always') return { kind: 'always' };
  if (trimmed === 'off') return { kind: 'off' };
  const match = INTERVAL_TEXT.exec(trimmed);
  if (match !== null) {
    const ms = Number(match[1]);
    if (ms >= FSYNC_INTERVAL_MIN_MS && ms <= FSYNC_INTERVAL_MAX_MS) return { kind: 'interval', ms };
  }
  return `fsync must be always, off, or a number of milliseconds (${FSYNC_INTERVAL_MIN_MS}-${FSYNC_INTERVAL_MAX_MS}); got ${JSON.stringify(text)}`;
}

/** The text form of a policy; `parseFsyncPolicy` reads it back. */
export function formatFsyncPolicy(policy: FsyncPolicy): string {
  switch (policy.kind) {
    case 'always':
      return 'always';
    case 'off':
      return 'off';
    case 'interval':
      return `${policy.ms}ms`;
  }
}
