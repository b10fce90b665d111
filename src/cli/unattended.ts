/**
 * `ferry unattended`: the reference customer in unattended mode. The jump client pinned earlier
 * (its key in --state-dir) waits for technicians; or --support-button starts a session in the
 * button's team queue. `ferry unattended install` writes a systemd unit (user, or --system) that
 * runs this jump client on its state directory with Restart=always, and prints the systemctl
 * commands that enable it; `ferry unattended uninstall` removes it. The jump client shares the
 * screen as `ferry customer` does (`--screen`, `--fps`, `--quality`), keeps a resume file while
 * a session runs, and takes that session back when it starts again. A reboot request restarts
 * it: under the service manager (`--service`, which the unit sets) by exiting for the manager to
 * start it again, otherwise by starting a new process.
 */
import path from 'node:path';
import { FerryError, waitFor } from '../clients/client.js';
import { relaunchArgv } from '../clients/elevation.js';
import {
  defaultStateDir,
  loadResumeState,
  type ResumeState,
  ResumeStateError,
  removeResumeState,
} from '../clients/resume-state.js';
import {
  installUnit,
  systemctlCommands,
  UNIT_MODE,
  type UnitScope,
  uninstallUnit,
} from '../clients/service-unit.js';
import {
  CustomerTools,
  retriedRefusal,
  type UnattendedCredentials,
  UnattendedCustomer,
} from '../clients/unattended.js';
import { ConfigError } from '../config/config.js';
import { Codes } from '../protocol/codes.js';
import {
  CLIENT_TLS_OPTIONS,
  clientTls,
  defineCommand,
  type ExitRequest,
  URL_OPTION,
} from './common.js';
import {
  attachNative,
  checkScreenFlags,
  openScreen,
  restartProcess,
  type ScreenFlags,
  screenOptions,
} from './customer-native.js';
import { attachTools, type ToolFlags, toolOptions } from './customer-tools.js';

/**
 * The exit status of a jump client that a reboot request stops under a service manager: the
 * unit's Restart=always starts it again, and the new process resumes the session (EX_TEMPFAIL).
 */
export const SERVICE_RESTART_EXIT = 75;

interface UnattendedFlags extends ScreenFlags {
  url: string;
  service: boolean;
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
    '--service',
    ...(argv.screen ? ['--screen', argv.screen] : []),
    '--fps',
    String(argv.fps),
    '--quality',
    String(argv.quality),
    ...(argv.ca ? ['--ca', path.resolve(argv.ca)] : []),
    ...(argv.insecureSkipVerify ? ['--insecure-skip-verify'] : []),
    ...(argv.elevateCommand ? ['--elevate-command', argv.elevateCommand] : []),
  ];
  const display = process.env.DISPLAY ?? '';
  const file = await installUnit({ scope, execStart, stateDir, display });
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

/**
 * The resume file a restarted jump client finds in its state directory (a reboot request, a
 * crash): its session is taken back. A refused file is said and removed; the client then waits.
 */
async function keptResume(stateDir: string | undefined, url: string): Promise<ResumeState | null> {
  if (stateDir === undefined) return null;
  try {
    return await loadResumeState(stateDir, url);
  } catch (err) {
    if (!(err instanceof ResumeStateError)) throw err;
    console.error(`${err.code}: ${err.message}`);
    return null;
  }
}

