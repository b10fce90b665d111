/**
 * The customer page (`/join`, `/join/<PIN>`): join with a name and the technician's PIN, see
 * the technicians present, chat, answer consent prompts (grant, deny, revoke any time) and share
 * the screen with getDisplayMedia (src/console/web/capture.ts). A browser cannot inject input:
 * the page says so plainly and stays view only; remote control needs the native customer client.
 *
 * Direct path (docs/direct-path.md): opened with `?direct=1` (direct.ts says why it is off by
 * default), the page's SCREEN frames go on a data channel to the technician in control while the
 * gateway lets them. INPUT frames that reach the page, from the relay or from the channel (the
 * latter only while CONTROL is granted here, as the native client), are counted
 * (`data-input-received` on the body), never applied.
 */
import { type PermissionName, toNames, toWire } from '../../clients/permissions.js';
import { ferry } from '../../protocol/gen/ferry.js';
import { type CaptureStatus, ScreenSender } from './capture.js';
import { ChatView } from './chat-view.js';
import { Conn } from './conn.js';
import { browserDirect } from './direct.js';
import { button, clear, h, notice } from './dom.js';

const DESCRIBE: Readonly<Record<PermissionName, string>> = {
  view: 'see your screen',
  control: 'control your mouse and keyboard (not possible from this page)',
  sysinfo: 'read system information',
  shell: 'run command shells',
  file: 'transfer files',
};

export function startCustomer(app: HTMLElement): void {
  const pinFromPath = /^\/join\/([0-9A-Za-z-]+)/.exec(location.pathname)?.[1] ?? '';
  const name = h('input', {
    id: 'customer-name',
    type: 'text',
    placeholder: 'Your name',
    autocomplete: 'name',
  });
  const pin = h('input', {
    id: 'pin',
    type: 'text',
    inputmode: 'numeric',
    placeholder: 'PIN from your technician',
    value: pinFromPath,
    autocomplete: 'off',
  });
  const form = h(
    'form',
    { class: 'join', id: 'join-form' },
    h('h2', {}, 'Join a support session'),
    h('label', {}, 'Your name ', name),
    h('label', {}, 'PIN ', pin),
    h('button', { type: 'submit', id: 'join-button' }, 'Join'),
  );
  clear(app);
  app.append(form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const conn = new Conn();
    let page: CustomerPage | null = null;
    // `?direct=1`: INPUT from the technician's end of the path only while CONTROL is granted
    browserDirect(conn, 'customer', () => page?.acceptsDirectInput() === true);
    conn
      .hello({
        role: ferry.v1.Role.ROLE_CUSTOMER,
        pin: pin.value.trim(),
        client: {
          name: name.value.trim() || 'customer',
          version: 'ferry-join/1',
          platform: 'browser',
          computerName: navigator.platform,
        },
      })
      .then(
        (welcome) => {
          page = new CustomerPage(app, conn, welcome);
        },
        (err: unknown) => notice(`could not join: ${(err as Error).message}`, 'error'),
      );
  });
}

class CustomerPage {
  readonly conn: Conn;
  readonly sessionId: string;
  granted: PermissionName[] = [];
  readonly chat: ChatView;
  sender: ScreenSender | null = null;
  readonly #technicians = new Map<string, string>();
  readonly #el: Record<string, HTMLElement> = {};
  /** INPUT frames that reached the page (counted; a browser page cannot apply them). */
  inputReceived = 0;
  /** INPUT frames refused because they came direct without CONTROL granted here. */
  directInputRefused = 0;

