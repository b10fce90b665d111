/**
 * The only importer of uWebSockets.js.
 *
 * Prefers an installed official `uWebSockets.js`; otherwise loads the native v20.30 binary that
 * `@trufflesuite/uws-js-unofficial` ships, by path. That package's own entry point silently falls
 * back to a JavaScript implementation on top of `ws` when the binary does not load; the gateway
 * must never run on that, so its entry point is never required here. When no native binary
 * loads, `loadUws()` throws a `UwsLoadError` naming Node, platform, ABI and glibc.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';

export type { Uws };
export type UwsModule = typeof Uws;

export interface UwsBinding {
  readonly uws: UwsModule;
  /** Which package supplied the native binary. */
  readonly source: 'uWebSockets.js' | '@trufflesuite/uws-js-unofficial';
  /** Absolute path of the loaded `.node` file (or of the official package's entry). */
  readonly file: string;
}

export class UwsLoadError extends Error {
  readonly code = 'FERRY_ERR_UWS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UwsLoadError';
  }
}

const require = createRequire(import.meta.url);
let binding: UwsBinding | undefined;

function glibcVersion(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report?.header?.glibcVersionRuntime ?? 'none (not glibc)';
}

export function runtimeDescription(): string {
  return (
    `Node ${process.version} (ABI ${process.versions.modules}), ` +
    `${process.platform}-${process.arch}, glibc ${glibcVersion()}`
  );
}

function isNative(mod: unknown): mod is UwsModule {
  const m = mod as Partial<UwsModule> | null;
  // The `ws`-based fallback has no `_cfg` and no `us_socket_local_port`: those exist only in the addon.
  return (
    typeof m?.App === 'function' &&
    typeof m._cfg === 'function' &&
    typeof m.us_socket_local_port === 'function'
  );
}

function tryOfficial(): UwsBinding | undefined {
  let entry: string;
  try {
    entry = require.resolve('uWebSockets.js');
  } catch {
    return undefined; // not installed: the normal case on this platform
  }
  const mod: unknown = require(entry);
  if (!isNative(mod)) {
    throw new UwsLoadError(`uWebSockets.js at ${entry} did not load a native binary`);
  }
  return { uws: mod, source: 'uWebSockets.js', file: entry };
}

function loadUnofficial(): UwsBinding {
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  } catch (err) {
    throw new UwsLoadError(
      `no uWebSockets.js package is installed (run "npm ci"); runtime: ${runtimeDescription()}`,
      { cause: err },
    );
  }
  const file = path.join(
    pkgDir,
    'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
  );
  let mod: unknown;
  try {
    mod = require(file);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UwsLoadError(
      `cannot load the native uWebSockets.js binary ${file}: ${reason}. ` +
        `Runtime: ${runtimeDescription()}. Ferry runs only on the native uWS build ` +
        '(Node 20 on linux/darwin x64/arm64, or win32 x64); it never falls back to a JavaScript WebSocket server.',
      { cause: err },
    );
  }
  if (!isNative(mod)) {
    throw new UwsLoadError(`${file} is not a uWebSockets.js native binary`);
  }
  return { uws: mod, source: '@trufflesuite/uws-js-unofficial', file };
}

/** Loads (once) and returns the native uWebSockets.js binding, or throws `UwsLoadError`. */
export function loadUws(): UwsBinding {
  binding ??= tryOfficial() ?? loadUnofficial();
  return binding;
}
