/**
 * A free port on 127.0.0.1 (bound, then closed again at once: the caller binds it next). For a
 * gateway that must come back on the same port after a restart: uWS sets SO_REUSEADDR only on
 * a fixed port, so a gateway first started on port 0 leaves connections in TIME_WAIT that block
 * its successor's bind. The soak and the restart tests share it.
 */
import net from 'node:net';

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
