/**
 * The gateway's store of technicians' pictures (spec session-tools B2): only PNG, JPEG and WebP
 * whose bytes match the declared type, bounded in size and count, one picture per technician.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AVATAR_REF_PREFIX,
  AvatarStore,
  MAX_AVATAR_BYTES,
  sniffImage,
} from '../../src/session/avatars.js';

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A picture of `size` bytes that starts like a PNG; `seed` makes it differ from others. */
function png(size = 64, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size).fill(seed);
  bytes.set(PNG);
  return bytes;
}

test('recognises PNG, JPEG and WebP by their first bytes, and nothing else', () => {
  assert.equal(sniffImage(png()), 'image/png');
  assert.equal(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), 'image/jpeg');
  const webp = Uint8Array.from(Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'));
  assert.equal(sniffImage(webp), 'image/webp');
  assert.equal(sniffImage(Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1')), null);
  assert.equal(sniffImage(Buffer.from('<svg onload="alert(1)">')), null);
  assert.equal(sniffImage(new Uint8Array(0)), null);
});

test('stores a picture under a content ref and gives back a copy of its bytes', () => {
  const store = new AvatarStore();
  const image = png();
  const ref = store.put('tech-1', image, 'image/png');
  assert.equal(typeof ref, 'string');
  assert.ok((ref as string).startsWith(AVATAR_REF_PREFIX));
  image.fill(0);
  const stored = store.get(ref as string)!;
  assert.equal(stored.mimeType, 'image/png');
  assert.deepEqual(stored.image, png(), 'the caller reusing its buffer changes nothing');
  assert.equal(store.refOf('tech-1'), ref);
  assert.equal(store.put('tech-2', png(), 'image/png'), ref, 'same bytes, same ref');
  assert.equal(store.size, 1);
});

test('refuses empty and oversized pictures, unknown formats and a type that does not match the bytes', () => {
  const store = new AvatarStore();
  const refused = (r: string | { refused: string }) => typeof r !== 'string';
  assert.ok(refused(store.put('t', new Uint8Array(0), 'image/png')));
  assert.ok(refused(store.put('t', png(MAX_AVATAR_BYTES + 1), 'image/png')));
  assert.ok(!refused(store.put('t', png(MAX_AVATAR_BYTES), 'image/png')));
  assert.ok(refused(store.put('t', Buffer.from('GIF89a......'), 'image/gif')));
  assert.ok(refused(store.put('t', png(), 'image/jpeg')));
  assert.ok(refused(store.put('t', png(), '')));
});

test("a new picture replaces the technician's old one, which is dropped when nobody else uses it", () => {
  const store = new AvatarStore();
  const first = store.put('tech-1', png(64, 1), 'image/png') as string;
  const shared = store.put('tech-2', png(64, 2), 'image/png') as string;
  store.put('tech-3', png(64, 2), 'image/png');
  const second = store.put('tech-1', png(64, 3), 'image/png') as string;
  assert.notEqual(first, second);
  assert.equal(store.get(first), undefined);
  store.put('tech-2', png(64, 4), 'image/png');
  assert.ok(store.get(shared), 'tech-3 still uses it');
  assert.equal(store.size, 3);
});

test('past its bound the store gives up the oldest picture and forgets whose it was', () => {
  const store = new AvatarStore(2);
  const a = store.put('a', png(64, 1), 'image/png') as string;
  store.put('b', png(64, 2), 'image/png');
  store.put('c', png(64, 3), 'image/png');
  assert.equal(store.size, 2);
  assert.equal(store.get(a), undefined);
  assert.equal(store.refOf('a'), undefined);
  assert.ok(store.refOf('c'));
});
