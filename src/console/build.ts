/**
 * Builds the web console (src/console/web/) into dist/console/: esbuild bundles the TypeScript,
 * the protocol codecs it shares with the Node clients and its CSS into content-hashed files under
 * assets/, writes a gzip copy (`<name>.gz`, level 9) beside each text asset over 1 KiB, and writes
 * index.html naming them. The gateway reads that folder at start and holds the compressed copies
 * only (src/transport/static.ts). Run by `npm run build`; `--watch` is not offered on purpose:
 * restart the gateway after a build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { build, type Plugin } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: this file runs from dist/src/console/. */
const root = path.resolve(here, '..', '..', '..');
const web = path.join(root, 'src', 'console', 'web');

/**
 * Leaves long.js out of the bundle: the generated codec maps 64-bit fields to numbers
 * (--force-number), and long.js probes WebAssembly at load, which the console's
 * Content-Security-Policy (no 'wasm-unsafe-eval') reports as a violation. protobufjs falls back
 * to numbers when `require('long')` yields nothing usable.
 */
const withoutLong: Plugin = {
  name: 'without-long',
  setup(b) {
    b.onResolve({ filter: /^long$/ }, () => ({ path: 'long', namespace: 'without-long' }));
    b.onLoad({ filter: /.*/, namespace: 'without-long' }, () => ({
      contents: 'module.exports = {};',
      loader: 'js',
    }));
  },
};

/** The assets worth compressing: text (scripts, styles, source maps, licences). */
const COMPRESSED = /\.(?:js|css|map|txt|json|svg|html)$/;

export async function buildConsole(outDir = path.join(root, 'dist', 'console')): Promise<string[]> {
  const assets = path.join(outDir, 'assets');
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { console: path.join(web, 'main.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    tsconfig: path.join(root, 'tsconfig.console.json'),
    absWorkingDir: root,
    plugins: [withoutLong],
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = outputs.find(([, o]) => o.entryPoint !== undefined && o.cssBundle !== undefined);
  const main = outputs.find(([, o]) => o.entryPoint !== undefined);
  if (main === undefined) throw new Error('esbuild produced no entry point');
  const url = (file: string) => `/assets/${path.basename(file)}`;
  const css = entry?.[1].cssBundle;
  const template = fs.readFileSync(path.join(web, 'index.html'), 'utf8');
  const html = template
    .replace('<!-- styles -->', css ? `<link rel="stylesheet" href="${url(css)}">` : '')
    .replace('<!-- script -->', `<script type="module" src="${url(main[0])}"></script>`);
  fs.writeFileSync(path.join(outDir, 'index.html'), html);
  const written = outputs.map(([file]) => path.relative(outDir, path.resolve(root, file)));
  for (const name of fs.readdirSync(assets)) {
    const file = path.join(assets, name);
    const bytes = fs.readFileSync(file);
    if (!COMPRESSED.test(name) || bytes.length <= 1024) continue;
    fs.writeFileSync(`${file}.gz`, zlib.gzipSync(bytes, { level: 9 }));
    written.push(path.relative(outDir, `${file}.gz`));
  }
  return written;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await buildConsole();
  console.log(`console: ${files.length} files in dist/console/`);
}
