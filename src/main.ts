/**
 * The `ferry` command line: serve | token issue | technician | customer | demo | config.
 * The only module that calls process.exit.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { waitFor } from './clients/client.js';
import { ConsentPrompt } from './clients/consent-prompt.js';
import { type ConsentPolicy, CustomerClient } from './clients/customer.js';
import { parsePermissions, toNames } from './clients/permissions.js';
import {
  parseSpecialTasks,
  type SpecialTaskConfig,
  type SpecialTaskOptions,
} from './clients/special-tasks.js';
import { TechnicianClient } from './clients/technician.js';
import { ACCESS_HELP, accessCommand, TechnicianAccess } from './clients/technician-access.js';
import { TOOLS_HELP, technicianToolsCommand } from './clients/tools-cli.js';
import {
  CustomerTools,
  type UnattendedCredentials,
  UnattendedCustomer,
} from './clients/unattended.js';
import { ConfigError, resolveConfig } from './config/config.js';
import { type ConfigKey, configKeys, envName, flagName, schema } from './config/schema.js';
import { loadOrCreateSecret } from './config/secrets.js';
import { runDemo } from './demo.js';
import { Gateway } from './gateway.js';
import { createLogger } from './log.js';
import { formatAlert, formatStatsTable } from './netstats/table.js';
import { ferry } from './protocol/gen/ferry.js';
import { isPermission, TECHNICIAN_PERMISSIONS } from './session/access-policy.js';
import { issueToken } from './session/tokens.js';
import { UwsLoadError } from './transport/uws.js';
import { VERSION } from './version.js';

function withConfigOptions<T>(y: Argv<T>): Argv<T> {
  for (const key of configKeys) {
    const spec = schema[key];
    y = y.option(flagName(key), {
      type: spec.type,
      describe: `${spec.doc} [env ${envName(key)}] [default: ${JSON.stringify(spec.default)}]`,
      group: `${spec.group[0]!.toUpperCase()}${spec.group.slice(1)}:`,
    });
  }
  return y;
}

function configFrom(argv: Record<string, unknown>) {
  const overrides: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of configKeys) if (argv[key] !== undefined) overrides[key] = argv[key];
  return resolveConfig(overrides);
}

async function serve(argv: Record<string, unknown>): Promise<void> {
  const config = configFrom(argv);
  const logger = createLogger(config.logLevel);
  const gateway = await Gateway.start(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info(
      { signal, drainTimeoutSeconds: config.drainTimeoutSeconds },
      'draining: a second signal exits at once',
    );
    gateway.drain(`received ${signal}`).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new ConfigError(`bad duration "${text}": use e.g. 3600, 90m, 12h, 30d`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Calls `onLine` for each non-empty line of stdin, and `onEnd` once stdin has ended. */
function lines(onLine: (line: string) => void, onEnd: () => void = () => undefined): void {
  if (!process.stdin.readable) {
    onEnd();
    return;
  }
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== '') onLine(line);
  });
  rl.on('close', onEnd);
}

/** The image type of `--avatar` when it names a picture file to upload, else null (a reference). */
function pictureFile(value: string): string | null {
  const type = {
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.webp': 'image/webp',
  }[path.extname(value).toLowerCase()];
  return type !== undefined && !value.includes('://') && fs.existsSync(value) ? type : null;
}

const statusName = (status: number) =>
  (ferry.v1.SessionStatus[status] ?? String(status)).replace('SESSION_STATUS_', '');

