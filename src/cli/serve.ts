/**
 * `ferry serve`: runs the gateway with the configuration from flags, environment, `--config FILE`
 * and defaults; a bad value or a broken rule stops it (exit 2) before it listens.
 * The first SIGINT or SIGTERM drains (exit 0 once done, 1 if stopping fails); a second one
 * exits at once with 1. SIGHUP reloads the TLS certificates (docs/tls.md). With `--workers N`
 * (N > 1) it supervises N gateway processes instead (src/cli/workers.ts).
 */
import { workerCount } from '../config/config.js';
import { Gateway } from '../gateway.js';
import { createLogger, dropLogOutput } from '../log.js';
import {
  configFrom,
  defineCommand,
  ExitCode,
  type ExitRequest,
  withConfigOptions,
} from './common.js';
import { envNotInForce, flagsNotInForce } from './node-flags.js';
import { runWorkers } from './workers.js';

async function serve(argv: Record<string, unknown>): Promise<ExitRequest> {
  // every value and rule is checked here, before anything listens
  const { config } = configFrom(argv);
  const logger = createLogger(config.logLevel);
  const missing = [...flagsNotInForce(), ...envNotInForce()];
  if (missing.length > 0) {
    logger.warn(
      { missing },
      `node was started without ${missing.join(' ')}: the gateway runs, with more memory after a burst of connections; start it as npm start, the systemd unit and the container image do (docs/operations.md#how-node-is-launched)`,
    );
  }
  if (workerCount(config.workers) > 1) return runWorkers(config, logger);
  const gateway = await Gateway.start(config, logger);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting at once');
        resolve(ExitCode.failure);
        return;
      }
      stopping = true;
      logger.info(
        { signal, drainTimeoutSeconds: config.drainTimeoutSeconds },
        'draining: a second signal exits at once',
      );
      gateway.drain(`received ${signal}`).then(
        () => resolve(ExitCode.ok),
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          resolve(ExitCode.failure);
        },
      );
    };
    // a drain asked for through the admin API (POST /api/v1/drain) ends the process too
    gateway.stopped().then(() => resolve(ExitCode.ok));
    // A worker of `--workers`: its supervisor decides (a Ctrl-C reaches the whole process
    // group; the supervisor turns it into one SIGTERM per worker), and a worker whose
    // supervisor is gone (killed) drains and exits rather than run on unsupervised.
    const supervised = process.env.FERRY_SUPERVISED === '1' && process.send !== undefined;
    if (supervised) {
      process.on('SIGINT', () => undefined);
      process.channel?.unref();
      process.on('disconnect', () => {
        // stdout was the supervisor's pipe: nothing may wait on it now (see dropLogOutput)
        dropLogOutput();
        stop('supervisor gone');
      });
    } else process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP: load the TLS certificate files again; open connections keep theirs.
    process.on('SIGHUP', () => gateway.reloadTls('SIGHUP'));
  });
}

export const serveCommand = defineCommand({
  command: 'serve',
  describe: 'run the gateway (client WebSocket port and admin port)',
  builder: (y) => withConfigOptions(y),
  run: (argv) => serve(argv as Record<string, unknown>),
});
