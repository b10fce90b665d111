/**
 * One generator thread of the workers part: its slice of the pairs (load.ts), opened and driven
 * on its own event loop. The workers part runs one or more of these (`--gen-threads`) and talks
 * to each with one command at a time, each answered once:
 *   setup -> {opened, errors, gateways: [gatewayId, redirected][]}; start; mark {measuring} ->
 *   {received, receivedBytes, atMs}; stop -> {stalls, gaps, reordered, latency}; close.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { HistogramData } from '../relay/histogram.js';
import { type LoadCounts, type LoadPair, openPair, ScreenLoad } from './load.js';

export interface ThreadSpec {
  readonly port: number;
  readonly token: string;
  readonly pairs: number;
  readonly size: number;
  readonly window: number;
  readonly concurrency: number;
}

export interface SetupReply {
  readonly opened: number;
  readonly errors: string[];
  readonly gateways: [string, boolean][];
}

export interface StopReply {
  readonly stalls: number;
  readonly gaps: number;
  readonly reordered: number;
  readonly latency: HistogramData;
}

type Command =
  | { cmd: 'setup' }
  | { cmd: 'start' }
  | { cmd: 'mark'; measuring: boolean }
  | { cmd: 'stop' }
  | { cmd: 'close' };

type Reply = { ok: true; value?: unknown } | { ok: false; error: string };

/** The main thread's handle on one generator thread. */
export class LoadThread {
  readonly #worker: Worker;
  #pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;

  constructor(spec: ThreadSpec) {
    this.#worker = new Worker(new URL(import.meta.url), { workerData: spec });
    this.#worker.on('message', (reply: Reply) => {
      const p = this.#pending;
      this.#pending = null;
      if (p === null) return;
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(reply.error));
    });
    this.#worker.on('error', (err) => {
      const p = this.#pending;
      this.#pending = null;
      p?.reject(err);
    });
  }

  #call<T>(command: Command): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending = { resolve: resolve as (v: unknown) => void, reject };
      this.#worker.postMessage(command);
    });
  }

  setup(): Promise<SetupReply> {
    return this.#call({ cmd: 'setup' });
  }
  start(): Promise<void> {
    return this.#call({ cmd: 'start' });
  }
  mark(measuring: boolean): Promise<LoadCounts> {
    return this.#call({ cmd: 'mark', measuring });
  }
  stop(): Promise<StopReply> {
    return this.#call({ cmd: 'stop' });
  }
  /** Closes the thread's links, then ends the thread. */
  async close(): Promise<void> {
    await Promise.race([
      this.#call({ cmd: 'close' }).catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    await this.#worker.terminate();
  }
}

function runThread(spec: ThreadSpec): void {
  const port = parentPort!;
  const opened: LoadPair[] = [];
  let load: ScreenLoad | null = null;
  const reply = (value?: unknown) => port.postMessage({ ok: true, value } satisfies Reply);
  const fail = (err: unknown) =>
    port.postMessage({ ok: false, error: (err as Error).stack ?? String(err) } satisfies Reply);
  const setup = async (): Promise<SetupReply> => {
    const errors: string[] = [];
    let next = 0;
    const opener = async () => {
      while (next < spec.pairs) {
        next++;
        try {
          opened.push(await openPair(spec.port, spec.token));
        } catch (err) {
          if (errors.length < 5) errors.push((err as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.pairs) }, opener));
    load = new ScreenLoad(opened, spec.size, spec.window);
    return {
      opened: opened.length,
      errors,
      gateways: opened.map((p) => [p.gatewayId, p.redirected]),
    };
  };
  port.on('message', (command: Command) => {
    try {
      switch (command.cmd) {
        case 'setup':
          setup().then(reply, fail);
          return;
        case 'start':
          load!.start();
          reply();
          return;
        case 'mark':
          reply(load!.mark(command.measuring));
          return;
        case 'stop': {
          load!.stop();
          reply({
            stalls: load!.stalls,
            gaps: load!.gaps,
            reordered: load!.reordered,
            latency: load!.latency.toData(),
          } satisfies StopReply);
          return;
        }
        case 'close':
          load?.close();
          reply();
          return;
        default:
          fail(new Error(`unknown command ${JSON.stringify(command)}`));
      }
    } catch (err) {
      fail(err);
    }
  });
}

if (parentPort !== null && (workerData as ThreadSpec | null)?.port !== undefined) {
  runThread(workerData as ThreadSpec);
}
