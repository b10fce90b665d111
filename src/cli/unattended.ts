/**
 * `ferry unattended`: the reference customer in unattended mode. The jump client pinned earlier
 * (its key in --state-dir) waits for technicians; or --support-button starts a session in the
 * button's team queue. `ferry unattended install` writes a systemd unit (user, or --system) that
 * runs this jump client on its state directory with Restart=always, and prints the systemctl
 * commands that enable it; `ferry unattended uninstall` removes it.
 */
import path from 'node:path';
import { waitFor } from '../clients/client.js';
import { defaultStateDir } from '../clients/resume-state.js';
import {
  installUnit,
  systemctlCommands,
  UNIT_MODE,
  type UnitScope,
  uninstallUnit,
} from '../clients/service-unit.js';
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

interface UnattendedFlags {
  url: string;
  ca?: string;
  insecureSkipVerify?: boolean;
  name: string;
  supportButton: string | undefined;
  action: 'install' | 'uninstall' | undefined;
  system: boolean;
}

/** `install`: the unit that runs this jump client as a service, and how to enable it. */
async function install(argv: UnattendedFlags & ToolFlags, scope: UnitScope): Promise<ExitRequest> {
  const stateDir = path.resolve(argv.stateDir ?? defaultStateDir());
  const kept = await CustomerTools.loadJumpClient(stateDir);
  if (kept === null) {
    throw new ConfigError(
      `no jump client key in ${stateDir}: pin this client first (a technician's "pin as jump client")`,
    );
  }
  const execStart = [
    process.execPath,
    path.resolve(process.argv[1] ?? 'bin/ferry.js'),
    'unattended',
    '--url',
    argv.url,
    '--state-dir',
    stateDir,
    '--name',
    argv.name,
    ...(argv.ca ? ['--ca', path.resolve(argv.ca)] : []),
    ...(argv.insecureSkipVerify ? ['--insecure-skip-verify'] : []),
    ...(argv.elevateCommand ? ['--elevate-command', argv.elevateCommand] : []),
  ];
  const file = await installUnit({ scope, execStart, stateDir });
  console.log(
    `wrote ${file} (mode ${UNIT_MODE.toString(8)}): jump client ${kept.jumpClientId}, restarted always`,
  );
  console.log('enable and start it with:');
  for (const command of systemctlCommands(scope, 'install')) console.log(`  ${command}`);
  return undefined;
}

/** `uninstall`: removes the unit and its enable link. */
async function uninstall(scope: UnitScope): Promise<ExitRequest> {
  const removed = await uninstallUnit(scope);
  if (removed.length === 0) console.log('no ferry jump client unit is installed');
  for (const file of removed) console.log(`removed ${file}`);
  console.log('stop the running service and forget it with:');
  for (const command of systemctlCommands(scope, 'uninstall')) console.log(`  ${command}`);
  return undefined;
}

async function unattended(argv: UnattendedFlags & ToolFlags): Promise<ExitRequest> {
  const scope: UnitScope = argv.system ? 'system' : 'user';
  if (argv.action === 'install') return install(argv, scope);
  if (argv.action === 'uninstall') return uninstall(scope);
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
  command: 'unattended [action]',
  describe:
    'reference customer in unattended mode: the jump client pinned earlier (key in --state-dir) waits for technicians; or --support-button starts a session in its team queue; "install" / "uninstall" write / remove its systemd unit',
  builder: (y) =>
    toolOptions(
      y
        .option('url', URL_OPTION)
        .options(CLIENT_TLS_OPTIONS)
        .positional('action', {
          choices: ['install', 'uninstall'] as const,
          describe:
            'install: write a systemd unit that runs this jump client (Restart=always) and print the systemctl commands; uninstall: remove it',
        })
        .option('system', {
          type: 'boolean',
          default: false,
          describe:
            'install/uninstall the system unit (/etc/systemd/system) instead of the user unit (~/.config/systemd/user)',
        })
        .option('name', { type: 'string', default: 'customer', describe: 'display name' })
        .option('support-button', {
          type: 'string',
          describe: 'support button id: start a new session in its team queue',
        }),
    ),
  run: (argv) => unattended(argv as unknown as UnattendedFlags & ToolFlags),
});
