/**
 * System information end to end (docs/spec/session-tools.md D1-D3): refused without the customer's
 * SYSINFO grant, answered with it, by the customer client collecting from the real machine, to
 * the technician who asked only; a refresh collects again; a revocation refuses the next one.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { collectSysinfo } from '../../src/clients/sysinfo.js';
import {
  activePair,
  Channel,
  framesOn,
  settle,
  startGateway,
  technician,
} from './tools-harness.js';

test('system information is refused without the grant and answered with it, to the technician who asked; a refresh collects again', async (t) => {
  const { gateway } = await startGateway(t);
  const asked: string[][] = [];
  const { tech, customer, sessionId } = await activePair(t, gateway, {
    consent: ['view', 'sysinfo'],
    sysinfo: (categories) => {
      asked.push([...categories]);
      return collectSysinfo(categories);
    },
  });
  await assert.rejects(tech.requestSysinfo(['os']), { code: 'FERRY_ERR_NOT_GRANTED' });
  assert.equal(customer.sysinfoRequests, 0, 'nothing reached the customer');

  const granted = await tech.requestConsent(['sysinfo']);
  assert.deepEqual(granted.denied, []);
  const helper = await technician(t, gateway, 'tech-2');
  await tech.invite('tech-2');
  await helper.acceptInvitation(sessionId);
  const atHelper = framesOn(helper, Channel.CHANNEL_SYSINFO);

  const first = await tech.requestSysinfo(['os', 'hardware']);
  assert.equal(first.error, '');
  assert.equal(first.snapshot.categories.os.hostname, os.hostname());
  assert.equal(first.snapshot.categories.os.platform, process.platform);
  assert.equal(first.snapshot.categories.hardware.cores, os.cpus().length);
  const refreshed = await tech.requestSysinfo(['os'], true);
  assert.ok(Date.parse(refreshed.snapshot.collectedAt) >= Date.parse(first.snapshot.collectedAt));
  assert.deepEqual(asked, [['os', 'hardware'], ['os']], 'collected afresh on every request');
  // The collaborator asks for its own: it gets its answer, and never the owner's.
  const own = await helper.requestSysinfo(['network']);
  assert.ok(Array.isArray(own.snapshot.categories.network.interfaces));
  await settle(helper);
  assert.equal(atHelper.length, 1, 'the collaborator received only its own answer');

  const log = gateway.registry.get(sessionId)!.log.entries;
  assert.deepEqual(
    log
      .filter((e) => e.kind === 'event' && e.type === 'sysinfo')
      .map((e) => e.kind === 'event' && e.detail),
    [
      'tech-1 viewed system information: os, hardware',
      'tech-1 refreshed system information: os',
      'tech-2 viewed system information: network',
    ],
  );

  // Revoked: the next request is refused at the gateway.
  const heard = waitFor(tech, 'consentChanged', (c) => c.removed.length > 0);
  await customer.revoke(['sysinfo']);
  await heard;
  await assert.rejects(tech.requestSysinfo(['os']), { code: 'FERRY_ERR_NOT_GRANTED' });
  assert.equal(customer.sysinfoRequests, 3);
});

test('the customer may not ask for system information, and answers only requests that are pending', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['sysinfo'] });
  await tech.requestConsent(['sysinfo']);
  const errors: string[] = [];
  customer.on('gatewayError', (e) => errors.push(e.code));
  customer.send({ channel: Channel.CHANNEL_SYSINFO, sysinfoRequest: { requestId: 1 } });
  customer.send({
    channel: Channel.CHANNEL_SYSINFO,
    sysinfoResponse: { requestId: 1, ticket: 12345, json: '{}' },
  });
  await settle(customer);
  assert.deepEqual(errors, ['FERRY_ERR_FRAME_DECODE', 'FERRY_ERR_UNKNOWN_REQUEST']);
});

test('a revocation while a request waits refuses it at once to the technician, and the late answer is not relayed', async (t) => {
  const { gateway } = await startGateway(t, { maxBadFrames: 1000 });
  const held = deferred();
  const asked = deferred();
  const { tech, customer } = await activePair(t, gateway, {
    consent: ['sysinfo'],
    sysinfo: async (categories) => {
      asked.resolve();
      await held.promise;
      return collectSysinfo(categories);
    },
  });
  await tech.requestConsent(['sysinfo']);
  const atTech = framesOn(tech, Channel.CHANNEL_SYSINFO);
  const answer = tech.requestSysinfo(['os']);
  await asked.promise;
  const refusedAtOnce = assert.rejects(answer, { code: 'FERRY_ERR_NOT_GRANTED' });
  await customer.revoke(['sysinfo']);
  await refusedAtOnce;

  // The customer's collector finishes after the revocation: its answer is refused at the gateway.
  const refused = waitFor(customer, 'gatewayError', (e) => e.code === 'FERRY_ERR_NOT_GRANTED');
  held.resolve();
  const [error] = await refused;
  assert.equal(error.channel, Channel.CHANNEL_SYSINFO);
  await settle(tech);
  assert.equal(atTech.length, 0, 'no system information reached the technician');
});

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('a technician whose token lacks the sysinfo permission may neither ask for the grant nor read, even with the grant in force', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activePair(t, gateway, { consent: ['sysinfo'] });
  const limited = await technician(t, gateway, 'tech-2', '', []);
  await tech.invite('tech-2');
  await limited.acceptInvitation(sessionId);
  await assert.rejects(limited.requestConsent(['view', 'sysinfo']), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  // The customer granted it to the session: still refused for this technician, on every request.
  await tech.requestConsent(['sysinfo']);
  await assert.rejects(limited.requestSysinfo(['os']), { code: 'FERRY_ERR_PERMISSION_DENIED' });
  await assert.rejects(limited.requestSysinfo(['os'], true), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  assert.equal(customer.sysinfoRequests, 0, 'nothing reached the customer');
  // A token that lists the permission reads as before.
  const privileged = await technician(t, gateway, 'tech-3', '', ['sysinfo']);
  await tech.invite('tech-3');
  await privileged.acceptInvitation(sessionId);
  const answer = await privileged.requestSysinfo(['os']);
  assert.equal(answer.snapshot.categories.os.hostname, os.hostname());
});

test('system information is read only while the session is live: on hold it is refused and reaches no customer', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['sysinfo'] });
  await tech.requestConsent(['sysinfo']);
  await tech.hold();
  await assert.rejects(tech.requestSysinfo(['os']), { code: 'FERRY_ERR_WRONG_STATE' });
  assert.equal(customer.sysinfoRequests, 0, 'nothing reached the customer');
  await tech.unhold();
  const answer = await tech.requestSysinfo(['os']);
  assert.equal(answer.snapshot.categories.os.hostname, os.hostname());
  assert.equal(customer.sysinfoRequests, 1);
});
