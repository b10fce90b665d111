/**
 * The technician console: sign in with a technician token (pasted, or from the URL fragment
 * `#token=...`, which is removed from the address bar at once and never sent to a server),
 * start a session (PIN and customer link) or pick one up from the queue, drive its lifecycle
 * with buttons, ask for consent and show what is granted, watch and control the screen, chat
 * (also privately with technicians), the Network Statistics window, system information, notes
 * and the session summary at the end.
 *
 * Resume: a lost connection is dialled again with the resume token (conn.ts), the console shows
 * "Reconnecting..." meanwhile, and after the resume it sends its recent input again (marked
 * `resent`, before anything new), reads back the chat it missed (ChatHistoryRequest after the
 * newest seq shown; the view shows each entry once) and the session's status. The token, the
 * resume token and the session are kept in sessionStorage (this tab only), so that a reload takes
 * the place back; a place the gateway no longer has starts afresh.
 *
 * Direct path (docs/direct-path.md): opened with `?direct=1` (direct.ts says why it is off by
 * default), the console's end takes the customer's SCREEN frames and sends its INPUT on a data
 * channel while the gateway lets it; a badge in the screen bar says where the frames go
 * ("Direct (peer-to-peer)", "Connecting direct…", "Relayed: <why>"), from the gateway's
 * DirectStatus.
 */
import { PERMISSIONS, type PermissionName, toNames, toWire } from '../../clients/permissions.js';
import { RecentInput } from '../../clients/recent-input.js';
import { ferry } from '../../protocol/gen/ferry.js';
import { ChatView } from './chat-view.js';
import { CONSOLE_RECONNECT, Conn, GatewayError, gatewayUrl } from './conn.js';
import { browserDirect } from './direct.js';
import { button, byId, clear, formatTime, h, notice } from './dom.js';
import { FileView } from './file-view.js';
import { NetstatsView } from './netstats-view.js';
import { ScreenView } from './screen-view.js';
import { ShellView } from './shell-view.js';

const S = ferry.v1.SessionStatus;
const C = ferry.v1.Channel;

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ferry.v1.SessionStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [
      v as number,
      k.replace('SESSION_STATUS_', '').toLowerCase().replace(/_/g, ' '),
    ]),
);

function statusName(s: number): string {
  return STATUS_NAMES[s] ?? String(s);
}

const ENDED = new Set<number>([
  S.SESSION_STATUS_CLOSED,
  S.SESSION_STATUS_CLOSED_BY_TECHNICIAN,
  S.SESSION_STATUS_CLOSED_BY_WAITING_CUSTOMER,
  S.SESSION_STATUS_ABORTED,
  S.SESSION_STATUS_TIMED_OUT,
  S.SESSION_STATUS_REMOVED_FROM_TC_QUEUE,
]);

/** What a reload of this tab needs to take its place back (sessionStorage: this tab only). */
interface Saved {
  readonly token: string;
  readonly name: string;
  readonly resumeToken: string;
  readonly sessionId: string;
}

const SAVED_KEY = 'ferry.console.technician';

function loadSaved(): Saved | null {
  try {
    const raw = sessionStorage.getItem(SAVED_KEY);
    if (raw === null) return null;
    const s = JSON.parse(raw) as Partial<Saved>;
    if (typeof s.token !== 'string' || s.token === '') return null;
    return {
      token: s.token,
      name: typeof s.name === 'string' ? s.name : 'technician',
      resumeToken: typeof s.resumeToken === 'string' ? s.resumeToken : '',
      sessionId: typeof s.sessionId === 'string' ? s.sessionId : '',
    };
  } catch {
    return null;
  }
}

function store(saved: Saved | null): void {
  try {
    if (saved === null) sessionStorage.removeItem(SAVED_KEY);
    else sessionStorage.setItem(SAVED_KEY, JSON.stringify(saved));
  } catch (err) {
    // storage refused (private mode, quota): the session goes on; a reload signs in afresh
    console.warn('the console cannot keep its place for a reload:', err);
  }
}

/**
 * The token from `#token=...`, removed from the address bar (history too) at once; the query
 * (`?direct=1`) stays.
 */