  constructor(app: HTMLElement, conn: Conn, welcome: ferry.v1.Welcome) {
    this.conn = conn;
    this.sessionId = welcome.sessionId;
    this.chat = new ChatView((text) => conn.chat(text), false);
    clear(app);
    app.append(this.#layout());
    this.#wire();
    this.#render();
    notice('joined: your technician will be with you shortly');
    conn
      .request({ chatHistoryRequest: { sessionId: this.sessionId } })
      .then((r) => r.chatHistory && this.chat.history(r.chatHistory as ferry.v1.ChatHistory))
      .catch((err: unknown) => notice(`chat history: ${(err as Error).message}`, 'error'));
  }

  #layout(): HTMLElement {
    const el = this.#el;
    el.status = h('span', { id: 'join-status' }, 'waiting for a technician');
    el.techs = h('ul', { id: 'technicians' });
    el.prompts = h('div', { id: 'consent-prompts' });
    el.granted = h('ul', { id: 'granted-list' });
    el.quality = h('p', { id: 'share-quality', class: 'quality' });
    el.share = button('Share my screen', () => void this.share(), { id: 'share' });
    el.stop = button('Stop sharing', () => void this.stopSharing('stopped by the customer'), {
      id: 'stop-share',
    });
    el.stop.hidden = true;
    return h(
      'div',
      { class: 'customer' },
      h('header', { class: 'bar' }, h('h1', {}, 'Ferry support'), el.status),
      h(
        'main',
        { class: 'customer-main' },
        h(
          'section',
          { id: 'people' },
          h('h3', {}, 'Technicians'),
          el.techs,
          h('h3', {}, 'Requests'),
          el.prompts,
          h('h3', {}, 'You allow'),
          el.granted,
          button('Revoke everything', () => void this.revoke([]), { id: 'revoke-all' }),
        ),
        h(
          'section',
          { id: 'sharing' },
          h('h3', {}, 'Screen sharing'),
          el.share,
          el.stop,
          el.quality,
          h(
            'p',
            { class: 'view-only-note', id: 'view-only-note' },
            'Your technician can see what you share but cannot move your mouse or type from this page: remote control needs the Ferry customer app. This page is view only.',
          ),
        ),
        this.chat.root,
      ),
    );
  }

  /**
   * INPUT from the technician's end of the direct path, only while this customer has granted
   * CONTROL: the gateway tears the path down on a revoke, and this check covers the moment
   * between.
   */
  acceptsDirectInput(): boolean {
    if (this.granted.includes('control')) return true;
    this.directInputRefused++;
    document.body.dataset.directInputRefused = String(this.directInputRefused);
    return false;
  }

