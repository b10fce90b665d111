/** Reading deploy/compose/compose.yml in tests (no YAML library: the file's own layout). */

/**
 * The `command:` lists of the services of a compose file, as compose.yml writes them: block
 * sequences (`      - item`, plain or quoted) under `    command:` of a `  service:` in `services:`.
 */
export function composeCommands(text: string): Map<string, string[]> {
  const commands = new Map<string, string[]>();
  let inServices = false;
  let service: string | undefined;
  let list: string[] | undefined;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inServices = line.startsWith('services:');
      service = list = undefined;
      continue;
    }
    if (!inServices || line.trim() === '' || /^\s*#/.test(line)) continue;
    if (/^ {2}[A-Za-z0-9_.-]+:\s*$/.test(line)) {
      service = line.trim().slice(0, -1);
      list = undefined;
    } else if (service !== undefined && /^ {4}command:\s*$/.test(line)) {
      list = [];
      commands.set(service, list);
    } else if (list !== undefined) {
      const item = /^ {6}- (.*)$/.exec(line);
      if (item === null) list = undefined;
      else list.push(item[1]!.trim().replace(/^(['"])(.*)\1$/, '$2'));
    }
  }
  return commands;
}
