/**
 * Command shells in the technician console: @xterm/xterm terminals in tabs, several at once, over
 * the SHELL channel (proto/ferry/v1/shell.proto). A shell is opened under an open reference above
 * 1000; the ShellOpened names its shell id (1, 2, 3, ...), used from then on. Keystrokes go as
 * ShellInput, the customer's output is written to the terminal, the terminal's size (fitted to its
 * pane) goes as ShellResize, and ShellExit marks the tab ended. The gateway enforces the grant
 * and the per-session cap; a refusal shows in the tab. xterm's stylesheet is bundled with the
 * console's own (main.ts), since a lazily loaded chunk's CSS is not linked by the page.
 */
import { Terminal } from '@xterm/xterm';
import { ferry } from '../../protocol/gen/ferry.js';
import type { Conn } from './conn.js';
import { dropDetachedSheets, installCspStyleShim } from './csp-styles.js';
import { button, h } from './dom.js';

const C = ferry.v1.Channel;
/** Open references are above every shell id (at most 1000). */
const FIRST_OPEN_REF = 0x10000;

interface Tab {
  ref: number;
  id: number;
  name: string;
  term: Terminal;
  pane: HTMLElement;
  tab: HTMLElement;
  label: HTMLElement;
  ended: boolean;
  resizeObserver: ResizeObserver;
}

export class ShellView {
  readonly root: HTMLElement;
  readonly #conn: Conn;
  readonly #tabsBar: HTMLElement;
  readonly #panes: HTMLElement;
  readonly #kind: HTMLSelectElement;
  /** Tabs by open reference (until opened) and by shell id (once opened). */
  readonly #pending = new Map<number, Tab>();
  readonly #shells = new Map<number, Tab>();
  #nextRef = FIRST_OPEN_REF;
  #active: Tab | null = null;
  readonly #encoder = new TextEncoder();

