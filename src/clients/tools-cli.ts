/**
 * The reference technician's stdin commands for command shells and file transfer (session tools
 * II), kept apart from src/cli/technician.ts: `/shell [kind]` opens a shell whose output is printed with
 * its id, `/sh <id> <text>` types a line into it, `/resize <id> <cols> <rows>`,
 * `/close-shell <id>`, `/file put <local path>` (or `/upload`) and `/file get <remote path>
 * <local path>` (or `/download`), progress printed as it goes.
 */
import type { FileProgress } from './files.js';
import type { TechnicianClient } from './technician.js';

export const TOOLS_HELP =
  '/shell [sh|bash|...], /sh <id> <text>, /resize <id> <cols> <rows>, /close-shell <id>, /file put <path>, /file get <remote> <local>';

const progressPrinted = new WeakSet<TechnicianClient>();

/** Prints transfer progress in 10 % steps (once per client). */
function printProgress(client: TechnicianClient): void {
  if (progressPrinted.has(client)) return;
  progressPrinted.add(client);
  const last = new Map<string, number>();
  client.files.on('progress', (p: FileProgress) => {
    const key = `${p.direction}:${p.id}`;
    const step = Math.floor(p.percent / 10);
    if (last.get(key) === step) return;
    last.set(key, step);
    console.log(`[file ${p.id}] ${p.direction} ${p.name}: ${p.percent}% (${p.bytes}/${p.total})`);
  });
}

/** Runs a shell or file command; false when `command` is none of them. */
export async function technicianToolsCommand(
  client: TechnicianClient,
  command: string,
  words: readonly string[],
): Promise<boolean> {
  switch (command) {
    case 'shell': {
      const size =
        process.stdout.columns && process.stdout.rows
          ? { cols: process.stdout.columns, rows: process.stdout.rows }
          : {};
      const shell = await client.shells.open({ ...(words[0] ? { kind: words[0] } : {}), ...size });
      console.log(`[shell ${shell.id}] ${shell.name || shell.program} (pid ${shell.pid}) open`);
      if (shell.note) console.log(`[shell ${shell.id}] ${shell.note}`);
      // the customer's terminal keeps this terminal's size while the shell runs
      if (process.stdout.isTTY) shell.followSize(process.stdout);
      shell.on('data', (chunk) => process.stdout.write(`[shell ${shell.id}] ${chunk.toString()}`));
      shell.on('exit', (e) =>
        console.log(`[shell ${shell.id}] exited ${e.errorCode || e.signal || e.code}`),
      );
      return true;
    }
    case 'sh': {
      const shell = client.shells.get(Number(words[0]));
      if (shell === undefined) throw new Error(`no open shell ${words[0]}`);
      shell.write(`${words.slice(1).join(' ')}\n`);
      return true;
    }
    case 'resize':
      client.shells.get(Number(words[0]))?.resize(Number(words[1]), Number(words[2]));
      return true;
    case 'close-shell': {
      const exit = await client.shells.get(Number(words[0]))?.close();
      if (exit === undefined) throw new Error(`no open shell ${words[0]}`);
      console.log(`[shell ${words[0]}] closed`);
      return true;
    }
    case 'file': {
      const [verb = '', ...paths] = words;
      if (verb === 'put') return technicianToolsCommand(client, 'upload', paths);
      if (verb === 'get') return technicianToolsCommand(client, 'download', paths);
      throw new Error('use /file get <remote> <local> or /file put <local>');
    }
    case 'upload': {
      printProgress(client);
      const sent = await client.files.upload(words.join(' '));
      console.log(
        `[file ${sent.id}] sent ${sent.name} (${sent.size} bytes, sha256 ${sent.sha256})`,
      );
      return true;
    }
    case 'download': {
      printProgress(client);
      const got = await client.files.download(words[0] ?? '', words[1] ?? '');
      console.log(`[file ${got.id}] saved ${got.path} (${got.size} bytes, sha256 ${got.sha256})`);
      return true;
    }
    default:
      return false;
  }
}
