/**
 * `ferry technician`: the reference technician. Opens a session (unless --no-create), prints its
 * PIN, picks the customer up when it joins, asks for consent, prints status, chat, events, notes
 * and network statistics, and runs the interactive command line of src/cli/technician-repl.ts
 * (chat and /commands, /help). It sends no input by itself: only --demo-input moves the
 * customer's pointer in a circle, and only while the session is Active with the control grant.
 * Ctrl-C and /quit leave the session cleanly; --open prints the web console URL instead.
 * The customer's monitors are printed with their capture source: a synthetic screen reads
 * "test pattern" plainly. Pointer moves stay inside the monitor shared, in its advertised pixels.
 */
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../clients/client.js';
import { parsePermissions, toNames } from '../clients/permissions.js';
import { TechnicianClient } from '../clients/technician.js';
import { formatAlert, formatStatsTable } from '../netstats/table.js';
import { ferry } from '../protocol/gen/ferry.js';
import { captureSourceLabel } from '../protocol/screen-input.js';
import {
  CLIENT_DIRECT_OPTIONS,
  CLIENT_TLS_OPTIONS,
  clientDirect,
  clientTls,
  defineCommand,
  type ExitRequest,
  printDirectChanges,
  statusName,
  URL_OPTION,
} from './common.js';
import { TechnicianRepl } from './technician-repl.js';

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

/** The gateway's web console for `--url`, signed in by the token in the URL fragment. */
export function consoleUrl(wsUrl: string, token: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = '/';
  url.search = '';
  url.hash = `token=${encodeURIComponent(token)}`;
  return url.toString();
}

async function technician(argv: {
  url: string;
  ca?: string;
  insecureSkipVerify?: boolean;
  token: string;
  name: string;
  inputRate: number;
  statsEvery: number;
  request: string;
  avatar: string;
  open: boolean;
  demoInput: boolean;
  create: boolean;
  direct?: boolean;
  directNetworks?: string;
}): Promise<ExitRequest> {
  if (argv.open) {
    console.log(consoleUrl(argv.url, argv.token));
    return undefined;
  }
  const ask = parsePermissions(argv.request);
  const client = new TechnicianClient({
    url: argv.url,
    tls: clientTls(argv),
    token: argv.token,
    name: argv.name,
    avatarRef: pictureFile(argv.avatar) === null ? argv.avatar : '',
    direct: clientDirect(argv),
  });
  printDirectChanges(client);
  await client.connect();
  const picture = pictureFile(argv.avatar);
  if (picture !== null) {
    const ref = await client.setAvatar(fs.readFileSync(argv.avatar), picture);
    console.log(`picture ${argv.avatar} stored by the gateway as ${ref}`);
  }
  const repl = new TechnicianRepl(client);
  client.on('status', (s) =>
    console.log(`status ${statusName(s.previous)} -> ${statusName(s.status)} (${s.trigger})`),
  );
  client.on('chat', (c) =>
    console.log(
      `[chat #${c.seq}${c.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY ? ' private' : ''}] ${c.senderName}: ${c.text}`,
    ),
  );
  client.on('sessionEvent', (e) => console.log(`[event #${e.seq}] ${e.actor}: ${e.detail}`));
  client.on('control', (c) => {
    if (!c.monitorList) return;
    for (const m of c.monitorList.monitors ?? []) {
      console.log(
        `customer monitor ${m.id}: ${m.width}x${m.height}, ${captureSourceLabel(m.captureSource ?? '')}${m.primary ? ' (primary)' : ''} "${m.name ?? ''}"`,
      );
    }
  });
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
  if (argv.create) {
    const { sessionId, pin } = await client.createSession();
    console.log(`session ${sessionId}: give the customer PIN ${pin}`);
    // the customer of the session opened here is picked up as soon as it joins
    waitFor(client, 'event', (e) => e.sessionQueued?.sessionId === sessionId, 2 ** 31 - 1).then(
      ([e]) => pickUp(client, e.sessionQueued as ferry.v1.SessionQueued, ask),
      (err: unknown) => console.error(`waiting for the customer: ${(err as Error).message}`),
    );
  } else {
    console.log(`connected as ${argv.name}: /queue lists your sessions, /help the commands`);
  }
  repl.start();
  let t = 0;
  const control = ferry.v1.Permission.PERMISSION_CONTROL;
  const inputTimer =
    argv.demoInput && argv.inputRate > 0
      ? setInterval(
          () => {
            // input without the customer's control grant is refused by the gateway: send none
            if (!client.granted.includes(control)) return;
            t += 0.1;
            // an ellipse inside the monitor shared, in the size it advertises
            const id = client.pointerMonitor();
            const m = client.monitors.find((x) => x.id === id);
            if (m === undefined) return;
            // only while the session is Active: otherwise dropped with a message, never sent
            repl.sendInput(() =>
              client.movePointer(
                Math.round((m.width / 2) * (1 + 0.6 * Math.cos(t))),
                Math.round((m.height / 2) * (1 + 0.6 * Math.sin(t))),
                id,
              ),
            );
          },
          Math.round(1000 / argv.inputRate),
        )
      : null;
  const report = setInterval(() => {
    const dropped = [...client.tilesDropped.values()].reduce((a, b) => a + b, 0);
    console.log(
      `screen (${client.captureSource()}): ${client.screenFrames} frames, ${(client.screenBytes / 1024).toFixed(0)} KiB received${dropped > 0 ? `, ${dropped} tiles dropped` : ''}`,
    );
  }, 5000);
  const [code, reason] = await waitFor(client, 'close', () => true, 2 ** 31 - 1);
  if (inputTimer) clearInterval(inputTimer);
  clearInterval(report);
  console.log(`connection closed: ${code} ${reason}`);
  return undefined;
}

