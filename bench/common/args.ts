/** Command-line values the bench runners share. */

/** `--name`'s value as a positive number, or `fallback` when the flag was not given. */
export function positive<T extends number | undefined>(
  name: string,
  raw: string | undefined,
  fallback: T,
): number | T {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return v;
}
