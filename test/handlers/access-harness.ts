/**
 * Harness of the session tools II tests (special actions, elevation, unattended access,
 * after-session actions): a real gateway on loopback port 0, technicians whose tokens carry
 * permission and team claims, a customer with `CustomerTools`, and fake operator commands
 * (small shell scripts in a temporary directory) that leave a line in a file each time they run,
 * so a test counts runs instead of sleeping.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type ConsentPolicy, CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { TechnicianAccess } from '../../src/clients/technician-access.js';
import { CustomerTools, type CustomerToolsOptions } from '../../src/clients/unattended.js';
import type { Gateway } from '../../src/gateway.js';
import { issueToken } from '../../src/session/tokens.js';
import type { ActionCommand } from '../../src/tools/after-session.js';

export { startGateway } from '../integration/harness.js';

export function url(gateway: Gateway): string {
  return `ws://127.0.0.1:${gateway.port}/v1/ws`;
}

export interface TechOptions {
  readonly perms?: readonly string[];
  readonly teams?: readonly string[];
}

/** A connected technician whose token carries `perms` and `teams` (absent: gateway defaults). */
export async function technician(
  t: TestContext,
  gateway: Gateway,
  name: string,
  claims: TechOptions = {},
): Promise<{ tech: TechnicianClient; access: TechnicianAccess }> {
  const tech = new TechnicianClient({
    url: url(gateway),
    token: issueToken(gateway.config.secret, name, 3600, Date.now(), {
      ...(claims.perms === undefined ? {} : { perms: claims.perms }),
      ...(claims.teams === undefined ? {} : { teams: claims.teams }),
    }),
    name,
  });
  t.after(() => tech.close());
  await tech.connect();
  return { tech, access: new TechnicianAccess(tech) };
}

export interface PairOptions extends TechOptions {
  readonly consent?: ConsentPolicy;
  readonly tools?: CustomerToolsOptions;
  readonly name?: string;
  /** The customer resumes a lost connection (a reboot); default false. */
  readonly reconnect?: boolean;
}

/** `tech-1` (with the claims given) and a customer with `CustomerTools` in an Active session. */
export async function activePair(t: TestContext, gateway: Gateway, options: PairOptions = {}) {
  const { tech, access } = await technician(t, gateway, options.name ?? 'tech-1', options);
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url: url(gateway),
    pin,
    name: 'Alice',
    consent: options.consent ?? 'deny',
    ...(options.reconnect ? { rebootDelayMs: 50 } : { reconnect: false as const }),
  });
  t.after(() => customer.close());
  const tools = new CustomerTools(customer, options.tools ?? {});
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return { tech, access, customer, tools, sessionId };
}

/** A temporary directory removed after the test. */
export function tempDir(t: TestContext, prefix = 'ferry-access-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fake operator command: appends `<label> <FERRY_SESSION_ID>` to `<dir>/runs.log` and exits
 * with `exitCode`. Returns the command and a reader of the lines written so far.
 */
export function fakeCommand(
  dir: string,
  label: string,
  exitCode = 0,
): { command: ActionCommand; runs: () => string[] } {
  const log = path.join(dir, 'runs.log');
  const command = [
    '/bin/sh',
    '-c',
    `printf '%s %s\\n' "$0" "$FERRY_SESSION_ID" >> "$1"; exit ${exitCode}`,
    label,
    log,
  ];
  const runs = () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`${label} `))
      : [];
  return { command, runs };
}
