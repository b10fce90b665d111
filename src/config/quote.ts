/**
 * How an error message shows a value someone typed (a flag, a variable, a file entry): quoted,
 * control characters escaped, long values cut, so a message stays one readable line.
 */
export function quote(raw: unknown): string {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const shown = text === undefined ? String(raw) : text;
  return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown);
}
