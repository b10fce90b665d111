/**
 * The report search of the admin API: `GET /api/v1/reports` query parameters read and checked
 * into a `ReportQuery`, and a page of hits rendered as JSON, JSON Lines or CSV (an export).
 */
import type { ReportQuery, ReportRow } from '../store/report-store.js';

export const DEFAULT_LIMIT = 50;
/** Largest page of a JSON search. */
export const MAX_LIMIT = 1000;
/** Largest page of a JSONL or CSV export. */
export const MAX_EXPORT_LIMIT = 10_000;

export const FORMATS = ['json', 'jsonl', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** The parameters `GET /api/v1/reports` reads; any other is refused. */
export const QUERY_PARAMETERS = [
  'technician',
  'customer',
  'address',
  'from',
  'to',
  'text',
  'limit',
  'cursor',
  'format',
] as const;

/** The CSV columns, in order (the fields of a `ReportRow`). */
export const CSV_COLUMNS = [
  'id',
  'createdAt',
  'endedAt',
  'durationMs',
  'status',
  'endReason',
  'owner',
  'creator',
  'technicians',
  'customer',
  'computerName',
  'address',
  'logEntries',
] as const satisfies readonly (keyof ReportRow)[];

/** A time given as ISO 8601 (`2026-12-01`, `2026-12-01T08:00:00Z`) or epoch milliseconds. */
function parseTime(name: string, value: string): number {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new RangeError(
      `${name}=${JSON.stringify(value)}: not a time; allowed: ISO 8601 or epoch ms`,
    );
  }
  return ms;
}

/** The search a query string asks for, or a RangeError naming the bad parameter. */
export function parseReportQuery(query: string): { query: ReportQuery; format: Format } {
  const params = new URLSearchParams(query);
  const known: ReadonlySet<string> = new Set(QUERY_PARAMETERS);
  for (const key of params.keys()) {
    if (!known.has(key)) {
      throw new RangeError(
        `unknown parameter ${JSON.stringify(key)}; allowed: ${QUERY_PARAMETERS.join(', ')}`,
      );
    }
  }
  const one = (key: string): string | undefined => {
    const all = params.getAll(key);
    if (all.length > 1) throw new RangeError(`${key} given ${all.length} times; allowed: once`);
    const value = all[0]?.trim();
    if (value !== undefined && value.length > 256) {
      throw new RangeError(`${key}: longer than 256 characters`);
    }
    return value === '' ? undefined : value;
  };
  const format = (one('format') ?? 'json') as Format;
  if (!FORMATS.includes(format)) {
    throw new RangeError(`format=${JSON.stringify(format)}; allowed: ${FORMATS.join(', ')}`);
  }
  const max = format === 'json' ? MAX_LIMIT : MAX_EXPORT_LIMIT;
  const limitText = one('limit');
  const limit =
    limitText === undefined ? (format === 'json' ? DEFAULT_LIMIT : max) : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new RangeError(`limit=${JSON.stringify(limitText)}; allowed: 1 to ${max}`);
  }
  const from = one('from');
  const to = one('to');
  const fromMs = from === undefined ? undefined : parseTime('from', from);
  const toMs = to === undefined ? undefined : parseTime('to', to);
  if (fromMs !== undefined && toMs !== undefined && toMs < fromMs) {
    throw new RangeError('to is before from');
  }
  const result: {
    -readonly [K in keyof ReportQuery]: ReportQuery[K];
  } = { limit };
  const technician = one('technician');
  const customer = one('customer');
  const address = one('address');
  const text = one('text');
  const cursor = one('cursor');
  if (technician !== undefined) result.technician = technician;
  if (customer !== undefined) result.customer = customer;
  if (address !== undefined) result.address = address;
  if (text !== undefined) result.text = text;
  if (cursor !== undefined) result.cursor = cursor;
  if (fromMs !== undefined) result.fromMs = fromMs;
  if (toMs !== undefined) result.toMs = toMs;
  return { query: result, format };
}

/** One CSV field (RFC 4180), with a leading formula character defused for spreadsheets. */
function csvField(value: unknown): string {
  let text =
    value === null || value === undefined
      ? ''
      : Array.isArray(value)
        ? value.join(';')
        : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows: readonly ReportRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) lines.push(CSV_COLUMNS.map((c) => csvField(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function toJsonLines(rows: readonly ReportRow[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
}
