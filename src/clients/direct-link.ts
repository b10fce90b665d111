/**
 * One end of the direct path (docs/direct-path.md), shared by the Node reference clients (werift,
 * src/clients/direct-werift.ts) and the browser pages (the browser's own RTCPeerConnection):
 * everything here is plain TypeScript over the small WebRTC surface both offer.
 *
 * The gateway says when to try (DirectOpen), carries the signalling, and says when to stop
 * (DirectClose). On the channel:
 * - the technician's first message is the gateway's token (text `t:<token>`); the customer
 *   closes a channel whose first message is not, and answers `ok`. Each end then tells the
 *   gateway DirectUp;
 * - frames are the same bytes as on the WebSocket (binary messages): SCREEN from the customer,
 *   INPUT from the technician, nothing else. The receiving client checks them again (the
 *   customer applies INPUT only while it has granted CONTROL);
 * - each end pings (`p:<n>`, answered `a:<n>`) every keepalive_ms. Nothing received for
 *   stall_ms, or the channel closing, and the end falls back to the relay at once and tells the
 *   gateway, which tells the other end;
 * - while up, each end reports its byte counters and the channel's RTT (DirectReport).
 */
import { Channel } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';

export interface DataChannelLike {
  readonly readyState: string;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  close(): void;
  onopen: ((ev?: unknown) => void) | null | undefined;
  onclose: ((ev?: unknown) => void) | null | undefined;
  onmessage: ((ev: { data: unknown }) => void) | null | undefined;
}

export interface CandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface DescriptionInit {
  type: string;
  sdp?: string;
}

export interface PeerConnectionLike {
  readonly connectionState: string;
  readonly localDescription: DescriptionInit | null;
  createDataChannel(label: string, init?: { ordered?: boolean }): DataChannelLike;
  createOffer(): Promise<DescriptionInit>;
  createAnswer(): Promise<DescriptionInit>;
  setLocalDescription(d: DescriptionInit): Promise<unknown>;
  setRemoteDescription(d: DescriptionInit): Promise<unknown>;
  addIceCandidate(c: CandidateInit): Promise<unknown>;
  close(): unknown;
  onicecandidate: ((ev: { candidate: CandidateInit | null | undefined }) => void) | null;
  ondatachannel: ((ev: { channel: DataChannelLike }) => void) | null;
  onconnectionstatechange: (() => void) | null;
}

/** What a client gives its end of the path. */
export interface DirectHost {
  readonly role: 'technician' | 'customer';
  /** Sends a CONTROL operation to the gateway. */
  sendControl(control: ferry.v1.Control.$Properties): void;
  /** A new peer connection for this attempt (its ICE servers and policy). */
  createPeer(open: ferry.v1.IDirectOpen): PeerConnectionLike;
  /**
   * A frame that came on the channel, decoded and of this end's channel (SCREEN for a
   * technician, INPUT for a customer): false when the client refused it. Hand it to that
   * channel's handler only.
   */
  deliver(frame: ferry.v1.Frame, bytes: Uint8Array): boolean;
  /** Keep a local candidate to oneself (an address the operator does not want probed). */
  keepsCandidate?(line: string): boolean;
  /** The state, the counters or the gateway's status changed. */
  changed?(link: DirectLink): void;
  /** SCREEN frames were dropped for a full channel, which has drained: send a whole frame. */
  drained?(): void;
  now(): number;
}

export type DirectLinkState = 'idle' | 'connecting' | 'up';

const Cause = ferry.v1.DirectCloseCause;
/**
 * Bytes queued on the channel past which the customer drops SCREEN frames, as the relay drops
 * them for a slow technician, and sends a key frame once the channel drained to half. An SCTP
 * stack slows down as its queue grows (werift's markedly, docs/benchmarks.md "Direct path"):
 * a screen burst must not pile up there.
 */
export const SCREEN_HIGH_WATER = 128 * 1024;
const LABEL = 'ferry-direct';
/** Frame.channel is field 1 (varint, tag 0x08): a channel below 128 is the frame's second byte. */
const TAG_CHANNEL = 0x08;