async function technician(argv: {
  url: string;
  token: string;
  name: string;
  inputRate: number;
  statsEvery: number;
  request: string;
  avatar: string;
}): Promise<void> {
  const ask = parsePermissions(argv.request);
  const client = new TechnicianClient({
    url: argv.url,
    token: argv.token,
    name: argv.name,
    avatarRef: pictureFile(argv.avatar) === null ? argv.avatar : '',
  });
  await client.connect();
  const picture = pictureFile(argv.avatar);
  if (picture !== null) {
    const ref = await client.setAvatar(fs.readFileSync(argv.avatar), picture);
    console.log(`picture ${argv.avatar} stored by the gateway as ${ref}`);
  }
  const { sessionId, pin } = await client.createSession();
  console.log(`session ${sessionId}: give the customer PIN ${pin}`);
  client.on('status', (s) =>
    console.log(`status ${statusName(s.previous)} -> ${statusName(s.status)} (${s.trigger})`),
  );
  client.on('chat', (c) =>
    console.log(
      `[chat #${c.seq}${c.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY ? ' private' : ''}] ${c.senderName}: ${c.text}`,
    ),
  );
  client.on('sessionEvent', (e) => console.log(`[event #${e.seq}] ${e.actor}: ${e.detail}`));
  client.on('gatewayError', (e) => console.error(`gateway error ${e.code}: ${e.message}`));
  let statsShown = 0;
  client.on('event', (e) => {
    if (e.networkQualityAlert) console.log(`*** ${formatAlert(e.networkQualityAlert)}`);
    if (e.networkStats && argv.statsEvery > 0 && ++statsShown % argv.statsEvery === 0) {
      console.log(formatStatsTable(e.networkStats));
    }
    if (e.noteAdded?.note)
      console.log(`[note] ${e.noteAdded.note.author}: ${e.noteAdded.note.text}`);
  });
  const queued = await client.waitForCustomer(sessionId, 24 * 3600 * 1000);
  console.log(
    `customer "${queued.customerName}" on ${queued.computerName || 'unknown computer'} is waiting; picking up`,
  );
  await client.pickUp(sessionId);
  if (ask.length > 0) {
    console.log(`asking the customer for: ${ask.join(', ')}`);
    client.requestConsent(ask).then(
      (c) => {
        const denied = toNames(c.denied);
        console.log(
          `customer granted ${toNames(c.granted).join(', ') || 'nothing'}${denied.length > 0 ? `; denied ${denied.join(', ')}` : ''}`,
        );
      },
      (err: unknown) => console.error(`consent: ${(err as Error).message}`),
    );
  }
  lines((text) => {
    technicianCommand(client, text).catch((err: unknown) =>
      console.error(`${text.split(' ')[0]}: ${(err as Error).message}`),
    );
  });
  let t = 0;
  const control = ferry.v1.Permission.PERMISSION_CONTROL;
  const inputTimer =
    argv.inputRate > 0
      ? setInterval(
          () => {
            // input without the customer's control grant is refused by the gateway: send none
            if (!client.granted.includes(control)) return;
            t += 0.1;
            client.movePointer(
              Math.round(640 + 400 * Math.cos(t)),
              Math.round(360 + 250 * Math.sin(t)),
            );
          },
          Math.round(1000 / argv.inputRate),
        )
      : null;
  const report = setInterval(() => {
    console.log(
      `screen: ${client.screenFrames} frames, ${(client.screenBytes / 1024).toFixed(0)} KiB received`,
    );
  }, 5000);
  const [code, reason] = await waitFor(client, 'close', () => true, 2 ** 31 - 1);
  if (inputTimer) clearInterval(inputTimer);
  clearInterval(report);
  console.log(`connection closed: ${code} ${reason}`);
}

const TECHNICIAN_HELP =
  'commands: /private <text>, /consent <view,control,sysinfo,shell,file>, /sysinfo [categories], ' +
  '/refresh [categories], /summary, /note <text>, /notes, /history, /control <technician>, ' +
  `/share, /stop, /monitor <n|all>, /quality <speed|balanced|fidelity>, ${TOOLS_HELP}; any other line is chat`;

/** One line of the technician's stdin: a /command or chat. */
async function technicianCommand(client: TechnicianClient, line: string): Promise<void> {
  if (!line.startsWith('/')) {
    client.chat(line);
    return;
  }
  const [command = '', ...words] = line.slice(1).split(/\s+/);
  const rest = words.join(' ');
  switch (command) {
    case 'private':
      client.chat(rest, true);
      return;
    case 'consent': {
      const c = await client.requestConsent(parsePermissions(rest || 'view,control'));
      console.log(`granted: ${toNames(c.granted).join(', ') || 'nothing'}`);
      return;
    }
    case 'sysinfo':
    case 'refresh': {
      const info = await client.requestSysinfo(words, command === 'refresh');
      if (info.error) console.error(`sysinfo: ${info.error}`);
      else console.log(JSON.stringify(info.snapshot, null, 2));
      return;
    }
    case 'summary':
      console.log(JSON.stringify(await client.summary(), null, 2));
      return;
    case 'note':
      await client.addNote(rest);
      console.log('note added');
      return;
    case 'notes':
      for (const n of await client.listNotes()) console.log(`#${n.id} ${n.author}: ${n.text}`);
      return;
    case 'history':
      for (const e of (await client.chatHistory()).entries) {
        if (e.chat) console.log(`#${e.chat.seq} ${e.chat.senderName}: ${e.chat.text}`);
        else if (e.event) console.log(`#${e.event.seq} (${e.event.type}) ${e.event.detail}`);
      }
      return;
    case 'control':
      await client.handOverControl(rest);
      return;
    case 'share':
      await client.startScreenShare();
      return;
    case 'stop':
      await client.stopScreenShare('technician stopped');
      return;
    case 'monitor':
      await client.selectMonitor(rest === 'all' ? 'all' : Number(rest));
      return;
    case 'quality': {
      const preset = (ferry.v1.QualityPreset as unknown as Record<string, number>)[
        `QUALITY_PRESET_${rest.toUpperCase()}`
      ];
      if (preset === undefined) throw new Error('use speed, balanced or fidelity');
      await client.setStreamQuality(preset);
      return;
    }
    default:
      if (await technicianToolsCommand(client, command, words)) return;
      if (await accessCommand(new TechnicianAccess(client), command, rest, (l) => console.log(l)))
        return;
      console.log(`${TECHNICIAN_HELP}\n${ACCESS_HELP}`);
  }
}

