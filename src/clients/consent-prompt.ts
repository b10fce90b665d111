/**
 * The customer's consent prompt of `ferry customer`: one question at a time, answered by the
 * next line typed (y = everything asked, n = nothing, or a list such as "view"). Once input has ended (stdin closed, or never readable) every question is answered
 * "no": nobody is there to agree, and a technician should hear a denial rather than wait for
 * its request to time out. The gateway enforces the answer; this is only how it is asked.
 */
import type { ConsentPromptRequest } from './customer.js';
import { type PermissionName, parsePermissions } from './permissions.js';

interface Question {
  readonly request: ConsentPromptRequest;
  readonly resolve: (allowed: PermissionName[]) => void;
}

export class ConsentPrompt {
  readonly #queue: Question[] = [];
  readonly #print: (line: string) => void;
  #closed = false;

  /** `print` shows one line to the customer (stdout in the CLI). */
  constructor(print: (line: string) => void) {
    this.#print = print;
  }

  /** A question is shown and waits for its answer. */
  get waiting(): boolean {
    return this.#queue.length > 0;
  }

  /** The customer's policy function: resolves with what to grant of `request`. */
  ask = (request: ConsentPromptRequest): Promise<PermissionName[]> => {
    if (this.#closed) {
      this.#print(`${request.requestedBy} asked to: ${describeAll(request)}; no input, denied`);
      return Promise.resolve([]);
    }
    return new Promise((resolve) => {
      this.#queue.push({ request, resolve });
      if (this.#queue.length === 1) this.#show();
    });
  };

  /** Answers the question shown with `line`. */
  answer(line: string): void {
    const next = this.#queue.shift();
    if (next === undefined) return;
    const text = line.trim().toLowerCase();
    let allowed: PermissionName[];
    if (text === 'y' || text === 'yes') allowed = next.request.permissions;
    else if (text === 'n' || text === 'no' || text === 'none') allowed = [];
    else {
      try {
        allowed = parsePermissions(text).filter((p) => next.request.permissions.includes(p));
      } catch (err) {
        this.#print(`${(err as Error).message}; nothing granted`);
        allowed = [];
      }
    }
    this.#print(allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'denied');
    next.resolve(allowed);
    this.#show();
  }

  /** Input has ended: the questions waiting and every later one are answered "no". */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = this.#queue.splice(0);
    if (waiting.length > 0) this.#print('input closed: denying the open consent requests');
    for (const q of waiting) q.resolve([]);
  }

  #show(): void {
    const next = this.#queue[0];
    if (next === undefined) return;
    const { request } = next;
    const reason = request.reason ? ` (${request.reason})` : '';
    this.#print(`${request.requestedBy} asks to: ${describeAll(request)}${reason}`);
    this.#print('allow? y = all, n = none, or name them (e.g. "view"):');
  }
}

function describeAll(request: ConsentPromptRequest): string {
  return request.permissions.map(describePermission).join('; ');
}

/** What a permission lets the technician do, in the customer's words. */
export function describePermission(p: PermissionName): string {
  switch (p) {
    case 'view':
      return 'see your screen';
    case 'control':
      return 'use your mouse and keyboard';
    case 'sysinfo':
      return 'read system information (OS, hardware, network, processes, disks, users)';
    case 'shell':
      return 'run command shells on your computer';
    case 'file':
      return 'send files to and fetch files from your shared directory';
    default:
      return p;
  }
}
