/**
 * The step most session tests begin with: a customer joins the technician's session with its PIN
 * and the technician picks it up, so the session is Active.
 */
import type { TestContext } from 'node:test';
import { CustomerClient, type CustomerOptions } from '../../src/clients/customer.js';
import type { TechnicianClient } from '../../src/clients/technician.js';

export async function joinAndPickUp(
  t: TestContext,
  tech: TechnicianClient,
  sessionId: string,
  options: CustomerOptions,
): Promise<CustomerClient> {
  const customer = new CustomerClient(options);
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  await tech.pickUp(sessionId);
  return customer;
}
