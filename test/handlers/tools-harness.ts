/**
 * Harness of the session-tool tests: a real gateway on loopback port 0 (the integration
 * harness's), a technician and a customer in an Active session whose consent is NOT yet asked
 * (each test decides what the customer grants), and `settle`, a round trip that proves every
 * frame a client sent before it was handled (its Errors arrive before the reply). No sleeps.
 */
import type { TestContext } from 'node:test';
import type { FerryClient, ReconnectOptions } from '../../src/clients/client.js';
import {
  type ConsentPolicy,
  CustomerClient,
  type SysinfoCollector,
} from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';

export { startGateway } from '../integration/harness.js';

export const Channel = ferry.v1.Channel;
export const Permission = ferry.v1.Permission;

export function url(gateway: Gateway): string {
  return `ws://127.0.0.1:${gateway.port}/v1/ws`;
}

export async function technician(
  t: TestContext,
  gateway: Gateway,
  name = 'tech-1',
  avatarRef = '',
  perms?: readonly string[],
): Promise<TechnicianClient> {
  const client = new TechnicianClient({
    url: url(gateway),
    token: issueToken(
      gateway.config.secret,
      name,
      3600,
      Date.now(),
      perms === undefined ? {} : { perms },
    ),
    name,
    avatarRef,
  });
  t.after(() => client.close());
  await client.connect();
  return client;
}

export interface PairOptions {
  readonly consent?: ConsentPolicy;
  readonly monitors?: number;
  readonly sysinfo?: SysinfoCollector;
  readonly customerName?: string;
  readonly avatarRef?: string;
  /** The customer's reconnect policy (default: the client's own). */
  readonly reconnect?: ReconnectOptions;
}

/** `tech-1` and a customer in an Active session; nothing granted yet. */
export async function activePair(
  t: TestContext,
  gateway: Gateway,
  options: PairOptions = {},
): Promise<{ tech: TechnicianClient; customer: CustomerClient; sessionId: string }> {
  const tech = await technician(t, gateway, 'tech-1', options.avatarRef ?? '');
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url: url(gateway),
    pin,
    name: options.customerName ?? 'Alice',
    screen: { tileBytes: 256, columns: 2, rows: 2 },
    consent: options.consent ?? 'deny',
    monitors: options.monitors ?? 1,
    ...(options.sysinfo ? { sysinfo: options.sysinfo } : {}),
    ...(options.reconnect ? { reconnect: options.reconnect } : {}),
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return { tech, customer, sessionId };
}

/**
 * Resolves once the gateway has handled every frame `client` sent before this call: the
 * gateway answers in order, so its Errors for those frames have been emitted by then.
 */
export async function settle(client: FerryClient): Promise<void> {
  await client.request({ chatHistoryRequest: {} });
}

/** Every gateway Error `client` receives outside a request, from now on. */
export function errorsOf(client: FerryClient): ferry.v1.Error[] {
  const errors: ferry.v1.Error[] = [];
  client.on('gatewayError', (e) => errors.push(e));
  return errors;
}

/** Every frame `client` receives on `channel` from now on, raw. */
export function framesOn(client: FerryClient, channel: number): Buffer[] {
  const got: Buffer[] = [];
  client.on('frame', (frame, raw) => {
    if (frame.channel === channel) got.push(Buffer.from(raw));
  });
  return got;
}

export const codes = (errors: readonly ferry.v1.Error[]): string[] => errors.map((e) => e.code);
