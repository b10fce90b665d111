/**
 * proto/ferry/v1/*.proto (package ferry.v1, buf STANDARD layout) as the single source of truth:
 * every file compiles with the reference protoc, without warnings (a missing protoc skips that
 * locally but fails in CI), protoc and the generated codec agree on the bytes of a Frame, the
 * wire header is field 1 channel then field 2 stream, and the routing table covers every channel
 * of the enum.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { MAX_CHANNEL } from '../../src/protocol/peek.js';
import { unitRelay } from '../support/relay.js';

// tests run from dist/test/protocol/; the .proto files stay in the repository root. Import paths
// are relative to proto/ (the protoc include path), one file per message family.
const PROTO_DIR = fileURLToPath(new URL('../../../proto', import.meta.url));
const PACKAGE_DIR = 'ferry/v1';
const protoFiles = fs
  .readdirSync(path.join(PROTO_DIR, PACKAGE_DIR))
  .filter((name) => name.endsWith('.proto'))
  .sort()
  .map((name) => `${PACKAGE_DIR}/${name}`);

const channelEntries = Object.entries(ferry.v1.Channel).filter(
  (e): e is [string, ferry.v1.Channel] => typeof e[1] === 'number',
);

/** protoc's version line, or undefined when no protoc is on PATH. */
function protocVersion(): string | undefined {
  try {
    return execFileSync('protoc', ['--version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const inCi = process.env.CI !== undefined && process.env.CI !== '';

test('every file of proto/ferry/v1 sits in its package directory and declares package ferry.v1', () => {
  assert.ok(protoFiles.includes(`${PACKAGE_DIR}/frame.proto`), 'frame.proto is missing');
  const stray = fs
    .readdirSync(PROTO_DIR, { recursive: true, encoding: 'utf8' })
    .filter(
      (name) => name.endsWith('.proto') && !protoFiles.includes(name.split(path.sep).join('/')),
    );
  assert.deepEqual(stray, [], 'a .proto file outside proto/ferry/v1/');
  for (const file of protoFiles) {
    const text = fs.readFileSync(path.join(PROTO_DIR, file), 'utf8');
    assert.match(text, /^syntax = "proto3";$/m, file);
    assert.match(text, /^package ferry\.v1;$/m, file);
    for (const [, imported] of text.matchAll(/^import "([^"]+)";$/gm)) {
      assert.ok(
        protoFiles.includes(imported),
        `${file} imports ${imported}, not a file of ${PACKAGE_DIR}`,
      );
    }
  }
});

test('proto/ferry/v1 compiles with the reference protoc, which encodes frames byte for byte like the generated codec', (t) => {
  const version = protocVersion();
  if (version === undefined) {
    if (!inCi) {
      t.skip('protoc not installed');
      return;
    }
    assert.fail('protoc is not on PATH; CI must install it (apt-get install protobuf-compiler)');
  }
  t.diagnostic(version);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-proto-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const descriptorSet = path.join(dir, 'ferry.pb');
  // protoc refuses import cycles and warns about unused imports: both fail here
  const compiled = spawnSync(
    'protoc',
    [
      `--proto_path=${PROTO_DIR}`,
      '--include_imports',
      `--descriptor_set_out=${descriptorSet}`,
      ...protoFiles,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(compiled.status, 0, compiled.stderr);
  assert.equal(compiled.stderr, '', 'protoc warned');
  assert.ok(fs.statSync(descriptorSet).size > 0, 'protoc wrote an empty descriptor set');

  // protoc resolves the enum names itself: equal bytes mean the generated codec is not stale
  for (const [name, channel] of channelEntries) {
    if (channel === 0) continue;
    const text = `channel: ${name} stream: 300 opaque { data: "\\010\\001" }`;
    const fromProtoc = execFileSync(
      'protoc',
      [`--proto_path=${PROTO_DIR}`, '--encode=ferry.v1.Frame', `${PACKAGE_DIR}/frame.proto`],
      { input: text },
    );
    const fromCodec = ferry.v1.Frame.encode({
      channel,
      stream: 300,
      opaque: { data: Uint8Array.of(0x08, 0x01) },
    }).finish();
    assert.equal(fromProtoc.toString('hex'), Buffer.from(fromCodec).toString('hex'), name);
  }
});

test('every channel of the generated enum except CHANNEL_UNSPECIFIED has a row in the channel table', async () => {
  const { table: routes } = await unitRelay();
  for (const [name, channel] of channelEntries) {
    if (channel === 0) {
      assert.equal(routes[0], undefined, 'CHANNEL_UNSPECIFIED must not be routable');
      continue;
    }
    assert.ok(routes[channel] !== undefined, `${name} (${channel}) has no entry in routes`);
  }
  const highest = Math.max(...channelEntries.map(([, channel]) => channel));
  assert.equal(routes.length, highest + 1, 'the table has rows beyond the enum');
  assert.ok(highest <= MAX_CHANNEL, 'peek must read every channel of the enum');
});

test('a Frame starts with field 1 channel (tag 0x08) and then field 2 stream (tag 0x10)', () => {
  for (const [name, channel] of channelEntries) {
    if (channel === 0) continue;
    const bytes = ferry.v1.Frame.encode({
      channel,
      stream: 5,
      chat: { text: 'hi' },
    }).finish();
    assert.deepEqual([...bytes.subarray(0, 4)], [0x08, channel, 0x10, 5], name);
  }
});
