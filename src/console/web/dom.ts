/**
 * Small DOM helpers of the console: build elements without innerHTML (every text a participant
 * sends is shown as text, never parsed as markup), find them by id, format numbers.
 */
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | number> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`no element #${id}`);
  return el as T;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

export function button(label: string, onClick: () => void, attrs: Record<string, string> = {}) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', onClick);
  return b;
}

export function formatRate(bps: number): string {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(0)} kbit/s`;
  return `${bps.toFixed(0)} bit/s`;
}

export function formatTime(unixMs: number): string {
  return new Date(unixMs).toLocaleTimeString();
}

/** Shows `message` in the page's notice line (errors and refusals of the gateway). */
export function notice(message: string, kind: 'error' | 'info' = 'info'): void {
  const el = document.getElementById('notice');
  if (el === null) return;
  el.textContent = message;
  el.dataset.kind = kind;
}