function tokenFromFragment(): string {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token') ?? '';
  if (token !== '') history.replaceState(null, '', location.pathname + location.search);
  return token;
}

const DS = ferry.v1.DirectState;

/** The badge's text and state for a DirectStatus, as seen by the technician `me`. */
function directBadge(
  status: ferry.v1.IDirectStatus,
  me: string,
): { state: 'direct' | 'connecting' | 'relayed'; text: string } {
  const theirs = (status.technicianId ?? '') !== '' && status.technicianId !== me;
  if (status.state === DS.DIRECT_STATE_DIRECT) {
    return theirs
      ? { state: 'relayed', text: 'Relayed: the direct path serves the technician in control' }
      : { state: 'direct', text: 'Direct (peer-to-peer)' };
  }
  if (status.state === DS.DIRECT_STATE_CONNECTING && !theirs) {
    return { state: 'connecting', text: 'Connecting direct…' };
  }
  const why = status.reason || 'every frame passes the gateway';
  return { state: 'relayed', text: `Relayed: ${why}` };
}

export function startTechnician(app: HTMLElement): void {
  const fromLink = tokenFromFragment();
  const tokenInput = h('input', {
    id: 'token',
    type: 'password',
    placeholder: 'technician token (ferry token issue)',
    autocomplete: 'off',
  });
  const nameInput = h('input', { id: 'tech-name', type: 'text', value: 'technician' });
  const form = h(
    'form',
    { class: 'signin', id: 'signin' },
    h('h2', {}, 'Technician sign-in'),
    h('label', {}, 'Token ', tokenInput),
    h('label', {}, 'Display name ', nameInput),
    h('button', { type: 'submit', id: 'signin-button' }, 'Sign in'),
    h('p', { class: 'hint' }, 'Customers join at ', h('code', {}, `${location.origin}/join`)),
  );
  clear(app);
  app.append(form);
  const saved = loadSaved();
  const go = (token: string, name = nameInput.value.trim() || 'technician') => {
    // the place of this tab is taken back only with the token that held it
    const previous = saved !== null && saved.token === token ? saved : null;
    signIn(app, token, name, previous).catch((err: unknown) => {
      store(null);
      notice(`sign-in failed: ${(err as Error).message}`, 'error');
      clear(app);
      app.append(form);
      form.hidden = false;
    });
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = tokenInput.value.trim();
    tokenInput.value = '';
    if (token !== '') go(token);
  });
  if (fromLink !== '') go(fromLink);
  else if (saved !== null) go(saved.token, saved.name);
}

async function signIn(
  app: HTMLElement,
  token: string,
  name: string,
  previous: Saved | null,
): Promise<void> {
  const conn = new Conn(gatewayUrl(), CONSOLE_RECONNECT);
  // `?direct=1`: SCREEN frames from the customer's end of the path (the link checked the channel)
  browserDirect(conn, 'technician', () => true);
  const resumeToken = previous?.resumeToken ?? '';
  const welcome = await conn.hello({
    role: ferry.v1.Role.ROLE_TECHNICIAN,
    token,
    ...(resumeToken !== '' ? { resumeToken } : {}),
    client: { name, version: 'ferry-console/1', platform: 'browser' },
  });
  // a place the gateway no longer has (expired, a gateway without journals) starts afresh
  const sessionId = welcome.resumed ? (previous?.sessionId ?? '') : '';
  notice(
    welcome.resumed && sessionId !== ''
      ? `signed in as ${name}: your session is back`
      : `signed in as ${name}`,
  );
  new TechnicianConsole(app, conn, welcome, { token, name, sessionId });
}

class TechnicianConsole {
  readonly conn: Conn;
  /** This connection's participant id (each connection has its own, a resumed one too). */
  me: string;
  sessionId = '';
  status = 0;
  granted: PermissionName[] = [];
  controllerId = '';
  readonly screen: ScreenView;
  readonly chat: ChatView;
  readonly netstats: NetstatsView;
  readonly shells: ShellView;
  readonly files: FileView;
  readonly #el: Record<string, HTMLElement> = {};
  #inputSeq = 1;
  /** Input of the last seconds, sent again after a resume (src/clients/recent-input.ts). */
  readonly #recentInput = new RecentInput();
  /** Input events sent again after resumes (tests read it from the page's dataset). */
  inputResent = 0;
  readonly #token: string;
  readonly #name: string;

