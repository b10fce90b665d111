/**
 * The systemd unit of a jump client installed as a service (`ferry unattended install`): where
 * it goes (the user's `~/.config/systemd/user/` or, with `system`, `/etc/systemd/system/`), what
 * it says (ExecStart runs `ferry unattended` on its state directory, Restart=always, so the jump
 * client comes back after a crash, a restart it asked for, or an OS reboot), writing it (mode
 * 0644) and removing it with its enable link. systemctl itself is never run here: the commands
 * to run are returned for the user to see.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const UNIT_NAME = 'ferry-jump-client.service';
export const UNIT_MODE = 0o644;

export type UnitScope = 'user' | 'system';

/** The directory the unit goes to. */
export function unitDir(scope: UnitScope, env: NodeJS.ProcessEnv = process.env): string {
  if (scope === 'system') return '/etc/systemd/system';
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(config, 'systemd', 'user');
}

/** One ExecStart word, quoted for systemd: `"`, `\` escaped; `%` and `$` doubled. */
export function quoteWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface UnitOptions {
  readonly scope: UnitScope;
  /** The full command: node, bin/ferry.js, `unattended`, and its flags (--state-dir among them). */
  readonly execStart: readonly string[];
  readonly stateDir: string;
  /** The X display the jump client shares ($DISPLAY at install); none: no Environment line. */
  readonly display?: string;
}

/** The unit file's text. */
export function renderUnit(options: UnitOptions): string {
  const wantedBy = options.scope === 'system' ? 'multi-user.target' : 'default.target';
  return [
    '[Unit]',
    'Description=Ferry jump client (unattended remote support)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${options.execStart.map(quoteWord).join(' ')}`,
    `WorkingDirectory=${quoteWord(options.stateDir)}`,
    ...(options.display ? [`Environment=${quoteWord(`DISPLAY=${options.display}`)}`] : []),
    '# a reboot request exits (status 75) and the jump client starts again, resuming its session',
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    `WantedBy=${wantedBy}`,
    '',
  ].join('\n');
}

/** The systemctl commands that enable (or, after an uninstall, forget) the unit. */
export function systemctlCommands(scope: UnitScope, action: 'install' | 'uninstall'): string[] {
  const ctl = scope === 'user' ? 'systemctl --user' : 'systemctl';
  if (action === 'install') {
    const commands = [`${ctl} daemon-reload`, `${ctl} enable --now ${UNIT_NAME}`];
    // a user unit starts at boot, before anyone logs in, only with lingering on
    if (scope === 'user') commands.push(`loginctl enable-linger ${os.userInfo().username}`);
    return commands;
  }
  return [`${ctl} stop ${UNIT_NAME}`, `${ctl} daemon-reload`];
}

/** Writes the unit (mode 0644, its directory created); returns its path. */
export async function installUnit(
  options: UnitOptions,
  dir = unitDir(options.scope),
): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, UNIT_NAME);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, renderUnit(options), { mode: UNIT_MODE });
  await fs.chmod(tmp, UNIT_MODE);
  await fs.rename(tmp, file);
  return file;
}

/** Removes the unit and its enable link; returns the paths removed. */
export async function uninstallUnit(scope: UnitScope, dir = unitDir(scope)): Promise<string[]> {
  const wants = scope === 'system' ? 'multi-user.target.wants' : 'default.target.wants';
  const removed: string[] = [];
  for (const file of [path.join(dir, UNIT_NAME), path.join(dir, wants, UNIT_NAME)]) {
    try {
      await fs.lstat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    await fs.rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}
