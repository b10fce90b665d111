/**
 * `ferry customer`: the reference customer. Joins with the technician's PIN, answers consent
 * (prompt on stdin, --grant or --deny), shares its synthetic screen once the session is active
 * and view is granted, prints chat, events and applied input, and reads chat and /commands
 * from stdin.
 */
import { waitFor } from '../clients/client.js';
import { ConsentPrompt } from '../clients/consent-prompt.js';
import { type ConsentPolicy, CustomerClient } from '../clients/customer.js';
import { parsePermissions, toNames } from '../clients/permissions.js';
import { ferry } from '../protocol/gen/ferry.js';
import { defineCommand, type ExitRequest, lines, statusName, URL_OPTION } from './common.js';
import { attachTools, type ToolFlags, toolOptions } from './customer-tools.js';

const CUSTOMER_HELP =
  'commands: /revoke [view,control,sysinfo] (none named: all), /grant <permissions>, /stop, ' +
  '/share; any other line is chat. A consent question is answered by the next line: ' +
  'y (all), n (none) or the names to allow (e.g. view)';

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
): Promise<ExitRequest> {
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
      stdinCommand(client, text).catch((err: unknown) =>
        console.error(`${text.split(' ')[0]}: ${(err as Error).message}`),
      );
    },
    () => prompt.close(),
  );
  const [code, reason] = await waitFor(client, 'close', () => true, 2 ** 31 - 1);
  console.log(`connection closed: ${code} ${reason}`);
  return undefined;
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
    "reference customer: join with the technician's PIN, answer consent (prompt, --grant or --deny), share a synthetic screen, chat from stdin",
  builder: (y) =>
    toolOptions(y)
      .option('url', URL_OPTION)
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
        describe: 'directory uploads land in and downloads are served from (with the file grant)',
      })
      .conflicts('grant', 'deny')
      .epilog(`stdin ${CUSTOMER_HELP}`),
  run: (argv) => customer(argv as typeof argv & ToolFlags),
});
