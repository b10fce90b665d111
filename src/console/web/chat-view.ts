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
  /**
   * The seq of the newest chat message shown: a resumed console asks for the log after it (the
   * events after it again too: they are shown once, by seq). Not the newest event's seq: an event
   * that arrived does not prove the chat before it did.
   */
  #newestChat = 0;

  /** `send` may answer false (not connected): the text stays in the box to send again. */
  constructor(
    send: (text: string, techniciansOnly: boolean) => boolean | undefined,
    privateBox: boolean,
  ) {
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
      if (send(text, privateBox && priv.checked) === false) return;
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

  /** The log seq of the newest chat message this view has shown; 0: none. */
  get newestChatSeq(): number {
    return this.#newestChat;
  }

  message(c: ferry.v1.ChatMessage): void {
    const seq = Number(c.seq);
    if (seq > this.#newestChat) this.#newestChat = seq;
    const priv = c.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY;
    const role = c.senderRole === ferry.v1.Role.ROLE_TECHNICIAN ? 'technician' : 'customer';
    this.#add(
      seq,
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
