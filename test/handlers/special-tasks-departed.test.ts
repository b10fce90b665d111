/**
 * A special task's (or canned script's, or elevation's) result goes to the technician who asked,
 * and only while it still works the session: once the owner removed it (spec A2.3), what the
 * customer's machine answers reaches it no more.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { controlFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { startGateway, technician, url } from './access-harness.js';

test('a special task result is not delivered to a collaborator removed after it asked', async (t) => {
  const { gateway } = await startGateway(t);
  const perms = ['special_actions'];
  const { tech } = await technician(t, gateway, 'tech-1', { perms });
  const { tech: tech2 } = await technician(t, gateway, 'tech-2', { perms });
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url: url(gateway), pin, name: 'Alice', reconnect: false });
  customer.specialTasks = [{ id: 'whoami', name: 'Who am I' }];
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  const invited = waitFor(tech2, 'status', (s) => s.sessionId === sessionId);
  await tech.invite('tech-2');
  await invited;
  await tech2.acceptInvitation(sessionId);

  const asked = waitFor(customer, 'frame', (f) => f.control?.specialAction != null);
  tech2.sendRaw(
    controlFrame({
      requestId: 9,
      specialAction: {
        sessionId,
        actionId: 'whoami',
        context: ferry.v1.SpecialActionContext.SPECIAL_ACTION_CONTEXT_CURRENT_USER,
      },
    }),
  );
  const [frame] = await asked;
  const ticket = frame.control!.specialAction!.ticket;
  await tech.removeCollaborator('tech-2');

  const results: string[] = [];
  tech2.on('frame', (f) => {
    if (f.control?.specialActionResult) results.push(f.control.specialActionResult.output ?? '');
  });
  customer.sendRaw(
    controlFrame({ specialActionResult: { ticket, exitCode: 0, output: 'secret-output' } }),
  );
  await customer.request({ chatHistoryRequest: {} });
  await tech2.listQueue();
  assert.deepEqual(results, []);
});
