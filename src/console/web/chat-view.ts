/**
 * The chat panel, shared by the technician console and the customer page: the session log
 * (chat messages and session events, in the gateway's order, de-duplicated by seq) and a line
 * to write in. A technician also has a private box (technicians only). A late joiner asks for
 * the history and sees it before the live messages.
 */
import { ferry } from '../../protocol/gen/ferry.js';
import { h } from './dom.js';

export class ChatView {
  readonly root: HTMLElement;
  readonly #log: HTMLElement;
  readonly #seen = new Set<number>();

  constructor(send: (text: string, techniciansOnly: boolean) => void, privateBox: boolean) {
    this.#log = h('ol', { class: 'chat-log', id: 'chat-log', 'aria-live': 'polite' });
    const input = h('input', {
      id: 'chat-input',
      type: 'text',
      placeholder: 'Write a message',
      maxlength: '2000',
      autocomplete: 'off',
    });
    const priv = h('input', { id: 'chat-private', type: 'checkbox' });
    const form = h(
      'form',
      { class: 'chat-form', id: 'chat-form' },
      input,
      privateBox ? h('label', { class: 'private' }, priv, ' technicians only') : null,
      h('button', { type: 'submit', id: 'chat-send' }, 'Send'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (text === '') return;
      send(text, privateBox && priv.checked);
      input.value = '';
    });
    this.root = h('section', { class: 'chat', id: 'chat' }, h('h3', {}, 'Chat'), this.#log, form);
  }

  #add(seq: number, el: HTMLElement): void {
    if (seq !== 0) {
      if (this.#seen.has(seq)) return;
      this.#seen.add(seq);
      el.dataset.seq = String(seq);
      // keep the gateway's order even when the history arrives after a live message
      for (const other of this.#log.children) {
        const s = Number((other as HTMLElement).dataset.seq ?? 0);
        if (s > seq) {
          other.before(el);
          return;
        }
      }
    }
    this.#log.append(el);
    this.#log.scrollTop = this.#log.scrollHeight;
  }

  message(c: ferry.v1.ChatMessage): void {
    const priv = c.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY;
    const role = c.senderRole === ferry.v1.Role.ROLE_TECHNICIAN ? 'technician' : 'customer';
    this.#add(
      Number(c.seq),
      h(
        'li',
        { class: `chat-msg ${role}${priv ? ' private' : ''}` },
        h('span', { class: 'who' }, `${c.senderName}${priv ? ' (technicians only)' : ''}: `),
        h('span', { class: 'text' }, c.text),
      ),
    );
  }

  event(e: ferry.v1.SessionEvent): void {
    this.#add(
      Number(e.seq),
      h('li', { class: 'chat-event' }, `${e.actor ? `${e.actor}: ` : ''}${e.detail || e.type}`),
    );
  }

  history(history: ferry.v1.ChatHistory): void {
    for (const entry of history.entries) {
      if (entry.chat) this.message(entry.chat as ferry.v1.ChatMessage);
      else if (entry.event) this.event(entry.event as ferry.v1.SessionEvent);
    }
  }

  /** A local line (not from the gateway), e.g. what this page did. */
  local(text: string): void {
    this.#add(0, h('li', { class: 'chat-event local' }, text));
  }
}