  #wire(): void {
    const { conn } = this;
    conn.on('frame', (frame) => {
      if (frame.channel === ferry.v1.Channel.CHANNEL_INPUT && frame.input) {
        this.inputReceived++;
        document.body.dataset.inputReceived = String(this.inputReceived);
      }
    });
    conn.on('chat', (c) => this.chat.message(c));
    conn.on('control', (control, stream) => {
      if (control.consentRequest) this.#prompt(control.consentRequest as ferry.v1.ConsentRequest);
      if (control.keyFrameRequest && (stream === 0 || stream === 1)) this.sender?.requestKeyFrame();
      if (control.screenShareStart) {
        this.chat.local(
          `${control.screenShareStart.by || 'your technician'} asks you to share your screen`,
        );
        this.#el.share!.classList.add('asked');
      }
      if (control.screenShareStop) void this.stopSharing('', false);
      if (control.setStreamQuality) {
        this.sender?.setQuality(control.setStreamQuality as ferry.v1.SetStreamQuality);
      }
      if (control.chatHistory) this.chat.history(control.chatHistory as ferry.v1.ChatHistory);
    });
    conn.on('event', (e) => {
      if (e.error) notice(`${e.error.code}: ${e.error.message}`, 'error');
      if (e.consentChanged) {
        this.granted = toNames(e.consentChanged.granted ?? []);
        if (!this.granted.includes('view') && !this.granted.includes('control')) {
          void this.stopSharing('', false);
        }
        this.#render();
      }
      if (e.participantJoined?.role === ferry.v1.Role.ROLE_TECHNICIAN) {
        this.#technicians.set(
          e.participantJoined.participantId ?? '',
          e.participantJoined.displayName ?? '',
        );
        this.#render();
      }
      if (e.participantProfile?.role === ferry.v1.Role.ROLE_TECHNICIAN) {
        this.#technicians.set(
          e.participantProfile.participantId ?? '',
          e.participantProfile.displayName ?? '',
        );
        this.#render();
      }
      if (e.participantLeft) {
        this.#technicians.delete(e.participantLeft.participantId ?? '');
        this.#render();
      }
      if (e.statusChanged) {
        const s = e.statusChanged.status ?? 0;
        const name = ferry.v1.SessionStatus[s] ?? String(s);
        this.#el.status!.textContent = name
          .replace('SESSION_STATUS_', '')
          .toLowerCase()
          .replace(/_/g, ' ');
        document.body.dataset.status = this.#el.status!.textContent;
      }
      if (e.sessionEvent) this.chat.event(e.sessionEvent as ferry.v1.SessionEvent);
    });
    conn.on('close', (code, reason) => {
      this.sender?.stop();
      notice(`the session ended (${code} ${reason})`, 'error');
    });
  }

  #render(): void {
    const techs = this.#el.techs!;
    clear(techs);
    for (const name of this.#technicians.values())
      techs.append(h('li', { class: 'icon-tech' }, name));
    const list = this.#el.granted!;
    clear(list);
    if (this.granted.length === 0) list.append(h('li', {}, 'nothing'));
    for (const p of this.granted) {
      list.append(
        h(
          'li',
          { 'data-permission': p },
          `${p}: ${DESCRIBE[p]} `,
          button('Revoke', () => void this.revoke([p]), { 'data-revoke': p }),
        ),
      );
    }
    const sharing = this.sender !== null && !this.sender.stopped;
    this.#el.share!.hidden = sharing;
    this.#el.stop!.hidden = !sharing;
    document.body.dataset.sharing = sharing ? 'yes' : 'no';
  }

  /** A technician's consent request: the customer ticks what to allow, or denies it all. */
  #prompt(req: ferry.v1.ConsentRequest): void {
    const asked = toNames(req.permissions);
    const boxes = asked.map((p) =>
      h(
        'label',
        { class: 'ask' },
        h('input', { type: 'checkbox', value: p, checked: p !== 'control', 'data-ask': p }),
        ` ${DESCRIBE[p]}`,
      ),
    );
    const box = h(
      'div',
      { class: 'prompt', 'data-consent': String(req.consentId) },
      h('p', {}, `${req.requestedBy} asks to:`),
      req.reason ? h('p', { class: 'reason' }, req.reason) : null,
      ...boxes,
    );
    const answer = (grant: PermissionName[]) => {
      box.remove();
      this.conn.notify({ consentResponse: { consentId: req.consentId, granted: toWire(grant) } });
    };
    box.append(
      button(
        'Allow',
        () =>
          answer(
            boxes
              .map((b) => b.querySelector('input') as HTMLInputElement)
              .filter((i) => i.checked)
              .map((i) => i.value as PermissionName),
          ),
        { class: 'allow' },
      ),
      button('Deny', () => answer([]), { class: 'deny' }),
    );
    this.#el.prompts!.append(box);
  }

  async revoke(permissions: PermissionName[]): Promise<void> {
    if (permissions.length === 0 || permissions.includes('view')) await this.stopSharing('', false);
    await this.conn.request({ revokeConsent: { permissions: toWire(permissions) } });
  }

  /** Starts sharing: the browser asks which screen, window or tab; sharing grants view. */
  async share(): Promise<void> {
    const params = new URLSearchParams(location.hash.slice(1));
    let stream: MediaStream;
    try {
      const options: DisplayMediaStreamOptions & { preferCurrentTab?: boolean } = {
        video: { frameRate: 10 },
        audio: false,
      };
      // `#share=this-tab` offers this very tab first (demos and tests)
      if (params.get('share') === 'this-tab') options.preferCurrentTab = true;
      stream = await navigator.mediaDevices.getDisplayMedia(options);
    } catch (err) {
      notice(`screen sharing was not started: ${(err as Error).message}`, 'error');
      return;
    }
    try {
      if (!this.granted.includes('view')) {
        await this.conn.request({ consentResponse: { consentId: 0, granted: toWire(['view']) } });
      }
      await this.conn.request({ screenShareStart: { sessionId: this.sessionId } });
    } catch (err) {
      for (const t of stream.getTracks()) t.stop();
      notice(`screen sharing refused: ${(err as Error).message}`, 'error');
      return;
    }
    const sender = new ScreenSender(this.conn, stream, {
      maxFps: 10,
      onQuality: (s) => this.#quality(s),
      onEnded: () => void this.stopSharing('the customer stopped sharing'),
    });
    this.sender = sender;
    this.#el.share!.classList.remove('asked');
    await sender.start();
    this.chat.local('you are sharing your screen');
    this.#render();
  }

  #quality(s: CaptureStatus): void {
    const el = this.#el.quality!;
    el.textContent = `${s.fps} frames per second, quality ${Math.round(s.quality * 100)}% (${s.reason})${
      s.reduced ? ': lowered because the connection is slow' : ''
    }`;
    el.dataset.reduced = s.reduced ? 'yes' : 'no';
    if (this.sender !== null) el.dataset.capture = this.sender.capturePath;
  }

  async stopSharing(reason: string, tell = true): Promise<void> {
    const sender = this.sender;
    if (sender === null) return;
    this.sender = null;
    sender.stop();
    this.#render();
    this.chat.local('screen sharing stopped');
    if (tell && this.conn.open) {
      await this.conn
        .request({ screenShareStop: { sessionId: this.sessionId, reason } })
        .catch((err: unknown) => notice(`stop sharing: ${(err as Error).message}`, 'error'));
    }
  }
}