  constructor(
    app: HTMLElement,
    conn: Conn,
    welcome: ferry.v1.Welcome,
    place: { token: string; name: string; sessionId: string },
  ) {
    this.conn = conn;
    this.me = welcome.participantId;
    this.#token = place.token;
    this.#name = place.name;
    this.screen = new ScreenView((kind) => {
      const now = performance.now();
      const input = { ...kind, seq: this.#inputSeq++, sentTimeMs: now };
      if (conn.send({ channel: C.CHANNEL_INPUT, input })) this.#recentInput.record(input, now);
    });
    this.chat = new ChatView((text, priv) => conn.chat(text, priv), true);
    const floating = h('div', { class: 'floating' });
    this.netstats = new NetstatsView(floating);
    this.shells = new ShellView(conn);
    this.files = new FileView(conn);
    clear(app);
    app.append(this.#layout(), floating);
    this.#wire();
    this.screen.setControl(false);
    this.screen.setViewing(false);
    document.body.dataset.participant = this.me;
    document.body.dataset.resumed = welcome.resumed ? 'yes' : 'no';
    this.#connection('online');
    this.#save();
    this.#render();
    this.#background(this.refreshQueue(), 'queue');
    if (place.sessionId !== '') {
      // a reload took the place back: the session, its status and its whole log
      this.#enter(place.sessionId);
      this.#background(this.#catchUp(), 'session');
    }
  }

  /** Keeps what a reload of this tab needs to take the place back. */
  #save(): void {
    store({
      token: this.#token,
      name: this.#name,
      resumeToken: this.conn.resumeToken,
      sessionId: this.sessionId,
    });
  }

  /** Shows the connection's state: the "Reconnecting..." banner while the place is away. */
  #connection(state: 'online' | 'reconnecting' | 'closed'): void {
    document.body.dataset.connection = state;
    this.#el.reconnecting!.hidden = state !== 'reconnecting';
    if (state === 'reconnecting') {
      this.#el.status!.textContent = 'reconnecting';
      document.body.dataset.status = 'reconnecting';
    }
  }

