/**
 * `ferry unattended`: the reference customer in unattended mode. The jump client pinned earlier
 * (its key in --state-dir) waits for technicians; or --support-button starts a session in the
 * button's team queue.
 */
import { waitFor } from '../clients/client.js';
import {
  CustomerTools,
  type UnattendedCredentials,
  UnattendedCustomer,
} from '../clients/unattended.js';
import { ConfigError } from '../config/config.js';
import {
  CLIENT_TLS_OPTIONS,
  clientTls,
  defineCommand,
  type ExitRequest,
  URL_OPTION,
} from './common.js';
import { attachTools, type ToolFlags, toolOptions } from './customer-tools.js';

async function unattended(
  argv: {
    url: string;
    ca?: string;
    insecureSkipVerify?: boolean;
    name: string;
    supportButton: string | undefined;
  } & ToolFlags,
): Promise<ExitRequest> {
  let credentials: UnattendedCredentials;
  if (argv.supportButton) credentials = { supportButtonId: argv.supportButton };
  else {
    const kept = argv.stateDir ? await CustomerTools.loadJumpClient(argv.stateDir) : null;
    if (kept === null)
      throw new ConfigError('no jump client key in --state-dir: pin this client first');
    credentials = { jumpClientId: kept.jumpClientId, jumpClientKey: kept.key };
  }
  const client = new UnattendedCustomer({
    url: argv.url,
    tls: clientTls(argv),
    name: argv.name,
    credentials,
    consent: ['view', 'control', 'sysinfo', 'shell'],
  });
  attachTools(client, argv);
  client.unattended.on('waiting', () => console.log('unattended: waiting for a technician'));
  client.unattended.on('attached', (w) => console.log(`technician started session ${w.sessionId}`));
  const refused = new Promise<string>((resolve) => client.unattended.once('refused', resolve));
  const welcome = await client.connect();
  if (welcome.sessionId) console.log(`session ${welcome.sessionId} waits in the team queue`);
  const reason = argv.supportButton
    ? (await waitFor(client, 'close', () => true, 2 ** 31 - 1))[1]
    : await refused;
  console.log(`unattended client stopped: ${reason}`);
  return undefined;
}

export const unattendedCommand = defineCommand({
  command: 'unattended',
  describe:
    'reference customer in unattended mode: the jump client pinned earlier (key in --state-dir) waits for technicians; or --support-button starts a session in its team queue',
  builder: (y) =>
    toolOptions(
      y
        .option('url', URL_OPTION)
        .options(CLIENT_TLS_OPTIONS)
        .option('name', { type: 'string', default: 'customer', describe: 'display name' })
        .option('support-button', {
          type: 'string',
          describe: 'support button id: start a new session in its team queue',
        }),
    ),
  run: (argv) => unattended(argv as typeof argv & ToolFlags),
});
