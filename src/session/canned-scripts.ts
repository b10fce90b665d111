/**
 * The operator's library of canned scripts (spec session-tools.md C4.6): named script bodies a
 * technician may run on the customer machine, each visible to some teams (or all). Loaded once at
 * start from `cannedScriptsFile`; the gateway sends the body itself, so a technician names a
 * script and can never substitute its text.
 *
 * File shape: `{"scripts": [{"id": "disk", "name": "Disk usage", "description": "...",
 * "body": "df -h", "teams": ["support"]}]}`; `teams` absent or empty = every team.
 */
import fs from 'node:fs';
import { TEAM_PATTERN } from './tokens.js';

export interface CannedScriptDef {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly body: string;
  /** Empty: every team. */
  readonly teams: readonly string[];
}

const ID_PATTERN = /^[\w.-]{1,64}$/;
const MAX_SCRIPTS = 1000;
const MAX_BODY = 64 * 1024;
const MAX_TEXT = 256;

export class CannedScriptLibrary {
  readonly scripts: ReadonlyMap<string, CannedScriptDef>;

  constructor(scripts: readonly CannedScriptDef[] = []) {
    this.scripts = new Map(scripts.map((s) => [s.id, s]));
  }

  /** Reads and checks the file; throws RangeError naming the first problem. '' = an empty library. */
  static load(file: string): CannedScriptLibrary {
    if (file === '') return new CannedScriptLibrary();
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new RangeError(`cannedScriptsFile ${file}: ${(err as Error).message}`);
    }
    return new CannedScriptLibrary(CannedScriptLibrary.parse(data, file));
  }

  static parse(data: unknown, origin = 'canned scripts'): CannedScriptDef[] {
    const list = (data as { scripts?: unknown } | null)?.scripts;
    if (!Array.isArray(list) || list.length > MAX_SCRIPTS) {
      throw new RangeError(`${origin}: expected {"scripts": [...]} with at most ${MAX_SCRIPTS}`);
    }
    const seen = new Set<string>();
    return list.map((raw: unknown, i) => {
      const s = (raw ?? {}) as Record<string, unknown>;
      const where = `${origin}: scripts[${i}]`;
      const text = (key: string, max: number, required: boolean): string => {
        const v = s[key];
        if (v === undefined && !required) return '';
        if (typeof v !== 'string' || (required && v === '') || v.length > max) {
          throw new RangeError(`${where}.${key} must be a string of 1-${max} characters`);
        }
        return v;
      };
      const id = text('id', 64, true);
      if (!ID_PATTERN.test(id)) throw new RangeError(`${where}.id must match ${ID_PATTERN}`);
      if (seen.has(id)) throw new RangeError(`${where}.id "${id}" is repeated`);
      seen.add(id);
      const teams = s.teams ?? [];
      if (
        !Array.isArray(teams) ||
        !teams.every((t) => typeof t === 'string' && TEAM_PATTERN.test(t))
      ) {
        throw new RangeError(`${where}.teams must be a list of team names`);
      }
      return {
        id,
        name: text('name', MAX_TEXT, true),
        description: text('description', MAX_TEXT, false),
        body: text('body', MAX_BODY, true),
        teams: teams as string[],
      };
    });
  }

  /** The scripts a technician of `teams` may see and run. */
  visibleTo(teams: readonly string[]): CannedScriptDef[] {
    return [...this.scripts.values()].filter(
      (s) => s.teams.length === 0 || s.teams.some((t) => teams.includes(t)),
    );
  }

  /** The script `id` if a technician of `teams` may run it. */
  get(id: string, teams: readonly string[]): CannedScriptDef | undefined {
    const s = this.scripts.get(id);
    if (s === undefined) return undefined;
    return s.teams.length === 0 || s.teams.some((t) => teams.includes(t)) ? s : undefined;
  }
}
