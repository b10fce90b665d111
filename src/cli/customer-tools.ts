/**
 * The customer's operator-configured commands, shared by `ferry customer` and `ferry unattended`:
 * their flags (state directory, elevation, after-session actions, canned scripts, special tasks)
 * and the CustomerTools they configure, with one printed line per thing done.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import type { CustomerClient } from '../clients/customer.js';
import {
  parseSpecialTasks,
  type SpecialTaskConfig,
  type SpecialTaskOptions,
} from '../clients/special-tasks.js';
import { CustomerTools } from '../clients/unattended.js';
import { ConfigError } from '../config/config.js';

/** The customer's operator-configured commands (elevation, after-session actions, scripts). */
export interface ToolFlags {
  stateDir: string | undefined;
  elevateCommand: string | undefined;
  lockCommand: string | undefined;
  logoutCommand: string | undefined;
  uninstallCommand: string | undefined;
  scripts: boolean;
  specialTasks: string | undefined;
  runAsCommand: string | undefined;
  systemCommand: string | undefined;
}

/** The operator's special tasks file (--special-tasks), with the run-as and SYSTEM prefixes. */
function specialTaskOptions(argv: ToolFlags): SpecialTaskOptions | undefined {
  if (!argv.specialTasks) return undefined;
  let tasks: SpecialTaskConfig[];
  try {
    tasks = parseSpecialTasks(fs.readFileSync(argv.specialTasks, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--special-tasks ${argv.specialTasks}: ${(err as Error).message}`);
  }
  return {
    tasks,
    ...(argv.runAsCommand ? { runAsCommand: argv.runAsCommand } : {}),
    ...(argv.systemCommand ? { systemCommand: argv.systemCommand } : {}),
  };
}

/** The customer's tools configured from the flags, each thing they do printed on one line. */
export function attachTools(client: CustomerClient, argv: ToolFlags): CustomerTools {
  const tasks = specialTaskOptions(argv);
  const tools = new CustomerTools(client, {
    ...(argv.stateDir ? { stateDir: argv.stateDir } : {}),
    ...(argv.elevateCommand ? { elevateCommand: argv.elevateCommand } : {}),
    ...(argv.scripts ? {} : { scripts: false as const }),
    ...(tasks === undefined ? {} : { specialTasks: tasks }),
    afterSession: {
      commands: {
        ...(argv.lockCommand ? { lock: argv.lockCommand } : {}),
        ...(argv.logoutCommand ? { logout: argv.logoutCommand } : {}),
        ...(argv.uninstallCommand ? { uninstall: argv.uninstallCommand } : {}),
      },
    },
  });
  tools.on('script', (r) => console.log(`ran canned script ${r.scriptId} for ${r.requestedBy}`));
  tools.on('specialTask', (q, r) =>
    console.log(
      `special task ${q.actionId} for ${q.requestedBy}: ${r.error ? r.error : `exit ${r.exitCode}`}`,
    ),
  );
  tools.on('elevated', (r) => console.log(r.elevated ? 'elevated' : `not elevated: ${r.error}`));
  tools.on('jumpClient', (j) =>
    console.log(
      `pinned as jump client ${j.jumpClientId}${argv.stateDir ? '' : ' (no --state-dir: not kept)'}`,
    ),
  );
  tools.on('supportButton', (b) =>
    console.log(`support button ${b.supportButtonId} (team ${b.team})`),
  );
  tools.on('afterSession', (r) => console.log(`after-session ${r.action}: exit ${r.code}`));
  tools.on('actionError', (a, err) => console.error(`after-session ${a}: ${err.message}`));
  return tools;
}

/** The flags of the customer's operator-configured commands. */
export function toolOptions<T>(y: Argv<T>) {
  return y
    .option('state-dir', {
      type: 'string',
      describe: 'directory for the jump client key and support button id (mode 0600 files)',
    })
    .option('elevate-command', {
      type: 'string',
      describe:
        'command that relaunches the client with administrative rights (e.g. pkexec ...); credentials go to its local prompt',
    })
    .option('lock-command', { type: 'string', describe: 'after-session "lock" command' })
    .option('logout-command', { type: 'string', describe: 'after-session "logout" command' })
    .option('uninstall-command', {
      type: 'string',
      describe:
        'command that removes this client (should detach, e.g. systemd-run --on-active=2 ...)',
    })
    .option('special-tasks', {
      type: 'string',
      describe:
        'JSON file of the special tasks this client offers: {"tasks": [{"id", "name", "description", "command", "platforms", "contexts": ["current_user"|"system"|"as_user"]}]}; only ids and names are sent',
    })
    .option('run-as-command', {
      type: 'string',
      describe:
        'prefix that runs a special task as another account after a local prompt (e.g. "sudo -k -u admin --"); words split on spaces; none: as_user is not offered',
    })
    .option('system-command', {
      type: 'string',
      describe:
        'prefix that runs a special task as the System account (e.g. "psexec -s -accepteula"); none: run directly by the elevated client',
    })
    .option('scripts', {
      type: 'boolean',
      default: true,
      describe: "run the operator's canned scripts a technician starts (needs your shell grant)",
    });
}
