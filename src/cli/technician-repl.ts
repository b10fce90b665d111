/**
 * The interactive command line of `ferry technician` (node:readline, with completion and
 * `/help`): chat, the session operations (hold, transfer, invite, accept, remove, queue, pick up,
 * reboot, close, quit), consent, shells and files (src/clients/tools-cli.ts), system information,
 * network statistics, notes and the access tools (src/clients/technician-access.ts). Each command
 * prints its result, or its coded error (`/hold: FERRY_ERR_...: ...`).
 * It never generates input by itself: input typed with /type while the session is not Active (or
 * Collaborating) is not sent, it is dropped with a message, so a disrupted session never draws
 * strikes. Quitting (/quit, Ctrl-C, SIGTERM, the terminal closed) leaves every session with
 * LeaveSession before the connection closes: that is a deliberate quit, not a network drop.
 */
import readline from 'node:readline';
import { FerryError, waitFor } from '../clients/client.js';
import { PERMISSIONS, parsePermissions, toNames } from '../clients/permissions.js';
import type { TechnicianClient } from '../clients/technician.js';
import { ACCESS_HELP, accessCommand, TechnicianAccess } from '../clients/technician-access.js';
import { technicianToolsCommand } from '../clients/tools-cli.js';
import { formatStatsTable } from '../netstats/table.js';
import { ferry } from '../protocol/gen/ferry.js';
import { statusName } from './common.js';

const SessionStatus = ferry.v1.SessionStatus;

/** Statuses in which input reaches the customer. */
const INPUT_STATUSES: ReadonlySet<number> = new Set([
  SessionStatus.SESSION_STATUS_ACTIVE,
  SessionStatus.SESSION_STATUS_COLLABORATING,
]);

interface CommandSpec {
  readonly usage: string;
  readonly help: string;
  /** Completion of the first argument. */
  readonly complete?: (repl: TechnicianRepl) => readonly string[];
}

/** Every /command with its usage and one line of help (also the completion list). */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  help: { usage: '/help [command]', help: 'this list, or one command' },
  chat: { usage: '/chat <text>', help: 'chat with everyone (a line without / is chat too)' },
  private: { usage: '/private <text>', help: 'chat with the technicians only' },
  hold: { usage: '/hold', help: 'put the session on hold' },
  unhold: { usage: '/unhold', help: 'take the session off hold' },
  transfer: {
    usage: '/transfer <technician> [comment]',
    help: 'offer the session to another technician',
    complete: (r) => r.technicians(),
  },
  invite: {
    usage: '/invite <technician>',
    help: 'invite a technician to collaborate',
    complete: (r) => r.technicians(),
  },
  accept: {
    usage: '/accept [session]',
    help: 'accept an invitation or take a transfer offered to you',
  },
  decline: { usage: '/decline [session]', help: 'decline an invitation or a transfer' },
  remove: {
    usage: '/remove <participant>',
    help: 'end a collaborator’s part',
    complete: (r) => r.technicians(),
  },
  handover: {
    usage: '/handover <technician>',
    help: 'make a collaborator the owner',
    complete: (r) => r.technicians(),
  },
  control: {
    usage: '/control <technician>',
    help: 'give control to a technician of the session',
    complete: (r) => r.technicians(),
  },
  queue: { usage: '/queue', help: 'your sessions and those waiting in your teams’ queues' },
  pickup: {
    usage: '/pickup <session>',
    help: 'pick a session up from the queue',
    complete: (r) => r.queued(),
  },
  consent: {
    usage: '/consent <view,control,sysinfo,shell,file>',
    help: 'ask the customer for permissions',
    complete: () => Object.keys(PERMISSIONS),
  },
  type: { usage: '/type <text>', help: 'type text on the customer’s computer (control needed)' },
  shell: { usage: '/shell [sh|bash|...]', help: 'open a shell on the customer’s computer' },
  sh: { usage: '/sh <id> <text>', help: 'type a line into shell <id>' },
  resize: { usage: '/resize <id> <cols> <rows>', help: 'resize shell <id>' },
  'close-shell': { usage: '/close-shell <id>', help: 'close shell <id>' },
  file: {
    usage: '/file get <remote> <local> | /file put <local>',
    help: 'download or upload a file',
    complete: () => ['get', 'put'],
  },
  sysinfo: { usage: '/sysinfo [categories]', help: 'system information of the customer' },
  refresh: { usage: '/refresh [categories]', help: 'system information, collected afresh' },
  stats: { usage: '/stats', help: 'the Network Statistics table now' },
  summary: { usage: '/summary', help: 'the summary of the customer’s machine' },
  note: { usage: '/note <text>', help: 'add a note to the session' },
  notes: { usage: '/notes', help: 'the notes of the session' },
  history: { usage: '/history', help: 'the session log' },
  share: { usage: '/share', help: 'ask the customer to share its screen' },
  stop: { usage: '/stop', help: 'stop the screen share' },
  monitor: { usage: '/monitor <n|all>', help: 'show one monitor, or all' },
  quality: {
    usage: '/quality <speed|balanced|fidelity>',
    help: 'screen quality',
    complete: () => ['speed', 'balanced', 'fidelity'],
  },
  elevate: { usage: '/elevate [admin|full]', help: 'ask the customer client to elevate' },
  reboot: { usage: '/reboot', help: 'restart the customer’s computer' },
  close: { usage: '/close [reason]', help: 'close the session (the owner), or leave it' },
  quit: { usage: '/quit', help: 'leave every session and exit (Ctrl-C too)' },
};

