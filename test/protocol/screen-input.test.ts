/**
 * The screen and input contract against its conformance vectors (docs/spec/screen-input-vectors.json):
 * coordinate mapping across two monitors with offsets and scaling, clamping, the key-code table,
 * modifier state, TextInput, monitor ids including "all", the key-frame triggers and tile checks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CAPTURE_SOURCES,
  captureSourceLabel,
  checkTile,
  type DisplayMonitor,
  type DomKey,
  KEYSYMS,
  keyEventFromDom,
  keyFramesFor,
  keysymOf,
  MODIFIER_CODES,
  mapPointer,
  planKey,
  resolveMonitor,
  textInputFromComposition,
} from '../../src/protocol/screen-input.js';

// dist/test/protocol/ -> the repository root
const VECTORS = fileURLToPath(
  new URL('../../../docs/spec/screen-input-vectors.json', import.meta.url),
);

interface Vectors {
  monitors: Record<string, DisplayMonitor[]>;
  pointerMapping: PointerCase[];
  clamping: PointerCase[];
  keysyms: { code: string; keysym: number | null }[];
  modifierState: {
    name: string;
    held: string[];
    key: { code: string; down: boolean; modifiers: number };
    expect: { actions: [string, boolean][]; held: string[]; unknown?: boolean };
  }[];
  domKeys: { name: string; event: DomKey; expect: Record<string, unknown> | null }[];
  textInput: { name: string; composed: string; expect: { text: string } | null }[];
  monitorIds: {
    name: string;
    trigger?: string;
    shared?: number[];
    monitor?: number;
    resolve?: { monitors: string; id: number; selected: number };
    expect: number[] | number | null;
  }[];
  keyFrameTriggers: { trigger: string; shared: number[]; monitor: number; expect: number[] }[];
  tiles: {
    name: string;
    monitors: string;
    stream: number;
    tile: Parameters<typeof checkTile>[2];
    decoded: { width: number; height: number } | null;
    expect: string;
  }[];
  captureSources: { source: string; label: string }[];
}
interface PointerCase {
  name: string;
  monitors: string;
  selected?: number;
  event: { monitor: number; x: number; y: number };
  expect: Record<string, unknown>;
}

const vectors = JSON.parse(readFileSync(VECTORS, 'utf8')) as Vectors;
const monitorsOf = (name: string): DisplayMonitor[] => {
  const list = vectors.monitors[name];
  assert.ok(list !== undefined, `no monitor set ${name}`);
  return list;
};

test('pointer positions map across two monitors with offsets and HiDPI scaling', () => {
  assert.ok(vectors.pointerMapping.length >= 6);
  for (const c of vectors.pointerMapping) {
    const got = mapPointer(
      monitorsOf(c.monitors),
      c.event.monitor,
      c.event.x,
      c.event.y,
      c.selected,
    );
    assert.deepEqual(got, c.expect, c.name);
  }
});

test('pointer positions outside the monitor are clamped to its edge and flagged', () => {
  for (const c of vectors.clamping) {
    const got = mapPointer(
      monitorsOf(c.monitors),
      c.event.monitor,
      c.event.x,
      c.event.y,
      c.selected,
    );
    assert.deepEqual(got, c.expect, c.name);
    assert.equal((got as { clamped?: boolean }).clamped, true, c.name);
  }
});

test('the key-code table gives the X11 keysym of every listed code and nothing for the rest', () => {
  for (const c of vectors.keysyms) assert.equal(keysymOf(c.code), c.keysym, c.code || '(empty)');
  for (const family of [/^Key[A-Z]$/, /^Digit\d$/, /^F\d+$/, /^Numpad\d$/, /^Arrow/]) {
    assert.ok(
      Object.keys(KEYSYMS).some((k) => family.test(k)),
      String(family),
    );
  }
  for (const [, left, right] of MODIFIER_CODES) {
    assert.notEqual(keysymOf(left), null, left);
    assert.notEqual(keysymOf(right), null, right);
  }
  assert.equal(keysymOf('toString'), null, 'no inherited names');
});

test('the customer reconciles its modifiers to the state a key down carries', () => {
  for (const c of vectors.modifierState) {
    const plan = planKey(new Set(c.held), c.key);
    assert.deepEqual(
      plan.actions.map((a) => [a.code, a.down]),
      c.expect.actions,
      c.name,
    );
    for (const a of plan.actions) assert.equal(a.keysym, KEYSYMS[a.code], c.name);
    assert.deepEqual([...plan.held].sort(), [...c.expect.held].sort(), c.name);
    assert.equal(plan.unknown, c.expect.unknown === true, c.name);
  }
});

test('browser key events become KeyEvents with state modifiers, and composing keys are not sent', () => {
  for (const c of vectors.domKeys) assert.deepEqual(keyEventFromDom(c.event), c.expect, c.name);
});

test('composed text goes as one TextInput', () => {
  for (const c of vectors.textInput) {
    assert.deepEqual(textInputFromComposition(c.composed), c.expect, c.name);
  }
});

test('monitor ids are 1-based so 0 always means all (KeyFrameRequest) or not named (input)', () => {
  for (const c of vectors.monitorIds) {
    if (c.resolve !== undefined) {
      const m = resolveMonitor(monitorsOf(c.resolve.monitors), c.resolve.id, c.resolve.selected);
      assert.equal(m?.id ?? null, c.expect, c.name);
    } else {
      assert.deepEqual(keyFramesFor(c.trigger!, c.shared!, c.monitor), c.expect, c.name);
    }
  }
  for (const set of Object.values(vectors.monitors)) {
    if (!Array.isArray(set)) continue; // $comment
    for (const m of set) assert.ok(m.id >= 1, 'vector monitors are numbered from 1');
  }
});

test('key frames come on join, pick-up, resize, monitor switch, request and loss only', () => {
  const seen = new Set<string>();
  for (const c of vectors.keyFrameTriggers) {
    assert.deepEqual(keyFramesFor(c.trigger, c.shared, c.monitor), c.expect, c.trigger);
    if (c.expect.length > 0) seen.add(c.trigger);
  }
  assert.deepEqual([...seen].sort(), [
    'join',
    'loss',
    'monitor-switch',
    'pick-up',
    'request',
    'resize',
  ]);
});

test('a tile whose decoded size or screen size differs from its header is dropped', () => {
  for (const c of vectors.tiles) {
    assert.equal(checkTile(monitorsOf(c.monitors), c.stream, c.tile, c.decoded), c.expect, c.name);
  }
});

test('every capture source has a plain label, and test-pattern reads "test pattern"', () => {
  for (const c of vectors.captureSources) assert.equal(captureSourceLabel(c.source), c.label);
  for (const s of CAPTURE_SOURCES) assert.notEqual(captureSourceLabel(s), 'unknown source');
});