async function customer(
  argv: {
    url: string;
    pin: string;
    name: string;
    fps: number;
    monitors: number;
    grant: string | undefined;
    deny: boolean | undefined;
    shells: boolean;
    shareDir: string | undefined;
  } & ToolFlags,
): Promise<void> {
  const prompt = new ConsentPrompt((line) => console.log(line));
  const consent: ConsentPolicy =
    argv.deny === true
      ? 'deny'
      : argv.grant !== undefined
        ? parsePermissions(argv.grant)
        : prompt.ask;
  if (consent === prompt.ask && !process.stdin.isTTY) {
    console.log(
      'stdin is not a terminal: consent questions are answered by its lines and denied once it ends (--grant or --deny answer without asking)',
    );
  }
  const client = new CustomerClient({
    url: argv.url,
    pin: argv.pin,
    name: argv.name,
    monitors: argv.monitors,
    consent,
    ...(argv.shells ? { shells: {} } : {}),
    ...(argv.shareDir ? { files: { dir: argv.shareDir } } : {}),
  });
  attachTools(client, argv);
  // Listeners first: frames that arrive together with the Welcome are handled in the same tick.
  client.on('chat', (c) => console.log(`[chat #${c.seq}] ${c.senderName}: ${c.text}`));
  client.on('sessionEvent', (e) => console.log(`[event #${e.seq}] ${e.actor}: ${e.detail}`));
  client.on('gatewayError', (e) => console.error(`gateway error ${e.code}: ${e.message}`));
  client.on('event', (e) => {
    const p = e.participantProfile;
    if (!p) return;
    console.log(`you are chatting with ${p.displayName}${p.avatarRef ? ` (${p.avatarRef})` : ''}`);
    const ref = p.avatarRef ?? '';
    if (ref.startsWith('ferry:avatar/')) {
      client.fetchAvatar(ref).then(
        (a) => console.log(`${p.displayName}'s picture: ${a.mimeType}, ${a.image.length} bytes`),
        (err: unknown) => console.error(`picture: ${(err as Error).message}`),
      );
    }
  });
  let applied = 0;
  client.on('input', (input) => {
    applied++;
    if (input.kind !== 'move' || applied % 50 === 0) {
      console.log(
        `input #${input.seq} ${input.kind}: pointer at ${client.pointer.x},${client.pointer.y}`,
      );
    }
  });
  let active = false;
  // spec C1: the desktop shows up once the customer agreed, while the session is active
  const share = () => {
    if (!active || !client.granted.includes('view') || client.sharing) return;
    client.shareScreen(argv.fps).catch((err: unknown) => console.error((err as Error).message));
  };
  client.on('status', (s) => {
    console.log(`status ${statusName(s.previous)} -> ${statusName(s.status)}`);
    active =
      s.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE ||
      s.status === ferry.v1.SessionStatus.SESSION_STATUS_COLLABORATING;
    if (active) share();
    else client.stopScreen();
  });
  client.on('consentChanged', (c) => {
    console.log(`permissions in force: ${toNames(c.granted).join(', ') || 'none'}`);
    share();
  });
  const welcome = await client.connect();
  console.log(`joined session ${welcome.sessionId}; waiting for the technician`);
  lines(
    (text) => {
      if (prompt.waiting) {
        prompt.answer(text);
        return;
      }
      customerCommand(client, text).catch((err: unknown) =>
        console.error(`${text.split(' ')[0]}: ${(err as Error).message}`),
      );
    },
    () => prompt.close(),
  );
  const [code, reason] = await waitFor(client, 'close', () => true, 2 ** 31 - 1);
  console.log(`connection closed: ${code} ${reason}`);
}

