/**
 * The answer to a consent request goes back to the technician who asked (consent_result) only
 * while it still works the session: one removed before the customer answered hears nothing of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import type { PermissionName } from '../../src/clients/permissions.js';
import { controlFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway } from '../integration/harness.js';
import { activePair, technician } from './tools-harness.js';

test('a consent result is not delivered to a collaborator removed before the customer answered', async (t) => {
  const { gateway } = await startGateway(t);
  let answer: (granted: readonly PermissionName[]) => void = () => undefined;
  let prompted: () => void = () => undefined;
  const prompt = new Promise<void>((resolve) => {
    prompted = resolve;
  });
  const { tech, sessionId } = await activePair(t, gateway, {
    consent: () =>
      new Promise<readonly PermissionName[]>((resolve) => {
        answer = resolve;
        prompted();
      }),
  });
  const tech2 = await technician(t, gateway, 'tech-2');
  const invited = waitFor(tech2, 'status', (s) => s.sessionId === sessionId);
  await tech.invite('tech-2');
  await invited;
  await tech2.acceptInvitation(sessionId);

  const results: number[][] = [];
  tech2.on('frame', (f) => {
    if (f.control?.consentResult) results.push([...(f.control.consentResult.granted ?? [])]);
  });
  tech2.sendRaw(
    controlFrame({
      requestId: 5,
      consentRequest: { sessionId, permissions: [ferry.v1.Permission.PERMISSION_VIEW] },
    }),
  );
  await prompt;
  await tech.removeCollaborator('tech-2');
  const changed = waitFor(tech, 'frame', (f) => f.event?.consentChanged != null);
  answer(['view']);
  await changed;
  await tech2.listQueue();
  assert.deepEqual(results, []);
});