export interface ReplOptions {
  /** Where lines go (console.log by default; tests collect them). */
  readonly print?: (line: string) => void;
  readonly printError?: (line: string) => void;
}

export class TechnicianRepl {
  readonly client: TechnicianClient;
  readonly #print: (line: string) => void;
  readonly #printError: (line: string) => void;
  /** Latest status this technician sees, by session id. */
  readonly statuses = new Map<string, number>();
  /** Technicians seen in a session (completion of /transfer, /invite, /remove). */
  readonly #technicians = new Set<string>();
  /** Session ids of the latest /queue listing (completion of /pickup). */
  #queued: string[] = [];
  #rl: readline.Interface | null = null;
  #quitting: Promise<void> | null = null;
  /** Input not sent because the session is not Active: counted, told once per status. */
  inputDropped = 0;
  #droppedToldFor = -1;

  constructor(client: TechnicianClient, options: ReplOptions = {}) {
    this.client = client;
    this.#print = options.print ?? ((l) => console.log(l));
    this.#printError = options.printError ?? ((l) => console.error(l));
    client.on('status', (s) => {
      this.statuses.set(s.sessionId, s.status);
      if (s.status === SessionStatus.SESSION_STATUS_INVITATION) {
        this.#print(
          `invitation to session ${s.sessionId} from ${s.actor}: /accept ${s.sessionId} or /decline ${s.sessionId}`,
        );
      } else if (s.status === SessionStatus.SESSION_STATUS_INCOMING) {
        this.#print(
          `transfer of session ${s.sessionId} offered by ${s.actor}${s.comment ? ` (${s.comment})` : ''}: /accept ${s.sessionId} or /decline ${s.sessionId}`,
        );
      }
    });
    client.on('event', (e) => {
      const joined = e.participantJoined;
      if (joined && joined.role === ferry.v1.Role.ROLE_TECHNICIAN)
        this.#technicians.add(joined.displayName ?? '');
      if (e.ownerChanged) this.#print(`${e.ownerChanged.displayName} owns the session now`);
      if (e.participantLeft) {
        this.#print(
          `participant ${e.participantLeft.participantId} left (${e.participantLeft.reason})`,
        );
      }
    });
  }

  /** The session commands act on: the one this technician works in. */
  get sessionId(): string {
    return this.client.sessionId;
  }

  /** Whether input may be sent now: the session this technician works in is Active. */
  inputAllowed(): boolean {
    const status = this.statuses.get(this.sessionId);
    return status !== undefined && INPUT_STATUSES.has(status);
  }

  /**
   * Sends input only while the session is Active or Collaborating; otherwise drops it with a
   * message (once per status), so a disrupted session never draws refusals.
   */
  sendInput(send: () => boolean): boolean {
    if (this.inputAllowed()) {
      this.#droppedToldFor = -1;
      return send();
    }
    this.inputDropped++;
    const status = this.statuses.get(this.sessionId) ?? 0;
    if (this.#droppedToldFor !== status) {
      this.#droppedToldFor = status;
      this.#print(
        `input not sent: the session is ${status === 0 ? 'not open' : statusName(status)} (input goes only to an Active session)`,
      );
    }
    return false;
  }

  technicians(): string[] {
    return [...this.#technicians].filter((n) => n !== this.client.options.name);
  }

  queued(): string[] {
    return this.#queued;
  }

  /** Readline completion: command names, then the first argument where one is known. */
  complete(line: string): [string[], string] {
    if (!line.startsWith('/')) return [[], line];
    const space = line.indexOf(' ');
    if (space < 0) {
      const all = Object.keys(COMMANDS).map((c) => `/${c}`);
      const hits = all.filter((c) => c.startsWith(line));
      return [hits.length > 0 ? hits : all, line];
    }
    const spec = COMMANDS[line.slice(1, space)];
    const word = line.slice(space + 1);
    if (spec?.complete === undefined || word.includes(' ')) return [[], word];
    const options = spec.complete(this);
    const last = word.split(',').at(-1) ?? '';
    return [options.filter((o) => o.startsWith(last)), last];
  }

  /** Reads commands from stdin until /quit (or Ctrl-C); resolves once the client has left. */
  start(input: NodeJS.ReadableStream = process.stdin): void {
    const terminal = (input as NodeJS.ReadStream).isTTY === true;
    const rl = readline.createInterface({
      input,
      output: terminal ? process.stdout : undefined,
      terminal,
      completer: (line: string) => this.complete(line),
    });
    this.#rl = rl;
    rl.on('line', (line) => {
      const text = line.trim();
      if (text !== '') void this.run(text);
      if (terminal) rl.prompt();
    });
    // Ctrl-C at the terminal, Ctrl-D (end of a terminal's input), and the signals of a quit
    rl.on('SIGINT', () => void this.quit('interrupted'));
    rl.on('close', () => {
      if (terminal) void this.quit('input closed');
    });
    const onSignal = (signal: NodeJS.Signals) => void this.quit(`${signal}`);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
    this.client.once('close', () => {
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
      rl.close();
    });
    if (terminal) rl.prompt();
  }

  /**
   * Leaves every session (LeaveSession: not a network drop), then closes the connection
   * normally. Idempotent.
   */
  quit(reason = 'quit'): Promise<void> {
    if (this.#quitting !== null) return this.#quitting;
    this.#print(`quitting (${reason}): leaving the session`);
    this.#quitting = (async () => {
      try {
        const done = await this.client.leave('', reason);
        this.#print(`left${done.sessionId ? ` session ${done.sessionId}` : ''}`);
      } catch (err) {
        this.#printError(`/quit: ${describe(err)}`);
      }
      this.#rl?.close();
      await this.client.close(1000, 'technician quit');
    })();
    return this.#quitting;
  }

  /** Runs one line: a /command or chat. Prints the result or the coded error; never throws. */
  async run(line: string): Promise<void> {
    const command = line.startsWith('/') ? (line.slice(1).split(/\s+/)[0] ?? '') : 'chat';
    try {
      await this.#run(line);
    } catch (err) {
      this.#printError(`/${command}: ${describe(err)}`);
    }
  }

  async #run(line: string): Promise<void> {
    const client = this.client;
    if (!line.startsWith('/')) {
      client.chat(line);
      return;
    }
    const [command = '', ...words] = line.slice(1).split(/\s+/);
    const rest = words.join(' ');
    const print = this.#print;
    const done = (what: string, d: ferry.v1.Done) =>
      print(`${what}: session ${d.sessionId} is ${statusName(d.status)}`);
    switch (command) {
      case 'help':
        this.#help(words[0]);
        return;
      case 'chat':
        client.chat(rest);
        return;
      case 'private':
        client.chat(rest, true);
        return;
      case 'hold':
        return done('on hold', await client.hold());
      case 'unhold':
        return done('off hold', await client.unhold());
      case 'transfer':
        return done(
          `offered to ${need(words[0], 'technician')}`,
          await client.transfer(words[0]!, words.slice(1).join(' ')),
        );
      case 'invite':
        return done(`invited ${need(words[0], 'technician')}`, await client.invite(words[0]!));
      case 'accept': {
        const id = words[0] || this.#offered();
        if (this.statuses.get(id) === SessionStatus.SESSION_STATUS_INVITATION) {
          return done('joined', await client.acceptInvitation(id));
        }
        await client.pickUp(id);
        print(`picked up session ${id}`);
        return;
      }
      case 'decline': {
        const id = words[0] || this.#offered();
        if (this.statuses.get(id) === SessionStatus.SESSION_STATUS_INVITATION) {
          return done('declined', await client.declineInvitation(id));
        }
        return done('declined', await client.endSession(id, 'declined'));
      }
      case 'remove':
        return done(
          `removed ${need(words[0], 'participant')}`,
          await client.removeCollaborator(words[0]!),
        );
      case 'handover':
        return done(
          `handed over to ${need(words[0], 'technician')}`,
          await client.handOver(words[0]!),
        );
      case 'control':
        return done(
          `control given to ${need(words[0], 'technician')}`,
          await client.handOverControl(words[0]!),
        );
      case 'queue': {
        const entries = await client.listQueue();
        this.#queued = entries.map((e) => e.sessionId);
        if (entries.length === 0) print('queue: empty');
        for (const e of entries) {
          const relation = (ferry.v1.QueueRelation[e.relation] ?? '').replace(
            'QUEUE_RELATION_',
            '',
          );
          print(
            `queue: ${e.sessionId} ${statusName(e.status)} ${relation.toLowerCase()} customer "${e.customerName}"${e.ownerName ? ` owner ${e.ownerName}` : ''}${e.team ? ` team ${e.team}` : ''}`,
          );
        }
        return;
      }
      case 'pickup':
        await client.pickUp(need(words[0], 'session'));
        print(`picked up session ${words[0]}`);
        return;
      case 'consent': {
        const c = await client.requestConsent(parsePermissions(rest || 'view,control'));
        const denied = toNames(c.denied);
        print(
          `granted: ${toNames(c.granted).join(', ') || 'nothing'}${denied.length > 0 ? `; denied: ${denied.join(', ')}` : ''}`,
        );
        return;
      }
      case 'type':
        if (this.sendInput(() => client.typeText(rest))) print('typed');
        return;
      case 'sysinfo':
      case 'refresh': {
        const info = await client.requestSysinfo(words, command === 'refresh');
        if (info.error) throw new Error(info.error);
        print(JSON.stringify(info.snapshot, null, 2));
        return;
      }
      case 'stats': {
        const next = waitFor(client, 'event', (e) => e.networkStats != null, 5000).then(
          ([e]) => e.networkStats as ferry.v1.NetworkStats,
          () => client.latestStats,
        );
        client.requestNetworkStats();
        const stats = await next;
        if (stats === null) throw new Error('no network statistics yet');
        print(formatStatsTable(stats));
        return;
      }
      case 'summary':
        print(JSON.stringify(await client.summary(), null, 2));
        return;
      case 'note':
        await client.addNote(rest);
        print('note added');
        return;
      case 'notes': {
        const notes = await client.listNotes();
        if (notes.length === 0) print('notes: none');
        for (const n of notes) print(`#${n.id} ${n.author}: ${n.text}`);
        return;
      }
      case 'history':
        for (const e of (await client.chatHistory()).entries) {
          if (e.chat) print(`#${e.chat.seq} ${e.chat.senderName}: ${e.chat.text}`);
          else if (e.event) print(`#${e.event.seq} (${e.event.type}) ${e.event.detail}`);
        }
        return;
      case 'share':
        return done('sharing', await client.startScreenShare());
      case 'stop':
        return done('stopped', await client.stopScreenShare('technician stopped'));
      case 'monitor':
        return done('monitor', await client.selectMonitor(rest === 'all' ? 'all' : Number(rest)));
      case 'quality': {
        const preset = (ferry.v1.QualityPreset as unknown as Record<string, number>)[
          `QUALITY_PRESET_${rest.toUpperCase()}`
        ];
        if (preset === undefined) throw new Error('use speed, balanced or fidelity');
        return done('quality', await client.setStreamQuality(preset));
      }
      case 'reboot':
        return done('restarting the customer', await client.reboot());
      case 'close':
        return done('closed', await client.endSession(this.sessionId, rest));
      case 'quit':
        return this.quit('quit');
      default:
        if (await technicianToolsCommand(client, command, words)) return;
        if (await accessCommand(new TechnicianAccess(client), command, rest, print)) return;
        throw new Error(`unknown command; /help lists them`);
    }
  }

  /** The session offered to this technician (invitation or transfer), if exactly one. */
  #offered(): string {
    const offered = [...this.statuses]
      .filter(
        ([, s]) =>
          s === SessionStatus.SESSION_STATUS_INVITATION ||
          s === SessionStatus.SESSION_STATUS_INCOMING,
      )
      .map(([id]) => id);
    if (offered.length === 1) return offered[0]!;
    throw new Error(
      offered.length === 0 ? 'nothing is offered to you' : `name one of ${offered.join(', ')}`,
    );
  }

  #help(command: string | undefined): void {
    const name = command?.replace(/^\//, '');
    const spec = name === undefined ? undefined : COMMANDS[name];
    if (spec !== undefined) {
      this.#print(`${spec.usage}: ${spec.help}`);
      return;
    }
    for (const s of Object.values(COMMANDS)) this.#print(`${s.usage.padEnd(44)} ${s.help}`);
    this.#print(`more:\n${ACCESS_HELP}`);
  }
}

function need(word: string | undefined, what: string): string {
  if (word === undefined || word === '') throw new Error(`name the ${what}`);
  return word;
}

/** A failure as one line: the gateway's code and message, or the error's message. */
function describe(err: unknown): string {
  if (err instanceof FerryError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
