/**
 * OS-specific special tasks, the elevation policy and team queues end to end (spec
 * session-tools C4.4, C4.5, A1.6, A3): the customer client advertises its operator's tasks for
 * its platform (never a command on the wire); a technician with `special_actions` lists and runs
 * them; the gateway refuses unadvertised tasks and contexts, SYSTEM on an unelevated client, and
 * every wrong role or state with a code; AS_USER runs through the customer's own run-as prompt
 * and no credential reaches the gateway; runs are logged, results for technicians only. With
 * `elevateOnSessionStart` the gateway asks the customer to elevate at pick-up by itself, once.
 * ListQueue shows support button sessions to the technicians of the button's team only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import type { SpecialTaskConfig, SpecialTaskOptions } from '../../src/clients/special-tasks.js';
import { parseSpecialTasks } from '../../src/clients/special-tasks.js';
import { CustomerTools, UnattendedCustomer } from '../../src/clients/unattended.js';
import type { Gateway } from '../../src/gateway.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { activePair, startGateway, technician, tempDir, url } from './access-harness.js';

const C = ferry.v1.SpecialActionContext;
const BIN = path.resolve('bin/ferry.js');
const OTHER_PLATFORM = 'plan9';

const TASKS: SpecialTaskConfig[] = [
  {
    id: 'flush-dns',
    name: 'Flush DNS cache',
    description: 'forgets cached names',
    command: 'echo "flushed for $FERRY_REQUESTED_BY as $FERRY_TASK_CONTEXT"; echo warn >&2; exit 2',
    platforms: [process.platform],
  },
  { id: 'defrag', name: 'Defragment', command: 'echo defrag', platforms: [OTHER_PLATFORM] },
  {
    id: 'restart-spooler',
    name: 'Restart print spooler',
    command: ['/bin/sh', '-c', 'echo "spooler $FERRY_TASK_CONTEXT $FERRY_AS_SYSTEM"'],
    contexts: ['current_user', 'system', 'as_user'],
  },
];

/** Every data field of a generated message type (no methods). */
function fieldsOf(message: object): string[] {
  const fields: string[] = [];
  for (const key in message) {
    if (typeof (message as Record<string, unknown>)[key] !== 'function') fields.push(key);
  }
  return fields;
}

function events(history: ferry.v1.ChatHistory, type: string): [string, string][] {
  return history.entries
    .map((e) => e.event)
    .filter((e) => e?.type === type)
    .map((e) => [e!.actor ?? '', e!.detail ?? '']);
}

