/**
 * The gateway's pino logger: JSON lines to stdout, one child per session (`sessionId`), nothing
 * per frame at info level. Disabled levels cost nothing.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/** The stdout destinations of the loggers made here (see `dropLogOutput`). */
const outputs: DestinationStream[] = [];

export function createLogger(level: string, name = 'ferry'): Logger {
  const output = pino.destination({ dest: 1, sync: false });
  outputs.push(output);
  return pino({ name, level, base: { pid: process.pid } }, output);
}

/**
 * Stops every logger made here from writing, and drops what they still buffer. For a worker
 * whose supervisor is gone: its stdout is a broken pipe, and the flush at exit would retry a
 * write that fails with EPIPE for ever (sonic-boom's flushSync retries on any error), so the
 * worker never exited.
 */
export function dropLogOutput(): void {
  const noop = () => undefined;
  for (const output of outputs) {
    Object.assign(output, { write: noop, flushSync: noop, end: noop, destroy: noop });
  }
}

/** A logger that writes nothing (tests, embedded use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
