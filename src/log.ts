/**
 * The gateway's pino logger: JSON lines to stdout, one child per session (`sessionId`), nothing
 * per frame at info level. Disabled levels cost nothing.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'ferry'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that writes nothing (tests, embedded use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
