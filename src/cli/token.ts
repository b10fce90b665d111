/**
 * `ferry token issue`: prints a technician token signed with the gateway secret (created in the
 * data directory when there is none yet), with its validity, permission and team claims.
 */
import { ConfigError, resolveConfig } from '../config/config.js';
import { envName, schema } from '../config/schema.js';
import { loadOrCreateSecret } from '../config/secrets.js';
import { isPermission, TECHNICIAN_PERMISSIONS } from '../session/access-policy.js';
import { issueToken } from '../session/tokens.js';
import { commandGroup, defineCommand, type ExitRequest } from './common.js';

/** Seconds in "3600", "90m", "12h" or "30d". */
function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new ConfigError(`bad duration "${text}": use e.g. 3600, 90m, 12h, 30d`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Repeatable, comma-separated values, trimmed, empty ones dropped; undefined when none given. */
function list(values: readonly string[] | undefined): string[] | undefined {
  return values
    ?.flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

async function issue(argv: {
  name: string;
  ttl: string;
  dataDir: string | undefined;
  secret: string | undefined;
  perm: string[] | undefined;
  team: string[] | undefined;
}): Promise<ExitRequest> {
  const config = resolveConfig({ dataDir: argv.dataDir, secret: argv.secret });
  const secret = loadOrCreateSecret(config.dataDir, 'secret', config.secret);
  const perms = list(argv.perm)?.filter((p) => p !== 'none');
  for (const p of perms ?? []) {
    if (!isPermission(p)) throw new ConfigError(`unknown permission "${p}"`);
  }
  const teams = list(argv.team);
  console.log(
    issueToken(secret.value, argv.name, parseDuration(argv.ttl), Date.now(), {
      ...(perms === undefined ? {} : { perms }),
      ...(teams === undefined || teams.length === 0 ? {} : { teams }),
    }),
  );
  return undefined;
}

const issueCommand = defineCommand({
  command: 'issue',
  describe: 'print a technician token signed with the gateway secret',
  builder: (y) =>
    y
      .option('name', {
        type: 'string',
        demandOption: true,
        describe: 'technician name (1-64 of letters, digits, . _ @ -)',
      })
      .option('ttl', {
        type: 'string',
        default: '30d',
        describe: 'validity: seconds, or e.g. 90m, 12h, 30d',
      })
      .option('data-dir', {
        type: 'string',
        describe: `${schema.dataDir.doc} [env ${envName('dataDir')}]`,
      })
      .option('secret', {
        type: 'string',
        describe: `${schema.secret.doc} [env ${envName('secret')}]`,
      })
      .option('perm', {
        type: 'string',
        array: true,
        describe: `permission claim, repeatable or comma-separated: ${Object.keys(TECHNICIAN_PERMISSIONS).join(', ')} (none given: the gateway's technicianDefaultPermissions; "none": no permission)`,
      })
      .option('team', {
        type: 'string',
        array: true,
        describe:
          "team (queue) claim, repeatable; the first gets the technician's jump clients and support buttons (none given: technicianDefaultTeam)",
      }),
  run: (argv) => issue(argv),
});

export const tokenCommand = commandGroup({
  command: 'token',
  describe: 'technician tokens',
  subcommands: [issueCommand],
  demand: 'name a token command',
});