/** Picks up the customer who joined the session opened here, then asks for consent. */
async function pickUp(
  client: TechnicianClient,
  queued: ferry.v1.SessionQueued,
  ask: ReturnType<typeof parsePermissions>,
): Promise<void> {
  console.log(
    `customer "${queued.customerName}" on ${queued.computerName || 'unknown computer'} is waiting; picking up`,
  );
  try {
    await client.pickUp(queued.sessionId);
    if (ask.length === 0) return;
    console.log(`asking the customer for: ${ask.join(', ')}`);
    const c = await client.requestConsent(ask);
    const denied = toNames(c.denied);
    console.log(
      `customer granted ${toNames(c.granted).join(', ') || 'nothing'}${denied.length > 0 ? `; denied ${denied.join(', ')}` : ''}`,
    );
  } catch (err) {
    console.error(`pick-up: ${(err as Error).message}`);
  }
}

export const technicianCommand = defineCommand({
  command: 'technician',
  describe:
    'reference technician: open a session, print its PIN, pick the customer up, ask for consent; chat and /commands (/help) from stdin',
  builder: (y) =>
    y
      .option('url', URL_OPTION)
      .options(CLIENT_TLS_OPTIONS)
      .options(CLIENT_DIRECT_OPTIONS)
      .option('token', {
        type: 'string',
        demandOption: true,
        describe: 'token from "ferry token issue"',
      })
      .option('name', { type: 'string', default: 'technician', describe: 'display name' })
      .option('input-rate', {
        type: 'number',
        default: 10,
        describe: 'pointer moves per second of --demo-input',
      })
      .option('create', {
        type: 'boolean',
        default: true,
        describe:
          'open a session and print its PIN (--no-create: only connect, to take transfers, invitations and the queue)',
      })
      .option('demo-input', {
        type: 'boolean',
        default: false,
        describe: 'move the customer pointer in a circle (a demo of remote input); off by default',
      })
      .option('open', {
        type: 'boolean',
        default: false,
        describe:
          'print the web console URL with the token in its fragment (never sent to a server) and exit',
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
      .epilog(
        'stdin: a line is chat; /help lists the commands (/hold, /transfer, /invite, /accept, /queue, /pickup, /consent, /shell, /file, /stats, /close, /quit, ...). Ctrl-C leaves the session cleanly.',
      ),
  run: (argv) => technician(argv),
});
