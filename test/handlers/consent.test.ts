/**
 * Consent end to end (docs/spec/session-tools.md C1, C2): the gateway relays no SCREEN or INPUT
 * before the customer's grant and answers every attempt with FERRY_ERR_NOT_GRANTED; view and
 * control are distinct grants; a revocation applies to the very next frame; one technician
 * holds control and hands it over explicitly; every grant, denial and revocation is in the log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { toNames } from '../../src/clients/permissions.js';
import {
  activePair,
  Channel,
  codes,
  errorsOf,
  framesOn,
  Permission,
  settle,
  startGateway,
  technician,
} from './tools-harness.js';

const NOT_GRANTED = 'FERRY_ERR_NOT_GRANTED';

test('no screen or input is relayed before the customer consents, and every attempt gets FERRY_ERR_NOT_GRANTED', async (t) => {
  const { gateway } = await startGateway(t, { maxBadFrames: 1000 });
  const { tech, customer } = await activePair(t, gateway, { consent: ['view', 'control'] });
  const screenAtTech = framesOn(tech, Channel.CHANNEL_SCREEN);
  const customerErrors = errorsOf(customer);
  const techErrors = errorsOf(tech);

  let screenSent = 0;
  for (let i = 0; i < 5; i++) screenSent += customer.sendScreenFrame().length;
  for (let i = 0; i < 7; i++) tech.movePointer(i, i);
  await Promise.all([settle(customer), settle(tech)]);
  await settle(tech);
  assert.equal(screenAtTech.length, 0, 'no screen frame reached the technician');
  assert.equal(customer.inputEvents, 0, 'no input reached the customer');
  assert.deepEqual(codes(customerErrors), Array(screenSent).fill(NOT_GRANTED));
  assert.deepEqual(codes(techErrors), Array(7).fill(NOT_GRANTED));
  assert.ok(customerErrors.every((e) => e.channel === Channel.CHANNEL_SCREEN));
  assert.ok(techErrors.every((e) => e.channel === Channel.CHANNEL_INPUT));
  assert.equal(gateway.router.stats.outFrames[Channel.CHANNEL_SCREEN], 0);
  assert.equal(gateway.router.stats.outFrames[Channel.CHANNEL_INPUT], 0);

  // The technician asks, the customer's policy says yes: now both flow.
  const asked = waitFor(customer, 'consentRequest');
  const result = await tech.requestConsent(['view', 'control'], 'to fix the printer');
  const [request] = await asked;
  assert.equal(request.requestedBy, 'tech-1');
  assert.equal(request.reason, 'to fix the printer');
  assert.deepEqual(toNames(result.granted), ['view', 'control']);
  assert.deepEqual(result.denied, []);
  const sent = customer.sendScreenFrame();
  const moved = waitFor(customer, 'input', (i) => i.move?.x === 42);
  tech.movePointer(42, 43);
  await moved;
  await settle(customer);
  await settle(tech);
  assert.equal(screenAtTech.length, sent.length);
  assert.ok(
    screenAtTech.every((b, i) => b.equals(sent[i]!)),
    'the very same bytes',
  );
  assert.equal(customerErrors.length, screenSent, 'no new refusal once granted');
});

test('a view-only grant relays the screen but refuses input, and the technician hears what was denied', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view'] });
  const result = await tech.requestConsent(['view', 'control']);
  assert.deepEqual(toNames(result.granted), ['view']);
  assert.deepEqual(toNames(result.denied), ['control']);
  assert.equal(result.actor, 'Alice');

  const screenAtTech = framesOn(tech, Channel.CHANNEL_SCREEN);
  const techErrors = errorsOf(tech);
  const sent = customer.sendScreenFrame();
  tech.movePointer(1, 2);
  tech.click(3, 4);
  await settle(tech);
  await settle(customer);
  await settle(tech);
  assert.equal(screenAtTech.length, sent.length, 'screen relayed under the view grant');
  assert.equal(customer.inputEvents, 0, 'input refused without the control grant');
  assert.deepEqual(codes(techErrors), [NOT_GRANTED, NOT_GRANTED, NOT_GRANTED]);
});

test('a customer who denies grants nothing: the answer lists every permission as denied', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: 'deny' });
  const result = await tech.requestConsent(['view', 'control', 'sysinfo']);
  assert.deepEqual(result.granted, []);
  assert.deepEqual(toNames(result.denied), ['view', 'control', 'sysinfo']);
  const errors = errorsOf(customer);
  customer.sendScreenFrame();
  await settle(customer);
  assert.ok(errors.length > 0 && errors.every((e) => e.code === NOT_GRANTED));
});

test('revocation stops relaying at once: the next screen frame after the revoke is refused, and so is the next input', async (t) => {
  // no grace: this test is about the refusal itself (the revoke race is test/relay/revoke-grace)
  const { gateway } = await startGateway(t, { maxBadFrames: 1000, inputGraceMs: 0 });
  const { tech, customer } = await activePair(t, gateway, { consent: ['view', 'control'] });
  await tech.requestConsent(['view', 'control']);
  const screenAtTech = framesOn(tech, Channel.CHANNEL_SCREEN);
  const customerErrors = errorsOf(customer);

  // Pipelined on one connection: frame, revoke, frame. The gateway handles them in order.
  const [before] = customer.screens[0]!.nextFrame();
  const [after] = customer.screens[0]!.nextFrame();
  const revoked = waitFor(tech, 'consentChanged', (c) => c.removed.length > 0);
  customer.sendRaw(before!);
  customer.notify({ revokeConsent: { permissions: [Permission.PERMISSION_VIEW] } });
  customer.sendRaw(after!);
  const [changed] = await revoked;
  // view gone takes control with it
  assert.deepEqual(toNames(changed.removed), ['view', 'control']);
  assert.deepEqual(changed.granted, []);
  await settle(customer);
  await settle(tech);
  assert.equal(screenAtTech.length, 1, 'only the frame before the revoke was relayed');
  assert.ok(screenAtTech[0]!.equals(before!));
  assert.deepEqual(codes(customerErrors), [NOT_GRANTED]);

  // Control alone, granted again, then revoked: the technician's next input is refused.
  await customer.grant(['control']);
  const moved = waitFor(customer, 'input');
  tech.movePointer(5, 5);
  await moved;
  const techErrors = errorsOf(tech);
  const heard = waitFor(tech, 'consentChanged', (c) => c.removed.length > 0);
  await customer.revoke(['control']);
  await heard;
  tech.movePointer(6, 6);
  await settle(tech);
  assert.deepEqual(codes(techErrors), [NOT_GRANTED]);
  assert.equal(customer.inputEvents, 1);
  assert.equal(gateway.registry.get(customer.welcome!.sessionId)!.grants & 2, 2, 'view stays');
});

test('the session log records each request, grant, denial and revocation in order, and the report keeps them', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activePair(t, gateway, { consent: ['view'] });
  const events: string[] = [];
  customer.on('sessionEvent', (e) => {
    if (e.type === 'consent') events.push(e.detail);
  });
  await tech.requestConsent(['view', 'control']);
  tech.chat('thanks');
  await waitFor(customer, 'chat', (c) => c.text === 'thanks');
  await customer.revoke();
  await tech.endSession(sessionId, 'done');
  const report = gateway.registry.reports.get(sessionId)!;
  const consent = report.log.filter((e) => e.kind === 'chat' || e.type === 'consent');
  assert.deepEqual(
    consent.map((e) => (e.kind === 'chat' ? `chat: ${e.text}` : `${e.actor}: ${e.detail}`)),
    [
      'tech-1: tech-1 asked for view, control',
      'Alice: granted view (asked by tech-1)',
      'Alice: denied control (asked by tech-1)',
      'chat: thanks',
      'Alice: revoked view',
    ],
  );
  const seqs = report.log.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'one sequence for chat and events',
  );
  assert.deepEqual(events, [
    'tech-1 asked for view, control',
    'granted view (asked by tech-1)',
    'denied control (asked by tech-1)',
    'revoked view',
  ]);
});

test('control is held by one technician at a time and handed over explicitly, by the owner or the holder', async (t) => {
  // no grace: the refusal of input from a former holder is what is checked
  const { gateway } = await startGateway(t, { inputGraceMs: 0 });
  const {
    tech: owner,
    customer,
    sessionId,
  } = await activePair(t, gateway, {
    consent: ['view', 'control'],
  });
  await owner.requestConsent(['view', 'control']);
  const helper = await technician(t, gateway, 'tech-2');
  await owner.invite('tech-2');
  await helper.acceptInvitation(sessionId);

  // The owner holds control; the collaborator's input is refused.
  const helperErrors = errorsOf(helper);
  helper.movePointer(1, 1);
  await settle(helper);
  assert.deepEqual(codes(helperErrors), ['FERRY_ERR_NOT_CONTROLLER']);

  // A collaborator without control may not take it.
  await assert.rejects(helper.handOverControl('tech-2'), { code: 'FERRY_ERR_NOT_OWNER' });

  const toHelper = waitFor(customer, 'controlChanged', (c) => c.displayName === 'tech-2');
  await owner.handOverControl('tech-2');
  const [changed] = await toHelper;
  assert.equal(changed.actor, 'tech-1');
  const moved = waitFor(customer, 'input', (i) => i.move?.x === 77);
  helper.movePointer(77, 0);
  await moved;
  const ownerErrors = errorsOf(owner);
  owner.movePointer(9, 9);
  await settle(owner);
  assert.deepEqual(codes(ownerErrors), ['FERRY_ERR_NOT_CONTROLLER']);

  // The holder hands it back.
  const back = waitFor(owner, 'controlChanged', (c) => c.displayName === 'tech-1');
  await helper.handOverControl('tech-1');
  await back;
  const ownerMove = waitFor(customer, 'input', (i) => i.move?.x === 88);
  owner.movePointer(88, 0);
  await ownerMove;
  await assert.rejects(helper.handOverControl('nobody'), { code: 'FERRY_ERR_NOT_OWNER' });
  await assert.rejects(owner.handOverControl('nobody'), {
    code: 'FERRY_ERR_TECHNICIAN_NOT_FOUND',
  });
  const log = gateway.registry.get(sessionId)!.log.entries;
  assert.deepEqual(
    log
      .filter((e) => e.kind === 'event' && e.type === 'control')
      .map((e) => e.kind === 'event' && e.detail),
    ['tech-1 has control', 'tech-2 has control', 'tech-1 has control'],
  );
});

test('unknown or empty permissions are refused, and only the customer grants', async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer } = await activePair(t, gateway, { consent: ['view'] });
  await assert.rejects(
    tech.request({ consentRequest: { permissions: [99 as typeof Permission.PERMISSION_VIEW] } }),
    { code: 'FERRY_ERR_PERMISSION_UNAVAILABLE' },
  );
  await assert.rejects(tech.request({ consentRequest: { permissions: [] } }), {
    code: 'FERRY_ERR_PERMISSION_UNAVAILABLE',
  });
  await assert.rejects(
    customer.request({ consentResponse: { granted: [Permission.PERMISSION_UNSPECIFIED] } }),
    { code: 'FERRY_ERR_PERMISSION_UNAVAILABLE' },
  );
  await assert.rejects(
    tech.request({ consentResponse: { granted: [Permission.PERMISSION_VIEW] } }),
    { code: 'FERRY_ERR_WRONG_ROLE' },
  );
  await assert.rejects(tech.request({ revokeConsent: {} }), { code: 'FERRY_ERR_WRONG_ROLE' });
  await assert.rejects(customer.request({ consentResponse: { consentId: 999, granted: [] } }), {
    code: 'FERRY_ERR_UNKNOWN_REQUEST',
  });
  await assert.rejects(tech.requestConsent(['view'], '', 'no-such-session'), {
    code: 'FERRY_ERR_SESSION_NOT_FOUND',
  });
  const stranger = await technician(t, gateway, 'tech-9');
  await assert.rejects(stranger.requestConsent(['view'], '', customer.welcome!.sessionId), {
    code: 'FERRY_ERR_NOT_IN_SESSION',
  });
});
