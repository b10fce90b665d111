/**
 * Harness of the session-tools-II tests (command shells, file transfer): a real gateway on
 * loopback port 0 with a temporary data directory and the config asked for, a technician
 * ("tech-1") and a customer ("Alice") in an Active session with the reference clients. The
 * customer runs real shells (`/bin/sh`), on pipes unless `pty` asks for pseudo-terminals (so
 * tests of relaying, caps and recording read exact output, with no prompt or echo), and shares
 * a temporary directory for files; it grants
 * what `grant` lists when the technician asks (`tech.requestConsent`). No sleeps: tests wait on
 * events and on `settle`, a round trip after which every earlier frame has been handled.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { FerryClient } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { PermissionName } from '../../src/clients/permissions.js';
import type { CustomerShellOptions } from '../../src/clients/shells.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import type { ConfigKey } from '../../src/config/schema.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { startGateway } from '../integration/harness.js';

export { adminRequest } from '../api/harness.js';

export const Channel = ferry.v1.Channel;

export interface ToolsWorld {
  readonly gateway: Gateway;
  readonly dataDir: string;
  readonly tech: TechnicianClient;
  readonly customer: CustomerClient;
  readonly sessionId: string;
  /** The customer's shared directory. */
  readonly customerDir: string;
  /** A directory of the technician's own files. */
  readonly techDir: string;
}

export interface WorldOptions {
  readonly config?: Partial<Record<ConfigKey, unknown>>;
  /** What the customer grants when asked; nothing is asked when empty. */
  readonly grant?: readonly PermissionName[];
  readonly chunkBytes?: number;
  /** Run the customer's shells on pseudo-terminals, as the customer client does by default. */
  readonly pty?: boolean;
  /** More options of the customer's shells (over the harness defaults). */
  readonly shells?: Partial<CustomerShellOptions>;
}

export function tempDir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function world(t: TestContext, options: WorldOptions = {}): Promise<ToolsWorld> {
  const { gateway, url, dataDir } = await startGateway(t, options.config ?? {});
  const customerDir = tempDir(t, 'ferry-customer-');
  const techDir = tempDir(t, 'ferry-tech-');
  const files = options.chunkBytes ? { chunkBytes: options.chunkBytes } : {};
  const tech = new TechnicianClient({
    url,
    token: issueToken(gateway.config.secret, 'tech-1', 3600),
    name: 'tech-1',
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    files,
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url,
    pin,
    name: 'Alice',
    consent: options.grant ?? [],
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    shells: {
      defaultShell: '/bin/sh',
      backend: options.pty ? 'pty' : 'pipe',
      killGraceMs: 500,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      ...options.shells,
    },
    files: { dir: customerDir, ...files },
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  if ((options.grant ?? []).length > 0) await tech.requestConsent([...options.grant!]);
  return { gateway, dataDir, tech, customer, sessionId, customerDir, techDir };
}

/** Resolves once the gateway has handled every frame `client` sent before this call. */
export async function settle(client: FerryClient): Promise<void> {
  await client.request({ chatHistoryRequest: {} });
}

/** Gateway Errors `client` receives from now on, with the Frame.stream they name. */
export function streamErrors(
  client: FerryClient,
): { code: string; channel: number; stream: number }[] {
  const got: { code: string; channel: number; stream: number }[] = [];
  client.on('frame', (frame) => {
    const e = frame.event?.error;
    if (e) got.push({ code: e.code ?? '', channel: e.channel ?? 0, stream: frame.stream });
  });
  return got;
}

/** Session log details of `type` (shell, file, consent, ...). */
export function logDetails(gateway: Gateway, sessionId: string, type: string): string[] {
  const session = gateway.registry.get(sessionId);
  const entries = session?.log.entries ?? gateway.registry.reports.get(sessionId)?.log ?? [];
  return entries
    .filter((e) => e.kind === 'event' && e.type === type)
    .map((e) => (e.kind === 'event' ? e.detail : ''));
}
