/**
 * `ferry token issue`: prints a technician JWT (HS256) signed with the gateway secret (created in
 * the data directory when there is none yet), with its validity, permission and team claims, its
 * id (`jti`), audience and issuer. `ferry token revoke <jti>`: adds a token id to the deny-list
 * in the data directory, which a running gateway re-reads within a second.
 */
import { resolveLayers } from '../config/config.js';
import { envName, schema } from '../config/schema.js';
import { loadOrCreateSecret } from '../config/secrets.js';
import { isPermission, TECHNICIAN_PERMISSIONS } from '../session/access-policy.js';
import { DenyList, issueJwt } from '../session/jwt.js';
import { issueToken, TEAM_PATTERN } from '../session/tokens.js';
import {
  commandGroup,
  defineCommand,
  type ExitRequest,
  single,
  UsageError,
  withOperatorDefaults,
} from './common.js';

const UNITS = { '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const;
/** Longest validity a token may be issued with: ten years. */
const MAX_TTL_SECONDS = 3650 * 86400;
const DURATION_ALLOWED =
  'seconds, or a number with s, m, h or d (e.g. 3600, 90m, 12h, 30d), up to 3650d';
/** At most this many permissions or teams in one token. */
const MAX_CLAIMS = 32;

/** Seconds in "3600", "90m", "12h" or "30d". */
function parseDuration(text: string): number {
  const m = /^(\d{1,12})\s*([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2] as keyof typeof UNITS] : Number.NaN;
  if (!(seconds > 0 && seconds <= MAX_TTL_SECONDS)) {
    throw new UsageError(
      `--ttl ${JSON.stringify(text)}: not a duration; allowed: ${DURATION_ALLOWED}`,
    );
  }
  return seconds;
}

/** Repeatable, comma-separated values, trimmed, empty ones dropped; undefined when none given. */
function list(values: readonly string[] | undefined): string[] | undefined {
  return values
    ?.flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Checks --name the way the token does: 1-64 of letters, digits, . _ @ - */
function checkName(name: string): void {
  try {
    issueToken('check', name, 1, 0);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new UsageError(
      `--name ${JSON.stringify(name)}: not a technician name; allowed: 1-64 characters of letters, digits, . _ @ -`,
    );
  }
}

function checkPerms(perms: readonly string[]): void {
  if (perms.length > MAX_CLAIMS) {
    throw new UsageError(`--perm: ${perms.length} permissions; allowed: at most ${MAX_CLAIMS}`);
  }
  for (const p of perms) {
    if (!isPermission(p)) {
      throw new UsageError(
        `--perm: unknown permission ${JSON.stringify(p)}; allowed: none, ${Object.keys(TECHNICIAN_PERMISSIONS).join(', ')}`,
      );
    }
  }
}

function checkTeams(teams: readonly string[]): void {
  if (teams.length > MAX_CLAIMS) {
    throw new UsageError(`--team: ${teams.length} teams; allowed: at most ${MAX_CLAIMS}`);
  }
  for (const t of teams) {
    if (!TEAM_PATTERN.test(t)) {
      throw new UsageError(
        `--team ${JSON.stringify(t)}: not a team name; allowed: 1-64 characters of letters, digits, . _ -`,
      );
    }
  }
}

async function issue(argv: Record<string, unknown>): Promise<ExitRequest> {
  const name = String(single(argv, 'name', 'name'));
  const ttl = String(single(argv, 'ttl', 'ttl'));
  checkName(name);
  const seconds = parseDuration(ttl);
  const perms = list(argv.perm as string[] | undefined)?.filter((p) => p !== 'none');
  if (perms !== undefined) checkPerms(perms);
  const teams = list(argv.team as string[] | undefined);
  if (teams !== undefined) checkTeams(teams);
  const dataDir = single(argv, 'dataDir', 'data-dir');
  const secretFlag = single(argv, 'secret', 'secret');
  const audience = single(argv, 'audience', 'audience');
  const issuer = single(argv, 'issuer', 'issuer');
  // a token without --perm carries the gateway's defaults: they must be valid
  const { config } = withOperatorDefaults(
    resolveLayers({
      flags: {
        ...(dataDir === undefined ? {} : { dataDir }),
        ...(secretFlag === undefined ? {} : { secret: secretFlag }),
        ...(audience === undefined ? {} : { tokenAudience: audience }),
        ...(issuer === undefined ? {} : { tokenIssuer: issuer }),
      },
    }),
  );
  const secret = loadOrCreateSecret(config.dataDir, 'secret', config.secret);
  console.log(
    await issueJwt(
      secret.value,
      name,
      seconds,
      { audience: config.tokenAudience, issuer: config.tokenIssuer },
      {
        ...(perms === undefined ? {} : { perms }),
        ...(teams === undefined || teams.length === 0 ? {} : { teams }),
      },
    ),
  );
  return undefined;
}

async function revoke(argv: Record<string, unknown>): Promise<ExitRequest> {
  const jti = String(argv.jti);
  const dataDir = single(argv, 'dataDir', 'data-dir');
  const { config } = resolveLayers({ flags: dataDir === undefined ? {} : { dataDir } });
  const deny = new DenyList(config.dataDir);
  try {
    deny.revoke(jti);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new UsageError(`${JSON.stringify(jti)}: ${err.message}`);
  }
  console.log(`revoked ${jti} (${deny.file})`);
  return undefined;
}

const issueCommand = defineCommand({
  command: 'issue',
  describe: 'print a technician JWT (HS256) signed with the gateway secret',
  builder: (y) =>
    y
      .option('name', {
        type: 'string',
        demandOption: true,
        describe: 'technician name (1-64 of letters, digits, . _ @ -)',
      })
      .option('ttl', {
        type: 'string',
        default: '12h',
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
      .option('audience', {
        type: 'string',
        describe: `${schema.tokenAudience.doc} [env ${envName('tokenAudience')}]`,
      })
      .option('issuer', {
        type: 'string',
        describe: `${schema.tokenIssuer.doc} [env ${envName('tokenIssuer')}]`,
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
  run: (argv) => issue(argv as Record<string, unknown>),
});

const revokeCommand = defineCommand({
  command: 'revoke <jti>',
  describe: "add a token id (jti) to the data directory's deny-list; live sessions end",
  builder: (y) =>
    y
      .positional('jti', { type: 'string', demandOption: true, describe: 'the token id to revoke' })
      .option('data-dir', {
        type: 'string',
        describe: `${schema.dataDir.doc} [env ${envName('dataDir')}]`,
      }),
  run: (argv) => revoke(argv as Record<string, unknown>),
});

export const tokenCommand = commandGroup({
  command: 'token',
  describe: 'technician tokens',
  subcommands: [issueCommand, revokeCommand],
  demand: 'name a token command',
});
