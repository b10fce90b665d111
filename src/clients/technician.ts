/**
 * Reference technician: authenticates with a gateway-signed token, opens sessions (getting the
 * customer's PIN), picks them up, chats, sends input and receives the customer's screen, and
 * drives the session lifecycle: hold, transfer, invite, collaborate, hand over, reboot, close,
 * and its queue listing. The session tools: asks for the customer's consent, hands control over,
 * reads the chat history, starts and stops sharing, picks a monitor and the quality, maps touch
 * gestures to input (`sendGesture`), reads system information, the summary and the notes.
 * Screen and input follow the contract (docs/protocol.md, "Screen and input"): pointer events name
 * their monitor (1-based) in its advertised pixels, keys go by KeyboardEvent.code with the
 * modifier state, composed text as TextInput; tiles that break the contract are dropped and
 * counted (`tilesDropped`).
 * Every operation resolves with the gateway's reply or rejects with a `FerryError` carrying the
 * FERRY_ERR_* code. The gateway enforces every permission; nothing here is a check.
 */

import { Codes } from '../protocol/codes.js';
import { Channel } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  captureSourceLabel,
  checkTile,
  type DomKey,
  keyEventFromDom,
  MONITOR_ALL,
  resolveMonitor,
  TileVerdict,
  type TileVerdictValue,
  textInputFromComposition,
} from '../protocol/screen-input.js';
import { type ClientOptions, FerryClient, FerryError, waitFor } from './client.js';
import { type FileTransferOptions, TechnicianFiles } from './files.js';
import {
  type Gesture,
  type GestureOptions,
  type GestureResult,
  mapGesture,
  type ViewTransform,
} from './gestures.js';
import { type PermissionName, SCREEN_PERMISSIONS, toWire } from './permissions.js';
import { type LostConnection, RecentInput } from './recent-input.js';
import { TechnicianShells } from './shells.js';

export interface TechnicianOptions extends ClientOptions {
  readonly token: string;
  /** Reference to this technician's picture, shown in the customer's chat (URL or image id). */
  readonly avatarRef?: string;
  /** Chunk size, window and receive limit of file transfers. */
  readonly files?: FileTransferOptions;
  /** Takes back the place of this token (another process of this technician, a restart). */
  readonly resumeToken?: string;
  /** Input of this many last ms is sent again after a resume (default 10 s; 0: none). */
  readonly inputResendMs?: number;
}

/** How long a consent request waits for the customer (a person may be reading the prompt). */
export const CONSENT_TIMEOUT_MS = 120_000;
/** How long a system information request waits (the customer collects from its machine). */
export const SYSINFO_TIMEOUT_MS = 30_000;

/** A SysinfoResponse, its JSON parsed: `{collectedAt, categories: {name: data | {error, code}}}`. */
export interface SysinfoAnswer {
  readonly requestId: number;
  // biome-ignore lint/suspicious/noExplicitAny: the payload's schema belongs to the customer client
  readonly snapshot: any;
  readonly error: string;
}

export class TechnicianClient extends FerryClient {
  readonly token: string;
  sessionId = '';
  screenFrames = 0;
  screenBytes = 0;
  #inputSeq = 1;
  /** Input of the last seconds, sent again after a resume (see recent-input.ts). */
  readonly #recentInput: RecentInput;
  latestStats: ferry.v1.NetworkStats | null = null;
  /** Permissions in force in the session, from the latest ConsentChanged. */
  granted: ferry.v1.Permission[] = [];
  /** The customer's monitors, from its latest MonitorList. */
  monitors: ferry.v1.Monitor[] = [];
  /** The monitor shared now by the latest MonitorList or selection (0: all). */
  sharedMonitor = MONITOR_ALL;
  /** SCREEN tiles dropped for breaking the contract, by verdict (unknown monitor, size mismatch, ...). */
  readonly tilesDropped = new Map<TileVerdictValue, number>();
  /** The quality the customer's encoder says it uses (from the latest tile). */
  streamQuality: { preset: ferry.v1.QualityPreset; fps: number } | null = null;
  /** Session tools II: command shells and file transfer (src/clients/shells.ts, files.ts). */
  readonly shells: TechnicianShells;
  readonly files: TechnicianFiles;

