/**
 * Harness for the admin-port tests: a real gateway on loopback port 0 (temporary data directory,
 * fast heartbeats), a technician and a customer in an Active session with the reference clients,
 * and `adminRequest` for the admin API (any method, a JSON body, extra headers). Everything opened here is closed in `t.after`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { resolveConfig } from '../../src/config/config.js';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway, type GatewayHooks } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { issueToken } from '../../src/session/tokens.js';

export async function startGateway(
  t: TestContext,
  hooks: GatewayHooks = {},
  overrides: Partial<Record<ConfigKey, unknown>> = {},
): Promise<Gateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-api-'));
  const config = resolveConfig(
    {
      host: '127.0.0.1',
      port: 0,
      adminPort: 0,
      dataDir,
      logLevel: 'silent',
      pinAttemptsPerMinute: 100_000,
      pinAttemptsPerSecond: 100_000,
      heartbeatIntervalMs: 100,
      locationName: 'Frankfurt, DE',
      locationRegion: 'eu-central',
      ...overrides,
    },
    {},
  );
  const gateway = await Gateway.start(config, silentLogger(), hooks);
  t.after(async () => {
    await gateway.close('test finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return gateway;
}

export const clientUrl = (gateway: Gateway): string => `ws://127.0.0.1:${gateway.port}/v1/ws`;

export interface ActiveSession {
  readonly tech: TechnicianClient;
  readonly customer: CustomerClient;
  readonly sessionId: string;
}

/** A technician ("tech-1") and a customer ("Alice") in an Active session, view and control granted. */
export async function activeSession(t: TestContext, gateway: Gateway): Promise<ActiveSession> {
  const tech = new TechnicianClient({
    url: clientUrl(gateway),
    token: issueToken(gateway.config.secret, 'tech-1', 3600),
    name: 'tech-1',
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession('Alice at ACME');
  const customer = new CustomerClient({
    url: clientUrl(gateway),
    pin,
    name: 'Alice',
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

/** Sends `count` rounds of screen frames and resolves once the technician has received them all. */
export async function relayScreen(
  session: ActiveSession,
  count: number,
): Promise<{ frames: number; bytes: number }> {
  const { tech, customer } = session;
  let frames = 0;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    for (const tile of customer.sendScreenFrame()) {
      frames++;
      bytes += tile.byteLength;
    }
  }
  const target = tech.screenFrames + frames;
  if (tech.screenFrames < target) {
    await new Promise<void>((resolve) => {
      const onFrame = () => {
        if (tech.screenFrames < target) return;
        tech.off('frame', onFrame);
        resolve();
      };
      tech.on('frame', onFrame);
    });
  }
  return { frames, bytes };
}

export interface AdminReply {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
  readonly json: any;
}

/** GET (or `method`) on the admin port; `token` becomes a Bearer header unless `authorization` is given. */
export async function adminRequest(
  gateway: Gateway,
  urlPath: string,
  options: {
    token?: string;
    authorization?: string;
    method?: string;
    /** Sent as JSON. */
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<AdminReply & { headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${gateway.adminPort}${urlPath}`, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    contentType,
    text,
    json: contentType.startsWith('application/json') ? JSON.parse(text) : undefined,
    headers: res.headers,
  };
}