test('special tasks: advertised for the platform, run by id, logged with their result for technicians only', async (t) => {
  const { gateway } = await startGateway(t);
  const dir = tempDir(t);
  // the run-as command stands for a local OS prompt: it reads what the customer "typed"
  const typed = path.join(dir, 'typed');
  fs.writeFileSync(typed, 'hunter2-secret\n', { mode: 0o600 });
  const runAs = [
    '/bin/sh',
    '-c',
    'read pw < "$0"; [ "$pw" = hunter2-secret ] || exit 77; exec "$@"',
    typed,
  ];
  const specialTasks: SpecialTaskOptions = { tasks: TASKS, runAsCommand: runAs };
  const { access, tech, customer, tools, sessionId } = await activePair(t, gateway, {
    perms: ['special_actions'],
    tools: { specialTasks },
  });

  const listed = await access.listSpecialActions();
  assert.equal(listed.sessionId, sessionId);
  assert.equal(listed.platform, process.platform);
  assert.equal(listed.elevated, false);
  assert.deepEqual(
    listed.actions.map((a) => [a.id, a.name, a.contexts]),
    [
      ['flush-dns', 'Flush DNS cache', [C.SPECIAL_ACTION_CONTEXT_CURRENT_USER]],
      [
        'restart-spooler',
        'Restart print spooler',
        [
          C.SPECIAL_ACTION_CONTEXT_CURRENT_USER,
          C.SPECIAL_ACTION_CONTEXT_SYSTEM,
          C.SPECIAL_ACTION_CONTEXT_AS_USER,
        ],
      ],
    ],
    'only the tasks for this platform are offered',
  );
  // ids, names and contexts only: no command, and no credential, in any of these messages
  for (const message of [
    new ferry.v1.SpecialTaskInfo(),
    new ferry.v1.SpecialAction(),
    new ferry.v1.SpecialActionResult(),
    new ferry.v1.ListSpecialActions(),
    new ferry.v1.SpecialActions(),
  ]) {
    const fields = fieldsOf(message);
    assert.ok(
      !fields.some((f) => /command|body|argv|password|secret|credential|user/i.test(f)),
      fields.join(),
    );
  }

  const relayed = waitFor(customer, 'control', (c) => c.specialAction != null);
  const result = await access.runSpecialAction('flush-dns');
  const [seen] = await relayed;
  assert.equal(seen.specialAction!.requestedBy, 'tech-1');
  assert.equal(seen.specialAction!.actionId, 'flush-dns');
  assert.equal(result.exitCode, 2);
  assert.equal(result.actionId, 'flush-dns');
  assert.equal(result.context, C.SPECIAL_ACTION_CONTEXT_CURRENT_USER);
  assert.match(result.output, /flushed for tech-1 as current_user/);
  assert.match(result.output, /warn/);
  assert.equal(result.ranBy, 'Alice');
  assert.equal(result.error, '');

  // spec C4.5: AS_USER goes through the customer's run-as prompt; no credential is sent
  const asUser = await access.runSpecialAction('restart-spooler', 'as_user');
  assert.equal(asUser.exitCode, 0);
  assert.match(asUser.output, /spooler as_user/);

  // refusals, each with its code; none reaches the customer client
  const runsBefore = tools.tasks!.runs;
  await assert.rejects(access.runSpecialAction('defrag'), {
    code: 'FERRY_ERR_SPECIAL_ACTION_UNKNOWN',
  });
  await assert.rejects(access.runSpecialAction('rm -rf /'), {
    code: 'FERRY_ERR_SPECIAL_ACTION_UNKNOWN',
  });
  await assert.rejects(access.runSpecialAction('flush-dns', 'system'), {
    code: 'FERRY_ERR_SPECIAL_ACTION_CONTEXT',
  });
  await assert.rejects(access.runSpecialAction('restart-spooler', 'system'), {
    code: 'FERRY_ERR_ELEVATION_REQUIRED',
  });
  await assert.rejects(
    tech.request({
      specialAction: { actionId: 'flush-dns', context: 9 as ferry.v1.SpecialActionContext },
    }),
    { code: 'FERRY_ERR_SPECIAL_ACTION_CONTEXT' },
  );
  assert.equal(tools.tasks!.runs, runsBefore);

  const history = await tech.chatHistory();
  const logged = events(history, 'special_action');
  assert.deepEqual(
    logged.map(([actor, detail]) => [actor, detail.split('\n')[0]]),
    [
      ['tech-1', 'ran special task "Flush DNS cache" (flush-dns) as the current user'],
      [
        'Alice',
        'special task flush-dns as the current user for tech-1: exit code 2, 40 bytes of output',
      ],
      [
        'tech-1',
        `ran special task "Restart print spooler" (restart-spooler) as another user (customer's run-as prompt)`,
      ],
      [
        'Alice',
        `special task restart-spooler as another user (customer's run-as prompt) for tech-1: exit code 0, 17 bytes of output`,
      ],
    ],
  );
  assert.match(logged[1]![1], /flushed for tech-1/);
  // the customer sees that tasks ran, not their results
  const customerView = await customer.request({ chatHistoryRequest: {} });
  const customerDetails = customerView.chatHistory!.entries!.map((e) => e.event?.detail ?? '');
  assert.ok(
    customerDetails.includes('ran special task "Flush DNS cache" (flush-dns) as the current user'),
  );
  assert.ok(!customerDetails.some((d) => d.includes('flushed') || d.includes('exit code')));

  // wrong roles and unknown tickets
  await assert.rejects(customer.request({ specialAction: { actionId: 'flush-dns' } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(customer.request({ listSpecialActions: {} }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(customer.request({ specialActionResult: { ticket: 999 } }), {
    code: 'FERRY_ERR_UNKNOWN_REQUEST',
  });
  await assert.rejects(tech.request({ specialActionResult: { ticket: 1 } }), {
    code: 'FERRY_ERR_WRONG_ROLE',
  });
  await assert.rejects(tech.request({ specialActions: {} }), {
    code: 'FERRY_ERR_UNSUPPORTED_OPERATION',
  });
  // no permission: nothing listed or run; permitted but not in the session: not in session
  const plain = await technician(t, gateway, 'tech-2', { perms: [] });
  await assert.rejects(plain.access.listSpecialActions(sessionId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  await assert.rejects(plain.access.runSpecialAction('flush-dns', 'current_user', sessionId), {
    code: 'FERRY_ERR_PERMISSION_DENIED',
  });
  const outsider = await technician(t, gateway, 'tech-3', { perms: ['special_actions'] });
  await assert.rejects(outsider.access.runSpecialAction('flush-dns', 'current_user', sessionId), {
    code: 'FERRY_ERR_NOT_IN_SESSION',
  });
  // the session must be live: On Hold refuses
  await tech.hold();
  await assert.rejects(access.runSpecialAction('flush-dns'), { code: 'FERRY_ERR_WRONG_STATE' });
  await tech.unhold();

  await tech.endSession();
  const report = JSON.stringify(gateway.registry.reports.get(sessionId));
  assert.match(report, /special task flush-dns/);
  assert.ok(!report.includes('hunter2'), 'nothing typed at the prompt reaches the gateway');
  await assert.rejects(access.runSpecialAction('flush-dns', 'current_user', sessionId), {
    code: 'FERRY_ERR_SESSION_NOT_FOUND',
  });
});

test('special tasks: SYSTEM runs once the customer client is elevated; AS_USER is not offered without a run-as command', async (t) => {
  const { gateway } = await startGateway(t, { elevationPlatforms: process.platform });
  const { access, tools } = await activePair(t, gateway, {
    perms: ['special_actions', 'elevate'],
    tools: {
      elevateCommand: ['/bin/sh', '-c', 'exit 0'],
      specialTasks: { tasks: TASKS, systemCommand: ['/usr/bin/env', 'FERRY_AS_SYSTEM=yes'] },
    },
  });
  const before = await access.listSpecialActions();
  const spooler = before.actions.find((a) => a.id === 'restart-spooler')!;
  assert.deepEqual(spooler.contexts, [
    C.SPECIAL_ACTION_CONTEXT_CURRENT_USER,
    C.SPECIAL_ACTION_CONTEXT_SYSTEM,
  ]);
  await assert.rejects(access.runSpecialAction('restart-spooler', 'as_user'), {
    code: 'FERRY_ERR_SPECIAL_ACTION_CONTEXT',
  });
  await assert.rejects(access.runSpecialAction('restart-spooler', 'system'), {
    code: 'FERRY_ERR_ELEVATION_REQUIRED',
  });
  const elevated = await access.elevate('admin');
  assert.equal(elevated.elevated, true);
  assert.equal(tools.elevated, true);
  assert.equal((await access.listSpecialActions()).elevated, true);
  const result = await access.runSpecialAction('restart-spooler', 'system');
  assert.equal(result.exitCode, 0);
  assert.equal(result.context, C.SPECIAL_ACTION_CONTEXT_SYSTEM);
  assert.match(result.output, /spooler system yes/, 'run through the operator SYSTEM prefix');
});

test('special tasks: the operator file is checked, and a customer advertising nothing offers nothing', async (t) => {
  assert.deepEqual(
    parseSpecialTasks('{"tasks": [{"id": "a", "command": "true", "contexts": ["system"]}]}').map(
      (x) => x.id,
    ),
    ['a'],
  );
  assert.throws(
    () => parseSpecialTasks('{"tasks": [{"id": "a b", "command": "true"}]}'),
    TypeError,
  );
  assert.throws(() => parseSpecialTasks('[{"id": "a"}]'), TypeError);
  assert.throws(
    () => parseSpecialTasks('[{"id": "a", "command": "x", "contexts": ["root"]}]'),
    TypeError,
  );
  assert.throws(() => parseSpecialTasks('{"nope": 1}'), TypeError);

  const { gateway } = await startGateway(t);
  const { access } = await activePair(t, gateway, { perms: ['special_actions'] });
  assert.deepEqual((await access.listSpecialActions()).actions, []);
  await assert.rejects(access.runSpecialAction('flush-dns'), {
    code: 'FERRY_ERR_SPECIAL_ACTION_UNKNOWN',
  });
});

/** A technician and a customer (with its tools) whose session waits for pick-up. */
async function waitingPair(
  t: TestContext,
  gateway: Gateway,
  elevateCommand: readonly string[],
  perms: readonly string[] = [],
) {
  const { tech } = await technician(t, gateway, 'tech-1', { perms });
  const { sessionId, pin } = await tech.createSession();
  const customer = new CustomerClient({ url: url(gateway), pin, name: 'Alice', reconnect: false });
  t.after(() => customer.close());
  const tools = new CustomerTools(customer, { elevateCommand });
  let asked = 0;
  customer.on('control', (c) => {
    if (c.elevateRequest) asked++;
  });
  const queued = tech.waitForCustomer(sessionId);
  await customer.connect();
  await queued;
  /** Elevation requests the customer received so far (a round trip first flushes the gateway). */
  const requests = async () => {
    await customer.request({ chatHistoryRequest: {} });
    return asked;
  };
  return { tech, customer, tools, sessionId, requests };
}

test('elevateOnSessionStart: the gateway asks the customer to elevate at pick-up, once per session, logged as by policy', async (t) => {
  const { gateway } = await startGateway(t, {
    elevateOnSessionStart: 1,
    elevationPlatforms: process.platform,
  });
  const { tech, tools, sessionId, requests } = await waitingPair(t, gateway, [
    '/bin/sh',
    '-c',
    '[ "$FERRY_ELEVATION_KIND" = admin ]',
  ]);
  // the technician who picks up hears the result; it needs no elevate permission (policy)
  const heard = waitFor(tech, 'control', (c) => c.elevateResult != null);
  await tech.pickUp(sessionId);
  const [control] = await heard;
  assert.equal(control.elevateResult!.elevated, true);
  assert.equal(control.elevateResult!.by, 'policy');
  assert.equal(control.elevateResult!.kind, ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN);
  assert.equal(tools.elevated, true);
  assert.equal(gateway.relay.context.elevated.has(gateway.registry.get(sessionId)!), true);
  assert.deepEqual(events(await tech.chatHistory(), 'elevate'), [
    ['policy', 'asked to elevate the customer client (admin) by policy, at the pick-up by tech-1'],
    ['policy', 'elevated by policy (admin)'],
  ]);
  // back in the queue and picked up again: not asked twice
  await tech.release();
  await tech.pickUp(sessionId);
  assert.equal(await requests(), 1);
});

test('elevateOnSessionStart: a refused prompt is not asked again; off by default; not for other platforms', async (t) => {
  const on = await startGateway(t, {
    elevateOnSessionStart: 1,
    elevationPlatforms: process.platform,
  });
  const refused = await waitingPair(t, on.gateway, ['/bin/sh', '-c', 'exit 1']);
  const heard = waitFor(refused.tech, 'control', (c) => c.elevateResult != null);
  await refused.tech.pickUp(refused.sessionId);
  assert.equal((await heard)[0].elevateResult!.elevated, false);
  await refused.tech.release();
  await refused.tech.pickUp(refused.sessionId);
  assert.equal(await refused.requests(), 1);
  assert.ok(
    events(await refused.tech.chatHistory(), 'elevate').some(
      ([, d]) => d === 'elevation asked by policy was not done (admin)',
    ),
  );

  const off = await startGateway(t, { elevationPlatforms: process.platform });
  assert.equal(off.gateway.config.elevateOnSessionStart, 0);
  const plain = await waitingPair(t, off.gateway, ['/bin/sh', '-c', 'exit 0']);
  await plain.tech.pickUp(plain.sessionId);
  assert.equal(await plain.requests(), 0);

  const elsewhere = await startGateway(t, {
    elevateOnSessionStart: 1,
    elevationPlatforms: OTHER_PLATFORM,
  });
  const other = await waitingPair(t, elsewhere.gateway, ['/bin/sh', '-c', 'exit 0']);
  await other.tech.pickUp(other.sessionId);
  assert.equal(await other.requests(), 0);
});

test('ListQueue: a support button session waits in its team queue for the technicians of that team only', async (t) => {
  const { gateway } = await startGateway(t);
  const first = await activePair(t, gateway, { perms: ['support_button'], teams: ['billing'] });
  const button = await first.access.installSupportButton('billing');
  await first.tech.endSession();

  const billing = await technician(t, gateway, 'tech-2', { teams: ['support', 'billing'] });
  const sales = await technician(t, gateway, 'tech-3', { teams: ['sales'] });
  const queued = billing.access.waitForTeamSession('billing');
  const customer = new UnattendedCustomer({
    url: url(gateway),
    name: 'Bob',
    credentials: { supportButtonId: button.supportButtonId },
  });
  t.after(() => customer.close());
  const welcome = await customer.connect();
  await queued;

  const listed = (await billing.tech.listQueue()).filter((e) => e.sessionId === welcome.sessionId);
  assert.equal(listed.length, 1);
  const [entry] = listed;
  assert.equal(entry!.relation, ferry.v1.QueueRelation.QUEUE_RELATION_TEAM);
  assert.equal(entry!.team, 'billing');
  assert.equal(entry!.status, ferry.v1.SessionStatus.SESSION_STATUS_WAITING);
  assert.equal(entry!.customerName, 'Bob');
  assert.equal(entry!.ownerName, '');
  assert.equal(entry!.customerConnected, true);
  // a technician connected later sees it too; another team's never does
  const late = await technician(t, gateway, 'tech-4', { teams: ['billing'] });
  assert.ok((await late.tech.listQueue()).some((e) => e.sessionId === welcome.sessionId));
  assert.deepEqual(await sales.tech.listQueue(), []);
  // the customer is not a technician: no queue
  await assert.rejects(customer.request({ listQueue: {} }), { code: 'FERRY_ERR_WRONG_ROLE' });

  // picked up: it is the owner's session, no longer in the team queue
  await billing.tech.pickUp(welcome.sessionId);
  const mine = (await billing.tech.listQueue()).filter((e) => e.sessionId === welcome.sessionId);
  assert.deepEqual(
    mine.map((e) => [e.relation, e.team, e.ownerName]),
    [[ferry.v1.QueueRelation.QUEUE_RELATION_OWNER, '', 'tech-2']],
  );
  assert.ok(!(await late.tech.listQueue()).some((e) => e.sessionId === welcome.sessionId));
  assert.deepEqual(await sales.tech.listQueue(), []);
});

test('ferry customer --special-tasks: the tasks of the file are offered and run; a bad file stops the client', async (t) => {
  const { gateway } = await startGateway(t);
  const dir = tempDir(t);
  const file = path.join(dir, 'tasks.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      tasks: [
        { id: 'hello', name: 'Say hello', command: 'echo "hello $FERRY_TASK_ID"' },
        { id: 'elsewhere', command: 'echo no', platforms: [OTHER_PLATFORM] },
      ],
    }),
  );
  const { tech, access } = await technician(t, gateway, 'tech-1', { perms: ['special_actions'] });
  const { sessionId, pin } = await tech.createSession();
  const joined = tech.waitForCustomer(sessionId);
  const child = spawn(
    process.execPath,
    [BIN, 'customer', '--url', url(gateway), '--pin', pin, '--deny', '--special-tasks', file],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  let printed: ((line: string) => void) | null = null;
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    printed?.(line);
  });
  await joined;
  await tech.pickUp(sessionId);
  const listed = await access.listSpecialActions();
  assert.deepEqual(
    listed.actions.map((a) => [a.id, a.name]),
    [['hello', 'Say hello']],
  );
  const ran = new Promise<void>((resolve) => {
    printed = (line) => {
      if (line.includes('special task hello for tech-1: exit 0')) resolve();
    };
    if (lines.some((l) => l.includes('special task hello for tech-1: exit 0'))) resolve();
  });
  const result = await access.runSpecialAction('hello');
  assert.equal(result.output, 'hello hello\n');
  await ran;

  fs.writeFileSync(file, '{"tasks": [{"id": "no command"}]}');
  const bad = spawn(
    process.execPath,
    [BIN, 'customer', '--url', url(gateway), '--pin', '1', '--deny', '--special-tasks', file],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => bad.kill('SIGKILL'));
  let stderr = '';
  bad.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(bad, 'close')) as [number];
  assert.notEqual(code, 0);
  assert.match(stderr, /--special-tasks/);
});
