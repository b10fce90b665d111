/**
 * Reference customer: joins with the technician's PIN, answers consent requests by its policy
 * (a fixed list, deny, or a prompt), streams a synthetic screen (one or several monitors numbered
 * from 1, advertised as capture source `test-pattern`, the selected ones, at the quality asked for
 * or the link grade's), sends key frames when the contract calls for them, collects system
 * information for technicians, and applies the technician's input to a virtual pointer and
 * keyboard through the contract's mapping (src/protocol/screen-input.ts): coordinates mapped and
 * clamped to the monitor named, keys reconciled to the modifier state, composed text as text.
 * A lost connection is resumed with the Welcome's resume token (see `FerryClient`); a reboot
 * request goes to `onReboot` when given (the CLI restarts its process there), otherwise it is
 * played as a restart: the socket dies, and after `rebootDelayMs` the client comes back with its
 * resume token. The Hello says the uid and user this process runs as.
 * With `x11` (src/clients/x11/screen.ts) the screen is the real X11 display instead: its
 * monitors, captured tiles, and input injected into it while CONTROL is granted; with `noScreen`
 * there is none. `resumeToken` rejoins after a process restart (src/clients/resume-state.ts).
 *
 * The gateway enforces consent: this client stops sharing when view is revoked and does not
 * start without it, but a frame it sends anyway is refused there, not here.
 */
import os from 'node:os';
import { Codes, isNormalClose } from '../protocol/codes.js';
import { Channel } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  type DisplayMonitor,
  KEY_FRAME_TRIGGERS,
  type KeyFrameTrigger,
  keyFramesFor,
  MONITOR_ALL,
  mapPointer,
  planKey,
  presetForGrade,
} from '../protocol/screen-input.js';
import { type ClientOptions, FerryClient, FerryError } from './client.js';
import { processIdentity } from './elevation.js';
import { type CustomerFileOptions, CustomerFiles } from './files.js';
import { type PermissionName, toNames, toWire } from './permissions.js';
import { type CustomerShellOptions, CustomerShells } from './shells.js';
import { type ScreenOptions, SyntheticScreen } from './synthetic-screen.js';
import { collectSysinfo, SYSINFO_CATEGORIES } from './sysinfo.js';
import { CAPTURE_PRESETS } from './x11/presets.js';
import type { X11Screen } from './x11/screen.js';

/** A technician's consent request as the customer's prompt shows it. */
export interface ConsentPromptRequest {
  readonly consentId: number;
  readonly permissions: PermissionName[];
  readonly requestedBy: string;
  readonly reason: string;
}

/**
 * How the customer answers consent requests: grant what is asked of this list (the rest is
 * denied), deny everything, or ask (a prompt resolving with what to grant).
 */
export type ConsentPolicy =
  | readonly PermissionName[]
  | 'deny'
  | ((
      request: ConsentPromptRequest,
    ) => readonly PermissionName[] | Promise<readonly PermissionName[]>);

/** Collects system information for the categories named (all when none). */
export type SysinfoCollector = (categories: readonly string[]) => Promise<unknown>;

export interface CustomerOptions extends ClientOptions {
  readonly pin: string;
  readonly screen?: ScreenOptions;
  readonly monitors?: number;
  /** How long a requested restart keeps the client away. */
  readonly rebootDelayMs?: number;
  /**
   * A reboot request restarts the real process instead (resume state written, a new process
   * started with `--resume`, this one gone); not given: the in-process restart above.
   */
  readonly onReboot?: () => void;
  /** How consent requests are answered; default 'deny'. */
  readonly consent?: ConsentPolicy;
  /** Default: `collectSysinfo` from the real machine. */
  readonly sysinfo?: SysinfoCollector;
  /** Run the shells technicians open (with the shell grant); default: none are run. */
  readonly shells?: CustomerShellOptions;
  /** Take uploads into, and serve downloads from, this directory (with the file grant). */
  readonly files?: CustomerFileOptions;
  /**
   * The real screen (Linux/X11, src/clients/x11/): monitors, capture and input come from it
   * instead of the test pattern. Input reaches it only while CONTROL is granted.
   */
  readonly x11?: X11Screen;
  /** No screen at all (no display): why; nothing is advertised or shared. */
  readonly noScreen?: string;
  /** Rejoin with this resume token (the resume file's) instead of the PIN. */
  readonly resumeToken?: string;
  /** The permissions in force as the resume file says (a resume resends no ConsentChanged). */
  readonly granted?: readonly PermissionName[];
}

