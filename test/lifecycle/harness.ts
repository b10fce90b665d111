/**
 * End-to-end harness of the lifecycle tests: a real gateway on loopback port 0 whose lifecycle
 * clock a test can move (`clock.advance`, picked up by the gateway's next shared-clock tick),
 * reference technicians and customers, and waits on the events they receive (never sleeps).
 * Everything is closed in `t.after`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import {
  type ClientEvents,
  type FerryClient,
  type ReconnectOptions,
  waitFor,
} from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { resolveConfig } from '../../src/config/config.js';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway, type GatewayHooks } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';

export const Status = ferry.v1.SessionStatus;
export type StatusName = keyof typeof ferry.v1.SessionStatus;

/** A wall clock that runs with real time plus whatever the test adds. */
export class TestClock {
  offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface Started {
  readonly gateway: Gateway;
  readonly url: string;
  readonly dataDir: string;
  readonly clock: TestClock;
}

export async function startGateway(
  t: TestContext,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
  hooks: GatewayHooks = {},
): Promise<Started> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-lifecycle-'));
  const config = resolveConfig(
    {
      host: '127.0.0.1',
      port: 0,
      adminPort: 0,
      dataDir,
      logLevel: 'silent',
      // Every test client comes from 127.0.0.1: per-address limits are tested on their own.
      pinAttemptsPerMinute: 100_000,
      pinAttemptsPerSecond: 100_000,
      ...overrides,
    },
    {},
  );
  const clock = new TestClock();
  const gateway = await Gateway.start(config, silentLogger(), { clock: clock.now, ...hooks });
  t.after(async () => {
    await gateway.close('test finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { gateway, url: `ws://127.0.0.1:${gateway.port}/v1/ws`, dataDir, clock };
}

/** Fast reconnects for tests; `MANUAL` waits for `resumeNow()`. */
const FAST: ReconnectOptions = { initialDelayMs: 20, maxDelayMs: 200 };
export const MANUAL: ReconnectOptions = {
  initialDelayMs: 3_600_000,
  maxDelayMs: 3_600_000,
  giveUpAfterMs: 0,
};

export async function technician(
  t: TestContext,
  started: Started,
  name: string,
  reconnect: ReconnectOptions = FAST,
): Promise<TechnicianClient> {
  const client = new TechnicianClient({
    url: started.url,
    token: issueToken(started.gateway.config.secret, name, 3600),
    name,
    reconnect,
  });
  t.after(() => client.close());
  await client.connect();
  return client;
}

/** A customer joined to `tech`'s new session (Waiting). */
export async function waitingSession(
  t: TestContext,
  started: Started,
  tech: TechnicianClient,
  name = 'Alice',
  reconnect: ReconnectOptions = FAST,
): Promise<{ customer: CustomerClient; sessionId: string }> {
  const { sessionId, pin } = await tech.createSession(`${name} at ACME`);
  const customer = new CustomerClient({
    url: started.url,
    pin,
    name,
    screen: { tileBytes: 256 },
    rebootDelayMs: 50,
    reconnect,
    consent: ['view', 'control'],
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  return { customer, sessionId };
}

/** `tech` and a customer in an Active session; the customer granted view and control. */
export async function activeSession(
  t: TestContext,
  started: Started,
  tech: TechnicianClient,
  name = 'Alice',
  reconnect: ReconnectOptions = FAST,
): Promise<{ customer: CustomerClient; sessionId: string }> {
  const joined = await waitingSession(t, started, tech, name, reconnect);
  await tech.pickUp(joined.sessionId);
  await tech.requestConsent(['view', 'control'], '', joined.sessionId);
  return joined;
}

/** Resolves with the next StatusChanged of `client` for `sessionId` to `status`. */
export async function statusOf(
  client: FerryClient,
  sessionId: string,
  status: StatusName,
  timeoutMs = 10_000,
): Promise<ferry.v1.StatusChanged> {
  const [changed] = await waitFor(
    client,
    'status',
    (s) => s.sessionId === sessionId && s.status === Status[status],
    timeoutMs,
  );
  return changed;
}

/** Resolves with the next event `name` of `client` that satisfies `match`. */
export function next<K extends keyof ClientEvents>(
  client: FerryClient,
  name: K,
  match: (...args: ClientEvents[K]) => boolean = () => true,
): Promise<ClientEvents[K]> {
  return waitFor(client, name, match);
}

export const statusName = (wire: number): string =>
  (Status[wire] ?? String(wire)).replace('SESSION_STATUS_', '');