  constructor(conn: Conn) {
    this.#conn = conn;
    this.#tabsBar = h('div', { class: 'shell-tabs', id: 'shell-tabs', role: 'tablist' });
    this.#panes = h('div', { class: 'shell-panes', id: 'shell-panes' });
    this.#kind = h(
      'select',
      { id: 'shell-kind', 'aria-label': 'shell program' },
      h('option', { value: '' }, 'default shell'),
      ...['sh', 'bash', 'zsh', 'pwsh', 'powershell', 'cmd'].map((k) =>
        h('option', { value: k }, k),
      ),
    );
    this.root = h(
      'section',
      { class: 'shells', id: 'shells' },
      h(
        'div',
        { class: 'shell-bar' },
        h('h3', {}, 'Shells'),
        this.#kind,
        button('New shell', () => this.open(this.#kind.value), { id: 'new-shell' }),
      ),
      this.#tabsBar,
      this.#panes,
    );
    conn.on('frame', (frame) => {
      if (frame.channel === C.CHANNEL_SHELL && frame.shell) {
        this.#onMessage(frame.stream, frame.shell as ferry.v1.ShellMessage);
      } else if (
        frame.channel === C.CHANNEL_EVENT &&
        frame.event?.error?.channel === C.CHANNEL_SHELL &&
        frame.stream !== 0
      ) {
        const err = frame.event.error;
        this.#ended(frame.stream, `refused: ${err.code} ${err.message}`);
      }
    });
  }

  /** Opens a new shell in a new tab. */
  open(kind = ''): void {
    installCspStyleShim();
    const ref = this.#nextRef++;
    const term = new Terminal({
      cols: 80,
      rows: 24,
      convertEol: false,
      scrollback: 5000,
      fontFamily: 'ui-monospace, monospace',
      fontSize: 13,
    });
    const pane = h('div', { class: 'shell-pane', 'data-ref': String(ref) });
    const label = h('span', {}, 'opening…');
    const tab = h('div', { class: 'shell-tab', role: 'tab', 'data-ref': String(ref) }, label);
    const entry: Tab = {
      ref,
      id: 0,
      name: '',
      term,
      pane,
      tab,
      label,
      ended: false,
      resizeObserver: new ResizeObserver(() => this.#fit(entry)),
    };
    tab.append(
      button('×', () => this.close(entry), { class: 'shell-close', 'aria-label': 'close shell' }),
    );
    tab.addEventListener('click', () => this.#select(entry));
    this.#tabsBar.append(tab);
    this.#panes.append(pane);
    this.#select(entry);
    term.open(pane);
    this.#fit(entry);
    entry.resizeObserver.observe(pane);
    term.onData((data) => this.#input(entry, this.#encoder.encode(data)));
    term.onBinary((data) =>
      this.#input(
        entry,
        Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff),
      ),
    );
    term.onResize(({ cols, rows }) => {
      if (entry.id !== 0 && !entry.ended) {
        this.#send(entry.id, { resize: { cols, rows } });
      }
    });
    this.#pending.set(ref, entry);
    this.#send(ref, { open: { kind, name: '', cols: term.cols, rows: term.rows } });
  }

  /** Closes a tab's shell (if still running) and removes the tab. */
  close(entry: Tab): void {
    if (entry.id !== 0 && !entry.ended) this.#send(entry.id, { close: { reason: 'closed' } });
    this.#pending.delete(entry.ref);
    if (entry.id !== 0) this.#shells.delete(entry.id);
    entry.resizeObserver.disconnect();
    entry.term.dispose();
    entry.tab.remove();
    entry.pane.remove();
    dropDetachedSheets();
    if (this.#active === entry) {
      const next = [...this.#shells.values(), ...this.#pending.values()][0];
      this.#active = null;
      if (next) this.#select(next);
    }
  }

  /** Number of terminals (open or ended) shown. */
  get count(): number {
    return this.#tabsBar.childElementCount;
  }

  #select(entry: Tab): void {
    this.#active = entry;
    for (const t of this.#tabsBar.children) t.setAttribute('aria-selected', 'false');
    entry.tab.setAttribute('aria-selected', 'true');
    for (const p of this.#panes.children) (p as HTMLElement).hidden = p !== entry.pane;
    this.#fit(entry);
    entry.term.focus();
  }

  /** Fits the terminal's columns and rows to its pane (xterm's own cell size). */
  #fit(entry: Tab): void {
    const screen = entry.pane.querySelector<HTMLElement>('.xterm-screen');
    if (entry.pane.hidden || screen === null || screen.clientWidth === 0) return;
    const cellW = screen.clientWidth / entry.term.cols;
    const cellH = screen.clientHeight / entry.term.rows;
    if (cellW <= 0 || cellH <= 0) return;
    const cols = Math.max(20, Math.floor((entry.pane.clientWidth - 16) / cellW));
    const rows = Math.max(5, Math.floor((entry.pane.clientHeight - 8) / cellH));
    if (cols !== entry.term.cols || rows !== entry.term.rows) entry.term.resize(cols, rows);
  }

  #input(entry: Tab, data: Uint8Array): void {
    if (entry.id === 0 || entry.ended) return;
    this.#send(entry.id, { input: { data } });
  }

  #send(stream: number, shell: ferry.v1.ShellMessage.$Properties): void {
    this.#conn.send({ channel: C.CHANNEL_SHELL, stream, shell });
  }

  #onMessage(stream: number, msg: ferry.v1.ShellMessage): void {
    if (msg.kind === 'opened') {
      const opened = msg.opened as ferry.v1.ShellOpened;
      const entry = this.#pending.get(stream);
      if (entry === undefined) {
        // a tab closed before its shell opened: end the shell
        if (opened.id !== 0) this.#send(opened.id, { close: { reason: 'tab closed' } });
        return;
      }
      this.#pending.delete(stream);
      entry.id = opened.id;
      entry.name = opened.name || `shell ${opened.id}`;
      entry.label.textContent = entry.name;
      entry.tab.dataset.shell = String(opened.id);
      entry.pane.dataset.shell = String(opened.id);
      this.#shells.set(opened.id, entry);
      if (!opened.pty && opened.note) entry.term.write(`\x1b[33m${opened.note}\x1b[0m\r\n`);
      // the pane may have changed size while the shell was opening
      this.#send(entry.id, { resize: { cols: entry.term.cols, rows: entry.term.rows } });
      return;
    }
    if (msg.kind === 'output') {
      this.#shells.get(stream)?.term.write(msg.output!.data!);
      return;
    }
    if (msg.kind === 'exit') {
      const exit = msg.exit as ferry.v1.ShellExit;
      const why = exit.errorCode
        ? `${exit.errorCode} ${exit.message}`
        : `exit ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}${exit.message ? ` ${exit.message}` : ''}`;
      this.#ended(stream, why);
    }
  }

  /** The shell (by id, or by open reference before it opened) ended or was refused. */
  #ended(stream: number, why: string): void {
    const entry = this.#shells.get(stream) ?? this.#pending.get(stream);
    if (entry === undefined || entry.ended) return;
    entry.ended = true;
    this.#pending.delete(entry.ref);
    entry.tab.dataset.ended = 'yes';
    entry.label.textContent = `${entry.name || 'shell'} (ended)`;
    entry.term.write(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`);
  }
}