  /**
   * After a resume (or a reload that took the place back): the session's status, consent and
   * control as the gateway has them now, and the chat and events the view missed, read back from
   * the session log after the newest chat message shown (a restarted gateway had no copies to
   * replay; the view shows each entry once, by seq).
   */
  async #catchUp(): Promise<void> {
    try {
      await this.#readBack();
    } finally {
      // the catch-up failed (the session ended meanwhile, the link broke again): the status
      // known last, rather than "reconnecting" on a live connection
      if (this.conn.open && document.body.dataset.status === 'reconnecting') {
        this.#el.status!.textContent =
          this.sessionId === '' ? 'no session' : statusName(this.status);
        this.#render();
      }
    }
  }

  async #readBack(): Promise<void> {
    const sessionId = this.sessionId;
    if (sessionId === '') return;
    const [summary, history] = await Promise.all([
      this.conn.request({ summaryRequest: { sessionId } }),
      this.conn.request({ chatHistoryRequest: { sessionId, afterSeq: this.chat.newestChatSeq } }),
    ]);
    if (sessionId !== this.sessionId) return;
    if (history.chatHistory) this.chat.history(history.chatHistory as ferry.v1.ChatHistory);
    const s = summary.sessionSummary as ferry.v1.SessionSummary | null;
    if (s) {
      this.status = s.status;
      this.#el.status!.textContent = statusName(s.status);
      this.granted = toNames(s.granted);
      const controller = s.participants.find(
        (p) => p.role === ferry.v1.Role.ROLE_TECHNICIAN && p.name === s.controller,
      );
      this.controllerId = controller?.participantId ?? '';
      this.#el.controller!.textContent = s.controller || 'nobody';
      this.#el.granted!.textContent = this.granted.length > 0 ? this.granted.join(', ') : 'nothing';
      const ul = this.#el.participants!;
      clear(ul);
      for (const p of s.participants) ul.append(h('li', {}, `${p.name} (${p.role ?? ''})`));
      this.#render();
      if (this.#viewing) this.conn.notify({ keyFrameRequest: { reason: 'resumed' } });
    }
  }

  /** The place is back: recent input goes again first, then the catch-up. */
  #resumed(welcome: ferry.v1.Welcome): void {
    this.me = welcome.participantId;
    document.body.dataset.participant = this.me;
    document.body.dataset.resumed = welcome.resumed ? 'yes' : 'no';
    if (welcome.resumed) {
      // the console does not number its frames: its whole window goes again
      for (const { event: input } of this.#recentInput.resend(performance.now())) {
        if (!this.conn.send({ channel: C.CHANNEL_INPUT, input })) break;
        this.inputResent++;
      }
      document.body.dataset.inputResent = String(this.inputResent);
    }
    this.#connection('online');
    if (!welcome.resumed) {
      // the gateway no longer had the place: signed in afresh, without the session
      notice('reconnected, but the gateway no longer had your place: start afresh', 'error');
      this.sessionId = '';
      this.status = 0;
      this.granted = [];
      this.controllerId = '';
      this.#el.status!.textContent = 'no session';
      this.#el.session!.textContent = '';
      this.screen.blank();
      this.#render();
    } else {
      notice('reconnected to the gateway');
    }
    this.#save();
    this.#background(this.refreshQueue(), 'queue');
    this.#background(this.#catchUp(), 'catch-up after the resume');
  }

  #layout(): HTMLElement {
    const el = this.#el;
    el.status = h('span', { id: 'session-status' }, 'no session');
    el.reconnecting = h(
      'span',
      {
        id: 'reconnecting',
        'data-testid': 'reconnecting',
        class: 'reconnecting',
        role: 'status',
        hidden: true,
      },
      'Reconnecting… the connection to the gateway was lost; your place is kept',
    );
    el.session = h('span', { id: 'session-id' });
    el.direct = h('span', {
      id: 'direct-status',
      'data-testid': 'direct-status',
      class: 'direct-badge',
      role: 'status',
      hidden: true,
    });
    el.pin = h('strong', { id: 'session-pin' });
    el.link = h('a', { id: 'customer-link', target: '_blank', rel: 'noopener' });
    el.granted = h('span', { id: 'granted' }, 'nothing');
    el.controller = h('span', { id: 'controller' });
    el.queue = h('ul', { id: 'queue', class: 'queue' });
    el.participants = h('ul', { id: 'participants', class: 'participants' });
    el.report = h('pre', { id: 'report', class: 'report' });
    el.sysinfo = h('pre', { id: 'sysinfo', class: 'sysinfo' });
    el.notes = h('ul', { id: 'notes', class: 'notes' });
    const customerName = h('input', {
      id: 'customer-name',
      placeholder: 'customer name (optional)',
    });
    const target = h('input', { id: 'target-tech', placeholder: 'technician name or id' });
    const comment = h('input', { id: 'transfer-comment', placeholder: 'comment' });
    const monitor = h('select', { id: 'monitor-select', 'aria-label': 'monitor' });
    el.monitor = monitor;
    const perms = Object.keys(PERMISSIONS).map((p) =>
      h(
        'label',
        {},
        h('input', {
          type: 'checkbox',
          id: `ask-${p}`,
          value: p,
          checked: p === 'view' || p === 'control',
        }),
        ` ${p}`,
      ),
    );
    const noteText = h('input', { id: 'note-text', placeholder: 'note' });
    const op = (label: string, id: string, run: () => Promise<unknown>) =>
      button(
        label,
        () => {
          run().then(
            () => notice(`${label}: done`),
            (err: unknown) => notice(`${label}: ${(err as Error).message}`, 'error'),
          );
        },
        { id },
      );
    const sid = () => this.sessionId;
    const who = () => target.value.trim();
    monitor.addEventListener('change', () => {
      const value = monitor.value;
      const all = value === 'all';
      if (!all) this.screen.show(Number(value));
      this.conn
        .operate({ selectMonitor: all ? { all: true } : { monitor: Number(value), all: false } })
        .catch((err: unknown) => notice(`monitor: ${(err as Error).message}`, 'error'));
    });
    return h(
      'div',
      { class: 'console' },
      h(
        'header',
        { class: 'bar' },
        h('h1', {}, 'Ferry'),
        h('span', {}, 'session ', el.session, ' · ', el.status),
        h('span', { class: 'pin' }, 'PIN ', el.pin, ' ', el.link),
        el.reconnecting,
      ),
      h(
        'aside',
        { class: 'side' },
        h(
          'section',
          { id: 'start' },
          h('h3', {}, 'Sessions'),
          customerName,
          op('New session', 'new-session', () => this.createSession(customerName.value.trim())),
          op('Refresh queue', 'refresh-queue', () => this.refreshQueue()),
          el.queue,
        ),
        h(
          'section',
          { id: 'lifecycle' },
          h('h3', {}, 'Session'),
          h(
            'div',
            { class: 'buttons' },
            op('Hold', 'hold', () => this.conn.operate({ holdSession: { sessionId: sid() } })),
            op('Unhold', 'unhold', () =>
              this.conn.operate({ unholdSession: { sessionId: sid() } }),
            ),
            op('Close', 'close-session', () =>
              this.conn.operate({
                closeSession: { sessionId: sid(), reason: 'closed in the console' },
              }),
            ),
            op('Back to queue', 'release', () =>
              this.conn.operate({ closeSession: { sessionId: sid(), leaveInQueue: true } }),
            ),
          ),
          target,
          comment,
          h(
            'div',
            { class: 'buttons' },
            op('Transfer', 'transfer', () =>
              this.conn.operate({
                transferSession: { sessionId: sid(), technician: who(), comment: comment.value },
              }),
            ),
            op('Invite', 'invite', () =>
              this.conn.operate({ inviteTechnician: { sessionId: sid(), technician: who() } }),
            ),
            op('Remove', 'remove-collaborator', () =>
              this.conn.operate({ removeCollaborator: { sessionId: sid(), technician: who() } }),
            ),
            op('Hand over', 'hand-over', () =>
              this.conn.operate({ handOver: { sessionId: sid(), technician: who() } }),
            ),
            op('Give control', 'give-control', () =>
              this.conn.operate({ handOverControl: { sessionId: sid(), technician: who() } }),
            ),
          ),
          h('h4', {}, 'Participants'),
          el.participants,
        ),
        h(
          'section',
          { id: 'consent' },
          h('h3', {}, 'Consent'),
          h('div', { class: 'perms' }, ...perms),
          op('Ask the customer', 'ask-consent', () => this.askConsent()),
          h('p', {}, 'Granted: ', el.granted),
          h('p', {}, 'Control: ', el.controller),
        ),
        this.netstats.root,
      ),
      h(
        'main',
        { class: 'main' },
        h(
          'div',
          { class: 'screen-bar' },
          op('Ask to share', 'start-share', () =>
            this.conn.operate({ screenShareStart: { sessionId: sid() } }),
          ),
          op('Stop sharing', 'stop-share', () =>
            this.conn.operate({
              screenShareStop: { sessionId: sid(), reason: 'technician stopped' },
            }),
          ),
          button('Fit', () => this.screen.setMode('fit'), { id: 'mode-fit' }),
          button('1:1', () => this.screen.setMode('1:1'), { id: 'mode-1to1' }),
          monitor,
          button('Key frame', () => this.conn.notify({ keyFrameRequest: { reason: 'asked' } }), {
            id: 'key-frame',
          }),
          el.direct,
        ),
        this.screen.root,
        this.shells.root,
      ),
      h(
        'aside',
        { class: 'side right' },
        this.chat.root,
        h(
          'section',
          { id: 'tools' },
          this.files.root,
          h('h3', {}, 'System information'),
          op('Refresh', 'sysinfo-refresh', () => this.sysinfo()),
          el.sysinfo,
          h('h3', {}, 'Notes'),
          noteText,
          op('Add note', 'add-note', async () => {
            const reply = await this.conn.request({
              addNote: { sessionId: sid(), text: noteText.value },
            });
            noteText.value = '';
            if (reply.notes) this.#showNotes(reply.notes as ferry.v1.Notes);
          }),
          el.notes,
          h('h3', {}, 'Report'),
          op('Summary', 'summary', () => this.summary()),
          el.report,
        ),
      ),
    );
  }

  #wire(): void {
    const { conn } = this;
    conn.on('frame', (frame) => {
      if (frame.channel === C.CHANNEL_SCREEN && frame.screen) {
        this.screen.tile(frame.stream, frame.screen as ferry.v1.ScreenUpdate);
      } else if (frame.channel === C.CHANNEL_SYSINFO && frame.sysinfoResponse) {
        const r = frame.sysinfoResponse;
        this.#el.sysinfo!.textContent = r.error
          ? `error: ${r.error}`
          : JSON.stringify(JSON.parse(r.json || '{}'), null, 2);
      }
    });
    conn.on('chat', (c) => this.chat.message(c));
    conn.on('control', (control) => {
      if (control.monitorList) this.#monitors(control.monitorList as ferry.v1.MonitorList);
      if (control.chatHistory) this.chat.history(control.chatHistory as ferry.v1.ChatHistory);
      if (control.screenShareStop) {
        this.screen.blank();
        this.chat.local(`screen sharing stopped ${control.screenShareStop.reason ?? ''}`);
      }
      if (control.screenShareStart) this.chat.local('the customer shares the screen');
    });
    conn.on('event', (e) => {
      if (e.error) notice(`${e.error.code}: ${e.error.message}`, 'error');
      if (e.statusChanged) this.#statusChanged(e.statusChanged as ferry.v1.StatusChanged);
      if (e.sessionQueued) {
        this.chat.local(`customer "${e.sessionQueued.customerName}" is waiting`);
        this.#background(this.refreshQueue(), 'queue');
      }
      if (e.consentChanged) this.#consent(e.consentChanged as ferry.v1.ConsentChanged);
      if (e.controlChanged) {
        this.controllerId = e.controlChanged.participantId ?? '';
        this.#el.controller!.textContent = e.controlChanged.displayName || 'nobody';
        this.#render();
      }
      if (e.networkStats) this.netstats.update(e.networkStats as ferry.v1.NetworkStats);
      if (e.directStatus) this.#direct(e.directStatus as ferry.v1.DirectStatus);
      if (e.networkQualityAlert) {
        this.netstats.alert(e.networkQualityAlert as ferry.v1.NetworkQualityAlert);
      }
      if (e.sessionEvent) this.chat.event(e.sessionEvent as ferry.v1.SessionEvent);
      if (e.participantJoined || e.participantLeft)
        this.#background(this.#participants(), 'participants');
      if (e.noteAdded?.note) this.#el.notes!.append(noteItem(e.noteAdded.note as ferry.v1.Note));
      if (e.closing) notice(`the gateway is closing: ${e.closing.reason}`, 'error');
    });
    conn.on('disconnected', () => {
      this.screen.setControl(false);
      this.#connection('reconnecting');
    });
    conn.on('resumed', (welcome) => this.#resumed(welcome));
    conn.on('direct', (link) => {
      if (link.status !== null) this.#direct(link.status);
    });
    conn.on('close', (code, reason) => {
      notice(`disconnected from the gateway (${code} ${reason}); reload to sign in again`, 'error');
      this.screen.setControl(false);
      this.#connection('closed');
    });
  }

  #render(): void {
    const hasView = this.granted.includes('view') || this.granted.includes('control');
    const control = this.granted.includes('control') && this.controllerId === this.me;
    this.screen.setControl(control);
    if (hasView !== this.#viewing) {
      this.#viewing = hasView;
      this.screen.setViewing(hasView);
      if (hasView) this.conn.notify({ keyFrameRequest: { reason: 'view granted' } });
    }
    this.#el.granted!.textContent = this.granted.length > 0 ? this.granted.join(', ') : 'nothing';
    document.body.dataset.status = statusName(this.status);
  }

  #viewing = false;

  /** Where the session's frames go, from the gateway's DirectStatus (this end's link's copy). */
  #direct(status: ferry.v1.IDirectStatus): void {
    // a status of a session this console left (the new one's follows)
    const of = status.sessionId ?? '';
    if (of !== '' && this.sessionId !== '' && of !== this.sessionId) return;
    const { state, text } = directBadge(status, this.me);
    const el = this.#el.direct!;
    el.hidden = false;
    el.dataset.state = state;
    if (el.textContent !== text) el.textContent = text;
    document.body.dataset.direct = state;
  }

  #statusChanged(s: ferry.v1.StatusChanged): void {
    if (this.sessionId === '' || s.sessionId === this.sessionId) {
      this.status = s.status;
      this.#el.status!.textContent = statusName(s.status);
      if (ENDED.has(s.status)) {
        this.granted = [];
        this.screen.blank();
        this.chat.local(`session ${statusName(s.status)}`);
        void this.summary().catch((err: unknown) => {
          this.#el.report!.textContent = `no summary: ${(err as Error).message}`;
        });
      }
      this.#render();
    }
    this.#background(this.refreshQueue(), 'queue');
  }

  #consent(c: ferry.v1.ConsentChanged): void {
    this.granted = toNames(c.granted);
    this.#render();
    const removed = toNames(c.removed);
    if (removed.length > 0) this.chat.local(`the customer revoked ${removed.join(', ')}`);
  }

  #monitors(list: ferry.v1.MonitorList): void {
    const select = this.#el.monitor as HTMLSelectElement;
    clear(select);
    for (const m of list.monitors) {
      select.append(
        h(
          'option',
          { value: String(m.id) },
          `${m.name || `monitor ${m.id}`} ${m.width}x${m.height}`,
        ),
      );
    }
    if (list.monitors.length > 1) select.append(h('option', { value: 'all' }, 'all monitors'));
    this.screen.setMonitors(list.monitors, list.selected);
    if (this.screen.current >= 0) select.value = String(this.screen.current);
  }

  async createSession(customerName: string): Promise<void> {
    const reply = await this.conn.request({ createSession: { customerName } });
    const created = reply.sessionCreated as ferry.v1.SessionCreated | null;
    if (!created) throw new GatewayError('FERRY_ERR_PROTOCOL', 'no SessionCreated in reply');
    this.#enter(created.sessionId);
    this.#el.pin!.textContent = created.pin;
    const link = `${location.origin}/join/${created.pin}`;
    const a = this.#el.link as HTMLAnchorElement;
    a.href = link;
    a.textContent = link;
    this.status = S.SESSION_STATUS_WAITING;
    this.#el.status!.textContent = 'waiting for the customer';
  }

  #enter(sessionId: string): void {
    if (sessionId !== this.sessionId) {
      this.granted = [];
      this.controllerId = '';
      this.screen.blank();
      // where the new session's frames go is told by its own DirectStatus
      this.#el.direct!.hidden = true;
      delete document.body.dataset.direct;
    }
    this.sessionId = sessionId;
    this.#el.session!.textContent = sessionId;
    this.#save();
    this.#render();
  }

  async refreshQueue(): Promise<void> {
    const reply = await this.conn.request({ listQueue: {} });
    const entries = (reply.queue?.entries ?? []) as ferry.v1.QueueEntry[];
    const ul = this.#el.queue!;
    clear(ul);
    for (const q of entries) {
      const actions: HTMLElement[] = [];
      const pick = (label: string, id: string, run: () => Promise<unknown>) =>
        button(
          label,
          () => {
            run().then(
              () => {
                this.#enter(q.sessionId);
                this.#background(this.refreshQueue(), 'queue');
                this.#background(this.#participants(), 'participants');
                this.#background(this.#history(), 'chat history');
              },
              (err: unknown) => notice(`${label}: ${(err as Error).message}`, 'error'),
            );
          },
          { 'data-action': id, 'data-session': q.sessionId },
        );
      const R = ferry.v1.QueueRelation;
      if (q.status === S.SESSION_STATUS_WAITING || q.status === S.SESSION_STATUS_INCOMING) {
        actions.push(
          pick('Pick up', 'pick-up', () =>
            this.conn.operate({ pickUp: { sessionId: q.sessionId } }),
          ),
        );
      }
      if (q.relation === R.QUEUE_RELATION_INVITED) {
        actions.push(
          pick('Accept', 'accept', () =>
            this.conn.operate({ answerInvitation: { sessionId: q.sessionId, accept: true } }),
          ),
          button('Decline', () => {
            this.conn
              .operate({ answerInvitation: { sessionId: q.sessionId, accept: false } })
              .then(() => this.refreshQueue())
              .catch((err: unknown) => notice(`decline: ${(err as Error).message}`, 'error'));
          }),
        );
      }
      if (q.sessionId !== this.sessionId && !ENDED.has(q.status) && actions.length === 0) {
        actions.push(button('Open', () => this.#enter(q.sessionId)));
      }
      ul.append(
        h(
          'li',
          { 'data-session': q.sessionId, 'data-status': statusName(q.status) },
          `${q.customerName || 'customer'} · ${statusName(q.status)}${q.customerConnected ? '' : ' (not connected)'} `,
          ...actions,
        ),
      );
    }
  }

  async askConsent(): Promise<void> {
    const asked = Object.keys(PERMISSIONS).filter(
      (p) => byId<HTMLInputElement>(`ask-${p}`).checked,
    ) as PermissionName[];
    this.chat.local(`asking the customer for ${asked.join(', ')}`);
    const reply = await this.conn.request(
      { consentRequest: { sessionId: this.sessionId, permissions: toWire(asked), reason: '' } },
      300_000,
    );
    const result = reply.consentResult as ferry.v1.ConsentChanged | null;
    if (result) {
      this.#consent(result);
      const denied = toNames(result.denied);
      if (denied.length > 0) this.chat.local(`the customer denied ${denied.join(', ')}`);
    }
  }

  /**
   * Work started by an event, not a click: a failure is shown, unless the connection is gone
   * (a gateway going away fails what was in flight; its close is shown once).
   */
  #background(work: Promise<unknown>, what: string): void {
    work.catch((err: unknown) => {
      if (this.conn.open) notice(`${what}: ${(err as Error).message}`, 'error');
    });
  }

  async #participants(): Promise<void> {
    if (this.sessionId === '') return;
    const reply = await this.conn.request({ summaryRequest: { sessionId: this.sessionId } });
    const s = reply.sessionSummary as ferry.v1.SessionSummary | null;
    const ul = this.#el.participants!;
    clear(ul);
    for (const p of s?.participants ?? []) {
      ul.append(h('li', {}, `${p.name} (${p.role ?? ''})`));
    }
  }

  async #history(): Promise<void> {
    const reply = await this.conn.request({ chatHistoryRequest: { sessionId: this.sessionId } });
    if (reply.chatHistory) this.chat.history(reply.chatHistory as ferry.v1.ChatHistory);
  }

  async sysinfo(): Promise<void> {
    this.#el.sysinfo!.textContent = 'collecting...';
    const sent = this.conn.send({
      channel: C.CHANNEL_SYSINFO,
      sysinfoRequest: { requestId: 1, categories: [], refresh: true },
    });
    if (!sent) throw new GatewayError('FERRY_ERR_CLOSED', 'not connected');
  }

  #showNotes(notes: ferry.v1.Notes): void {
    const ul = this.#el.notes!;
    clear(ul);
    for (const n of notes.notes) ul.append(noteItem(n as ferry.v1.Note));
  }

  async summary(): Promise<void> {
    if (this.sessionId === '') return;
    const reply = await this.conn.request({ summaryRequest: { sessionId: this.sessionId } });
    const s = reply.sessionSummary as ferry.v1.SessionSummary | null;
    if (!s) return;
    this.#el.report!.textContent = [
      `session ${s.sessionId} (${statusName(s.status)}${s.ended ? ', ended' : ''})`,
      `customer: ${s.customerName} on ${s.computerName || '?'} (${s.platform || '?'}) from ${s.customerIp}`,
      `started ${formatTime(Number(s.createdUnixMs))}`,
      `participants: ${s.participants.map((p) => `${p.name} (${p.role})`).join(', ')}`,
      `granted: ${toNames(s.granted).join(', ') || 'nothing'}`,
      `monitors: ${s.monitors.map((m) => `${m.id}: ${m.width}x${m.height}`).join(', ') || 'none'}`,
      `control: ${s.controller || 'nobody'}`,
    ].join('\n');
  }
}

function noteItem(n: ferry.v1.Note): HTMLElement {
  return h('li', {}, `${formatTime(Number(n.timeUnixMs))} ${n.author}: ${n.text}`);
}