/** Where a frame goes: the relay, the channel, or both. */
export const Route = { RELAY: 0, DIRECT: 1, BOTH: 2 } as const;
export type RouteValue = (typeof Route)[keyof typeof Route];

export class DirectLink {
  state: DirectLinkState = 'idle';
  /** The gateway's latest DirectStatus: where frames go, and why. */
  status: ferry.v1.IDirectStatus | null = null;
  pathId = 0;
  framesSent = 0;
  bytesSent = 0;
  framesReceived = 0;
  bytesReceived = 0;
  /** Frames that came on the channel and were refused (wrong channel, not granted). */
  refused = 0;
  /** SCREEN frames this customer dropped because the channel was full. */
  screenDropped = 0;
  /** Keepalives the channel refused (its send queue full). */
  pingsUnsent = 0;
  /** Peer connections whose close failed (the attempt was over anyway). */
  closeErrors = 0;
  rttMs = 0;
  opened = 0;
  ups = 0;
  /** Attempts that ended in a failure (stall, close, failed ICE), by this end or the other. */
  fallbacks = 0;
  lastCloseReason = '';
  readonly #host: DirectHost;
  #open: ferry.v1.IDirectOpen | null = null;
  #pc: PeerConnectionLike | null = null;
  #dc: DataChannelLike | null = null;
  #remoteSet = false;
  #queued: CandidateInit[] = [];
  #verified = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastHeardMs = 0;
  #lastReportMs = 0;
  #pingSeq = 0;
  readonly #pings = new Map<number, number>();
  #silent = false;
  /** SCREEN frames were dropped: a key frame is due once the channel drains. */
  #starved = false;

