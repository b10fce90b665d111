/**
 * A transfer's comment is for the technicians (the transfer is a technicians-only event of the
 * log, spec B7/F5): the owner sees it on its Outgoing entry and the target on its Incoming one,
 * the customer's StatusChanged for the same step never carries it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { startGateway } from '../integration/harness.js';
import { activePair, technician } from './tools-harness.js';

test("a transfer comment reaches the technicians' StatusChanged, never the customer's", async (t) => {
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activePair(t, gateway);
  const tech2 = await technician(t, gateway, 'tech-2');
  const comment = 'customer is difficult, check the billing notes';
  const seenByCustomer = waitFor(customer, 'status', (s) => s.sessionId === sessionId);
  const seenByTarget = waitFor(tech2, 'status', (s) => s.sessionId === sessionId);
  await tech.transfer('tech-2', comment);
  const [forCustomer] = await seenByCustomer;
  const [forTarget] = await seenByTarget;
  assert.equal(forTarget.comment, comment);
  assert.equal(forCustomer.comment ?? '', '');
});
