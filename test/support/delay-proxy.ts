/**
 * A TCP proxy on 127.0.0.1 (port 0) in front of one target that delays every chunk, both ways,
 * by `delayMs`: a far-away gateway for the relay-choice tests. Order is kept (timers of one
 * delay fire in the order they were set). Closed in `t.after`.
 */
import net from 'node:net';
import type { TestContext } from 'node:test';

export async function delayProxy(
  t: TestContext,
  targetPort: number,
  delayMs: number,
): Promise<{ port: number; url: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(target);
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, delayMs);
      });
      from.on('end', () => setTimeout(() => to.end(), delayMs));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        setTimeout(() => to.destroy(), delayMs);
      });
    };
    pipe(client, target);
    pipe(target, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { port, url: `ws://127.0.0.1:${port}/v1/ws` };
}