  constructor(options: TechnicianOptions) {
    super(options);
    this.token = options.token;
    this.#recentInput = new RecentInput(options.inputResendMs);
    this.shells = new TechnicianShells(this);
    this.files = new TechnicianFiles(this, options.files);
    this.on('frame', (frame, raw) => {
      if (frame.channel === Channel.CHANNEL_SCREEN) {
        this.screenFrames++;
        this.screenBytes += raw.length;
        if (frame.screen) this.#checkTile(frame.stream, frame.screen as ferry.v1.ScreenUpdate);
      } else if (frame.event?.networkStats)
        this.latestStats = frame.event.networkStats as ferry.v1.NetworkStats;
    });
    this.on('consentChanged', (c) => {
      this.granted = c.granted;
    });
    this.on('control', (control) => {
      if (control.monitorList) {
        this.monitors = control.monitorList.monitors as ferry.v1.Monitor[];
        this.sharedMonitor = control.monitorList.all
          ? MONITOR_ALL
          : (control.monitorList.selected ?? 0);
      }
    });
  }

  protected override chatSessionId(): string {
    return this.sessionId;
  }

  connect(): Promise<ferry.v1.Welcome> {
    const resumeToken = (this.options as TechnicianOptions).resumeToken ?? '';
    return this.open({
      role: ferry.v1.Role.ROLE_TECHNICIAN,
      token: this.token,
      ...(resumeToken !== '' ? { resumeToken } : {}),
      client: {
        name: this.options.name ?? 'technician',
        version: 'ferry-technician/1',
        platform: process.platform,
        avatarRef: (this.options as TechnicianOptions).avatarRef ?? '',
      },
    });
  }

  /** Opens a private session; resolves with its id and the PIN to give the customer. */
  async createSession(
    customerName = '',
  ): Promise<{ sessionId: string; pin: string; expiresAtMs: number }> {
    const reply = await this.request({ createSession: { customerName } });
    const created = reply.sessionCreated as ferry.v1.SessionCreated | null;
    if (!created) throw new FerryError(Codes.PROTOCOL.code, 'no SessionCreated in reply');
    this.sessionId = created.sessionId;
    return {
      sessionId: created.sessionId,
      pin: created.pin,
      expiresAtMs: Number(created.pinExpiresUnixMs),
    };
  }

  /** Resolves once a customer has joined `sessionId` (the gateway's SessionQueued notice). */
  async waitForCustomer(
    sessionId = this.sessionId,
    timeoutMs = 60_000,
  ): Promise<ferry.v1.SessionQueued> {
    const [event] = await waitFor(
      this,
      'event',
      (e) => e.sessionQueued?.sessionId === sessionId,
      timeoutMs,
    );
    return event.sessionQueued as ferry.v1.SessionQueued;
  }