async function unattended(argv: UnattendedFlags & ToolFlags): Promise<ExitRequest> {
  const scope: UnitScope = argv.system ? 'system' : 'user';
  checkScreenFlags(argv);
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
  const resume = argv.supportButton ? null : await keptResume(argv.stateDir, argv.url);
  const screen = await openScreen(argv);
  // how this process ends when a technician reboots it: resolves with the exit status
  let rebooted!: (status: ExitRequest) => void;
  const reboot = new Promise<ExitRequest>((resolve) => {
    rebooted = resolve;
  });
  const client = new UnattendedCustomer({
    url: argv.url,
    tls: clientTls(argv),
    name: argv.name,
    credentials,
    consent: ['view', 'control', 'sysinfo', 'shell'],
    ...screen.clientOptions,
    ...(resume !== null ? { resumeToken: resume.token, granted: resume.granted } : {}),
    onReboot: () => {
      if (keeper === null) return;
      if (argv.service) {
        // the service manager restarts the unit; the new process finds the resume file
        keeper.save();
        console.log(
          `restarting: exit ${SERVICE_RESTART_EXIT} for the service manager to start the jump client again; it resumes the session`,
        );
        client.close(1001, 'restarting').then(
          () => rebooted(SERVICE_RESTART_EXIT),
          (err: unknown) => {
            console.error(`closing for the restart: ${(err as Error).message}`);
            rebooted(SERVICE_RESTART_EXIT);
          },
        );
        return;
      }
      restartProcess(
        client,
        keeper,
        relaunchArgv().filter((a) => a !== '--resume'),
      );
      rebooted(undefined);
    },
  });
  attachTools(client, argv);
  const stateDir = argv.stateDir;
  const keeper =
    stateDir === undefined
      ? null
      : attachNative(client, { source: screen.source, stateDir, resume, clientOptions: {} });
  client.unattended.on('waiting', () => console.log('unattended: waiting for a technician'));
  const kept = (): void => {
    keeper?.begin();
    keeper?.save();
  };
  client.unattended.on('attached', (w) => {
    kept();
    console.log(`technician started session ${w.sessionId}`);
  });
  const refused = new Promise<string>((resolve) => client.unattended.once('refused', resolve));
  console.log(`jump client process ${process.pid}`);
  try {
    const welcome = await client.connect();
    if (welcome.resumed) {
      kept();
      console.log(`resumed session ${welcome.sessionId}`);
    } else if (welcome.sessionId && argv.supportButton) {
      console.log(`session ${welcome.sessionId} waits in the team queue`);
    }
  } catch (err) {
    if (resume !== null && err instanceof FerryError && err.code === Codes.RESUME_INVALID.code) {
      // the session ended meanwhile: the file goes, and the client waits as usual (it dials again)
      if (stateDir !== undefined) await removeResumeState(stateDir);
      console.error(
        `the gateway no longer knows the session of the resume file (${resume.sessionId}); the file was removed`,
      );
    } else if (!argv.supportButton && retriedRefusal(err)) {
      // not final (FERRY_ERR_DIRECTORY_UNAVAILABLE: the shared directory unreachable): the client
      // keeps trying with backoff, as after a lost connection; a final refusal ends it ('refused')
      console.error(`${(err as FerryError).code}: ${(err as Error).message}; trying again`);
    } else throw err;
  }
  const stopped = argv.supportButton
    ? waitFor(client, 'close', () => true, 2 ** 31 - 1).then(([, reason]) => reason)
    : refused;
  const outcome = await Promise.race([
    stopped.then((reason) => ({ reason })),
    reboot.then((status) => ({ status })),
  ]);
  if ('status' in outcome) return outcome.status;
  console.log(`unattended client stopped: ${outcome.reason}`);
  return undefined;
}

export const unattendedCommand = defineCommand({
  command: 'unattended [action]',
  describe:
    'reference customer in unattended mode: the jump client pinned earlier (key in --state-dir) waits for technicians; or --support-button starts a session in its team queue; "install" / "uninstall" write / remove its systemd unit',
  builder: (y) =>
    toolOptions(
      screenOptions(y)
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
        })
        .option('service', {
          type: 'boolean',
          default: false,
          describe: `run under a service manager (the unit "install" writes sets it): a reboot request exits with ${SERVICE_RESTART_EXIT} for the manager to restart the jump client, which resumes its session; without it a new process is started`,
        }),
    ),
  run: (argv) => unattended(argv as unknown as UnattendedFlags & ToolFlags),
});
