/**
 * Failover: the gateway that owns a session is killed (-9) mid-session; its technician and
 * customer reconnect to the survivors the Welcome named, one survivor takes the session over
 * from the copy of its journal the directory kept (Reconnecting, then Active), the other leg is
 * redirected to it, and no chat message either side had seen acknowledged is lost.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { issueToken } from '../../src/session/tokens.js';
import { serveProcess } from '../support/gateway-process.js';
import { startRedis } from '../support/redis.js';

const redis = await startRedis({ after });
const SECRET = 'the-secret-every-gateway-of-this-deployment-shares';

async function member(t: TestContext, id: string) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-failover-${id}-`));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return serveProcess(t, [
    '--port',
    '0',
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
    '--directory',
    redis.url,
    '--gateway-id',
    id,
    '--secret',
    SECRET,
    '--log-level',
    'info',
  ]);
}

test('kill -9 of the owning gateway: both legs recover on a survivor, no acknowledged chat lost', async (t) => {
  const a = await member(t, 'fo-a');
  await member(t, 'fo-b');
  await member(t, 'fo-c');

  const tech = new TechnicianClient({ url: a.url, token: issueToken(SECRET, 'tech', 3600) });
  t.after(() => tech.close());
  await tech.connect();
  // the Welcome names the survivors to come (the members list is read every 2 s)
  const { sessionId, pin } = await tech.createSession('customer');
  const customer = new CustomerClient({ url: a.url, pin, name: 'customer' });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  const welcome = await customer.connect();
  assert.equal(welcome.gatewayId, 'fo-a');
  await queued;
  // both know the two survivors to come (A reads its members every 2 s and tells its clients)
  for (const client of [tech, customer]) {
    if (client.alternates.length < 2)
      await waitFor(client, 'alternates', (urls) => urls.length === 2);
  }
  await tech.pickUp(sessionId);

  // chat both ways, each acknowledged by its echo before the kill
  const said: string[] = [];
  for (let i = 0; i < 20; i++) {
    const fromCustomer = `c${i}`;
    const echoed = waitFor(customer, 'chat', (m) => m.text === fromCustomer);
    customer.chat(fromCustomer);
    await echoed;
    const fromTech = `t${i}`;
    const back = waitFor(tech, 'chat', (m) => m.text === fromTech);
    tech.chat(fromTech);
    await back;
    said.push(fromCustomer, fromTech);
  }

  const statuses: string[] = [];
  tech.on('status', (s: ferry.v1.StatusChanged) => {
    statuses.push(ferry.v1.SessionStatus[s.status]);
  });
  const techBack = waitFor(tech, 'resumed', () => true, 30_000);
  const customerBack = waitFor(customer, 'resumed', () => true, 30_000);
  const killedAt = performance.now();
  a.child.kill('SIGKILL');
  const [[techWelcome], [customerWelcome]] = await Promise.all([techBack, customerBack]);
  const recoveredMs = performance.now() - killedAt;
  t.diagnostic(`both legs resumed ${Math.round(recoveredMs)} ms after the kill`);

  // one survivor holds the session, and both legs are on it
  const owner = customerWelcome.gatewayId;
  assert.ok(owner === 'fo-b' || owner === 'fo-c', `taken over by ${owner}`);
  assert.equal(techWelcome.gatewayId, owner);
  assert.equal(customerWelcome.sessionId, sessionId);
  assert.equal(customerWelcome.resumed, true);

  // Reconnecting, then Active again once both are back
  if (!statuses.includes('SESSION_STATUS_ACTIVE')) {
    await waitFor(tech, 'status', (s) => s.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE);
  }
  const reconnecting = statuses.indexOf('SESSION_STATUS_RECONNECTING');
  assert.ok(reconnecting >= 0, `statuses seen: ${statuses.join(', ')}`);
  assert.ok(statuses.indexOf('SESSION_STATUS_ACTIVE', reconnecting) > reconnecting);

  // every acknowledged message is in the session's log on the new owner
  const history = await tech.chatHistory(sessionId);
  const texts = history.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  const lost = said.filter((text) => !texts.includes(text));
  assert.deepEqual(lost, [], `lost: ${lost}; the new owner's log: ${texts}; statuses: ${statuses}`);

  // and the session goes on there, both ways
  const heard = waitFor(tech, 'chat', (m) => m.text === 'after the failover');
  customer.chat('after the failover');
  await heard;
  const answered = waitFor(customer, 'chat', (m) => m.text === 'welcome back');
  tech.chat('welcome back');
  await answered;
});
