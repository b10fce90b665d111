/**
 * `ferry customer`: the reference customer. Joins with the technician's PIN, answers consent
 * (prompt on stdin, --grant or --deny), shares its screen once the session is active and view is
 * granted (the X11 display with --screen x11, the default with $DISPLAY; none without a display;
 * the synthetic screen with --screen test-pattern), rejoins after a restart with --resume, prints chat, events and applied input, and reads chat and /commands
 * from stdin. A reboot request restarts the process (a new one resumes); an elevation relaunches
 * it through --elevate-command, and the relaunched process takes over only with uid 0.
 * The synthetic screen is a test pattern, and says so: on the console and in the
 * MonitorList (capture source `test-pattern`); nothing real is moved or typed.
 */
import { waitFor } from '../clients/client.js';
import { ConsentPrompt } from '../clients/consent-prompt.js';
import { type ConsentPolicy, CustomerClient } from '../clients/customer.js';
import { parsePermissions, toNames } from '../clients/permissions.js';
import type { ResumeKeeper } from '../clients/resume-state.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  CLIENT_DIRECT_OPTIONS,
  CLIENT_TLS_OPTIONS,
  clientDirect,
  clientTls,
  defineCommand,
  ExitCode,
  type ExitRequest,
  lines,
  printDirectChanges,
  statusName,
  URL_OPTION,
} from './common.js';
import {
  attachNative,
  checkElevatedStart,
  connectNative,
  elevationFlags,
  type NativeFlags,
  nativeOptions,
  prepareNative,
  relaunchCommand,
  reportJoin,
  restartProcess,
} from './customer-native.js';
import { attachTools, type ToolFlags, toolOptions } from './customer-tools.js';

const CUSTOMER_HELP =
  'commands: /revoke [view,control,sysinfo] (none named: all), /grant <permissions>, /stop, ' +
  '/share; any other line is chat. A consent question is answered by the next line: ' +
  'y (all), n (none) or the names to allow (e.g. view)';

async function customer(
  argv: {
    url: string;
    ca?: string;
    insecureSkipVerify?: boolean;
    name: string;
    monitors: number;
    grant: string | undefined;
    deny: boolean | undefined;
    shells: boolean;
    shareDir: string | undefined;
    direct?: boolean;
    directNetworks?: string;
  } & ToolFlags &
    NativeFlags,
): Promise<ExitRequest> {
  // an elevation relaunch without administrative rights stops before it touches the session
  const notElevated = checkElevatedStart(argv);
  if (notElevated !== null) return notElevated;
  // the screen (X11, none, or the test pattern) and the resume file, before anything connects
  const native = await prepareNative(argv);
  if (typeof native === 'number') return native;
  let keeper: ResumeKeeper | null = null;
  // another process holds the session now (a restart, an elevated relaunch): this one ends
  let replaced = false;
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
    tls: clientTls(argv),
    pin: argv.pin ?? '',
    name: argv.name,
    monitors: argv.monitors,
    consent,
    ...(argv.shells ? { shells: {} } : {}),
    ...(argv.shareDir ? { files: { dir: argv.shareDir } } : {}),
    ...native.clientOptions,
    direct: clientDirect(argv),
    // the reboot tool restarts this process: a new one resumes the session
    onReboot: () => {
      if (keeper === null) return;
      replaced = true;
      restartProcess(client, keeper, relaunchCommand(argv, native));
    },
  });
  printDirectChanges(client);
  const tools = attachTools(client, argv);
  tools.relaunch = (ticket, kind) => relaunchCommand(argv, native, elevationFlags(ticket, kind));
  tools.on('handedOver', () => {
    replaced = true;
    console.log('the elevated client took the session over; this process stops');
  });
  keeper = attachNative(client, native);
  console.log(`customer process ${process.pid}`);
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
      if (client.x11 !== null) {
        console.log(
          `input #${input.seq} ${input.kind}: injected into display ${client.x11.display}`,
        );
        return;
      }
      const p = client.pointer;
      console.log(
        `input #${input.seq} ${input.kind}: pointer on monitor ${p.monitor} at ${p.x},${p.y} of the test pattern${p.clamped > 0 ? ` (${p.clamped} clamped)` : ''}`,
      );
    }
  });
  let active = false;
  /** A StatusChanged came: it is newer than the Welcome's status. */
  let statusSeen = false;
  // spec C1: the desktop shows up once the customer agreed, while the session is active
  const share = () => {
    if (!active || !client.granted.includes('view') || client.sharing || client.noScreen !== null) {
      return;
    }
    client.shareScreen(argv.fps).catch((err: unknown) => console.error((err as Error).message));
  };
  client.on('status', (s) => {
    console.log(`status ${statusName(s.previous)} -> ${statusName(s.status)}`);
    statusSeen = true;
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
  const welcome = await connectNative(client, native);
  await reportJoin(client, welcome, keeper);
  // an elevation relaunch answers the request that started it, with what it really runs as
  if (argv.elevationTicket !== undefined && argv.elevationKind !== undefined) {
    tools.confirmElevation(argv.elevationTicket, argv.elevationKind);
  }
  // resumed mid-session: share again as before (no status change announces it). A StatusChanged
  // read in the same chunk as the Welcome was handled before this line runs (the ws client emits
  // a chunk's messages at once): it is newer than the Welcome's status, which then does not count.
  if (!statusSeen) {
    active =
      welcome.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE ||
      welcome.status === ferry.v1.SessionStatus.SESSION_STATUS_COLLABORATING;
  }
  if (active) share();
  for (const m of native.source === 'test-pattern' ? (client.monitorList().monitors ?? []) : []) {
    console.log(
      `sharing monitor ${m.id}: a ${m.width}x${m.height} test pattern, not your real screen; input moves a virtual pointer only`,
    );
  }
  lines(
    (text) => {
      if (prompt.waiting) {
        prompt.answer(text);
        return;
      }
      stdinCommand(client, text).catch((err: unknown) =>
        console.error(`${text.split(' ')[0]}: ${(err as Error).message}`),
      );
    },
    () => prompt.close(),
  );
  const [code, reason] = await waitFor(client, 'close', () => true, 2 ** 31 - 1);
  await keeper.settled();
  console.log(`connection closed: ${code} ${reason}`);
  // stdin may still be open: a replaced process ends here instead of waiting for it
  return replaced ? ExitCode.ok : undefined;
}

/** One line of the customer's stdin: /revoke, /grant, /stop, /share, or chat. */
async function stdinCommand(client: CustomerClient, line: string): Promise<void> {
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

export const customerCommand = defineCommand({
  command: 'customer',
  describe:
    "reference customer: join with the technician's PIN, answer consent (prompt, --grant or --deny), share the X11 screen (or --screen test-pattern), take input with control, chat from stdin; --resume rejoins after a restart",
  builder: (y) =>
    nativeOptions(toolOptions(y))
      .option('url', URL_OPTION)
      .options(CLIENT_TLS_OPTIONS)
      .options(CLIENT_DIRECT_OPTIONS)
      .option('pin', {
        type: 'string',
        describe: 'PIN the technician gave you (not needed with --resume)',
      })
      .option('name', { type: 'string', default: 'customer', describe: 'display name' })
      .option('monitors', {
        type: 'number',
        default: 1,
        describe: 'test-pattern monitors to share (numbered from 1)',
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
        describe: 'directory uploads land in and downloads are served from (with the file grant)',
      })
      .conflicts('grant', 'deny')
      .epilog(`stdin ${CUSTOMER_HELP}`),
  run: (argv) => customer(argv as typeof argv & ToolFlags & NativeFlags),
});