  constructor(host: DirectHost) {
    this.#host = host;
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** The participant at the other end of the current attempt ('' when idle). */
  get peerId(): string {
    return this.#open?.peerParticipantId ?? '';
  }

  /** Bytes queued on the channel (a screen sender backs off on it as on the WebSocket's). */
  get bufferedAmount(): number {
    const dc = this.#dc;
    return dc !== null && dc.readyState === 'open' ? dc.bufferedAmount : 0;
  }

  /** The customer keeps sending SCREEN on the relay too (another technician watches there). */
  get relayScreen(): boolean {
    return this.status?.relayScreen !== false;
  }

  /** Where an outgoing frame goes. Only SCREEN (customer) and INPUT (technician) go direct. */
  route(bytes: Uint8Array): RouteValue {
    if (this.state !== 'up' || bytes.length < 2 || bytes[0] !== TAG_CHANNEL) return Route.RELAY;
    const channel = bytes[1];
    if (this.#host.role === 'customer') {
      if (channel !== Channel.CHANNEL_SCREEN) return Route.RELAY;
      return this.relayScreen ? Route.BOTH : Route.DIRECT;
    }
    return channel === Channel.CHANNEL_INPUT ? Route.DIRECT : Route.RELAY;
  }

  /** Sends a frame on the channel; false when it is not open (the caller uses the relay). */
  send(bytes: Uint8Array): boolean {
    const dc = this.#dc;
    if (this.state !== 'up' || dc === null || dc.readyState !== 'open' || this.#silent)
      return false;
    if (
      this.#host.role === 'customer' &&
      bytes[1] === Channel.CHANNEL_SCREEN &&
      dc.bufferedAmount > SCREEN_HIGH_WATER
    ) {
      // dropped here, as the relay would drop it for a slow technician: the frame is handled
      this.screenDropped++;
      this.#starved = true;
      return true;
    }
    try {
      dc.send(bytes);
    } catch {
      return false;
    }
    this.framesSent++;
    this.bytesSent += bytes.length;
    return true;
  }

  /** A CONTROL operation from the gateway; true when it was a direct-path one. */
  onControl(control: ferry.v1.IControl): boolean {
    if (control.directOpen != null) void this.#start(control.directOpen);
    else if (control.directSignal != null) void this.#signal(control.directSignal);
    else if (control.directClose != null) {
      const c = control.directClose;
      if ((c.pathId ?? 0) === this.pathId) {
        this.#stop(c.cause ?? Cause.DIRECT_CLOSE_CLOSED, c.reason ?? '', false);
      }
    } else return false;
    return true;
  }

  /** The gateway's DirectStatus event. */
  onStatus(status: ferry.v1.IDirectStatus): void {
    this.status = status;
    this.#host.changed?.(this);
  }

  /** The WebSocket was lost: the gateway ends the attempt on its side; this end stops quietly. */
  onDisconnected(): void {
    if (this.state !== 'idle')
      this.#stop(Cause.DIRECT_CLOSE_NOT_ELIGIBLE, 'the connection to the gateway was lost', false);
  }

  /** Ends the attempt from this end (tests, a client going away) and tells the gateway. */
  close(reason = 'closed by the client'): void {
    if (this.state !== 'idle') this.#stop(Cause.DIRECT_CLOSE_CLOSED, reason, true);
  }

  /**
   * Closes the data channel under the path without telling anyone, as a broken network would
   * (tests of the fallback; `ferry demo`): the ends find out through their keepalive.
   */
  breakChannel(): void {
    this.#dc?.close();
  }

  /**
   * Until the next attempt, this end neither sends nor hears anything on the channel, as a
   * route that went dead would (tests of the stall fallback, `ferry demo`).
   */
  silence(): void {
    this.#silent = true;
  }

  async #start(open: ferry.v1.IDirectOpen): Promise<void> {
    if (this.state !== 'idle') this.#stop(Cause.DIRECT_CLOSE_NOT_ELIGIBLE, 'a new attempt', false);
    this.#open = open;
    this.pathId = open.pathId ?? 0;
    this.state = 'connecting';
    this.opened++;
    this.#verified = false;
    this.#silent = false;
    this.#starved = false;
    this.#remoteSet = false;
    this.#queued = [];
    this.#pings.clear();
    this.#host.changed?.(this);
    const pathId = this.pathId;
    let pc: PeerConnectionLike;
    try {
      pc = this.#host.createPeer(open);
    } catch (err) {
      this.#stop(
        Cause.DIRECT_CLOSE_REFUSED,
        `cannot create a peer connection: ${(err as Error).message}`,
        true,
      );
      return;
    }
    this.#pc = pc;
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      if (this.pathId !== pathId || c == null || !c.candidate) return;
      if (this.#host.keepsCandidate?.(c.candidate) === true) return;
      this.#host.sendControl({
        directSignal: {
          pathId,
          candidate: {
            candidate: c.candidate,
            sdpMid: c.sdpMid ?? '',
            sdpMLineIndex: c.sdpMLineIndex ?? 0,
          },
        },
      });
    };
    pc.onconnectionstatechange = () => {
      if (this.pathId !== pathId) return;
      if (pc.connectionState === 'failed')
        this.#stop(Cause.DIRECT_CLOSE_FAILED, 'ICE or DTLS failed', true);
    };
    try {
      if (open.offerer) {
        this.#attach(pc.createDataChannel(LABEL, { ordered: true }), pathId);
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        if (this.pathId !== pathId) return;
        const sdp = this.#ownSdp(pc.localDescription?.sdp ?? offer.sdp ?? '');
        this.#host.sendControl({ directSignal: { pathId, description: { type: 'offer', sdp } } });
      } else {
        pc.ondatachannel = (ev) => {
          if (this.pathId === pathId && ev.channel !== undefined) this.#attach(ev.channel, pathId);
        };
      }
    } catch (err) {
      if (this.pathId === pathId)
        this.#stop(Cause.DIRECT_CLOSE_FAILED, `signalling failed: ${(err as Error).message}`, true);
    }
  }

  /** The SDP without the candidates this end keeps to itself. */
  #ownSdp(sdp: string): string {
    const keeps = this.#host.keepsCandidate;
    if (keeps === undefined) return sdp;
    const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
    return sdp
      .split(/\r?\n/)
      .filter((l) => !l.startsWith('a=candidate:') || !keeps(l.slice(2)))
      .join(eol);
  }

  async #signal(signal: ferry.v1.IDirectSignal): Promise<void> {
    const pathId = signal.pathId ?? 0;
    const pc = this.#pc;
    if (pathId !== this.pathId || pc === null || this.state === 'idle') return;
    // every await may end this attempt (a close, a new DirectOpen): nothing after it may touch
    // the next attempt's state
    const current = () => this.#pc === pc && this.pathId === pathId;
    try {
      const d = signal.description;
      if (d != null) {
        await pc.setRemoteDescription({ type: d.type ?? '', sdp: d.sdp ?? '' });
        if (!current()) return;
        this.#remoteSet = true;
        for (const c of this.#queued.splice(0)) {
          await pc.addIceCandidate(c);
          if (!current()) return;
        }
        if (this.#open?.offerer !== true && d.type === 'offer') {
          const answer = await pc.createAnswer();
          if (!current()) return;
          await pc.setLocalDescription(answer);
          if (!current()) return;
          const sdp = this.#ownSdp(pc.localDescription?.sdp ?? answer.sdp ?? '');
          this.#host.sendControl({
            directSignal: { pathId, description: { type: 'answer', sdp } },
          });
        }
        return;
      }
      const c = signal.candidate;
      if (c == null || !c.candidate) return;
      const init = {
        candidate: c.candidate,
        sdpMid: c.sdpMid || '0',
        sdpMLineIndex: c.sdpMLineIndex ?? 0,
      };
      if (this.#remoteSet) await pc.addIceCandidate(init);
      else this.#queued.push(init);
    } catch (err) {
      if (current()) {
        this.#stop(Cause.DIRECT_CLOSE_FAILED, `signalling failed: ${(err as Error).message}`, true);
      }
    }
  }

  #attach(dc: DataChannelLike, pathId: number): void {
    this.#dc = dc;
    (dc as { binaryType?: string }).binaryType = 'arraybuffer';
    dc.onopen = () => {
      if (this.pathId !== pathId) return;
      this.#lastHeardMs = this.#host.now();
      if (this.#open?.offerer === true) dc.send(`t:${this.#open.token ?? ''}`);
    };
    dc.onclose = () => {
      if (this.pathId === pathId && this.state !== 'idle') {
        this.#stop(Cause.DIRECT_CLOSE_CLOSED, 'the data channel closed', true);
      }
    };
    dc.onmessage = (ev) => {
      if (this.pathId === pathId) this.#onMessage(ev.data);
    };
  }

  #onMessage(data: unknown): void {
    if (this.#silent) return;
    this.#lastHeardMs = this.#host.now();
    if (typeof data === 'string') {
      this.#onText(data);
      return;
    }
    if (!this.#verified) return;
    const bytes =
      data instanceof Uint8Array ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : null;
    if (bytes === null) return;
    const frame = this.#admit(bytes);
    if (frame === null || !this.#host.deliver(frame, bytes)) {
      this.refused++;
      return;
    }
    this.framesReceived++;
    this.bytesReceived += bytes.length;
  }

  /**
   * The frame a channel message carries, when it is one this end takes: a technician SCREEN
   * (a screen update), a customer INPUT (an input event), nothing else. The whole frame is
   * decoded and checked, not its first bytes: a protobuf field given twice keeps its last value,
   * so a frame that starts as INPUT can decode as another channel.
   */
  #admit(bytes: Uint8Array): ferry.v1.Frame | null {
    if (bytes.length < 2 || bytes[0] !== TAG_CHANNEL) return null;
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch {
      return null;
    }
    if (this.#host.role === 'technician') {
      const body = frame.body;
      return frame.channel === Channel.CHANNEL_SCREEN && (body === 'screen' || body === 'opaque')
        ? frame
        : null;
    }
    return frame.channel === Channel.CHANNEL_INPUT && frame.body === 'input' ? frame : null;
  }

  #onText(text: string): void {
    const open = this.#open;
    if (open === null) return;
    if (!this.#verified) {
      if (open.offerer) {
        if (text === 'ok') this.#nowUp();
        return;
      }
      if (text !== `t:${open.token ?? ''}`) {
        this.#stop(
          Cause.DIRECT_CLOSE_BAD_TOKEN,
          "the channel's first message was not the gateway's token",
          true,
        );
        return;
      }
      this.#dc?.send('ok');
      this.#nowUp();
      return;
    }
    if (text.startsWith('p:')) this.#dc?.send(`a:${text.slice(2)}`);
    else if (text.startsWith('a:')) {
      const seq = Number(text.slice(2));
      const sent = this.#pings.get(seq);
      if (sent !== undefined) {
        this.rttMs = Math.round((this.#host.now() - sent) * 100) / 100;
        this.#pings.delete(seq);
      }
    }
  }

  #nowUp(): void {
    const open = this.#open!;
    this.#verified = true;
    this.state = 'up';
    this.ups++;
    this.#host.sendControl({ directUp: { pathId: this.pathId } });
    this.#report();
    const every = Math.max(50, open.keepaliveMs || 250);
    this.#timer = setInterval(() => this.#beat(), every);
    this.#host.changed?.(this);
  }

  #beat(): void {
    const open = this.#open;
    const dc = this.#dc;
    if (open === null || dc === null || this.state !== 'up') return;
    const now = this.#host.now();
    if (now - this.#lastHeardMs > (open.stallMs || 1500)) {
      this.#stop(
        Cause.DIRECT_CLOSE_STALLED,
        `nothing received on the channel for ${open.stallMs || 1500} ms`,
        true,
      );
      return;
    }
    if (this.#starved && dc.bufferedAmount <= SCREEN_HIGH_WATER / 2) {
      this.#starved = false;
      this.#host.drained?.();
    }
    const seq = ++this.#pingSeq;
    this.#pings.set(seq, now);
    if (this.#pings.size > 64) this.#pings.delete(this.#pings.keys().next().value!);
    try {
      if (dc.readyState === 'open' && !this.#silent) dc.send(`p:${seq}`);
    } catch {
      // a full send queue refuses it (a browser throws): the stall rule decides if that lasts
      this.pingsUnsent++;
    }
    if (now - this.#lastReportMs >= (open.reportIntervalMs || 2000)) this.#report();
  }

  #report(): void {
    this.#lastReportMs = this.#host.now();
    this.#host.sendControl({
      directReport: {
        pathId: this.pathId,
        bytesSent: this.bytesSent,
        bytesReceived: this.bytesReceived,
        framesSent: this.framesSent,
        framesReceived: this.framesReceived,
        rttMs: this.rttMs,
        clientMonoMs: Math.round(this.#host.now()),
      },
    });
  }

  /** Ends the attempt: channel and connection closed, frames back on the relay. */
  #stop(cause: ferry.v1.DirectCloseCause, reason: string, tell: boolean): void {
    const pathId = this.pathId;
    const wasActive = this.state !== 'idle';
    this.state = 'idle';
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // the gateway hears it first: the other end's own close, when its channel drops, is late
    if (tell && wasActive) this.#host.sendControl({ directClose: { pathId, cause, reason } });
    const dc = this.#dc;
    const pc = this.#pc;
    this.#dc = null;
    this.#pc = null;
    this.#open = null;
    this.pathId = 0;
    if (dc !== null) {
      dc.onclose = null;
      dc.onmessage = null;
      if (dc.readyState === 'connecting' || dc.readyState === 'open') dc.close();
    }
    if (pc !== null) {
      pc.onicecandidate = null;
      pc.onconnectionstatechange = null;
      const failed = () => this.closeErrors++;
      if (pc.connectionState !== 'closed') {
        try {
          const closing = pc.close();
          if (closing instanceof Promise) closing.catch(failed);
        } catch {
          failed();
        }
      }
    }
    if (!wasActive) return;
    this.lastCloseReason = reason;
    if (
      cause === Cause.DIRECT_CLOSE_FAILED ||
      cause === Cause.DIRECT_CLOSE_STALLED ||
      cause === Cause.DIRECT_CLOSE_CLOSED ||
      cause === Cause.DIRECT_CLOSE_BAD_TOKEN
    ) {
      this.fallbacks++;
    }
    this.#host.changed?.(this);
  }
}
