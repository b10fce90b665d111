/**
 * Limits the three relay targets share, taken from Ferry's defaults so that the bare and naive
 * relays accept the same frames and buffer as much as the gateway does (src/config/schema.ts:
 * uWS maxPayloadLength = 2 x maxFrameBytes, maxBackpressure = maxBufferedBytes).
 */
export const MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;
export const MAX_BACKPRESSURE_BYTES = 8 * 1024 * 1024;
export const IDLE_TIMEOUT_SECONDS = 60;

/** Reads `/?pair=ID&side=a|b`; null when either is missing or malformed. */
export function parsePairQuery(query: string): { pair: string; side: 'a' | 'b' } | null {
  const params = new URLSearchParams(query);
  const pair = params.get('pair');
  const side = params.get('side');
  if (pair === null || pair.length === 0 || pair.length > 128) return null;
  if (side !== 'a' && side !== 'b') return null;
  return { pair, side };
}