  /** Sends one session operation; resolves with the gateway's Done. */
  async #operate(control: Omit<ferry.v1.Control.$Properties, 'requestId'>): Promise<ferry.v1.Done> {
    const reply = await this.request(control);
    const done = reply.done as ferry.v1.Done | null;
    if (!done) throw new FerryError(Codes.PROTOCOL.code, 'no Done in reply');
    return done;
  }

  /**
   * Picks the session up (from the queue, or a transfer offered to this technician); resolves
   * once the gateway reports it Active.
   */
  async pickUp(sessionId = this.sessionId): Promise<void> {
    await this.#operate({ pickUp: { sessionId } });
    this.sessionId = sessionId;
  }

  /** Close session without waiting: the owner closes it, anyone else leaves it. */
  closeSession(sessionId = this.sessionId, reason = ''): void {
    this.notify({ closeSession: { sessionId, reason } });
  }

  /** Close session and wait for the gateway's answer. */
  endSession(sessionId = this.sessionId, reason = ''): Promise<ferry.v1.Done> {
    return this.#operate({ closeSession: { sessionId, reason } });
  }

  /**
   * Quits `sessionId` (every session of this connection when empty) on purpose: not a network
   * drop. An owner's session passes to a collaborator, or to the gateway's orphan policy.
   */
  leave(sessionId = '', reason = ''): Promise<ferry.v1.Done> {
    return this.#operate({ leaveSession: { sessionId, reason } });
  }

  /** The owner puts the session back in its queue (Waiting) instead of closing it. */
  release(sessionId = this.sessionId, reason = ''): Promise<ferry.v1.Done> {
    return this.#operate({ closeSession: { sessionId, reason, leaveInQueue: true } });
  }

  hold(sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ holdSession: { sessionId } });
  }

  unhold(sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ unholdSession: { sessionId } });
  }

  /** Offers the session to `technician` (name or participant id): this side sees Outgoing. */
  transfer(technician: string, comment = '', sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ transferSession: { sessionId, technician, comment } });
  }

  invite(technician: string, sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ inviteTechnician: { sessionId, technician } });
  }

  async acceptInvitation(sessionId: string): Promise<ferry.v1.Done> {
    const done = await this.#operate({ answerInvitation: { sessionId, accept: true } });
    this.sessionId = sessionId;
    return done;
  }

  declineInvitation(sessionId: string): Promise<ferry.v1.Done> {
    return this.#operate({ answerInvitation: { sessionId, accept: false } });
  }

  removeCollaborator(technician: string, sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ removeCollaborator: { sessionId, technician } });
  }

  handOver(technician: string, sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ handOver: { sessionId, technician } });
  }

  /** Restarts the customer's computer: Rebooting until its client is back. */
  reboot(sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ rebootCustomer: { sessionId } });
  }

  /** This technician's sessions with the status it sees in each. */
  async listQueue(): Promise<ferry.v1.QueueEntry[]> {
    const reply = await this.request({ listQueue: {} });
    const queue = reply.queue as ferry.v1.Queue | null;
    if (!queue) throw new FerryError(Codes.PROTOCOL.code, 'no Queue in reply');
    return queue.entries as ferry.v1.QueueEntry[];
  }

  /** Checks a tile against the contract (test patterns carry no pixels to decode). */
  #checkTile(stream: number, tile: ferry.v1.ScreenUpdate): void {
    if (this.monitors.length === 0) return; // no MonitorList yet: nothing to check against
    this.streamQuality = { preset: tile.preset, fps: tile.fps };
    const verdict = checkTile(this.monitors, stream, tile, null);
    if (verdict !== TileVerdict.OK) {
      this.tilesDropped.set(verdict, (this.tilesDropped.get(verdict) ?? 0) + 1);
    }
  }

  /**
   * How the customer's screen is captured, for a person: "test pattern" when it is one, else the
   * source of the monitor shared (or the first).
   */
  captureSource(): string {
    const m = resolveMonitor(this.monitors, MONITOR_ALL, this.sharedMonitor);
    return captureSourceLabel(m?.captureSource ?? '');
  }

  /** The monitor pointer events name by default: the one shared, or the primary when all are. */
  pointerMonitor(): number {
    return resolveMonitor(this.monitors, MONITOR_ALL, this.sharedMonitor)?.id ?? MONITOR_ALL;
  }

  /** Asks for a key frame of `monitor` (its id), or of every monitor shared (0). */
  requestKeyFrame(monitor = MONITOR_ALL): void {
    this.notify({ keyFrameRequest: { reason: 'technician asked' } }, monitor);
  }

  requestNetworkStats(sessionId = this.sessionId): void {
    this.notify({ networkStatsRequest: { sessionId } });
  }

  /** SCREEN frames from the customer's end of the direct path (the link checked the channel). */
  protected override acceptsDirect(_frame: ferry.v1.Frame): boolean {
    return true;
  }

  /** The seq of the newest input event sent (0: none yet). */
  get lastInputSeq(): number {
    return this.#inputSeq - 1;
  }

  /** Input events sent again after resumes (`InputEvent.resent`). */
  inputResent = 0;

  sendInput(event: Omit<ferry.v1.InputEvent.$Properties, 'seq' | 'sentTimeMs'>): boolean {
    const now = performance.now();
    const input = { ...event, seq: this.#inputSeq++, sentTimeMs: now };
    const sent = this.send({ channel: Channel.CHANNEL_INPUT, input });
    if (sent) this.#recentInput.record(input, now, this.sentAt);
    return sent;
  }

  /**
   * Input written into the lost connection after what the gateway received of it goes again,
   * before anything new; after a gateway restart (which loses what it held or had not yet
   * written to the customer) the input of the last seconds does. The customer drops what it has.
   */
  protected override onResumed(lost: LostConnection | null): void {
    for (const { event, moved } of this.#recentInput.resend(performance.now(), lost)) {
      if (!this.send({ channel: Channel.CHANNEL_INPUT, input: event })) return;
      moved(this.sentAt);
      this.inputResent++;
    }
  }

  /** Moves the pointer to (x, y) of `monitor`, in the pixels that monitor advertises. */
  movePointer(x: number, y: number, monitor = this.pointerMonitor()): boolean {
    return this.sendInput({ move: { x, y, monitor } });
  }

  click(
    x: number,
    y: number,
    button = ferry.v1.PointerButton.POINTER_BUTTON_LEFT,
    monitor = this.pointerMonitor(),
  ): void {
    const action = ferry.v1.ButtonAction;
    this.sendInput({
      button: { x, y, button, action: action.BUTTON_ACTION_DOWN, clickCount: 1, monitor },
    });
    this.sendInput({
      button: { x, y, button, action: action.BUTTON_ACTION_UP, clickCount: 1, monitor },
    });
  }

  /** One key by KeyboardEvent.code; `modifiers` is the state after it (KeyEvent bits). */
  key(code: string, down: boolean, modifiers = 0, repeat = false): boolean {
    return this.sendInput({ key: { code, down, modifiers, ...(repeat ? { repeat } : {}) } });
  }

  /** A browser key event, as the contract says: nothing while an input method composes. */
  sendDomKey(event: DomKey): boolean {
    const key = keyEventFromDom(event);
    return key !== null && this.sendInput({ key });
  }

  /** Text an input method composed (compositionend): one TextInput, never key events. */
  sendComposition(data: string): boolean {
    const text = textInputFromComposition(data);
    return text !== null && this.sendInput({ text });
  }

  typeText(text: string): boolean {
    return this.sendInput({ text: { text } });
  }

  // -------------------------------------------------------------------------------------------
  // Session tools (docs/spec/session-tools.md B, C, D, F)

  /**
   * Asks the customer for permissions (default: view and control). Resolves with the
   * ConsentChanged once the customer has answered: `granted` is everything in force, `denied`
   * what it refused of this request.
   */
  async requestConsent(
    permissions: readonly PermissionName[] = SCREEN_PERMISSIONS,
    reason = '',
    sessionId = this.sessionId,
    timeoutMs = CONSENT_TIMEOUT_MS,
  ): Promise<ferry.v1.ConsentChanged> {
    const reply = await this.request(
      { consentRequest: { sessionId, permissions: toWire(permissions), reason } },
      timeoutMs,
    );
    const result = reply.consentResult as ferry.v1.ConsentChanged | null;
    if (!result) throw new FerryError(Codes.PROTOCOL.code, 'no consent result in reply');
    return result;
  }

  /**
   * Uploads this technician's picture (PNG, JPEG or WebP, at most 32 KiB); the gateway keeps it
   * and shows it to the customers it chats with. Resolves with its `ferry:avatar/` ref.
   */
  async setAvatar(image: Uint8Array, mimeType: string): Promise<string> {
    const reply = await this.request({ setAvatar: { image, mimeType } });
    const avatar = reply.avatar as ferry.v1.Avatar | null;
    if (!avatar) throw new FerryError(Codes.PROTOCOL.code, 'no Avatar in reply');
    return avatar.avatarRef;
  }

  /** Gives control to another technician of the session (owner, or the one holding control). */
  handOverControl(technician: string, sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ handOverControl: { sessionId, technician } });
  }

  /**
   * The session log (chat and events, in order), technicians-only entries included; with
   * `afterSeq`, only the entries after that log seq.
   */
  async chatHistory(sessionId = this.sessionId, afterSeq = 0): Promise<ferry.v1.ChatHistory> {
    const reply = await this.request({ chatHistoryRequest: { sessionId, afterSeq } });
    const history = reply.chatHistory as ferry.v1.ChatHistory | null;
    if (!history) throw new FerryError(Codes.PROTOCOL.code, 'no ChatHistory in reply');
    return history;
  }

  /** Asks the customer to share its screen (the VIEW grant is needed). */
  startScreenShare(sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ screenShareStart: { sessionId } });
  }

  stopScreenShare(reason = '', sessionId = this.sessionId): Promise<ferry.v1.Done> {
    return this.#operate({ screenShareStop: { sessionId, reason } });
  }

  /** Shows only monitor `monitor` of the customer (or every monitor with 'all'). */
  async selectMonitor(monitor: number | 'all'): Promise<ferry.v1.Done> {
    const done = await this.#operate({
      selectMonitor: monitor === 'all' ? { all: true } : { monitor, all: false },
    });
    this.sharedMonitor = monitor === 'all' ? MONITOR_ALL : monitor;
    return done;
  }

  /** Screen quality: a preset, optionally a frame rate and tile size the customer must honour. */
  setStreamQuality(
    preset: ferry.v1.QualityPreset,
    overrides: { maxFps?: number; tileBytes?: number } = {},
  ): Promise<ferry.v1.Done> {
    return this.#operate({
      setStreamQuality: {
        preset,
        maxFps: overrides.maxFps ?? 0,
        tileBytes: overrides.tileBytes ?? 0,
      },
    });
  }

  /**
   * Maps a touch gesture to remote input (gestures.ts, spec C3) and sends the events in order;
   * returns the mapping so the UI can take the local action (zoom, keyboard, cursor, pan).
   */
  sendGesture(gesture: Gesture, view: ViewTransform, options: GestureOptions = {}): GestureResult {
    const monitor = view.monitor || this.pointerMonitor();
    const result = mapGesture(gesture, { ...view, monitor }, options);
    for (const event of result.events) this.sendInput(event);
    return result;
  }

  /**
   * System information from the customer's machine (the SYSINFO grant is needed): the
   * categories named (none: all), collected afresh; `refresh` marks a reload (D3).
   */
  async requestSysinfo(
    categories: readonly string[] = [],
    refresh = false,
    timeoutMs = SYSINFO_TIMEOUT_MS,
  ): Promise<SysinfoAnswer> {
    const frame = await this.requestFrame(
      (requestId) => ({
        channel: Channel.CHANNEL_SYSINFO,
        sysinfoRequest: { requestId, categories: [...categories], refresh },
      }),
      timeoutMs,
    );
    const response = frame.sysinfoResponse as ferry.v1.SysinfoResponse;
    let snapshot: unknown = null;
    if (response.json) {
      try {
        snapshot = JSON.parse(response.json);
      } catch (err) {
        throw new FerryError(Codes.PROTOCOL.code, `system information is not JSON: ${err}`);
      }
    }
    return { requestId: response.requestId, snapshot, error: response.error };
  }

  /** The summary of the customer's machine; also for a session that has ended. */
  async summary(sessionId = this.sessionId): Promise<ferry.v1.SessionSummary> {
    const reply = await this.request({ summaryRequest: { sessionId } });
    const summary = reply.sessionSummary as ferry.v1.SessionSummary | null;
    if (!summary) throw new FerryError(Codes.PROTOCOL.code, 'no SessionSummary in reply');
    return summary;
  }

  /** Adds a note (during or after the session); resolves with all its notes. */
  async addNote(text: string, sessionId = this.sessionId): Promise<ferry.v1.Note[]> {
    const reply = await this.request({ addNote: { sessionId, text } });
    const notes = reply.notes as ferry.v1.Notes | null;
    if (!notes) throw new FerryError(Codes.PROTOCOL.code, 'no Notes in reply');
    return notes.notes as ferry.v1.Note[];
  }

  async listNotes(sessionId = this.sessionId): Promise<ferry.v1.Note[]> {
    const reply = await this.request({ listNotes: { sessionId } });
    const notes = reply.notes as ferry.v1.Notes | null;
    if (!notes) throw new FerryError(Codes.PROTOCOL.code, 'no Notes in reply');
    return notes.notes as ferry.v1.Note[];
  }
}
