/**
 * The soak's fault-injecting TCP proxy (plain node:net, 127.0.0.1, port 0): one listener in front
 * of one target (the gateway's client port), forwarding bytes both ways. On command it cuts every
 * connection it carries, by a reset (both sockets destroyed with RST) or by a half-close (FIN one
 * way only; that direction's bytes are dropped from then on, the other direction flows until its
 * side notices and closes), and it can hold an outage: for its length new connections are reset
 * at once ('refuse') or kept waiting unconnected until it ends ('hold'). A connection whose target
 * cannot be reached (the gateway is down) is reset. When the target closes first, its FIN is
 * answered with a reset (see `#connect`), so a gateway killed and started again on its port
 * finds the port free.
 *
 * Events: 'connection' (a link opened to the target), 'refused', 'cut' (kind, links cut),
 * 'outageEnd', 'linkClosed', 'dropped' (bytes). Nothing here sleeps: outages end on one timer each.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

/** How long a side whose peer closed may stay idle before it is destroyed. */
const LINGER_MS = 5000;

export const CutKind = {
  RESET: 'reset',
  /** FIN towards the target; what the client sends after it is dropped. */
  HALF_CLOSE_TO_TARGET: 'half-close-to-target',
  /** FIN towards the client; what the target sends after it is dropped. */
  HALF_CLOSE_TO_CLIENT: 'half-close-to-client',
} as const;
export type CutKind = (typeof CutKind)[keyof typeof CutKind];

export const OutageMode = {
  REFUSE: 'refuse',
  HOLD: 'hold',
} as const;
export type OutageMode = (typeof OutageMode)[keyof typeof OutageMode];

export interface FaultProxyEvents {
  connection: [];
  refused: [];
  cut: [kind: CutKind, links: number];
  outageEnd: [];
  linkClosed: [];
  /** Bytes dropped after a half-close stopped their direction. */
  dropped: [bytes: number];
}

/** One client connection and its connection to the target. */
class Link {
  readonly down: net.Socket;
  readonly up: net.Socket;
  closed = false;

  constructor(down: net.Socket, up: net.Socket) {
    this.down = down;
    this.up = up;
  }
}

export interface ProxyCounters {
  connections: number;
  refused: number;
  held: number;
  cuts: number;
  /** Bytes dropped after a half-close stopped their direction. */
  droppedBytes: number;
  /** Socket errors seen on either side (resets included). */
  socketErrors: number;
}

export class FaultProxy extends EventEmitter<FaultProxyEvents> {
  readonly targetHost: string;
  readonly targetPort: number;
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  readonly #waiting: net.Socket[] = [];
  #outageUntil = 0;
  #outageMode: OutageMode = OutageMode.REFUSE;
  #outageTimer: NodeJS.Timeout | null = null;
  readonly counters: ProxyCounters = {
    connections: 0,
    refused: 0,
    held: 0,
    cuts: 0,
    droppedBytes: 0,
    socketErrors: 0,
  };

  private constructor(targetPort: number, targetHost: string) {
    super();
    this.targetPort = targetPort;
    this.targetHost = targetHost;
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#accept(socket),
    );
  }

  /** Listens on 127.0.0.1, port 0, in front of `targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, targetHost);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => {
        proxy.#server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Connections carried now. */
  get links(): number {
    return this.#links.size;
  }

  get inOutage(): boolean {
    return this.#outageTimer !== null;
  }

  #accept(down: net.Socket): void {
    down.on('error', () => {
      this.counters.socketErrors++;
    });
    if (this.#outageTimer !== null) {
      if (this.#outageMode === OutageMode.REFUSE) {
        this.counters.refused++;
        down.resetAndDestroy();
        this.emit('refused');
        return;
      }
      this.counters.held++;
      down.pause();
      this.#waiting.push(down);
      return;
    }
    this.#connect(down);
  }

  #connect(down: net.Socket): void {
    if (down.destroyed) return;
    const up = net.connect({
      host: this.targetHost,
      port: this.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const link = new Link(down, up);
    this.#links.add(link);
    up.on('error', () => {
      this.counters.socketErrors++;
    });
    const gone = () => {
      if (link.closed) return;
      link.closed = true;
      this.#links.delete(link);
      this.emit('linkClosed');
    };
    // One side closed: the other is reset when it failed, else ended (its pending bytes go
    // first) and given a few idle seconds to close in turn.
    const follow = (other: net.Socket) => (hadError: boolean) => {
      gone();
      if (other.destroyed) return;
      if (hadError) other.resetAndDestroy();
      else {
        other.end();
        other.setTimeout(LINGER_MS, () => other.destroy());
      }
    };
    down.on('close', follow(up));
    up.on('close', follow(down));
    // The target closed first: answer its FIN with a reset, so its port keeps no TIME_WAIT and a
    // restarted gateway can listen on it again at once (uWS binds without SO_REUSEADDR).
    up.on('end', () => {
      down.end();
      up.resetAndDestroy();
    });
    up.once('connect', () => {
      down.pipe(up);
      up.pipe(down, { end: false });
      down.resume();
      this.counters.connections++;
      this.emit('connection');
    });
  }

  /** Cuts every connection carried now; returns how many were cut. */
  cut(kind: CutKind): number {
    const links = [...this.#links];
    for (const link of links) {
      const { down, up } = link;
      if (kind === CutKind.RESET) {
        down.resetAndDestroy();
        up.resetAndDestroy();
      } else if (kind === CutKind.HALF_CLOSE_TO_TARGET) {
        down.unpipe(up);
        down.on('data', (d: Buffer) => this.#drop(d.length));
        down.resume();
        up.end();
      } else {
        up.unpipe(down);
        up.on('data', (d: Buffer) => this.#drop(d.length));
        up.resume();
        down.end();
      }
    }
    this.counters.cuts += links.length;
    this.emit('cut', kind, links.length);
    return links.length;
  }

  #drop(bytes: number): void {
    this.counters.droppedBytes += bytes;
    this.emit('dropped', bytes);
  }

  /**
   * For `ms`, new connections are refused (reset at once) or held unconnected until the end.
   * A new outage replaces a running one.
   */
  outage(ms: number, mode: OutageMode = OutageMode.REFUSE): void {
    if (this.#outageTimer !== null) clearTimeout(this.#outageTimer);
    this.#outageMode = mode;
    this.#outageUntil = Date.now() + ms;
    this.#outageTimer = setTimeout(() => this.#endOutage(), ms);
  }

  /** Ends the outage now; held connections go through. */
  endOutage(): void {
    if (this.#outageTimer !== null) {
      clearTimeout(this.#outageTimer);
      this.#endOutage();
    }
  }

  /** When the running outage ends (ms since the epoch), 0 when there is none. */
  get outageUntil(): number {
    return this.#outageTimer === null ? 0 : this.#outageUntil;
  }

  #endOutage(): void {
    this.#outageTimer = null;
    this.#outageUntil = 0;
    for (const down of this.#waiting.splice(0)) this.#connect(down);
    this.emit('outageEnd');
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    if (this.#outageTimer !== null) clearTimeout(this.#outageTimer);
    this.#outageTimer = null;
    for (const down of this.#waiting.splice(0)) down.destroy();
    for (const link of [...this.#links]) {
      link.down.destroy();
      link.up.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