const CUSTOMER_HELP =
  'commands: /revoke [view,control,sysinfo] (none named: all), /grant <permissions>, /stop, ' +
  '/share; any other line is chat. A consent question is answered by the next line: ' +
  'y (all), n (none) or the names to allow (e.g. view)';

/** The customer's operator-configured commands (elevation, after-session actions, scripts). */
interface ToolFlags {
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

function attachTools(client: CustomerClient, argv: ToolFlags): CustomerTools {
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

function toolOptions<T>(y: Argv<T>) {
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

/** `ferry unattended`: the jump client pinned earlier (its key in --state-dir), or a support button. */
async function unattended(
  argv: { url: string; name: string; supportButton: string | undefined } & ToolFlags,
): Promise<void> {
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
}

/** One line of the customer's stdin: /revoke, /grant, /stop, /share, or chat. */
async function customerCommand(client: CustomerClient, line: string): Promise<void> {
  if (!line.startsWith('/')) {
    client.chat(line);
    return;
  }
  const [command = '', ...words] = line.slice(1).split(/\s+/);
  const names = parsePermissions(words.join(','));
  switch (command) {
    case 'revoke':
      await client.revoke(names);
      return;
    case 'grant':
      await client.grant(names);
      return;
    case 'stop':
      await client.stopSharing('customer stopped');
      return;
    case 'share':
      await client.shareScreen();
      return;
    default:
      console.log(CUSTOMER_HELP);
  }
}

export async function main(args: string[]): Promise<void> {
  await yargs(args)
    .scriptName('ferry')
    .version(VERSION)
    .strict()
    .demandCommand(1, 'name a command')
    .command(
      'serve',
      'run the gateway (client WebSocket port and admin port)',
      (y) => withConfigOptions(y),
      (argv) => serve(argv as Record<string, unknown>),
    )
    .command('token', 'technician tokens', (y) =>
      y
        .command(
          'issue',
          'print a technician token signed with the gateway secret',
          (yy) =>
            yy
              .option('name', {
                type: 'string',
                demandOption: true,
                describe: 'technician name (1-64 of letters, digits, . _ @ -)',
              })
              .option('ttl', {
                type: 'string',
                default: '30d',
                describe: 'validity: seconds, or e.g. 90m, 12h, 30d',
              })
              .option('data-dir', {
                type: 'string',
                describe: `${schema.dataDir.doc} [env ${envName('dataDir')}]`,
              })
              .option('secret', {
                type: 'string',
                describe: `${schema.secret.doc} [env ${envName('secret')}]`,
              })
              .option('perm', {
                type: 'string',
                array: true,
                describe: `permission claim, repeatable or comma-separated: ${Object.keys(TECHNICIAN_PERMISSIONS).join(', ')} (none given: the gateway's technicianDefaultPermissions; "none": no permission)`,
              })
              .option('team', {
                type: 'string',
                array: true,
                describe:
                  "team (queue) claim, repeatable; the first gets the technician's jump clients and support buttons (none given: technicianDefaultTeam)",
              }),
          (argv) => {
            const config = resolveConfig({ dataDir: argv.dataDir, secret: argv.secret });
            const secret = loadOrCreateSecret(config.dataDir, 'secret', config.secret);
            const list = (values: readonly string[] | undefined) =>
              values
                ?.flatMap((v) => v.split(','))
                .map((v) => v.trim())
                .filter((v) => v !== '');
            const perms = list(argv.perm)?.filter((p) => p !== 'none');
            for (const p of perms ?? []) {
              if (!isPermission(p)) throw new ConfigError(`unknown permission "${p}"`);
            }
            const teams = list(argv.team);
            console.log(
              issueToken(secret.value, argv.name, parseDuration(argv.ttl), Date.now(), {
                ...(perms === undefined ? {} : { perms }),
                ...(teams === undefined || teams.length === 0 ? {} : { teams }),
              }),
            );
          },
        )
        .demandCommand(1, 'name a token command'),
    )
    .command(
      'technician',
      'reference technician: open a session, print its PIN, pick the customer up, ask for consent, chat and /commands from stdin',
      (y) =>
        y
          .option('url', {
            type: 'string',
            default: 'ws://127.0.0.1:8080/v1/ws',
            describe: 'gateway WebSocket URL',
          })
          .option('token', {
            type: 'string',
            demandOption: true,
            describe: 'token from "ferry token issue"',
          })
          .option('name', { type: 'string', default: 'technician', describe: 'display name' })
          .option('input-rate', {
            type: 'number',
            default: 10,
            describe: 'pointer moves per second to send (0 = none)',
          })
          .option('stats-every', {
            type: 'number',
            default: 5,
            describe: 'print the network statistics table every Nth snapshot (0 = never)',
          })
          .option('request', {
            type: 'string',
            default: 'view,control',
            describe:
              'permissions to ask the customer for at pick-up: view, control, sysinfo, shell, file (none: ask later with /consent)',
          })
          .option('avatar', {
            type: 'string',
            default: '',
            describe:
              'your picture for the customer chat: a PNG, JPEG or WebP file (at most 32 KiB, stored by the gateway) or a reference (URL)',
          })
          .epilog(`stdin ${TECHNICIAN_HELP}`),
      (argv) => technician(argv),
    )
    .command(
      'customer',
      "reference customer: join with the technician's PIN, answer consent (prompt, --grant or --deny), share a synthetic screen, chat from stdin",
      (y) =>
        toolOptions(y)
          .option('url', {
            type: 'string',
            default: 'ws://127.0.0.1:8080/v1/ws',
            describe: 'gateway WebSocket URL',
          })
          .option('pin', {
            type: 'string',
            demandOption: true,
            describe: 'PIN the technician gave you',
          })
          .option('name', { type: 'string', default: 'customer', describe: 'display name' })
          .option('fps', { type: 'number', default: 10, describe: 'screen frames per second' })
          .option('monitors', {
            type: 'number',
            default: 1,
            describe: 'synthetic monitors to share',
          })
          .option('grant', {
            type: 'string',
            describe:
              'answer consent requests without asking: grant these of what is asked (e.g. view,control,sysinfo)',
          })
          .option('deny', {
            type: 'boolean',
            describe: 'answer every consent request with no',
          })
          .option('shells', {
            type: 'boolean',
            default: false,
            describe: 'run the command shells a technician opens (with the shell grant)',
          })
          .option('share-dir', {
            type: 'string',
            describe:
              'directory uploads land in and downloads are served from (with the file grant)',
          })
          .conflicts('grant', 'deny')
          .epilog(`stdin ${CUSTOMER_HELP}`),
      (argv) => customer(argv as typeof argv & ToolFlags),
    )
    .command(
      'unattended',
      'reference customer in unattended mode: the jump client pinned earlier (key in --state-dir) waits for technicians; or --support-button starts a session in its team queue',
      (y) =>
        toolOptions(
          y
            .option('url', {
              type: 'string',
              default: 'ws://127.0.0.1:8080/v1/ws',
              describe: 'gateway WebSocket URL',
            })
            .option('name', { type: 'string', default: 'customer', describe: 'display name' })
            .option('support-button', {
              type: 'string',
              describe: 'support button id: start a new session in its team queue',
            }),
        ),
      (argv) => unattended(argv as typeof argv & ToolFlags),
    )
    .command(
      'demo',
      'gateway + technician + customer on loopback; prints status and relay counters each second',
      (y) =>
        y
          .option('seconds', { type: 'number', default: 10, describe: 'how long to run' })
          .option('fps', {
            type: 'number',
            default: 20,
            describe: 'customer screen frames per second',
          })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print one JSON summary at the end only',
          }),
      async (argv) => {
        const summary = await runDemo({
          seconds: argv.seconds,
          fps: argv.fps,
          ...(argv.json ? {} : { print: (line: string) => console.log(line) }),
        });
        console.log(argv.json ? JSON.stringify(summary) : JSON.stringify(summary, null, 2));
      },
    )
    .command(
      'config',
      'print every setting with its default, environment variable and current value',
      (y) => y,
      () => {
        const config = resolveConfig();
        for (const key of configKeys) {
          const shown =
            key === 'secret' || key === 'adminToken'
              ? config[key]
                ? '(set)'
                : '(generated)'
              : config[key];
          console.log(
            `--${flagName(key)}  ${envName(key)}=${JSON.stringify(shown)}  # ${schema[key].doc}`,
          );
        }
      },
    )
    .fail((message, err, y) => {
      if (err) throw err;
      console.error(`${message}\n`);
      y.showHelp();
      process.exit(2);
    })
    .help()
    .parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  if (err instanceof UwsLoadError || err instanceof ConfigError) {
    console.error(`ferry: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  console.error('ferry:', err);
  process.exit(1);
});
