/**
 * Keeps @xterm/xterm working under the console's Content-Security-Policy (`style-src 'self'`, no
 * inline styles). xterm's DOM renderer writes its theme and cell sizes into `<style>` elements
 * and sets true-colour cells with `setAttribute('style', ...)`; the policy blocks both, and
 * Chromium reports a violation for every `<style>` element put in the page, even an empty one.
 * This shim routes them through the CSSOM, which the policy does not govern:
 * - `document.createElement('style')` gives an inert `<ferry-style hidden>` element instead; the
 *   text written to it (`textContent`, all xterm does besides `remove()`) goes into a constructed
 *   stylesheet adopted by the document. The console itself never creates `<style>` elements;
 * - `setAttribute('style', ...)` on a `<span>` (xterm's cells; the console never styles spans
 *   by attribute) sets `style.cssText`.
 * Installed once, before the first terminal opens. `dropDetachedSheets()` forgets the sheets of
 * elements that left the page (a closed terminal).
 */

const sheets = new Map<HTMLElement, CSSStyleSheet>();
let installed = false;

function adopt(el: HTMLElement, text: string): void {
  let sheet = sheets.get(el);
  if (sheet === undefined) {
    sheet = new CSSStyleSheet();
    sheets.set(el, sheet);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  }
  sheet.replaceSync(text);
}

/** An element standing in for a `<style>`: its text becomes an adopted stylesheet. */
function styleStandIn(doc: Document, create: Document['createElement']): HTMLElement {
  const el = create.call(doc, 'ferry-style') as HTMLElement;
  el.hidden = true;
  Object.defineProperty(el, 'textContent', {
    configurable: true,
    enumerable: true,
    get(): string {
      const sheet = sheets.get(el);
      return sheet === undefined ? '' : [...sheet.cssRules].map((r) => r.cssText).join('\n');
    },
    set(value: string | null) {
      adopt(el, value ?? '');
    },
  });
  return el;
}

export function installCspStyleShim(): void {
  if (installed) return;
  installed = true;
  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (
    this: Document,
    tag: string,
    options?: ElementCreationOptions,
  ): HTMLElement {
    if (tag.toLowerCase() === 'style') return styleStandIn(this, createElement);
    return createElement.call(this, tag, options);
  } as typeof Document.prototype.createElement;
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string): void {
    if (this instanceof HTMLSpanElement && name.toLowerCase() === 'style') {
      this.style.cssText = value;
      return;
    }
    setAttribute.call(this, name, value);
  };
}

/** Forgets the stylesheets of stand-ins no longer in the page. */
export function dropDetachedSheets(): void {
  const gone = [...sheets]
    .filter(([el]) => !el.isConnected)
    .map(([el, sheet]) => {
      sheets.delete(el);
      return sheet;
    });
  if (gone.length === 0) return;
  document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => !gone.includes(s));
}
