import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AsciicastRecorder } from '../../src/tools/asciicast.js';
import { ShellHost, type ShellId } from '../../src/tools/shell-host.js';

const skip = process.platform === 'win32' ? 'POSIX shells only' : false;

test('two real shells recorded as the gateway would: valid casts, transcripts match', {
  skip,
}, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-rec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const host = new ShellHost({ backend: 'pipe' });
  t.after(() => host.closeAll());
  const t0 = Date.now();
  const recorders = new Map<ShellId, AsciicastRecorder>();
  for (const id of [1, 2]) {
    recorders.set(
      id,
      new AsciicastRecorder({
        width: 80,
        height: 24,
        startedAtMs: t0,
        title: `shell ${id}`,
        file: path.join(dir, `shell-${id}.cast`),
        transcriptFile: path.join(dir, `shell-${id}.txt`),
        transcript: { input: true },
      }),
    );
  }
  // the gateway records what it relays: ShellInput on the way in, ShellOutput on the way out
  const printed = new Map<ShellId, string>();
  host.on('output', (id, chunk) => {
    recorders.get(id)!.output(chunk, Date.now());
    printed.set(id, (printed.get(id) ?? '') + chunk.toString());
    host.ack(id, chunk.length);
  });
  /** Waits until shell `id` has printed `text` (the technician reads before typing on). */
  const until = (id: ShellId, text: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!(printed.get(id) ?? '').endsWith(text)) return;
        host.off('output', check);
        resolve();
      };
      host.on('output', check);
      check();
    });
  host.on('resize', (id, cols, rows) => recorders.get(id)!.resize(cols, rows, Date.now()));
  const type = (id: ShellId, line: string) => {
    recorders.get(id)!.input(line, Date.now());
    host.write(id, line);
  };
  const exited = new Promise<void>((resolve) => {
    let n = 0;
    host.on('exit', () => {
      if (++n === 2) resolve();
    });
  });
  host.open(1, { shell: '/bin/sh' });
  host.open(2, { shell: '/bin/sh' });
  type(1, "printf '\\033[31mred\\033[0m\\n'\n");
  type(2, 'echo alpha\n');
  host.resize(2, 100, 30);
  await until(1, 'red\x1b[0m\n');
  type(1, 'echo two\n');
  await until(1, 'two\n');
  await until(2, 'alpha\n');
  type(1, 'exit\n');
  type(2, 'exit\n');
  await exited;
  for (const r of recorders.values()) await r.close();

  const cast1 = fs.readFileSync(path.join(dir, 'shell-1.cast'), 'utf8').trimEnd().split('\n');
  assert.equal(JSON.parse(cast1[0]!).version, 2);
  const events1 = cast1.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  assert.equal(
    events1
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join(''),
    '\x1b[31mred\x1b[0m\ntwo\n',
  );
  assert.deepEqual(
    events1.filter((e) => e[1] === 'i').map((e) => e[2]),
    ["printf '\\033[31mred\\033[0m\\n'\n", 'echo two\n', 'exit\n'],
  );
  for (let i = 1; i < events1.length; i++) assert.ok(events1[i]![0] >= events1[i - 1]![0]);
  const cast2 = fs.readFileSync(path.join(dir, 'shell-2.cast'), 'utf8');
  assert.match(cast2, /,"r","100x30"\]\n/);

  const transcript1 = fs.readFileSync(path.join(dir, 'shell-1.txt'), 'utf8');
  // no PTY, so no echo: typed lines and printed lines alternate as they happened
  assert.equal(transcript1, "> printf '\\033[31mred\\033[0m\\n'\nred\n> echo two\ntwo\n> exit\n");
  assert.equal(
    fs.readFileSync(path.join(dir, 'shell-2.txt'), 'utf8'),
    '> echo alpha\nalpha\n> exit\n',
  );
});
