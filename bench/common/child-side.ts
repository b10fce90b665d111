/**
 * The child half of children.ts: JSON-line messages to the runner on stdout, and one shutdown
 * hook that runs once on SIGTERM, SIGINT or when stdin, a pipe from the runner, closes (the
 * runner is gone). A stdin that is not a pipe or socket (terminal, /dev/null) is left alone.
 */
import fs from 'node:fs';

function stdinIsPipe(): boolean {
  try {
    // Node's spawn() gives a child a socket pair for 'pipe' stdio, a shell gives a FIFO
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch (err) {
    process.stderr.write(`cannot stat stdin: ${(err as Error).message}\n`);
    return false;
  }
}
/** Stops watching stdin so that it no longer keeps the process alive. */
export function releaseStdin(): void {
  if (stdinIsPipe()) process.stdin.destroy();
}

// A runner that is gone closes our stdout: a last message (e.g. "stopped") then fails with
// EPIPE, which is no reason to crash while shutting down.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

export function send(message: { type: string } & Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Runs `shutdown` once when the runner asks for it or disappears. */
export function onShutdown(shutdown: (why: string) => void | Promise<void>): void {
  let done = false;
  const watching = stdinIsPipe();
  const run = (why: string) => {
    if (done) return;
    done = true;
    if (watching) process.stdin.pause();
    Promise.resolve(shutdown(why)).then(
      () => {
        if (watching) process.stdin.destroy();
      },
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${(err as Error).stack ?? String(err)}\n`);
        process.exitCode = 1;
        if (watching) process.stdin.destroy();
      },
    );
  };
  process.once('SIGTERM', () => run('SIGTERM'));
  process.once('SIGINT', () => run('SIGINT'));
  if (watching) {
    process.stdin.on('end', () => run('stdin closed'));
    process.stdin.on('error', () => run('stdin error'));
    process.stdin.resume();
  }
}
