/**
 * `ferry customer` (or any `ferry` subcommand) as a child process with no display, for the tests that kill, restart, reboot
 * or elevate the real customer program: its stdout and stderr lines (and those of a relaunch it
 * starts) can be awaited, and it is killed when the test ends. `stateDir` makes a temporary
 * state directory that goes with the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { TestContext } from 'node:test';

const BIN = path.resolve('bin/ferry.js');

/** Any `ferry` subcommand as a child process, with its output lines to await. */
export class FerryProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  readonly #waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  /** `args` start with the subcommand (`['technician', '--url', ...]`). */
  constructor(t: TestContext, args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DISPLAY: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    t.after(() => {
      if (this.child.exitCode === null && this.child.signalCode === null)
        this.child.kill('SIGKILL');
    });
    const onLine = (line: string) => {
      this.lines.push(line);
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i]!;
        if (!w.re.test(line)) continue;
        this.#waiters.splice(i, 1);
        w.resolve(w.re.exec(line)!);
      }
    };
    readline.createInterface({ input: this.child.stdout! }).on('line', onLine);
    readline.createInterface({ input: this.child.stderr! }).on('line', onLine);
  }

  /** Types a line on the customer's stdin (its chat). */
  say(text: string): void {
    this.child.stdin!.write(`${text}\n`);
  }

  /** The first line (seen or to come) matching `re`; fails after 20 s with what was printed. */
  line(re: RegExp): Promise<RegExpExecArray> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(re.exec(seen)!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no line matching ${re} in:\n${this.lines.join('\n')}`));
      }, 20_000);
      this.#waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }
}

export class CustomerProcess extends FerryProcess {
  constructor(t: TestContext, args: string[]) {
    super(t, ['customer', ...args]);
  }
}

/** A temporary state directory, removed when the test ends. */
export function stateDir(t: TestContext, prefix = 'ferry-customer-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
