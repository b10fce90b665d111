/**
 * The Ferry target's environment in a bench: Ferry's launch variables (src/cli/node-flags.ts, as
 * `bin/ferry.js` sets them), then the bench's `--ferry-env NAME=VALUE` overrides, where `NAME=`
 * removes NAME (the C library's own default), to measure a gateway without one of them.
 */
import { GATEWAY_ENV, gatewayEnv } from '../../src/cli/node-flags.js';

export function ferryEnv(
  overrides: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const out = gatewayEnv(env);
  for (const kv of overrides) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--ferry-env ${kv}: expected NAME=VALUE (NAME= to remove NAME)`);
    const name = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    if (value === '') delete out[name];
    else out[name] = value;
  }
  return out;
}

/** What a report says of that environment: Ferry's variables and the overridden ones. */
export function ferryEnvText(
  overrides: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const full = ferryEnv(overrides, env);
  const names = new Set([
    ...Object.keys(GATEWAY_ENV),
    ...overrides.map((kv) => kv.slice(0, kv.indexOf('='))),
  ]);
  return [...names].map((name) => `${name}=${full[name] ?? '(unset)'}`);
}
