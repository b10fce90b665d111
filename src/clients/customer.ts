/**
 * Reference customer: joins with the technician's PIN, answers consent requests by its policy
 * (a fixed list, deny, or a prompt), streams a synthetic screen (one or several monitors, the
 * selected ones, at the quality asked for), answers key frame requests, collects system
 * information for technicians, and applies the technician's input to a virtual pointer it logs.
 * A lost connection is resumed with the Welcome's resume token (see `FerryClient`); a reboot
 * request is played as a restart: the socket dies, and after `rebootDelayMs` the client comes
 * back with its resume token.
 *
 * The gateway enforces consent: this client stops sharing when view is revoked and does not
 * start without it, but a frame it sends anyway is refused there, not here.
 */
import os from 'node:os';
import { CloseCodes, Codes } from '../protocol/codes.js';
import { Channel } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { type ClientOptions, FerryClient, FerryError } from './client.js';
import { type CustomerFileOptions, CustomerFiles } from './files.js';
import { type PermissionName, toNames, toWire } from './permissions.js';
import { type CustomerShellOptions, CustomerShells } from './shells.js';
import { type ScreenOptions, SyntheticScreen } from './synthetic-screen.js';
import { collectSysinfo, SYSINFO_CATEGORIES } from './sysinfo.js';

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
  /** How consent requests are answered; default 'deny'. */
  readonly consent?: ConsentPolicy;
  /** Default: `collectSysinfo` from the real machine. */
  readonly sysinfo?: SysinfoCollector;
  /** Run the shells technicians open (with the shell grant); default: none are run. */
  readonly shells?: CustomerShellOptions;
  /** Take uploads into, and serve downloads from, this directory (with the file grant). */
  readonly files?: CustomerFileOptions;
}

export interface VirtualPointer {
  x: number;
  y: number;
  buttons: number;
  clicks: number;
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
    x: 0,
    y: 0,
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
  /** The monitor shared (its SCREEN stream), or null for all. */
  selectedMonitor: number | null = null;
  /** Frames per second of `startScreen` (the quality setting changes it). */
  fps = 10;
  sysinfoRequests = 0;
  /**
   * The special tasks this client offers (spec C4.4), said in its Hello: ids, names and
   * contexts only. Set before `connect()` (CustomerTools does it from its configuration).
   */
  specialTasks: ferry.v1.SpecialTaskInfo.$Properties[] = [];
  #timer: NodeJS.Timeout | null = null;
  readonly #consent: ConsentPolicy;
  readonly #collect: SysinfoCollector;
  /** Session tools II: shells and files (src/clients/shells.ts, files.ts). */
  readonly shells: CustomerShells;
  readonly files: CustomerFiles | null;

  constructor(options: CustomerOptions) {
    super(options);
    this.shells = new CustomerShells(this, {
      ...options.shells,
      enabled: options.shells !== undefined && options.shells.enabled !== false,
    });
    this.files = options.files ? new CustomerFiles(this, options.files) : null;
    this.pin = options.pin;
    this.#consent = options.consent ?? 'deny';
    this.#collect = options.sysinfo ?? ((categories) => collectSysinfo(categories));
    const monitors = Math.max(1, options.monitors ?? 1);
    this.screens = Array.from(
      { length: monitors },
      (_, m) => new SyntheticScreen(m, options.screen),
    );
    this.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_INPUT && frame.input)
        this.applyInput(frame.input as ferry.v1.InputEvent);
      else if (frame.channel === Channel.CHANNEL_SYSINFO && frame.sysinfoRequest)
        void this.#answerSysinfo(frame.sysinfoRequest as ferry.v1.SysinfoRequest);
    });
    this.on('control', (control, stream) => {
      if (control.keyFrameRequest) {
        this.keyFrameRequests++;
        for (const s of this.screens) if (stream === 0 || s.monitor === stream) s.requestKeyFrame();
      }
      if (control.rebootRequest) this.#restart(options.rebootDelayMs ?? 200);
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
    this.on('consentChanged', (c) => {
      this.granted = toNames(c.granted);
      if (!this.granted.includes('view')) this.stopScreen();
    });
    this.on('close', () => this.stopScreen());
  }

  async connect(): Promise<ferry.v1.Welcome> {
    const welcome = await this.open({
      role: ferry.v1.Role.ROLE_CUSTOMER,
      pin: this.pin,
      client: {
        name: this.options.name ?? 'customer',
        version: 'ferry-customer/1',
        platform: process.platform,
        computerName: os.hostname(),
        sysinfoCategories: [...SYSINFO_CATEGORIES],
      },
      specialTasks: this.specialTasks,
    });
    // spec C4.8: the technicians learn the monitors to choose from
    this.notify({ monitorList: this.monitorList() });
    return welcome;
  }

  /** The synthetic monitors, side by side, the first one primary. */
  monitorList(): ferry.v1.MonitorList.$Properties {
    return {
      monitors: this.screens.map((s) => ({
        id: s.monitor,
        x: s.monitor * s.width,
        y: 0,
        width: s.width,
        height: s.height,
        primary: s.monitor === 0,
        name: `Synthetic ${s.monitor + 1}`,
      })),
      selected: this.selectedMonitor ?? 0,
      all: this.selectedMonitor === null,
    };
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
    if (permissions.length === 0 || permissions.includes('view')) this.stopScreen();
    await this.request({ revokeConsent: { permissions: toWire(permissions) } });
  }

  /** Starts sharing at `fps` and tells the technicians (the gateway needs the VIEW grant). */
  async shareScreen(fps = this.fps): Promise<void> {
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
    for (const s of this.screens) if (this.#shows(s)) s.requestKeyFrame();
  }

  #setQuality(op: ferry.v1.SetStreamQuality): void {
    const preset = QUALITY_PRESETS[op.preset];
    const tileBytes = op.tileBytes || preset?.tileBytes || 0;
    if (tileBytes > 0) for (const s of this.screens) s.tileBytes = tileBytes;
    const fps = op.maxFps || preset?.fps || 0;
    if (fps > 0) {
      this.fps = fps;
      if (this.sharing) this.startScreen(fps);
    }
    for (const s of this.screens) s.requestKeyFrame();
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
   * its Done, or the gateway letting the customer go with FERRY_ERR_SESSION_ENDED (4004).
   */
  async endSession(reason = ''): Promise<void> {
    const sessionId = this.welcome?.sessionId ?? '';
    try {
      await this.request({ closeSession: { sessionId, reason } });
    } catch (err) {
      const released = err instanceof FerryError && err.code === Codes.CLOSED.code;
      if (!released || this.closeCode !== CloseCodes.SESSION_ENDED) throw err;
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
    return this.#timer !== null;
  }

  /** Streams the screen at `fps` until `stopScreen()` or close. */
  startScreen(fps = this.fps): void {
    this.stopScreen();
    this.fps = fps;
    this.#timer = setInterval(() => this.sendScreenFrame(), Math.max(1, Math.round(1000 / fps)));
  }

  stopScreen(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  applyInput(input: ferry.v1.InputEvent): void {
    this.inputEvents++;
    const p = this.pointer;
    // Decoded sub-messages are full instances (every scalar has its default); only the types say optional.
    switch (input.kind) {
      case 'move':
        p.x = input.move!.x!;
        p.y = input.move!.y!;
        break;
      case 'button': {
        const b = input.button as ferry.v1.PointerButtonEvent;
        p.x = b.x;
        p.y = b.y;
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
      case 'key':
        if (input.key!.down) p.keys++;
        break;
      case 'text':
        p.text += input.text!.text;
        break;
      default:
        return;
    }
    this.emit('input', input);
  }
}
