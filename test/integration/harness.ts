/**
 * Test harness: a real gateway on loopback port 0 with a temporary data directory, and helpers
 * that open a technician and a customer in an Active session with the reference clients; the
 * customer has granted view and control (the technician asked, the customer's policy said yes),
 * so screen and input flow as they did before consent was enforced. Everything is closed in
 * `t.after`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { resolveConfig } from '../../src/config/config.js';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway, type GatewayHooks } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';

export async function startGateway(
  t: TestContext,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
  hooks: GatewayHooks = {},
): Promise<{ gateway: Gateway; url: string; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-test-'));
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
  const gateway = await Gateway.start(config, silentLogger(), hooks);
  t.after(async () => {
    await gateway.close('test finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { gateway, url: `ws://127.0.0.1:${gateway.port}/v1/ws`, dataDir };
}

export async function technician(
  t: TestContext,
  gateway: Gateway,
  name = 'tech-1',
  extra: { pongDelayMs?: number } = {},
): Promise<TechnicianClient> {
  const client = new TechnicianClient({
    url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
    token: issueToken(gateway.config.secret, name, 3600),
    name,
    ...extra,
  });
  t.after(() => client.close());
  await client.connect();
  return client;
}

/** A technician and a customer in an Active session. */
export async function activeSession(
  t: TestContext,
  gateway: Gateway,
  options: {
    customerPongDelayMs?: number;
    technicianPongDelayMs?: number;
    customerName?: string;
  } = {},
): Promise<{ tech: TechnicianClient; customer: CustomerClient; sessionId: string }> {
  const tech = await technician(t, gateway, 'tech-1', {
    pongDelayMs: options.technicianPongDelayMs ?? 0,
  });
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({
    url: `ws://127.0.0.1:${gateway.port}/v1/ws`,
    pin,
    name: options.customerName ?? 'Alice',
    pongDelayMs: options.customerPongDelayMs ?? 0,
    screen: { tileBytes: 512 },
    consent: ['view', 'control'],
  });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  await tech.requestConsent(['view', 'control']);
  return { tech, customer, sessionId };
}

/** An Active session (`activeSession`) that `tech-2` joined as a collaborator on invitation. */
export async function activeWithCollaborator(t: TestContext, gateway: Gateway) {
  const active = await activeSession(t, gateway);
  const helper = await technician(t, gateway, 'tech-2');
  await active.tech.invite('tech-2', active.sessionId);
  await helper.acceptInvitation(active.sessionId);
  return { ...active, helper };
}

export interface RawPeer {
  ws: WebSocket;
  frames: ferry.v1.Frame[];
  errors: ferry.v1.Error[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the next Error event the gateway sends. */
  nextError(): Promise<ferry.v1.Error>;
  send(bytes: Uint8Array | string): void;
}

/** A bare `ws` socket for hostile-input tests: sends whatever bytes it is given. */
export async function rawPeer(t: TestContext, url: string): Promise<RawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const frames: ferry.v1.Frame[] = [];
  const errors: ferry.v1.Error[] = [];
  const waiting: ((e: ferry.v1.Error) => void)[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data: Buffer) => {
    const frame = ferry.v1.Frame.decode(data);
    frames.push(frame);
    const err = frame.event?.error as ferry.v1.Error | undefined;
    if (err) {
      const w = waiting.shift();
      if (w) w(err);
      else errors.push(err);
    }
  });
  t.after(() => {
    if (ws.readyState === WebSocket.OPEN) ws.close();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    errors,
    closed,
    nextError: () => {
      const queued = errors.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve) => waiting.push(resolve));
    },
    send: (bytes) => ws.send(bytes),
  };
}

export function encode(frame: ferry.v1.Frame.$Properties): Uint8Array {
  return ferry.v1.Frame.encode(frame).finish();
}

export function helloTechnician(token: string): Uint8Array {
  return encode({
    channel: ferry.v1.Channel.CHANNEL_CONTROL,
    control: { requestId: 1, hello: { role: ferry.v1.Role.ROLE_TECHNICIAN, token } },
  });
}

export function helloCustomer(pin: string): Uint8Array {
  return encode({
    channel: ferry.v1.Channel.CHANNEL_CONTROL,
    control: { requestId: 1, hello: { role: ferry.v1.Role.ROLE_CUSTOMER, pin } },
  });
}
