/**
 * Where a stuck child process is: its JavaScript stack, taken through the inspector. A process
 * spinning in synchronous code or an endless microtask chain runs no timers and answers no
 * report signal, but SIGUSR1 still opens its inspector (on the port `--inspect-port=0` let it
 * pick) and `Debugger.pause` interrupts it wherever it is. Tests call this when a child blows a
 * deadline, so the failure says where it hung instead of only that it did.
 */
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';

/** Node's flag for a child whose stack may be wanted: any free inspector port, opened on SIGUSR1. */
export const INSPECT_ON_SIGNAL = '--inspect-port=127.0.0.1:0';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly location: { readonly lineNumber: number; readonly columnNumber: number };
}

/**
 * The current stack of `child` (spawned with INSPECT_ON_SIGNAL, its stderr piped and read into
 * `stderr()`), one frame per line, or why it could not be taken. Never throws; gives up after
 * `timeoutMs`.
 */
export async function stackOf(
  child: ChildProcess,
  stderr: () => string,
  timeoutMs = 10_000,
): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return 'the process has exited';
  const deadline = Date.now() + timeoutMs;
  child.kill('SIGUSR1');
  let url: string | undefined;
  while (url === undefined && Date.now() < deadline) {
    url = /Debugger listening on (ws:\/\/\S+)/.exec(stderr())?.[1];
    if (url !== undefined) break;
    // the next chunk of stderr, or the deadline
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      child.stderr?.once('data', done);
      function done(): void {
        clearTimeout(timer);
        child.stderr?.off('data', done);
        resolve();
      }
    });
  }
  if (url === undefined) return 'the inspector did not open';
  const socket = new WebSocket(url);
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(
        () => resolve('the inspector did not pause it in time'),
        deadline - Date.now(),
      );
      socket.on('error', (err) => {
        clearTimeout(timer);
        resolve(`the inspector failed: ${err.message}`);
      });
      socket.on('open', () => {
        socket.send(JSON.stringify({ id: 1, method: 'Debugger.enable' }));
        socket.send(JSON.stringify({ id: 2, method: 'Debugger.pause' }));
      });
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as {
          method?: string;
          params?: { callFrames: CallFrame[] };
        };
        if (message.method !== 'Debugger.paused') return;
        clearTimeout(timer);
        resolve(
          message
            .params!.callFrames.map(
              (f) =>
                `    at ${f.functionName || '<anonymous>'} (${f.url}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`,
            )
            .join('\n'),
        );
      });
    });
  } finally {
    socket.terminate();
  }
}

/**
 * The exit code of `child`, or, when it has not exited within `ms`, a failure carrying its stack
 * (stackOf) and the end of its stderr; the child is killed then.
 */
export async function exitWithin(
  child: ChildProcess,
  ms: number,
  stderr: () => string,
): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    const first = await Promise.race([exited, late]);
    if (first !== 'late') return first;
  } finally {
    clearTimeout(timer);
  }
  const stack = await stackOf(child, stderr);
  child.kill('SIGKILL');
  throw new Error(
    `the process did not exit within ${ms / 1000} s; where it was:\n${stack}\nthe end of its stderr:\n${stderr().slice(-4000)}`,
  );
}
