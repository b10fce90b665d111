/**
 * The gateway's message path without sockets: a session registry, the handlers, the two tables
 * and the router, wired as `Gateway` wires them (src/handlers/index.ts), for unit tests that
 * drive `router.onMessage` with fake peers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/config/config.js';
import { buildRelay, type Relay } from '../../src/handlers/index.js';
import { silentLogger } from '../../src/log.js';
import type { ChannelRow } from '../../src/relay/routes.js';
import { CannedScriptLibrary } from '../../src/session/canned-scripts.js';
import { SessionRegistry } from '../../src/session/registry.js';
import { JumpClientRegistry } from '../../src/tools/jump-clients.js';

export interface UnitRelay extends Relay {
  readonly registry: SessionRegistry;
  /** Pongs seen: [peer id, seq]. */
  readonly pongs: [string, number][];
  /** Technicians that asked for NetworkStats, by peer id. */
  readonly statsAsked: string[];
}

export async function unitRelay(
  overrides: Record<string, unknown> = {},
  extraChannels: readonly ChannelRow[] = [],
): Promise<UnitRelay> {
  const config = resolveConfig({ ...overrides }, {});
  const logger = silentLogger();
  const registry = new SessionRegistry({ pinLength: 9, pinTtlMs: 60_000, logger });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-relay-'));
  const jumpClients = await JumpClientRegistry.open({ dir, pepper: 'unit-test-pepper' });
  const pongs: [string, number][] = [];
  const statsAsked: string[] = [];
  const relay = buildRelay({
    config,
    registry,
    jumpClients,
    scripts: new CannedScriptLibrary(),
    pongs: {
      onPong: (peer, seq) => {
        pongs.push([peer.id, seq]);
        return -1;
      },
    },
    pushStats: (peer) => statsAsked.push(peer.id),
    gatewayId: 'test',
    version: '0',
    logger,
    extraChannels,
  });
  return { ...relay, registry, pongs, statsAsked };
}