export interface VirtualPointer {
  /** Monitor the pointer is on, and its position there in the monitor's advertised pixels. */
  monitor: number;
  x: number;
  y: number;
  /** Position in the (virtual) desktop after the contract's mapping. */
  desktopX: number;
  desktopY: number;
  /** Input that fell outside its monitor and was clamped. */
  clamped: number;
  /** Input naming a monitor the customer does not have (dropped). */
  unknownMonitor: number;
  /** KeyEvents whose code the key table does not know (dropped). */
  unknownKeys: number;
  /** Keys held down now (KeyboardEvent.code). */
  held: Set<string>;
  buttons: number;
  clicks: number;
  /** Key presses injected, modifiers the reconciliation pressed included. */
  keys: number;
  text: string;
  wheelX: number;
  wheelY: number;
}

/** Tile size and frame rate of each quality preset (spec C4.9: speed vs fidelity). */
export const QUALITY_PRESETS: Record<number, { tileBytes: number; fps: number }> = {
  [ferry.v1.QualityPreset.QUALITY_PRESET_SPEED]: { tileBytes: 1024, fps: 20 },
  [ferry.v1.QualityPreset.QUALITY_PRESET_BALANCED]: { tileBytes: 2048, fps: 10 },
  [ferry.v1.QualityPreset.QUALITY_PRESET_FIDELITY]: { tileBytes: 8192, fps: 5 },
};

/** A SysinfoResponse larger than this is answered with an error instead (the gateway's frame limit). */
const MAX_SYSINFO_JSON = 900 * 1024;

export class CustomerClient extends FerryClient {
  readonly pin: string;
  readonly screens: SyntheticScreen[];
  readonly pointer: VirtualPointer = {
    monitor: 1,
    x: 0,
    y: 0,
    desktopX: 0,
    desktopY: 0,
    clamped: 0,
    unknownMonitor: 0,
    unknownKeys: 0,
    held: new Set(),
    buttons: 0,
    clicks: 0,
    keys: 0,
    text: '',
    wheelX: 0,
    wheelY: 0,
  };
  inputEvents = 0;
  keyFrameRequests = 0;
  reboots = 0;
  /** Permissions in force, from the gateway's latest ConsentChanged. */
  granted: PermissionName[] = [];
  /** The monitor shared (its id, the SCREEN stream), or null for all. */
  selectedMonitor: number | null = null;
  /** Key frames sent, by the trigger that called for them (the contract's list). */
  readonly keyFrames: Record<KeyFrameTrigger, number> = Object.fromEntries(
    KEY_FRAME_TRIGGERS.map((t) => [t, 0]),
  ) as Record<KeyFrameTrigger, number>;
  /** A technician chose the quality (SetStreamQuality); until then it follows the link grade. */
  #qualityAsked = false;
  /** Frames per second of `startScreen` (the quality setting changes it). */
  fps = 10;
  sysinfoRequests = 0;
  /**
   * The special tasks this client offers (spec C4.4), said in its Hello: ids, names and
   * contexts only. Set before `connect()` (CustomerTools does it from its configuration).
   */
  specialTasks: ferry.v1.SpecialTaskInfo.$Properties[] = [];
  #timer: NodeJS.Timeout | null = null;
  readonly #resumeToken: string;
  readonly #consent: ConsentPolicy;
  readonly #collect: SysinfoCollector;
  /** Session tools II: shells and files (src/clients/shells.ts, files.ts). */
  readonly shells: CustomerShells;
  readonly files: CustomerFiles | null;
  /** The real screen, or null (test pattern, or none). */
  readonly x11: X11Screen | null;
  /** Why there is no screen at all, or null. */
  readonly noScreen: string | null;
  /** Input events dropped because CONTROL was not granted (the real screen only). */
  inputRefused = 0;
  /** Input sent again after a resume that had arrived already (see #receiveInput). */
  inputResentDropped = 0;
  #inputHighest = 0;
  /** Capture failures reported to the technicians (FERRY_ERR_* code and message). */
  readonly screenErrors: string[] = [];

  constructor(options: CustomerOptions) {
    super(options);
    this.shells = new CustomerShells(this, {
      ...options.shells,
      enabled: options.shells !== undefined && options.shells.enabled !== false,
    });
    this.files = options.files ? new CustomerFiles(this, options.files) : null;
    this.pin = options.pin;
    this.#resumeToken = options.resumeToken ?? '';
    this.#consent = options.consent ?? 'deny';
    this.#collect = options.sysinfo ?? ((categories) => collectSysinfo(categories));
    this.x11 = options.x11 ?? null;
    this.noScreen = this.x11 === null ? (options.noScreen ?? null) : null;
    if (options.granted !== undefined) this.granted = [...options.granted];
    const monitors = Math.max(1, options.monitors ?? 1);
    this.screens =
      this.x11 !== null || this.noScreen !== null
        ? []
        : Array.from({ length: monitors }, (_, m) => new SyntheticScreen(m + 1, options.screen));
    // a capture or encoder failure: the technicians hear why, the other tools go on
    this.x11?.on('failed', (code, message) => this.#screenFailed(code, message));
    this.on('event', (e: ferry.v1.Event) => {
      // a technician arriving needs the whole screen; the link grade picks the quality
      if (e.participantJoined) this.keyFrame('join');
      if (e.linkAdvice) this.#followGrade(e.linkAdvice.overall ?? 0);
    });
    this.on('status', (s: ferry.v1.StatusChanged) => {
      if (s.status === ferry.v1.SessionStatus.SESSION_STATUS_ACTIVE) this.keyFrame('pick-up');
    });
    this.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_INPUT && frame.input)
        this.#receiveInput(frame.input as ferry.v1.InputEvent);
      else if (frame.channel === Channel.CHANNEL_SYSINFO && frame.sysinfoRequest)
        void this.#answerSysinfo(frame.sysinfoRequest as ferry.v1.SysinfoRequest);
    });
    this.on('control', (control, stream) => {
      if (control.keyFrameRequest) {
        this.keyFrameRequests++;
        this.keyFrame('request', stream);
      }
      if (control.rebootRequest) {
        if (options.onReboot !== undefined) {
          this.reboots++;
          options.onReboot();
        } else this.#restart(options.rebootDelayMs ?? 200);
      }
      if (control.consentRequest) {
        void this.#answerConsent(control.consentRequest as ferry.v1.ConsentRequest);
      }
      if (control.screenShareStart && this.granted.includes('view')) this.startScreen(this.fps);
      if (control.screenShareStop) this.stopScreen();
      if (control.selectMonitor) this.#select(control.selectMonitor as ferry.v1.SelectMonitor);
      if (control.setStreamQuality) {
        this.#setQuality(control.setStreamQuality as ferry.v1.SetStreamQuality);
      }
    });
    this.on('controlChanged', (c) => {
      this.#controller = c.participantId ?? '';
    });
    this.on('consentChanged', (c) => {
      this.granted = toNames(c.granted);
      if (!this.granted.includes('view')) this.stopScreen();
      if (!this.granted.includes('control')) this.x11?.injector.releaseAll();
    });
    this.on('close', () => {
      this.stopScreen();
      this.x11?.close();
    });
  }

  /** Frames were dropped on a full direct channel: the technician gets a whole picture again. */
  protected override onDirectDrained(): void {
    this.keyFrame('request');
  }

  /** Input counted as refused because it came direct without CONTROL granted here. */
  directInputRefused = 0;

  /**
   * INPUT from the technician's end of the direct path, only while this customer has granted
   * CONTROL: the gateway tears the path down on a revoke, and this check covers the moment
   * between.
   */
  protected override acceptsDirect(_frame: ferry.v1.Frame): boolean {
    // granted here, and from the technician in control as this customer last heard it
    const from = this.direct?.peerId ?? '';
    const fromController = this.#controller === '' || this.#controller === from;
    if (this.granted.includes('control') && fromController) return true;
    this.directInputRefused++;
    return false;
  }

  /** The participant in control as the last ControlChanged said ('' before any). */
  #controller = '';

  async connect(): Promise<ferry.v1.Welcome> {
    const welcome = await this.open({
      role: ferry.v1.Role.ROLE_CUSTOMER,
      ...(this.#resumeToken ? { pin: '', resumeToken: this.#resumeToken } : { pin: this.pin }),
      client: {
        name: this.options.name ?? 'customer',
        version: 'ferry-customer/1',
        platform: process.platform,
        computerName: os.hostname(),
        sysinfoCategories: [...SYSINFO_CATEGORIES],
        effectiveUid: Math.max(0, processIdentity().uid),
        user: processIdentity().user,
      },
      specialTasks: this.specialTasks,
    });
    // spec C4.8: the technicians learn the monitors to choose from
    if (this.noScreen === null) this.notify({ monitorList: this.monitorList() });
    return welcome;
  }

  /**
   * The synthetic monitors, side by side, the first one primary, each advertised at the size its
   * tiles carry, capture source `test-pattern`.
   */
  monitorList(): ferry.v1.MonitorList.$Properties {
    if (this.x11 !== null) return this.x11.monitorList();
    return {
      monitors: this.display().map((d, i) =>
        this.screens[i]!.advertise(d.desktop.x, d.primary === true),
      ),
      selected: this.selectedMonitor ?? MONITOR_ALL,
      all: this.selectedMonitor === null,
    };
  }

  /** The (virtual) real display: the monitors side by side, unscaled. */
  display(): DisplayMonitor[] {
    let x = 0;
    return this.screens.map((s, i) => {
      const d: DisplayMonitor = {
        id: s.monitor,
        width: s.width,
        height: s.height,
        primary: i === 0,
        desktop: { x, y: 0, width: s.width, height: s.height },
      };
      x += s.width;
      return d;
    });
  }

  /** The ids of the monitors shared now. */
  sharedMonitors(): number[] {
    if (this.x11 !== null) return this.x11.shownIds();
    return this.screens.filter((s) => this.#shows(s)).map((s) => s.monitor);
  }

  /** Asks the screens for key frames by the contract's trigger rule; returns the monitors asked. */
  keyFrame(trigger: KeyFrameTrigger, monitor = MONITOR_ALL): number[] {
    const ids = keyFramesFor(trigger, this.sharedMonitors(), monitor);
    for (const s of this.screens) if (ids.includes(s.monitor)) s.requestKeyFrame();
    for (const id of ids) this.x11?.requestKeyFrame(id);
    if (ids.length > 0) this.keyFrames[trigger]++;
    return ids;
  }

  /** A monitor changes size: the next tiles are a key frame and MonitorList is sent again. */
  resizeMonitor(monitor: number, width: number, height: number): void {
    const screen = this.screens.find((s) => s.monitor === monitor);
    if (screen === undefined) throw new RangeError(`no monitor ${monitor}`);
    screen.resize(width, height);
    this.keyFrame('resize', monitor);
    this.notify({ monitorList: this.monitorList() });
  }

  /** Answers a technician's consent request by the policy. */
  async #answerConsent(request: ferry.v1.ConsentRequest): Promise<void> {
    const asked = toNames(request.permissions);
    this.emit('consentRequest', request);
    const policy = this.#consent;
    let allowed: readonly PermissionName[];
    if (policy === 'deny') allowed = [];
    else if (typeof policy === 'function') {
      allowed = await policy({
        consentId: request.consentId,
        permissions: asked,
        requestedBy: request.requestedBy,
        reason: request.reason,
      });
    } else allowed = policy;
    const granted = asked.filter((p) => allowed.includes(p));
    this.notify({ consentResponse: { consentId: request.consentId, granted: toWire(granted) } });
  }

  /** Grants permissions without being asked; resolves once the gateway has recorded them. */
  async grant(permissions: readonly PermissionName[]): Promise<void> {
    await this.request({ consentResponse: { consentId: 0, granted: toWire(permissions) } });
  }

  /**
   * Takes permissions back (none named: all). Sharing stops here first, then the gateway stops
   * relaying at once; resolves once it has.
   */
  async revoke(permissions: readonly PermissionName[] = []): Promise<void> {
    const gone = new Set<PermissionName>(permissions.length === 0 ? this.granted : permissions);
    if (gone.has('view')) {
      gone.add('control'); // control needs view
      this.stopScreen();
    }
    // in force here at once: input already on its way over a direct path is not applied (the
    // gateway's ConsentChanged comes after)
    this.granted = this.granted.filter((p) => !gone.has(p));
    await this.request({ revokeConsent: { permissions: toWire(permissions) } });
  }

  /** Starts sharing at `fps` and tells the technicians (the gateway needs the VIEW grant). */
  async shareScreen(fps = this.fps): Promise<void> {
    if (this.noScreen !== null) throw new FerryError(Codes.SCREEN_UNAVAILABLE.code, this.noScreen);
    await this.request({ screenShareStart: {} });
    this.startScreen(fps);
  }

  /** Stops sharing and tells the technicians. */
  async stopSharing(reason = ''): Promise<void> {
    this.stopScreen();
    await this.request({ screenShareStop: { reason } });
  }

  #select(op: ferry.v1.SelectMonitor): void {
    this.selectedMonitor = op.all ? null : op.monitor;
    this.x11?.select(this.selectedMonitor);
    this.keyFrame('monitor-switch', MONITOR_ALL);
  }

  #setQuality(op: ferry.v1.SetStreamQuality): void {
    this.#qualityAsked = op.preset !== ferry.v1.QualityPreset.QUALITY_PRESET_UNSPECIFIED;
    this.#applyQuality(op.preset, op.maxFps, op.tileBytes);
  }

  /** Without a technician's choice the quality follows the link grade (LinkAdvice: the session's overall). */
  #followGrade(connectivity: number): void {
    if (this.#qualityAsked) return;
    const preset = presetForGrade(connectivity);
    const current = this.x11 !== null ? this.x11.preset : this.screens[0]?.preset;
    if (current !== preset) this.#applyQuality(preset, 0, 0);
  }

  #applyQuality(presetId: ferry.v1.QualityPreset, maxFps: number, tileBytesAsked: number): void {
    if (this.x11 !== null) {
      // the real screen: the preset's quality and frame rate (UNSPECIFIED: the flags' setting)
      const setting = CAPTURE_PRESETS[presetId] ?? this.x11.initial;
      this.x11.configure({ quality: setting.quality, fps: maxFps || setting.fps }, presetId);
      this.fps = this.x11.asked.fps;
      return;
    }
    const preset = QUALITY_PRESETS[presetId];
    const tileBytes = tileBytesAsked || preset?.tileBytes || 0;
    if (tileBytes > 0) for (const s of this.screens) s.tileBytes = tileBytes;
    const fps = maxFps || preset?.fps || 0;
    if (fps > 0) {
      this.fps = fps;
      if (this.sharing) this.startScreen(fps);
    }
    for (const s of this.screens) {
      s.preset = presetId;
      s.fps = this.fps;
      s.requestKeyFrame();
    }
  }

  /** Collects what was asked and answers the technician who asked (by its ticket). */
  async #answerSysinfo(request: ferry.v1.SysinfoRequest): Promise<void> {
    this.sysinfoRequests++;
    let json = '';
    let error = '';
    try {
      json = JSON.stringify(await this.#collect(request.categories));
      if (json.length > MAX_SYSINFO_JSON) {
        error = `system information of ${json.length} bytes is over the ${MAX_SYSINFO_JSON} limit; ask for fewer categories`;
        json = '';
      }
    } catch (err) {
      error = `collecting failed: ${(err as Error).message}`;
    }
    this.send({
      channel: Channel.CHANNEL_SYSINFO,
      sysinfoResponse: { requestId: request.requestId, ticket: request.ticket, json, error },
    });
  }

  /** Plays a restart: the connection dies at once and comes back after `delayMs`. */
  #restart(delayMs: number): void {
    this.reboots++;
    this.nextRetryDelayMs = delayMs;
    this.dropConnection();
  }

  /**
   * The customer closes the session (customer_close). Resolves once the gateway has done it:
   * its Done, or the gateway letting the customer go with a normal close (4101).
   */
  async endSession(reason = ''): Promise<void> {
    const sessionId = this.welcome?.sessionId ?? '';
    try {
      await this.request({ closeSession: { sessionId, reason } });
    } catch (err) {
      const released = err instanceof FerryError && err.code === Codes.CLOSED.code;
      if (!released || !isNormalClose(this.closeCode)) throw err;
    }
  }

  #shows(screen: SyntheticScreen): boolean {
    return this.selectedMonitor === null || screen.monitor === this.selectedMonitor;
  }

  /** Sends the next frame of every shared monitor now; returns the frames sent. */
  sendScreenFrame(): Uint8Array[] {
    const sent: Uint8Array[] = [];
    for (const screen of this.screens) {
      if (!this.#shows(screen)) continue;
      for (const tile of screen.nextFrame()) {
        if (this.sendRaw(tile)) sent.push(tile);
      }
    }
    return sent;
  }

  get sharing(): boolean {
    return this.#timer !== null || this.x11?.sharing === true;
  }

  /** Streams the screen at `fps` until `stopScreen()` or close. */
  startScreen(fps = this.fps): void {
    this.stopScreen();
    if (this.noScreen !== null) return;
    if (this.x11 !== null) {
      this.x11.start(this);
      this.keyFrame('join');
      return;
    }
    this.fps = fps;
    for (const s of this.screens) s.fps = fps;
    this.keyFrame('join');
    this.#timer = setInterval(() => this.sendScreenFrame(), Math.max(1, Math.round(1000 / fps)));
  }

  stopScreen(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.x11?.stop();
  }

  /** Capture stopped (display gone, ffmpeg missing, encoder error): tell the technicians. */
  #screenFailed(code: string, message: string): void {
    this.screenErrors.push(`${code}: ${message}`);
    this.stopSharing(`${code}: ${message}`).catch((err: unknown) => {
      this.screenErrors.push(
        `${Codes.CLOSED.code}: could not report it: ${(err as Error).message}`,
      );
    });
  }

  /** Moves the virtual pointer by the contract's mapping; false when the monitor is unknown. */
  #point(monitor: number, x: number, y: number): boolean {
    const p = this.pointer;
    const mapped = mapPointer(this.display(), monitor, x, y, this.selectedMonitor ?? MONITOR_ALL);
    if (!mapped.ok) {
      p.unknownMonitor++;
      return false;
    }
    if (mapped.clamped) p.clamped++;
    const d = this.display().find((m) => m.id === mapped.monitor)!;
    p.monitor = mapped.monitor;
    p.x = mapped.x - d.desktop.x;
    p.y = mapped.y - d.desktop.y;
    p.desktopX = mapped.x;
    p.desktopY = mapped.y;
    return true;
  }

  /**
   * Input sent again after a resume (`resent`) that arrived already is dropped: its seq is at or
   * below the highest seen. A first-time event sets the mark even when lower: another technician
   * took control, or one started afresh.
   */
  #receiveInput(input: ferry.v1.InputEvent): void {
    if (input.resent && input.seq <= this.#inputHighest) {
      this.inputResentDropped++;
      return;
    }
    this.#inputHighest = input.seq;
    this.applyInput(input);
  }

  applyInput(input: ferry.v1.InputEvent): void {
    if (this.x11 !== null) {
      // the gateway relays input only with CONTROL; the client checks again before the display
      if (!this.granted.includes('control')) {
        this.inputRefused++;
        return;
      }
      this.inputEvents++;
      if (this.x11.applyInput(input)) this.emit('input', input);
      return;
    }
    this.inputEvents++;
    const p = this.pointer;
    // Decoded sub-messages are full instances (every scalar has its default); only the types say optional.
    switch (input.kind) {
      case 'move': {
        const m = input.move as ferry.v1.PointerMove;
        if (!this.#point(m.monitor, m.x, m.y)) return;
        break;
      }
      case 'button': {
        const b = input.button as ferry.v1.PointerButtonEvent;
        if (!this.#point(b.monitor, b.x, b.y)) return;
        const bit = 1 << b.button;
        if (b.action === ferry.v1.ButtonAction.BUTTON_ACTION_DOWN) p.buttons |= bit;
        else {
          if (p.buttons & bit) p.clicks++;
          p.buttons &= ~bit;
        }
        break;
      }
      case 'wheel':
        p.wheelX += input.wheel!.dx!;
        p.wheelY += input.wheel!.dy!;
        break;
      case 'key': {
        const plan = planKey(p.held, input.key as ferry.v1.KeyEvent);
        if (plan.unknown) {
          p.unknownKeys++;
          return;
        }
        p.held = plan.held;
        for (const a of plan.actions) if (a.down) p.keys++;
        break;
      }
      case 'text':
        p.text += input.text!.text;
        break;
      default:
        return;
    }
    this.emit('input', input);
  }
}
